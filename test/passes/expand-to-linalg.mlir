// RUN: %patsparse-opt %s --patsparse-expand-to-linalg | FileCheck %s
// RUN: %patsparse-opt %s --patsparse-expand-to-linalg --patsparse-detect-patterns | FileCheck %s --check-prefix=ROUNDTRIP

// The pattern conv becomes a dense linalg conv: the weight rebuilt from FKW (taps
// 1, 3, 4, 7 of channel 1 of filter 0, zeros elsewhere), the input padded with
// zeros by tensor.pad, the bias broadcast into the output.
// CHECK-LABEL: func.func @expand_with_bias_and_padding
// CHECK-DAG: %[[W:.*]] = arith.constant dense<{{\[\[\[\[}}0.000000e+00, 0.000000e+00, 0.000000e+00], [0.000000e+00, 0.000000e+00, 0.000000e+00], [0.000000e+00, 0.000000e+00, 0.000000e+00]], {{\[\[}}0.000000e+00, 1.000000e+00, 0.000000e+00], [2.000000e+00, 3.000000e+00, 0.000000e+00], [0.000000e+00, 4.000000e+00, 0.000000e+00]]]]> : tensor<1x2x3x3xf32>
// CHECK: %[[PADDED:.*]] = tensor.pad %arg0 low[0, 0, 1, 0] high[0, 0, 1, 1]
// CHECK: tensor.yield %{{.*}} : f32
// CHECK: } : tensor<1x2x5x5xf32> to tensor<1x2x7x6xf32>
// CHECK: %[[INIT:.*]] = linalg.broadcast ins(%arg1 : tensor<1xf32>)
// CHECK-SAME: dimensions = [0, 2, 3]
// CHECK: linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<[1, 2]> : tensor<2xi64>} ins(%[[PADDED]], %[[W]] : tensor<1x2x7x6xf32>, tensor<1x2x3x3xf32>) outs(%[[INIT]] : tensor<1x1x5x2xf32>)
// CHECK-NOT: patsparse.pattern_conv2d
// ROUNDTRIP-LABEL: func.func @expand_with_bias_and_padding
// ROUNDTRIP: "patsparse.pattern_conv2d"(%arg0, %arg1)
// ROUNDTRIP-SAME: kernel_channels = dense<1>
// ROUNDTRIP-SAME: padding = array<i64: 1, 0, 1, 1>
// ROUNDTRIP-SAME: strides = array<i64: 1, 2>
// ROUNDTRIP-SAME: weights = dense<[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00]>
func.func @expand_with_bias_and_padding(%x: tensor<1x2x5x5xf32>, %b: tensor<1xf32>) -> tensor<1x1x5x2xf32> {
  %y = "patsparse.pattern_conv2d"(%x, %b) {
    strides = array<i64: 1, 2>, padding = array<i64: 1, 0, 1, 1>,
    pattern_library = dense<[[0, 1, 0, 1, 1, 0, 0, 1, 0]]> : tensor<1x9xi8>,
    filter_order = dense<[0]> : tensor<1xi32>, filter_offsets = dense<[0, 1]> : tensor<2xi32>,
    kernel_channels = dense<[1]> : tensor<1xi32>, kernel_pattern_ids = dense<[0]> : tensor<1xi32>,
    weights = dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  } : (tensor<1x2x5x5xf32>, tensor<1xf32>) -> tensor<1x1x5x2xf32>
  return %y : tensor<1x1x5x2xf32>
}

// Without padding or bias: no pad, a zero fill as the output.
// CHECK-LABEL: func.func @expand_without_bias_or_padding
// CHECK-NOT: tensor.pad
// CHECK: %[[INIT:.*]] = linalg.fill
// CHECK: linalg.conv_2d_nchw_fchw {{.*}} ins(%arg0, %{{.*}} : tensor<1x2x5x5xf32>, tensor<1x2x3x3xf32>) outs(%[[INIT]] : tensor<1x1x3x3xf32>)
func.func @expand_without_bias_or_padding(%x: tensor<1x2x5x5xf32>) -> tensor<1x1x3x3xf32> {
  %y = "patsparse.pattern_conv2d"(%x) {
    strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>,
    pattern_library = dense<[[0, 1, 0, 1, 1, 0, 0, 1, 0]]> : tensor<1x9xi8>,
    filter_order = dense<[0]> : tensor<1xi32>, filter_offsets = dense<[0, 1]> : tensor<2xi32>,
    kernel_channels = dense<[0]> : tensor<1xi32>, kernel_pattern_ids = dense<[0]> : tensor<1xi32>,
    weights = dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  } : (tensor<1x2x5x5xf32>) -> tensor<1x1x3x3xf32>
  return %y : tensor<1x1x3x3xf32>
}
