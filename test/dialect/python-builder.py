# RUN: %python %s | FileCheck %s

# The Python face of the dialect: build ops from numpy, read them back as numpy,
# and run the semantic verifier on what was built.

import numpy as np
from mlir import ir
from mlir.dialects import func

from patsparse.dialect import (PatternConv2dOp, from_dense_weight, make_context, pattern_conv2d,
                               verify_op)


def run(test):
    print(f"TEST: {test.__name__}")
    with make_context(), ir.Location.unknown():
        test()
    return test


def pattern_weight():
    weight = np.zeros((3, 2, 3, 3), np.float32)
    weight[0, 0].flat[[1, 3, 4, 7]] = [1, 2, 3, 4]
    weight[2, 1].flat[[0, 1, 4, 8]] = [5, 6, 7, 8]
    return weight


# CHECK-LABEL: TEST: build_with_bias_and_stride
# CHECK: func.func @conv(%arg0: tensor<1x2x7x7xf32>, %arg1: tensor<3xf32>) -> tensor<1x3x4x4xf32>
# CHECK: "patsparse.pattern_conv2d"(%arg0, %arg1)
# CHECK-SAME: filter_offsets = dense<[0, 1, 1, 2]> : tensor<4xi32>
# CHECK-SAME: padding = array<i64: 1, 1, 1, 1>
# CHECK-SAME: strides = array<i64: 2, 2>
# CHECK-SAME: -> tensor<1x3x4x4xf32>
# CHECK: problems: []
# CHECK: strides [2, 2] padding [1, 1, 1, 1] output [1, 3, 4, 4]
# CHECK: dense weight equal: True
@run
def build_with_bias_and_stride():
    module = ir.Module.create()
    with ir.InsertionPoint(module.body):
        f32 = ir.F32Type.get()
        input_type = ir.RankedTensorType.get([1, 2, 7, 7], f32)
        bias_type = ir.RankedTensorType.get([3], f32)
        fkw = from_dense_weight(pattern_weight())

        @func.FuncOp.from_py_func(input_type, bias_type, name="conv")
        def conv(x, bias):
            return pattern_conv2d(x, fkw, bias=bias, strides=(2, 2), padding=(1, 1, 1, 1))

    print(module)
    op = PatternConv2dOp(conv.func_op.body.blocks[0].operations[0])
    print("problems:", verify_op(op.operation))
    print("strides", op.strides, "padding", op.padding, "output", op.output_shape)
    print("dense weight equal:", bool((op.to_dense_weight() == pattern_weight()).all()))


# CHECK-LABEL: TEST: verifier_reports_inconsistent_fkw
# CHECK: problems: ['kernel_channels: expected channels in [0, 2), kernel 0 has 5']
@run
def verifier_reports_inconsistent_fkw():
    module = ir.Module.create()
    with ir.InsertionPoint(module.body):
        input_type = ir.RankedTensorType.get([1, 2, 5, 5], ir.F32Type.get())
        fkw = from_dense_weight(pattern_weight())
        broken = type(fkw)(**{**fkw.__dict__, "kernel_channels": np.array([5, 1], np.int32)})

        @func.FuncOp.from_py_func(input_type, name="conv")
        def conv(x):
            return pattern_conv2d(x, broken, padding=(1, 1, 1, 1))

    print("problems:", verify_op(conv.func_op.body.blocks[0].operations[0]))
