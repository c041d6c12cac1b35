"""What every patsparse command shares: one-line errors, exit codes, atomic output."""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Callable


from patsparse.dialect.support import ToolError, atomic_write  # noqa: F401  (re-exported for the commands)


def run_main(prog: str, main: Callable[[], int | None]) -> int:
    """Run `main`, turning errors into `prog: error: ...` lines instead of tracebacks.

    Set PATSPARSE_DEBUG=1 to see the traceback of an unexpected error.
    """
    try:
        return main() or 0
    except ToolError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except Exception as error:  # a bug of ours: say so briefly
        if os.environ.get("PATSPARSE_DEBUG"):
            traceback.print_exc()
        print(f"{prog}: internal error: {type(error).__name__}: {error} "
              f"(set PATSPARSE_DEBUG=1 for a traceback)", file=sys.stderr)
        return 2


def read_input(path: str) -> str:
    """The text of `path`, or of stdin for '-'."""
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text()
    except FileNotFoundError:
        raise ToolError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ToolError(f"{path}: is a directory, expected an .mlir file") from None
    except UnicodeDecodeError:
        raise ToolError(f"{path}: not a text file (expected MLIR text)") from None
    except OSError as error:
        raise ToolError(f"{path}: cannot read: {error.strerror}") from None
