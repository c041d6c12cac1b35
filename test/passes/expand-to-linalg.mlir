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

// A depthwise op (groups = channels = filters) becomes linalg.depthwise_conv_2d_nchw_chw with
// a C x 3 x 3 weight, as torch-mlir emits nn.Conv2d(groups=C); round trip: the same op.
// CHECK-LABEL: func.func @expand_depthwise
// CHECK-DAG: %[[W:.*]] = arith.constant dense<{{\[\[\[}}0.000000e+00, 1.000000e+00, 0.000000e+00], [2.000000e+00, 3.000000e+00, 0.000000e+00], [0.000000e+00, 4.000000e+00, 0.000000e+00]], {{\[\[}}5.000000e+00, 6.000000e+00, 0.000000e+00], [0.000000e+00, 7.000000e+00, 0.000000e+00], [0.000000e+00, 0.000000e+00, 8.000000e+00]]]> : tensor<2x3x3xf32>
// CHECK: %[[PADDED:.*]] = tensor.pad %arg0 low[0, 0, 1, 1] high[0, 0, 1, 1]
// CHECK: linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>} ins(%[[PADDED]], %[[W]] : tensor<1x2x7x7xf32>, tensor<2x3x3xf32>)
// CHECK-NOT: patsparse.pattern_conv2d
// ROUNDTRIP-LABEL: func.func @expand_depthwise
// ROUNDTRIP: "patsparse.pattern_conv2d"(%arg0)
// ROUNDTRIP-SAME: groups = 2 : i64
// ROUNDTRIP-SAME: kernel_channels = dense<[0, 1]>
// ROUNDTRIP-SAME: strides = array<i64: 2, 2>
// ROUNDTRIP-SAME: weights = dense<[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00, 5.000000e+00, 6.000000e+00, 7.000000e+00, 8.000000e+00]>
func.func @expand_depthwise(%x: tensor<1x2x5x5xf32>) -> tensor<1x2x3x3xf32> {
  %y = "patsparse.pattern_conv2d"(%x) {
    strides = array<i64: 2, 2>, padding = array<i64: 1, 1, 1, 1>, groups = 2 : i64,
    pattern_library = dense<[[0, 1, 0, 1, 1, 0, 0, 1, 0], [1, 1, 0, 0, 1, 0, 0, 0, 1]]> : tensor<2x9xi8>,
    filter_order = dense<[0, 1]> : tensor<2xi32>, filter_offsets = dense<[0, 1, 2]> : tensor<3xi32>,
    kernel_channels = dense<[0, 1]> : tensor<2xi32>, kernel_pattern_ids = dense<[0, 1]> : tensor<2xi32>,
    weights = dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]> : tensor<8xf32>
  } : (tensor<1x2x5x5xf32>) -> tensor<1x2x3x3xf32>
  return %y : tensor<1x2x3x3xf32>
}

// A grouped op (groups = 2, 4 channels, 2 filters) becomes conv_2d_ngchw_gfchw between
// expand_shapes (input N x G x C/G x H x W, initial output) and a collapse_shape of its result;
// the weight is G x F/G x C/G x 3 x 3. Round trip: the same op (global kernel channels).
// CHECK-LABEL: func.func @expand_grouped
// CHECK: %[[PADDED:.*]] = tensor.pad %arg0
// CHECK: %[[INIT:.*]] = linalg.broadcast ins(%arg1 : tensor<2xf32>)
// CHECK-DAG: %[[XG:.*]] = tensor.expand_shape %[[PADDED]] {{\[\[}}0], [1, 2], [3], [4]] output_shape [1, 2, 2, 7, 7]
// CHECK-DAG: %[[OG:.*]] = tensor.expand_shape %[[INIT]] {{\[\[}}0], [1, 2], [3], [4]] output_shape [1, 2, 1, 5, 5]
// CHECK: %[[YG:.*]] = linalg.conv_2d_ngchw_gfchw {{.*}} ins(%[[XG]], %{{.*}} : tensor<1x2x2x7x7xf32>, tensor<2x1x2x3x3xf32>) outs(%[[OG]] : tensor<1x2x1x5x5xf32>)
// CHECK: %[[Y:.*]] = tensor.collapse_shape %[[YG]] {{\[\[}}0], [1, 2], [3], [4]] : tensor<1x2x1x5x5xf32> into tensor<1x2x5x5xf32>
// CHECK: return %[[Y]]
// ROUNDTRIP-LABEL: func.func @expand_grouped
// ROUNDTRIP: "patsparse.pattern_conv2d"(%arg0, %arg1)
// ROUNDTRIP-SAME: filter_offsets = dense<[0, 1, 3]>
// ROUNDTRIP-SAME: groups = 2 : i64
// ROUNDTRIP-SAME: kernel_channels = dense<[1, 2, 3]>
// ROUNDTRIP-NOT: tensor.collapse_shape
func.func @expand_grouped(%x: tensor<1x4x5x5xf32>, %b: tensor<2xf32>) -> tensor<1x2x5x5xf32> {
  %y = "patsparse.pattern_conv2d"(%x, %b) {
    strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>, groups = 2 : i64,
    pattern_library = dense<[[0, 1, 0, 1, 1, 0, 0, 1, 0]]> : tensor<1x9xi8>,
    filter_order = dense<[0, 1]> : tensor<2xi32>, filter_offsets = dense<[0, 1, 3]> : tensor<3xi32>,
    kernel_channels = dense<[1, 2, 3]> : tensor<3xi32>, kernel_pattern_ids = dense<[0, 0, 0]> : tensor<3xi32>,
    weights = dense<1.0> : tensor<12xf32>
  } : (tensor<1x4x5x5xf32>, tensor<2xf32>) -> tensor<1x2x5x5xf32>
  return %y : tensor<1x2x5x5xf32>
}
