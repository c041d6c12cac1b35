"""Parsing `--input-shape` and applying `--batch` (no torch needed)."""

from __future__ import annotations

import re

from .errors import FrontendError

_SEPARATORS = re.compile(r"\s*[,x]\s*")


def parse_input_shape(text: str, *, file: str = "--input-shape") -> tuple[int, ...]:
    """`"1,3,32,32"` (or `"1x3x32x32"`) -> `(1, 3, 32, 32)`.

    Every dimension must be a positive integer; raises FrontendError naming `file`.
    """
    parts = _SEPARATORS.split(text.strip()) if text.strip() else []
    if not parts or not all(part.isdigit() and int(part) > 0 for part in parts):
        raise FrontendError(
            file,
            f"bad --input-shape {text!r}: expected positive integers separated by "
            "commas, like 1,3,32,32",
        )
    return tuple(int(part) for part in parts)


def format_shape(shape) -> str:
    """`(1, 3, 32, 32)` -> `"1x3x32x32"`; unknown dimensions print as `?`."""
    return "x".join("?" if d is None or d < 0 else str(d) for d in shape)


def parse_input_shapes(text: str, *, file: str = "--input-shape") -> list[tuple[int, ...]]:
    """`"1,3,32,32"` -> `[(1, 3, 32, 32)]`; `"1,3,32,32;1,10"` (a model of two inputs) -> two shapes."""
    return [parse_input_shape(part, file=file) for part in text.split(";")]
