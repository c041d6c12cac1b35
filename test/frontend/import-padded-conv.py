# A padded 3x3 conv with bias imports as pad -> bias broadcast -> conv (docs/importing.md).
# RUN: cd %S/Inputs && patsparse-import nets:padded_conv_with_bias --input-shape 1,4,8,8 -q -o %t.mlir
# RUN: FileCheck %s --input-file %t.mlir
# RUN: FileCheck %s --input-file %t.mlir --check-prefix=OPS
# RUN: %mlir-opt %t.mlir -o /dev/null

# CHECK-LABEL: func.func @forward(%arg0: tensor<1x4x8x8xf32>) -> tensor<1x8x8x8xf32>
# CHECK-DAG:     %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
# CHECK-DAG:     %[[WEIGHT:.*]] = arith.constant dense_resource<{{.*}}> : tensor<8x4x3x3xf32>
# CHECK-DAG:     %[[BIAS:.*]] = arith.constant dense_resource<{{.*}}> : tensor<8xf32>
# CHECK:         %[[PADDED:.*]] = tensor.pad %arg0 low[0, 0, 1, 1] high[0, 0, 1, 1]
# CHECK:           tensor.yield %[[ZERO]] : f32
# CHECK:         } : tensor<1x4x8x8xf32> to tensor<1x4x10x10xf32>
# CHECK:         %[[EMPTY:.*]] = tensor.empty() : tensor<1x8x8x8xf32>
# CHECK:         %[[INIT:.*]] = linalg.broadcast ins(%[[BIAS]] : tensor<8xf32>) outs(%[[EMPTY]] : tensor<1x8x8x8xf32>) dimensions = [0, 2, 3]
# CHECK:         %[[CONV:.*]] = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, {{.*}}strides = dense<1> : vector<2xi64>} ins(%[[PADDED]], %[[WEIGHT]] : {{.*}}) outs(%[[INIT]] : tensor<1x8x8x8xf32>)
# CHECK:         return %[[CONV]]

# The exact op sequence patsparse-detect-patterns matches, nothing in between: three constants
# (pad value 0.0, weight, bias), the pad, the bias broadcast into the conv's init tensor, the conv.
# OPS-LABEL: func.func @forward(
# OPS-NEXT:    = arith.constant
# OPS-NEXT:    = arith.constant
# OPS-NEXT:    = arith.constant
# OPS-NEXT:    = tensor.pad
# OPS-NEXT:    ^bb0(
# OPS-NEXT:      tensor.yield
# OPS-NEXT:    } :
# OPS-NEXT:    = tensor.empty()
# OPS-NEXT:    = linalg.broadcast ins(%{{[a-z0-9_]+}} : tensor<8xf32>) outs(%{{[a-z0-9_]+}} : tensor<1x8x8x8xf32>) dimensions = [0, 2, 3]
# OPS-NEXT:    = linalg.conv_2d_nchw_fchw
# OPS-NEXT:    return
