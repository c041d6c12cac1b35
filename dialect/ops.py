"""The `patsparse` dialect in Python: loading, the op builder and typed accessors.

The ops are defined once, in `patsparse.irdl.mlir`; this module loads that file
into an MLIR context and gives the ops a Python face, after the style of
`mlir/python/mlir/dialects/*.py`: a snake_case builder returning a `Value`
with keyword-only `loc`/`ip`, and a wrapper class whose properties return numpy
arrays.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from mlir import ir
from mlir.dialects import irdl

from .fkw import FKW, to_dense_weight

IRDL_FILE = Path(__file__).with_name("patsparse.irdl.mlir")
PATTERN_CONV2D = "patsparse.pattern_conv2d"

# The IRDL modules must outlive the contexts that loaded them.
_loaded_dialect_modules: list[ir.Module] = []


def load_dialect(context: ir.Context) -> None:
    """Register the `patsparse` dialect (from its IRDL file) in `context`."""
    with context:
        module = ir.Module.parse(IRDL_FILE.read_text())
        irdl.load_dialects(module)
    _loaded_dialect_modules.append(module)


def make_context() -> ir.Context:
    """A context with every upstream dialect and `patsparse` loaded."""
    context = ir.Context()
    load_dialect(context)
    return context


def dense_to_numpy(attribute: ir.Attribute) -> np.ndarray:
    """A dense elements attribute (splat or not) as a numpy array of its shape."""
    shaped = ir.DenseElementsAttr(attribute)
    shape = ir.ShapedType(shaped.type).shape
    if shaped.is_splat:
        value = shaped.get_splat_value()
        scalar = ir.FloatAttr(value).value if isinstance(value, ir.FloatAttr) else ir.IntegerAttr(value).value
        return np.full(shape, scalar)
    return np.array(shaped).reshape(shape)


def numpy_to_dense(array: np.ndarray) -> ir.DenseElementsAttr:
    return ir.DenseElementsAttr.get(np.ascontiguousarray(array))


def pattern_conv2d(input: ir.Value, fkw: FKW, *, bias: ir.Value | None = None,
                   strides: Sequence[int] = (1, 1), padding: Sequence[int] = (0, 0, 0, 0), groups: int = 1,
                   loc: ir.Location | None = None, ip: ir.InsertionPoint | None = None) -> ir.Value:
    """Build `patsparse.pattern_conv2d`; the result type follows from the shapes. `groups` > 1
    (a grouped or depthwise convolution) is stored as the `groups` attribute, 1 is left out."""
    batch, _, height, width = ir.RankedTensorType(input.type).shape
    out_height = (height + padding[0] + padding[2] - 3) // strides[0] + 1
    out_width = (width + padding[1] + padding[3] - 3) // strides[1] + 1
    result_type = ir.RankedTensorType.get([batch, fkw.num_filters, out_height, out_width], ir.F32Type.get())
    attributes = {
        "strides": ir.DenseI64ArrayAttr.get(list(strides)),
        "padding": ir.DenseI64ArrayAttr.get(list(padding)),
        "pattern_library": numpy_to_dense(np.asarray(fkw.pattern_library, np.int8)),
        "filter_order": numpy_to_dense(np.asarray(fkw.filter_order, np.int32)),
        "filter_offsets": numpy_to_dense(np.asarray(fkw.filter_offsets, np.int32)),
        "kernel_channels": numpy_to_dense(np.asarray(fkw.kernel_channels, np.int32)),
        "kernel_pattern_ids": numpy_to_dense(np.asarray(fkw.kernel_pattern_ids, np.int32)),
        "weights": numpy_to_dense(np.asarray(fkw.weights, np.float32)),
    }
    if groups != 1:
        attributes["groups"] = ir.IntegerAttr.get(ir.IntegerType.get_signless(64), groups)
    operands = [input] if bias is None else [input, bias]
    op = ir.Operation.create(PATTERN_CONV2D, results=[result_type], operands=operands,
                             attributes=attributes, loc=loc, ip=ip)
    return op.result


class PatternConv2dOp:
    """Typed view of a `patsparse.pattern_conv2d` operation."""

    FKW_ATTRIBUTES = ("pattern_library", "filter_order", "filter_offsets",
                      "kernel_channels", "kernel_pattern_ids", "weights")

    def __init__(self, operation: ir.Operation | ir.OpView):
        self.operation = operation.operation if isinstance(operation, ir.OpView) else operation
        if self.operation.name != PATTERN_CONV2D:
            raise ValueError(f"expected {PATTERN_CONV2D}, got {self.operation.name}")

    @property
    def input(self) -> ir.Value:
        return self.operation.operands[0]

    @property
    def bias(self) -> ir.Value | None:
        return self.operation.operands[1] if len(self.operation.operands) > 1 else None

    @property
    def output(self) -> ir.Value:
        return self.operation.results[0]

    @property
    def strides(self) -> list[int]:
        return list(ir.DenseI64ArrayAttr(self.operation.attributes["strides"]))

    @property
    def padding(self) -> list[int]:
        """[top, left, bottom, right]."""
        return list(ir.DenseI64ArrayAttr(self.operation.attributes["padding"]))

    @property
    def groups(self) -> int:
        """The `groups` attribute (absent: 1); the verifier checks it is an integer."""
        if "groups" not in self.operation.attributes:
            return 1
        return ir.IntegerAttr(self.operation.attributes["groups"]).value

    @property
    def input_shape(self) -> list[int]:
        return list(ir.RankedTensorType(self.input.type).shape)

    @property
    def output_shape(self) -> list[int]:
        return list(ir.RankedTensorType(self.output.type).shape)

    def array(self, name: str) -> np.ndarray:
        return dense_to_numpy(self.operation.attributes[name])

    @property
    def fkw(self) -> FKW:
        return FKW(**{name: self.array(name) for name in self.FKW_ATTRIBUTES})

    def to_dense_weight(self) -> np.ndarray:
        """The dense OIHW weight this op computes with, F x (C / groups) x 3 x 3."""
        return to_dense_weight(self.fkw, self.input_shape[1], self.groups)
