"""Large constants leave the IR before `mlir-translate` and come back as one binary object.

VGG-16 at 224x224 has 138M parameters. Inline in the LLVM dialect they become a 1 GB hex
string, then a multi-GB textual LLVM IR array that `mlir-translate` writes and `llc` parses
again: 10 minutes and 8 GB of memory on this machine. Instead, every `llvm.mlir.global`
constant of at least `min_bytes` becomes an external, hidden, `dso_local` declaration (so
code still addresses it PC-relative), and its bytes go to one `weights.bin` that a few
lines of assembly pull in with `.incbin`: assembling it is a copy, for any target whose
assembler gcc drives.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from mlir import ir

from patsparse.dialect.ir_utils import NUMPY_TYPES, downcast, resource_array
from patsparse.dialect.ops import dense_to_numpy

GLOBAL = "llvm.mlir.global"
ALIGNMENT = 64


@dataclass
class ExternalConstant:
    symbol: str
    offset: int   # in weights.bin
    size: int     # bytes


def constant_bytes(op: ir.Operation) -> bytes | None:
    """The initial value of an `llvm.mlir.global` as raw little-endian bytes, or None."""
    if "value" not in op.attributes:
        return None
    value = op.attributes["value"]
    shaped = downcast(value.type, ir.ShapedType) if hasattr(value, "type") else None
    if shaped is None or not shaped.has_static_shape:
        return None
    dtype = NUMPY_TYPES.get(str(shaped.element_type))
    if dtype is None:
        return None
    resource = downcast(value, ir.DenseResourceElementsAttr)
    if resource is not None:
        array = resource_array(op, resource)
    elif downcast(value, ir.DenseElementsAttr) is not None:
        array = dense_to_numpy(value)
    else:
        return None
    if array is None:
        return None
    return np.ascontiguousarray(array, dtype=dtype).tobytes()


def externalize_constants(module: ir.Module, weights_file: Path, min_bytes: int = 4096) -> list[ExternalConstant]:
    """Move every constant global of at least `min_bytes` into `weights_file`; return their places."""
    placed: list[ExternalConstant] = []
    with module.context, open(weights_file, "wb") as out:
        external = ir.Attribute.parse("#llvm.linkage<external>")
        for op in module.body.operations:
            op = op.operation
            if op.name != GLOBAL or "constant" not in op.attributes:
                continue
            data = constant_bytes(op)
            if data is None or len(data) < min_bytes:
                continue
            placed.append(ExternalConstant(op.attributes["sym_name"].value, out.tell(), len(data)))
            out.write(data)
            del op.attributes["value"]
            op.attributes["linkage"] = external
            op.attributes["visibility_"] = ir.IntegerAttr.get(ir.IntegerType.get_signless(64), 1)  # hidden
            op.attributes["dso_local"] = ir.UnitAttr.get()
    return placed


def weights_assembly(constants: list[ExternalConstant], weights_file: Path) -> str:
    """GNU assembler source defining each symbol over its slice of `weights_file`."""
    lines = ['\t.section .rodata.patsparse_weights,"a"']
    for constant in constants:
        lines += [f"\t.balign {ALIGNMENT}", f"\t.globl {constant.symbol}", f"\t.hidden {constant.symbol}",
                  f"\t.type {constant.symbol}, %object", f"\t.size {constant.symbol}, {constant.size}",
                  f"{constant.symbol}:", f'\t.incbin "{weights_file}", {constant.offset}, {constant.size}']
    lines.append('\t.section .note.GNU-stack,"",%progbits')
    return "\n".join(lines) + "\n"
