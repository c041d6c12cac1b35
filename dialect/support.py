"""What every layer shares: the error raised for a user's mistake or a missing piece (a bad file, a missing
tool, an option out of range): the commands print it as one line and exit with 1. Defined in the
bottom layer so that the compiler's layers need not import the command-line one; and the one
atomic file writer."""

import os
import tempfile
from pathlib import Path


class ToolError(Exception):
    """A user's mistake or a missing piece: printed as one line, exit code 1."""


def atomic_write(path: str | Path, data: str | bytes) -> None:
    """Write to a temporary file beside `path`, then rename: never a half-written file."""
    path = Path(path)
    mode = "wb" if isinstance(data, bytes) else "w"
    try:
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise ToolError(f"{path}: cannot write: {error.strerror}") from None
    try:
        with os.fdopen(handle, mode) as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
