"""Recognise a convolution as torch-mlir's importer emits it: zero pad, bias, constant weights.

Three forms, all matched into one `ConvMatch` whose weight has PyTorch's layout
`F x (C / groups) x KH x KW`:

- `nn.Conv2d` (groups 1): `linalg.conv_2d_nchw_fchw`;
- depthwise, groups = C = F: `linalg.depthwise_conv_2d_nchw_chw` on the padded input, its
  weight a `tensor.collapse_shape` of the `C x 1 x KH x KW` constant;
- any other groups G (a channel multiplier too): `linalg.conv_2d_ngchw_gfchw` between
  `tensor.expand_shape`s (input `N x G x C/G x H x W`, weight `G x F/G x C/G x KH x KW`, initial
  output `N x G x F/G x Ho x Wo`) and one `tensor.collapse_shape` of its result back to NCHW;
  that collapse is the match's `root` (the value the convolution computes).

Shared by `patsparse-detect-patterns` (which packs pattern weights into FKW) and the
lowering of the dense convolutions that stay behind (which feeds the same code generator).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from mlir import ir

from .ir_utils import constant_array, int_array, producer, scalar_constant

CONV_2D = "linalg.conv_2d_nchw_fchw"
DEPTHWISE_CONV_2D = "linalg.depthwise_conv_2d_nchw_chw"
GROUPED_CONV_2D = "linalg.conv_2d_ngchw_gfchw"
_GROUP_EXPANSION = "[[0], [1, 2], [3], [4]]"   # N x C x H x W <-> N x G x C/G x H x W
_WEIGHT_EXPANSION = "[[0, 1], [2], [3], [4]]"  # F x Cg x KH x KW <-> G x F/G x Cg x KH x KW


class NotRewritten(Exception):
    """Why a convolution stays on the dense path."""


@dataclass
class ConvMatch:
    conv: ir.Operation
    source: ir.Value          # the input before the folded zero pad
    padding: list[int]        # [top, left, bottom, right]
    strides: list[int]
    weight: np.ndarray        # F x C/groups x KH x KW float32
    bias: ir.Value | None     # tensor<F x f32>, or None for a zero initial output
    groups: int = 1
    root: ir.Operation | None = None  # the op whose result is the NCHW output (None: `conv`)

    @property
    def output(self) -> ir.Operation:
        """The op to replace: the convolution, or the collapse_shape after a grouped one."""
        return self.root if self.root is not None else self.conv


def is_convolution(op: ir.Operation) -> bool:
    return op.name.startswith(("linalg.conv_", "linalg.depthwise_conv_"))


def match_convolution(conv: ir.Operation, kernel_size: tuple[int, int] | None = None) -> ConvMatch:
    """Match `conv` or raise NotRewritten with the reason."""
    if conv.name not in (CONV_2D, DEPTHWISE_CONV_2D, GROUPED_CONV_2D):
        raise NotRewritten(f"{conv.name} is not a dense NCHW/FCHW, depthwise NCHW/CHW or grouped "
                           f"NGCHW/GFCHW convolution")
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
    kernel = tuple(weight_value.type.shape[-2:])
    if kernel_size is not None and kernel != kernel_size:
        raise NotRewritten(f"kernel {kernel[0]}x{kernel[1]}, not {kernel_size[0]}x{kernel_size[1]}")
    if conv.name == CONV_2D:
        weight = constant_array(weight_value)
        if weight is None:
            raise NotRewritten("weights are not a constant")
        source, padding = fold_zero_pad(input_value)
        bias = bias_of(init_value, weight.shape[0])
        return ConvMatch(conv, source, padding, strides, weight.astype(np.float32), bias)
    if conv.name == DEPTHWISE_CONV_2D:
        weight = _reshaped_constant(weight_value)
        if weight is None:
            raise NotRewritten("weights are not a constant")
        channels = weight.shape[0]
        source, padding = fold_zero_pad(input_value)
        bias = bias_of(init_value, channels)
        return ConvMatch(conv, source, padding, strides, weight.reshape(channels, 1, *kernel).astype(np.float32),
                         bias, groups=channels)
    # Grouped: expand_shape on the way in, collapse_shape on the way out.
    expanded_input = _reshape(input_value, "tensor.expand_shape", _GROUP_EXPANSION)
    root = _only_collapse_user(conv.results[0])
    if expanded_input is None or root is None:
        raise NotRewritten("a grouped convolution not between the expand_shape / collapse_shape of the "
                           "channel dimension")
    weight = _reshaped_constant(weight_value, _WEIGHT_EXPANSION)
    if weight is None:
        raise NotRewritten("weights are not a constant")
    groups, group_filters, group_channels = weight.shape[:3]
    source, padding = fold_zero_pad(expanded_input.operands[0])
    bias = _grouped_bias(init_value, groups * group_filters)
    return ConvMatch(conv, source, padding, strides,
                     weight.reshape(groups * group_filters, group_channels, *kernel).astype(np.float32),
                     bias, groups=groups, root=root)


def _reshape(value: ir.Value, name: str, reassociation: str) -> ir.Operation | None:
    """The `name` reshape (expand_shape / collapse_shape) with `reassociation` defining `value`."""
    op = producer(value, name)
    if op is None or str(op.attributes["reassociation"]) != reassociation:
        return None
    return op


def _reshaped_constant(value: ir.Value, reassociation: str | None = None) -> np.ndarray | None:
    """A constant, or one seen through an expand_shape / collapse_shape (any reassociation unless
    given), in `value`'s shape."""
    for name in ("tensor.expand_shape", "tensor.collapse_shape"):
        op = producer(value, name)
        if op is not None and (reassociation is None or str(op.attributes["reassociation"]) == reassociation):
            array = constant_array(op.operands[0])
            return None if array is None else array.reshape(value.type.shape)
    return constant_array(value)


def _only_collapse_user(value: ir.Value) -> ir.Operation | None:
    uses = list(value.uses)
    if len(uses) != 1:
        return None
    user = uses[0].owner
    user = user.operation if hasattr(user, "operation") else user
    if user.name != "tensor.collapse_shape" or str(user.attributes["reassociation"]) != _GROUP_EXPANSION:
        return None
    return user


def _grouped_bias(init: ir.Value, filters: int) -> ir.Value | None:
    """The bias of a grouped convolution's initial output: an expand_shape of a broadcast bias,
    or a zero fill (of an expand_shape of an empty tensor)."""
    fill = producer(init, "linalg.fill")
    if fill is not None and scalar_constant(fill.operands[0]) == 0.0:
        return None
    expanded = _reshape(init, "tensor.expand_shape", _GROUP_EXPANSION)
    if expanded is not None:
        return bias_of(expanded.operands[0], filters)
    raise NotRewritten("the output accumulates into a value that is neither zero nor a broadcast bias")


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
