"""Recognise a convolution as torch-mlir's importer emits it: zero pad, bias, constant weights.

Shared by `patsparse-detect-patterns` (which packs pattern weights into FKW) and the
lowering of the dense convolutions that stay behind (which feeds the same code generator).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from mlir import ir

from .ir_utils import constant_array, int_array, producer, scalar_constant

CONV_2D = "linalg.conv_2d_nchw_fchw"


class NotRewritten(Exception):
    """Why a convolution stays on the dense path."""


@dataclass
class ConvMatch:
    conv: ir.Operation
    source: ir.Value          # the input before the folded zero pad
    padding: list[int]        # [top, left, bottom, right]
    strides: list[int]
    weight: np.ndarray        # F x C x KH x KW float32
    bias: ir.Value | None     # tensor<F x f32>, or None for a zero initial output


def is_convolution(op: ir.Operation) -> bool:
    return op.name.startswith(("linalg.conv_", "linalg.depthwise_conv_"))


def match_convolution(conv: ir.Operation, kernel_size: tuple[int, int] | None = None) -> ConvMatch:
    """Match `conv` or raise NotRewritten with the reason."""
    if conv.name != CONV_2D:
        raise NotRewritten(f"{conv.name} is not a dense NCHW/FCHW convolution")
    input_value, weight_value, init_value = conv.operands[0], conv.operands[1], conv.operands[2]
    dilations = int_array(conv.attributes["dilations"] if "dilations" in conv.attributes else None, [1, 1])
    strides = int_array(conv.attributes["strides"] if "strides" in conv.attributes else None, [1, 1])
    if dilations != [1, 1]:
        raise NotRewritten(f"dilation {dilations}, only 1 is supported")
    for value, role in ((input_value, "input"), (weight_value, "weight"), (conv.results[0], "output")):
        tensor = value.type
        if not isinstance(tensor, ir.RankedTensorType) or not tensor.has_static_shape \
                or not isinstance(tensor.element_type, ir.F32Type):
            raise NotRewritten(f"{role} type {tensor} is not a static f32 tensor")
    kernel = tuple(weight_value.type.shape[2:])
    if kernel_size is not None and kernel != kernel_size:
        raise NotRewritten(f"kernel {kernel[0]}x{kernel[1]}, not {kernel_size[0]}x{kernel_size[1]}")
    weight = constant_array(weight_value)
    if weight is None:
        raise NotRewritten("weights are not a constant")
    source, padding = fold_zero_pad(input_value)
    bias = bias_of(init_value, weight.shape[0])
    return ConvMatch(conv, source, padding, strides, weight.astype(np.float32), bias)


def fold_zero_pad(value: ir.Value) -> tuple[ir.Value, list[int]]:
    """(source, [top, left, bottom, right]) of a static zero `tensor.pad` on H and W only."""
    pad = producer(value, "tensor.pad")
    if pad is None or len(pad.operands) != 1:  # dynamic pad amounts have extra operands
        return value, [0, 0, 0, 0]
    low = list(ir.DenseI64ArrayAttr(pad.attributes["static_low"]))
    high = list(ir.DenseI64ArrayAttr(pad.attributes["static_high"]))
    yield_op = pad.regions[0].blocks[0].operations[0]
    if low[:2] != [0, 0] or high[:2] != [0, 0] or scalar_constant(yield_op.operands[0]) != 0.0:
        return value, [0, 0, 0, 0]
    return pad.operands[0], [low[2], low[3], high[2], high[3]]


def bias_of(value: ir.Value, filters: int) -> ir.Value | None:
    """The bias broadcast into a convolution's initial output; None for a zero fill."""
    fill = producer(value, "linalg.fill")
    if fill is not None and scalar_constant(fill.operands[0]) == 0.0:
        return None
    broadcast = producer(value, "linalg.broadcast")
    if broadcast is not None and list(ir.DenseI64ArrayAttr(broadcast.attributes["dimensions"])) == [0, 2, 3]:
        bias = broadcast.operands[0]
        if list(bias.type.shape) == [filters] and isinstance(bias.type.element_type, ir.F32Type):
            return bias
    raise NotRewritten("the output accumulates into a value that is neither zero nor a broadcast bias")
