"""Facts read off imported linalg IR text (no MLIR bindings needed)."""

from __future__ import annotations

import re

_CONV = re.compile(
    r"linalg\.(?P<op>\w*conv\w*)\b[^\n]*?ins\([^:\n]*:\s*tensor<(?P<input>[^>]*)>,\s*tensor<(?P<filter>[^>]*)>"
)
_DYNAMIC = re.compile(r"tensor<(?:\d+x)*\?[^>]*>")
_ENTRY = re.compile(r"func\.func @(?P<name>[\w.$-]+)\((?P<args>[^)]*)\)\s*->\s*(?P<results>[^{]*)\{")


def convolutions(ir_text: str) -> list[tuple[str, str]]:
    """(op name, filter type) for every linalg convolution, in IR order."""
    return [(match["op"], match["filter"]) for match in _CONV.finditer(ir_text)]


def count_convolutions(ir_text: str) -> tuple[int, int]:
    """(all convolutions, 3x3 `conv_2d_nchw_fchw` convolutions)."""
    convs = convolutions(ir_text)
    three_by_three = sum(
        1 for op, filter_type in convs if op == "conv_2d_nchw_fchw" and "x3x3x" in f"x{filter_type}"
    )
    return len(convs), three_by_three


def first_dynamic_line(ir_text: str) -> str | None:
    """The first IR line that mentions a tensor type with a dynamic (`?`) dimension."""
    for line in ir_text.splitlines():
        if _DYNAMIC.search(line):
            return line.strip()
    return None


def entry_signature(ir_text: str) -> str | None:
    """`@forward(tensor<1x3x32x32xf32>) -> tensor<1x10xf32>` of the first function."""
    match = _ENTRY.search(ir_text)
    if not match:
        return None
    args = re.sub(r"%\w+:\s*", "", match["args"]).strip()
    return f"@{match['name']}({args}) -> {match['results'].strip()}"
