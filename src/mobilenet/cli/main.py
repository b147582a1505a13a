"""The ``mobilenet`` command: one sub-command per module of ``mobilenet.cli``.

User errors (bad values, missing files) print one line and exit with status 2; they never
show a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from mobilenet import __version__

# Each module defines ``add_parser(subparsers)``; its parser sets ``func(args) -> int``.
COMMAND_MODULES = (
    "mobilenet.cli.models",
    "mobilenet.cli.train",
    "mobilenet.cli.evaluate",
    "mobilenet.cli.demo",
    "mobilenet.cli.weights",
    "mobilenet.cli.convert",
    "mobilenet.cli.predict",
    "mobilenet.cli.export",
    "mobilenet.cli.bench",
    "mobilenet.cli.fit",
)

USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError,
               PermissionError, KeyError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mobilenet",
        description="MobileNet V1-V4: models, cost accounting, weights, classification, detection and "
                    "segmentation, training and deployment.",
    )
    parser.add_argument("--version", action="version", version=f"mobilenet {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from mobilenet.cli.options import apply_aliases

    parser = build_parser()
    args = apply_aliases(parser.parse_args(argv))
    try:
        return int(args.func(args) or 0)
    except USER_ERRORS as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"mobilenet {args.command}: error: {message}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    except OSError as error:  # a full disk, a read-only folder, a device error: the system's words, one line
        where = f" ({error.filename})" if getattr(error, "filename", None) else ""
        print(f"mobilenet {args.command}: error: {error.strerror or error}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"mobilenet {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
