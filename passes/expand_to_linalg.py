"""`patsparse-expand-to-linalg`: the reference lowering of patsparse ops to dense linalg."""

from __future__ import annotations

import dataclasses

from mlir import ir
from mlir.dialects import arith, linalg, tensor

from patsparse.dialect.ir_utils import ops_where
from patsparse.dialect.ops import PATTERN_CONV2D, PatternConv2dOp, numpy_to_dense
from patsparse.dialect.pass_base import PatsparsePass


@dataclasses.dataclass
class ExpandToLinalgPass(PatsparsePass):
    """Rewrite every `patsparse.pattern_conv2d` back into a dense `linalg.conv_2d_nchw_fchw`.

    The dense OIHW weight is rebuilt from the FKW arrays (zeros where kernels or taps were
    pruned), padding becomes a zero-filled tensor with the input inserted into it, and the
    bias (if any) is broadcast into the convolution's output:

    ```mlir
    %y = "patsparse.pattern_conv2d"(%x, %b) {padding = array<i64: 1, 1, 1, 1>, ...}
    ```

    becomes

    ```mlir
    %w = arith.constant dense<...> : tensor<FxCx3x3xf32>
    %p = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] { tensor.yield %zero }
    %init = linalg.broadcast ins(%b) outs(tensor.empty) dimensions = [0, 2, 3]
    %y = linalg.conv_2d_nchw_fchw {strides = ..., dilations = dense<1>} ins(%p, %w) outs(%init)
    ```

    A grouped op (`groups` G) becomes what torch-mlir emits for `nn.Conv2d(groups=G)`: with
    G = C = F a `linalg.depthwise_conv_2d_nchw_chw` (weight `C x 3 x 3`), otherwise a
    `linalg.conv_2d_ngchw_gfchw` between `tensor.expand_shape`s of the padded input
    (`N x G x C/G x H x W`), the weight (`G x F/G x C/G x 3 x 3`) and the initial output, and a
    `tensor.collapse_shape` of its result back to `N x F x Ho x Wo`.

    Rationale:
    - This is the oracle: with it any patsparse module runs through upstream MLIR, so every
      optimisation of the FKW form can be checked against dense results.
    - The output has the shape torch-mlir's importer gives a convolution (zero `tensor.pad`,
      broadcast bias), so `patsparse-detect-patterns` turns it back into the same op.
    """

    flag = "patsparse-expand-to-linalg"
    summary = "Expand patsparse.pattern_conv2d into dense linalg (the reference lowering)"

    def run(self, module: ir.Operation) -> None:
        ops = ops_where(module, lambda op: op.name == PATTERN_CONV2D)
        for op in ops:
            self._expand(PatternConv2dOp(op))

    @staticmethod
    def _expand(op: PatternConv2dOp) -> None:
        f32 = ir.F32Type.get()
        with ir.InsertionPoint(op.operation), op.operation.location:
            weight = op.to_dense_weight()
            groups, filters, channels = op.groups, op.output_shape[1], op.input_shape[1]
            if groups == 1:
                weight_value = arith.constant(ir.RankedTensorType.get(list(weight.shape), f32),
                                              numpy_to_dense(weight))
            elif groups == filters == channels:
                weight_value = arith.constant(ir.RankedTensorType.get([channels, 3, 3], f32),
                                              numpy_to_dense(weight.reshape(channels, 3, 3)))
            zero = arith.constant(f32, 0.0)
            source = op.input
            top, left, bottom, right = op.padding
            if any(op.padding):
                n, c, h, w = op.input_shape
                padded_type = ir.RankedTensorType.get([n, c, h + top + bottom, w + left + right], f32)
                pad = tensor.PadOp(padded_type, op.input, [], [], [0, 0, top, left], [0, 0, bottom, right])
                index = ir.IndexType.get()
                body = pad.regions[0].blocks.append(index, index, index, index)
                with ir.InsertionPoint(body):
                    tensor.YieldOp(zero)
                source = pad.result
            empty = tensor.empty(op.output_shape, f32)
            if op.bias is not None:
                init = linalg.broadcast(op.bias, outs=[empty], dimensions=[0, 2, 3])
            else:
                init = linalg.fill(zero, outs=[empty])
            if groups == 1:
                result = linalg.conv_2d_nchw_fchw(source, weight_value, outs=[init], strides=op.strides,
                                                  dilations=[1, 1])
            elif groups == filters == channels:
                result = linalg.depthwise_conv_2d_nchw_chw(source, weight_value, outs=[init],
                                                           strides=op.strides, dilations=[1, 1])
            else:
                result = _grouped_conv(source, weight, init, groups, op.strides)
        op.output.replace_all_uses_with(result)
        op.operation.erase()


def _expand_shape(value: ir.Value, shape: list[int], reassociation: list[list[int]]) -> ir.Value:
    result_type = ir.RankedTensorType.get(shape, ir.F32Type.get())
    return tensor.expand_shape(result_type, value, reassociation, [], shape)


def _grouped_conv(source: ir.Value, weight, init: ir.Value, groups: int, strides: list[int]) -> ir.Value:
    """`linalg.conv_2d_ngchw_gfchw` between the channel reshapes, as torch-mlir emits it."""
    f32 = ir.F32Type.get()
    init = init if isinstance(init, ir.Value) else init.results[0]  # linalg.broadcast builds an OpView
    n, c, h, w = ir.RankedTensorType(source.type).shape
    filters = weight.shape[0]
    _, _, out_h, out_w = ir.RankedTensorType(init.type).shape
    by_channel = [[0], [1, 2], [3], [4]]
    grouped_weight = weight.reshape(groups, filters // groups, *weight.shape[1:])
    weight_value = arith.constant(ir.RankedTensorType.get(list(grouped_weight.shape), f32),
                                  numpy_to_dense(grouped_weight))
    conv = linalg.conv_2d_ngchw_gfchw(
        _expand_shape(source, [n, groups, c // groups, h, w], by_channel), weight_value,
        outs=[_expand_shape(init, [n, groups, filters // groups, out_h, out_w], by_channel)],
        strides=strides, dilations=[1, 1])
    return tensor.collapse_shape(ir.RankedTensorType.get([n, filters, out_h, out_w], f32), conv, by_channel)
