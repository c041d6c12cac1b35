// RUN: %patsparse-opt %s --split-input-file --patsparse-detect-patterns | FileCheck %s
// RUN: %patsparse-opt %s --split-input-file --patsparse-detect-patterns="library=010110010" | FileCheck %s --check-prefix=LIBRARY
// RUN: %patsparse-opt %s --split-input-file --patsparse-detect-patterns="max-patterns=1" | FileCheck %s --check-prefix=MAX1

// The weights below use two patterns: A keeps taps {1, 3, 4, 7} (a plus without its
// right arm), B keeps taps {0, 1, 4, 8}. The inferred library lists them as [B, A].

// Pattern kernels, zero padding, bias: the pad, the bias broadcast and the
// convolution become one patsparse.pattern_conv2d with FKW weights.
// CHECK-LABEL: func.func @pattern_kernels_with_bias_and_padding
// CHECK-NOT: tensor.pad
// CHECK-NOT: linalg.conv_2d_nchw_fchw
// CHECK: %[[Y:.*]] = "patsparse.pattern_conv2d"(%arg0, %arg1)
// CHECK-SAME: filter_offsets = dense<[0, 2, 3]>
// CHECK-SAME: kernel_channels = dense<[0, 1, 1]>
// CHECK-SAME: kernel_pattern_ids = dense<[1, 0, 1]>
// CHECK-SAME: padding = array<i64: 1, 1, 1, 1>
// CHECK-SAME: pattern_library = dense<{{\[\[}}1, 1, 0, 0, 1, 0, 0, 0, 1], [0, 1, 0, 1, 1, 0, 0, 1, 0]]>
// CHECK-SAME: strides = array<i64: 1, 1>
// CHECK-SAME: weights = dense<[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00, 5.000000e+00, 6.000000e+00, 7.000000e+00, 8.000000e+00, 9.000000e+00, 1.000000e+01, 1.100000e+01, 1.200000e+01]>
// CHECK-SAME: (tensor<1x2x6x6xf32>, tensor<2xf32>) -> tensor<1x2x6x6xf32>
// CHECK: return %[[Y]]
// LIBRARY-LABEL: func.func @pattern_kernels_with_bias_and_padding
// LIBRARY: linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, patsparse.dense_reason = "kernel (filter 0, channel 1) has non-zeros at taps [0, 1, 4, 8], which no pattern of the library covers"
// MAX1-LABEL: func.func @pattern_kernels_with_bias_and_padding
// MAX1: patsparse.dense_reason = "uses 2 distinct patterns, more than max-patterns=1"
func.func @pattern_kernels_with_bias_and_padding(%x: tensor<1x2x6x6xf32>, %bias: tensor<2xf32>) -> tensor<1x2x6x6xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<[[[[0.0, 1.0, 0.0], [2.0, 3.0, 0.0], [0.0, 4.0, 0.0]], [[5.0, 6.0, 0.0], [0.0, 7.0, 0.0], [0.0, 0.0, 8.0]]], [[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], [[0.0, 9.0, 0.0], [10.0, 11.0, 0.0], [0.0, 12.0, 0.0]]]]> : tensor<2x2x3x3xf32>
  %padded = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x2x6x6xf32> to tensor<1x2x8x8xf32>
  %empty = tensor.empty() : tensor<1x2x6x6xf32>
  %init = linalg.broadcast ins(%bias : tensor<2xf32>) outs(%empty : tensor<1x2x6x6xf32>) dimensions = [0, 2, 3]
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%padded, %w : tensor<1x2x8x8xf32>, tensor<2x2x3x3xf32>) outs(%init : tensor<1x2x6x6xf32>) -> tensor<1x2x6x6xf32>
  return %y : tensor<1x2x6x6xf32>
}

// -----

// All-zero kernels and an all-zero filter are simply not stored: filter 0 has no
// kernels (offsets 0, 0), filter 1 keeps one. No padding, no bias (zero fill).
// CHECK-LABEL: func.func @all_zero_kernels_and_filter_without_bias_or_padding
// CHECK: "patsparse.pattern_conv2d"(%arg0) {
// CHECK-SAME: filter_offsets = dense<[0, 0, 1]>
// CHECK-SAME: kernel_channels = dense<0>
// CHECK-SAME: padding = array<i64: 0, 0, 0, 0>
// CHECK-SAME: weights = dense<[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00]>
// CHECK-SAME: (tensor<1x2x6x6xf32>) -> tensor<1x2x4x4xf32>
func.func @all_zero_kernels_and_filter_without_bias_or_padding(%x: tensor<1x2x6x6xf32>) -> tensor<1x2x4x4xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<[[[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]], [[[1.0, 2.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 4.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]]> : tensor<2x2x3x3xf32>
  %empty = tensor.empty() : tensor<1x2x4x4xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%x, %w : tensor<1x2x6x6xf32>, tensor<2x2x3x3xf32>) outs(%init : tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  return %y : tensor<1x2x4x4xf32>
}

// -----

// One kernel with a fifth non-zero tap: the layer stays dense, with the reason.
// CHECK-LABEL: func.func @kernel_off_its_pattern_stays_dense
// CHECK-NOT: patsparse.pattern_conv2d
// CHECK: tensor.pad
// CHECK: linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, patsparse.dense_reason = "kernel (filter 1, channel 1) has 5 non-zeros, a pattern keeps 4"
func.func @kernel_off_its_pattern_stays_dense(%x: tensor<1x2x6x6xf32>) -> tensor<1x2x6x6xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<[[[[0.0, 1.0, 0.0], [2.0, 3.0, 0.0], [0.0, 4.0, 0.0]], [[5.0, 6.0, 0.0], [0.0, 7.0, 0.0], [0.0, 0.0, 8.0]]], [[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], [[7.0, 9.0, 0.0], [10.0, 11.0, 0.0], [0.0, 12.0, 0.0]]]]> : tensor<2x2x3x3xf32>
  %padded = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x2x6x6xf32> to tensor<1x2x8x8xf32>
  %empty = tensor.empty() : tensor<1x2x6x6xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<1x2x6x6xf32>) -> tensor<1x2x6x6xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%padded, %w : tensor<1x2x8x8xf32>, tensor<2x2x3x3xf32>) outs(%init : tensor<1x2x6x6xf32>) -> tensor<1x2x6x6xf32>
  return %y : tensor<1x2x6x6xf32>
}

// -----

// Stride 2 is kept in the op; asymmetric padding (top 1, left 0, bottom 0, right 1) folds.
// CHECK-LABEL: func.func @stride_two_asymmetric_padding
// CHECK: "patsparse.pattern_conv2d"(%arg0)
// CHECK-SAME: padding = array<i64: 1, 0, 0, 1>
// CHECK-SAME: strides = array<i64: 2, 2>
// CHECK-SAME: (tensor<1x2x7x7xf32>) -> tensor<1x2x3x3xf32>
func.func @stride_two_asymmetric_padding(%x: tensor<1x2x7x7xf32>) -> tensor<1x2x3x3xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<[[[[0.0, 1.0, 0.0], [2.0, 3.0, 0.0], [0.0, 4.0, 0.0]], [[5.0, 6.0, 0.0], [0.0, 7.0, 0.0], [0.0, 0.0, 8.0]]], [[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], [[0.0, 9.0, 0.0], [10.0, 11.0, 0.0], [0.0, 12.0, 0.0]]]]> : tensor<2x2x3x3xf32>
  %padded = tensor.pad %x low[0, 0, 1, 0] high[0, 0, 0, 1] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x2x7x7xf32> to tensor<1x2x8x8xf32>
  %empty = tensor.empty() : tensor<1x2x3x3xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>}
         ins(%padded, %w : tensor<1x2x8x8xf32>, tensor<2x2x3x3xf32>) outs(%init : tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32>
  return %y : tensor<1x2x3x3xf32>
}

// -----

// A pad with a value other than zero is not folded: it stays in front of the op,
// which then has no padding of its own.
// CHECK-LABEL: func.func @nonzero_pad_value_is_kept
// CHECK: %[[P:.*]] = tensor.pad
// CHECK: "patsparse.pattern_conv2d"(%[[P]])
// CHECK-SAME: padding = array<i64: 0, 0, 0, 0>
func.func @nonzero_pad_value_is_kept(%x: tensor<1x2x6x6xf32>) -> tensor<1x2x6x6xf32> {
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %w = arith.constant dense<[[[[0.0, 1.0, 0.0], [2.0, 3.0, 0.0], [0.0, 4.0, 0.0]], [[5.0, 6.0, 0.0], [0.0, 7.0, 0.0], [0.0, 0.0, 8.0]]], [[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], [[0.0, 9.0, 0.0], [10.0, 11.0, 0.0], [0.0, 12.0, 0.0]]]]> : tensor<2x2x3x3xf32>
  %padded = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %one : f32
  } : tensor<1x2x6x6xf32> to tensor<1x2x8x8xf32>
  %empty = tensor.empty() : tensor<1x2x6x6xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<1x2x6x6xf32>) -> tensor<1x2x6x6xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%padded, %w : tensor<1x2x8x8xf32>, tensor<2x2x3x3xf32>) outs(%init : tensor<1x2x6x6xf32>) -> tensor<1x2x6x6xf32>
  return %y : tensor<1x2x6x6xf32>
}

// -----

// Dilation 2 stays dense.
// CHECK-LABEL: func.func @dilation_two_stays_dense
// CHECK: linalg.conv_2d_nchw_fchw {dilations = dense<2> : vector<2xi64>, patsparse.dense_reason = "dilation [2, 2], only 1 is supported"
func.func @dilation_two_stays_dense(%x: tensor<1x2x6x6xf32>) -> tensor<1x2x2x2xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<[[[[0.0, 1.0, 0.0], [2.0, 3.0, 0.0], [0.0, 4.0, 0.0]], [[5.0, 6.0, 0.0], [0.0, 7.0, 0.0], [0.0, 0.0, 8.0]]], [[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], [[0.0, 9.0, 0.0], [10.0, 11.0, 0.0], [0.0, 12.0, 0.0]]]]> : tensor<2x2x3x3xf32>
  %empty = tensor.empty() : tensor<1x2x2x2xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<2> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%x, %w : tensor<1x2x6x6xf32>, tensor<2x2x3x3xf32>) outs(%init : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  return %y : tensor<1x2x2x2xf32>
}

// -----

// A 5x5 kernel stays dense.
// CHECK-LABEL: func.func @five_by_five_stays_dense
// CHECK: linalg.conv_2d_nchw_fchw {{.*}}patsparse.dense_reason = "kernel 5x5, not 3x3"
func.func @five_by_five_stays_dense(%x: tensor<1x2x6x6xf32>) -> tensor<1x1x2x2xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<0.5> : tensor<1x2x5x5xf32>
  %empty = tensor.empty() : tensor<1x1x2x2xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<1x1x2x2xf32>) -> tensor<1x1x2x2xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%x, %w : tensor<1x2x6x6xf32>, tensor<1x2x5x5xf32>) outs(%init : tensor<1x1x2x2xf32>) -> tensor<1x1x2x2xf32>
  return %y : tensor<1x1x2x2xf32>
}

// -----

// Grouped and depthwise convolutions stay dense.
// CHECK-LABEL: func.func @grouped_and_depthwise_stay_dense
// CHECK: linalg.conv_2d_ngchw_gfchw {{.*}}patsparse.dense_reason = "linalg.conv_2d_ngchw_gfchw is not a dense NCHW/FCHW convolution"
// CHECK: linalg.depthwise_conv_2d_nchw_chw {{.*}}patsparse.dense_reason = "linalg.depthwise_conv_2d_nchw_chw is not a dense NCHW/FCHW convolution"
func.func @grouped_and_depthwise_stay_dense(%x: tensor<1x2x1x6x6xf32>, %d: tensor<1x2x6x6xf32>) -> (tensor<1x2x1x4x4xf32>, tensor<1x2x4x4xf32>) {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<1.0> : tensor<2x1x1x3x3xf32>
  %e = tensor.empty() : tensor<1x2x1x4x4xf32>
  %i = linalg.fill ins(%zero : f32) outs(%e : tensor<1x2x1x4x4xf32>) -> tensor<1x2x1x4x4xf32>
  %y = linalg.conv_2d_ngchw_gfchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%x, %w : tensor<1x2x1x6x6xf32>, tensor<2x1x1x3x3xf32>) outs(%i : tensor<1x2x1x4x4xf32>) -> tensor<1x2x1x4x4xf32>
  %dw = arith.constant dense<1.0> : tensor<2x3x3xf32>
  %e2 = tensor.empty() : tensor<1x2x4x4xf32>
  %i2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %z = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%d, %dw : tensor<1x2x6x6xf32>, tensor<2x3x3xf32>) outs(%i2 : tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  return %y, %z : tensor<1x2x1x4x4xf32>, tensor<1x2x4x4xf32>
}

// -----

// Weights that are a function argument, not a constant, stay dense.
// CHECK-LABEL: func.func @weights_not_constant_stay_dense
// CHECK: patsparse.dense_reason = "weights are not a constant"
func.func @weights_not_constant_stay_dense(%x: tensor<1x2x6x6xf32>, %w: tensor<2x2x3x3xf32>) -> tensor<1x2x4x4xf32> {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<1x2x4x4xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%x, %w : tensor<1x2x6x6xf32>, tensor<2x2x3x3xf32>) outs(%init : tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  return %y : tensor<1x2x4x4xf32>
}

// -----

// A convolution that accumulates into another tensor (not zero, not a bias) stays dense.
// CHECK-LABEL: func.func @accumulating_into_a_tensor_stays_dense
// CHECK: patsparse.dense_reason = "the output accumulates into a value that is neither zero nor a broadcast bias"
func.func @accumulating_into_a_tensor_stays_dense(%x: tensor<1x2x6x6xf32>, %acc: tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32> {
  %w = arith.constant dense<[[[[0.0, 1.0, 0.0], [2.0, 3.0, 0.0], [0.0, 4.0, 0.0]], [[5.0, 6.0, 0.0], [0.0, 7.0, 0.0], [0.0, 0.0, 8.0]]], [[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], [[0.0, 9.0, 0.0], [10.0, 11.0, 0.0], [0.0, 12.0, 0.0]]]]> : tensor<2x2x3x3xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%x, %w : tensor<1x2x6x6xf32>, tensor<2x2x3x3xf32>) outs(%acc : tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  return %y : tensor<1x2x4x4xf32>
}
