"""The training recipes shipped with the package: one YAML file per use (``digits``, ``finetune``, ...).

They are package data, read with ``importlib.resources``, so they exist wherever the package is
installed (a wheel, an editable install, a source checkout). A recipe is given by name
(``finetune``), by its name in the source tree's old folder (``recipes/finetune.yaml``), or as the
path of any YAML file; an existing file always wins over a shipped recipe of the same name.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

SUFFIXES = (".yaml", ".yml")


def list_recipes() -> list[str]:
    """Names of the shipped recipes, sorted."""
    return sorted(entry.name.rsplit(".", 1)[0] for entry in resources.files(__name__).iterdir()
                  if entry.name.endswith(SUFFIXES))


def _shipped_name(text: str) -> str | None:
    """``finetune``, ``finetune.yaml`` and ``recipes/finetune.yaml`` name a shipped recipe; other paths do not."""
    path = Path(text)
    if path.parent not in (Path("."), Path("recipes")):
        return None
    if path.suffix in SUFFIXES:
        return path.stem
    return None if path.suffix or path.parent != Path(".") else path.name


def find_recipe(recipe: str | Path) -> Path | Traversable:
    """The recipe file ``recipe`` names: an existing file, ``./recipes/<name>.yaml``, or a shipped one.

    Raises ``FileNotFoundError`` naming the shipped recipes when there is none.
    """
    path = Path(recipe)
    if path.is_file():
        return path
    name = _shipped_name(str(recipe))
    if name is not None:
        local = Path("recipes") / f"{name}.yaml"
        if path.parent == Path(".") and local.is_file():
            return local
        shipped = resources.files(__name__) / f"{name}.yaml"
        if shipped.is_file():
            return shipped
    raise FileNotFoundError(f"recipe {str(recipe)!r} not found; pass a YAML file or one of: "
                            f"{', '.join(list_recipes())}")
