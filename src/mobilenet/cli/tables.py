"""Render rows of dicts as an aligned text table, CSV, JSON or Markdown."""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Sequence

FORMATS = ("table", "csv", "json", "markdown")


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.1f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, (tuple, list)):
        return "x".join(str(v) for v in value)
    return "" if value is None else str(value)


def render(rows: Sequence[dict[str, Any]], columns: Sequence[str], fmt: str = "table",
           extra: dict[str, Any] | None = None) -> str:
    """Format ``rows`` (only ``columns``). JSON gives ``{**extra, "rows": rows}`` when ``extra``."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
    if fmt == "json":
        data: Any = [{c: row.get(c) for c in columns} for row in rows]
        return json.dumps({**extra, "rows": data} if extra is not None else data, indent=2)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: _cell(row.get(c)).replace(",", "") if isinstance(row.get(c), int)
                             else _cell(row.get(c)) for c in columns})
        return out.getvalue().rstrip("\n")
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    if fmt == "markdown":
        lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(r) + " |" for r in cells]
        return "\n".join(lines)
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    numeric = [all(isinstance(row.get(c), (int, float)) for row in rows) and rows for c in columns]
    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()
    return "\n".join([line(columns), line(["-" * w for w in widths])] + [line(r) for r in cells])
