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

// A pattern-pruned depthwise convolution (groups = channels = filters), as torch-mlir
// emits nn.Conv2d(2, 2, 3, padding=1, groups=2): its weight collapsed to C x 3 x 3. It becomes
// one patsparse.pattern_conv2d with groups = 2; kernel_channels are global input channels.
// CHECK-LABEL: func.func @depthwise_pattern_conv_detected
// CHECK-NOT: linalg.depthwise_conv_2d_nchw_chw
// CHECK: %[[Y:.*]] = "patsparse.pattern_conv2d"(%arg0, %arg1)
// CHECK-SAME: filter_offsets = dense<[0, 1, 2]>
// CHECK-SAME: groups = 2 : i64
// CHECK-SAME: kernel_channels = dense<[0, 1]>
// CHECK-SAME: kernel_pattern_ids = dense<[1, 0]>
// CHECK-SAME: padding = array<i64: 1, 1, 1, 1>
// CHECK-SAME: strides = array<i64: 1, 1>
// CHECK-SAME: weights = dense<[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00, 5.000000e+00, 6.000000e+00, 7.000000e+00, 8.000000e+00]>
// CHECK-SAME: (tensor<1x2x6x6xf32>, tensor<2xf32>) -> tensor<1x2x6x6xf32>
// CHECK: return %[[Y]]
func.func @depthwise_pattern_conv_detected(%x: tensor<1x2x6x6xf32>, %bias: tensor<2xf32>) -> tensor<1x2x6x6xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<[[[[0.0, 1.0, 0.0], [2.0, 3.0, 0.0], [0.0, 4.0, 0.0]]], [[[5.0, 6.0, 0.0], [0.0, 7.0, 0.0], [0.0, 0.0, 8.0]]]]> : tensor<2x1x3x3xf32>
  %padded = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x2x6x6xf32> to tensor<1x2x8x8xf32>
  %empty = tensor.empty() : tensor<1x2x6x6xf32>
  %init = linalg.broadcast ins(%bias : tensor<2xf32>) outs(%empty : tensor<1x2x6x6xf32>) dimensions = [0, 2, 3]
  %collapsed = tensor.collapse_shape %w [[0, 1], [2], [3]] : tensor<2x1x3x3xf32> into tensor<2x3x3xf32>
  %y = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%padded, %collapsed : tensor<1x2x8x8xf32>, tensor<2x3x3xf32>) outs(%init : tensor<1x2x6x6xf32>) -> tensor<1x2x6x6xf32>
  return %y : tensor<1x2x6x6xf32>
}

// -----

// Stride 2, no bias: the zero fill is no bias operand, and the strides carry over.
// CHECK-LABEL: func.func @depthwise_stride_two_detected
// CHECK: "patsparse.pattern_conv2d"(%arg0)
// CHECK-SAME: groups = 2 : i64
// CHECK-SAME: strides = array<i64: 2, 2>
// CHECK-SAME: (tensor<1x2x6x6xf32>) -> tensor<1x2x3x3xf32>
func.func @depthwise_stride_two_detected(%x: tensor<1x2x6x6xf32>) -> tensor<1x2x3x3xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<[[[0.0, 1.0, 0.0], [2.0, 3.0, 0.0], [0.0, 4.0, 0.0]], [[5.0, 6.0, 0.0], [0.0, 7.0, 0.0], [0.0, 0.0, 8.0]]]> : tensor<2x3x3xf32>
  %padded = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x2x6x6xf32> to tensor<1x2x8x8xf32>
  %empty = tensor.empty() : tensor<1x2x3x3xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32>
  %y = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>}
         ins(%padded, %w : tensor<1x2x8x8xf32>, tensor<2x3x3xf32>) outs(%init : tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32>
  return %y : tensor<1x2x3x3xf32>
}

// -----

// A dense depthwise convolution (9 taps per kernel) stays dense, with the reason.
// CHECK-LABEL: func.func @dense_depthwise_stays_dense
// CHECK: linalg.depthwise_conv_2d_nchw_chw {{.*}}patsparse.dense_reason = "kernel (filter 0, channel 0) has 9 non-zeros, a pattern keeps 4"
func.func @dense_depthwise_stays_dense(%x: tensor<1x2x6x6xf32>) -> tensor<1x2x4x4xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<[[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]], [[10.0, 11.0, 12.0], [13.0, 14.0, 15.0], [16.0, 17.0, 18.0]]]> : tensor<2x3x3xf32>
  %empty = tensor.empty() : tensor<1x2x4x4xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %y = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%x, %w : tensor<1x2x6x6xf32>, tensor<2x3x3xf32>) outs(%init : tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  return %y : tensor<1x2x4x4xf32>
}

// -----

// A pattern-pruned grouped convolution (nn.Conv2d(4, 4, 3, padding=1, groups=2), no bias),
// in torch-mlir's form: conv_2d_ngchw_gfchw between expand_shapes of the padded input, the
// weight and the initial output, and a collapse_shape of its result. The reshapes, the fill
// and the convolution become one op with groups = 2; filter 3 keeps kernels of both channels
// of its group (2 and 3), filter 0 only channel 1.
// CHECK-LABEL: func.func @grouped_pattern_conv_detected
// CHECK-NOT: tensor.expand_shape
// CHECK-NOT: tensor.collapse_shape
// CHECK: %[[Y:.*]] = "patsparse.pattern_conv2d"(%arg0)
// CHECK-SAME: filter_offsets = dense<[0, 1, 2, 3, 5]>
// CHECK-SAME: groups = 2 : i64
// CHECK-SAME: kernel_channels = dense<[1, 0, 2, 2, 3]>
// CHECK-SAME: kernel_pattern_ids = dense<[1, 0, 1, 1, 0]>
// CHECK-SAME: (tensor<1x4x6x6xf32>) -> tensor<1x4x6x6xf32>
// CHECK: return %[[Y]]
func.func @grouped_pattern_conv_detected(%x: tensor<1x4x6x6xf32>) -> tensor<1x4x6x6xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<[[[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.0, 0.0], [2.0, 3.0, 0.0], [0.0, 4.0, 0.0]]], [[[5.0, 6.0, 0.0], [0.0, 7.0, 0.0], [0.0, 0.0, 8.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 9.0, 0.0], [10.0, 11.0, 0.0], [0.0, 12.0, 0.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 17.0, 0.0], [18.0, 19.0, 0.0], [0.0, 20.0, 0.0]], [[13.0, 14.0, 0.0], [0.0, 15.0, 0.0], [0.0, 0.0, 16.0]]]]> : tensor<4x2x3x3xf32>
  %padded = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x4x6x6xf32> to tensor<1x4x8x8xf32>
  %empty = tensor.empty() : tensor<1x4x6x6xf32>
  %xg = tensor.expand_shape %padded [[0], [1, 2], [3], [4]] output_shape [1, 2, 2, 8, 8] : tensor<1x4x8x8xf32> into tensor<1x2x2x8x8xf32>
  %wg = tensor.expand_shape %w [[0, 1], [2], [3], [4]] output_shape [2, 2, 2, 3, 3] : tensor<4x2x3x3xf32> into tensor<2x2x2x3x3xf32>
  %eg = tensor.expand_shape %empty [[0], [1, 2], [3], [4]] output_shape [1, 2, 2, 6, 6] : tensor<1x4x6x6xf32> into tensor<1x2x2x6x6xf32>
  %init = linalg.fill ins(%zero : f32) outs(%eg : tensor<1x2x2x6x6xf32>) -> tensor<1x2x2x6x6xf32>
  %yg = linalg.conv_2d_ngchw_gfchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%xg, %wg : tensor<1x2x2x8x8xf32>, tensor<2x2x2x3x3xf32>) outs(%init : tensor<1x2x2x6x6xf32>) -> tensor<1x2x2x6x6xf32>
  %y = tensor.collapse_shape %yg [[0], [1, 2], [3], [4]] : tensor<1x2x2x6x6xf32> into tensor<1x4x6x6xf32>
  return %y : tensor<1x4x6x6xf32>
}

// -----

// A depthwise convolution with channel multiplier 2 (nn.Conv2d(2, 4, 3, groups=2), bias) is a
// grouped one with one input channel per group: filters 0, 1 read channel 0, filters 2, 3
// channel 1. The broadcast bias under the expand_shape becomes the op's bias.
// CHECK-LABEL: func.func @channel_multiplier_two_detected
// CHECK: %[[Y:.*]] = "patsparse.pattern_conv2d"(%arg0, %arg1)
// CHECK-SAME: groups = 2 : i64
// CHECK-SAME: kernel_channels = dense<[0, 0, 1, 1]>
// CHECK-SAME: (tensor<1x2x6x6xf32>, tensor<4xf32>) -> tensor<1x4x6x6xf32>
// CHECK: return %[[Y]]
func.func @channel_multiplier_two_detected(%x: tensor<1x2x6x6xf32>, %bias: tensor<4xf32>) -> tensor<1x4x6x6xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<[[[[0.0, 1.0, 0.0], [2.0, 3.0, 0.0], [0.0, 4.0, 0.0]]], [[[5.0, 6.0, 0.0], [0.0, 7.0, 0.0], [0.0, 0.0, 8.0]]], [[[9.0, 10.0, 0.0], [0.0, 11.0, 0.0], [0.0, 0.0, 12.0]]], [[[0.0, 13.0, 0.0], [14.0, 15.0, 0.0], [0.0, 16.0, 0.0]]]]> : tensor<4x1x3x3xf32>
  %padded = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x2x6x6xf32> to tensor<1x2x8x8xf32>
  %empty = tensor.empty() : tensor<1x4x6x6xf32>
  %b = linalg.broadcast ins(%bias : tensor<4xf32>) outs(%empty : tensor<1x4x6x6xf32>) dimensions = [0, 2, 3]
  %xg = tensor.expand_shape %padded [[0], [1, 2], [3], [4]] output_shape [1, 2, 1, 8, 8] : tensor<1x2x8x8xf32> into tensor<1x2x1x8x8xf32>
  %wg = tensor.expand_shape %w [[0, 1], [2], [3], [4]] output_shape [2, 2, 1, 3, 3] : tensor<4x1x3x3xf32> into tensor<2x2x1x3x3xf32>
  %init = tensor.expand_shape %b [[0], [1, 2], [3], [4]] output_shape [1, 2, 2, 6, 6] : tensor<1x4x6x6xf32> into tensor<1x2x2x6x6xf32>
  %yg = linalg.conv_2d_ngchw_gfchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%xg, %wg : tensor<1x2x1x8x8xf32>, tensor<2x2x1x3x3xf32>) outs(%init : tensor<1x2x2x6x6xf32>) -> tensor<1x2x2x6x6xf32>
  %y = tensor.collapse_shape %yg [[0], [1, 2], [3], [4]] : tensor<1x2x2x6x6xf32> into tensor<1x4x6x6xf32>
  return %y : tensor<1x4x6x6xf32>
}

// -----

// A grouped convolution that is not between the channel reshapes (written by hand, its
// operands already grouped) stays dense, with the reason.
// CHECK-LABEL: func.func @grouped_without_reshapes_stays_dense
// CHECK: linalg.conv_2d_ngchw_gfchw {{.*}}patsparse.dense_reason = "a grouped convolution not between the expand_shape / collapse_shape of the channel dimension"
func.func @grouped_without_reshapes_stays_dense(%x: tensor<1x2x1x6x6xf32>) -> tensor<1x2x1x4x4xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<1.0> : tensor<2x1x1x3x3xf32>
  %e = tensor.empty() : tensor<1x2x1x4x4xf32>
  %i = linalg.fill ins(%zero : f32) outs(%e : tensor<1x2x1x4x4xf32>) -> tensor<1x2x1x4x4xf32>
  %y = linalg.conv_2d_ngchw_gfchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%x, %w : tensor<1x2x1x6x6xf32>, tensor<2x1x1x3x3xf32>) outs(%i : tensor<1x2x1x4x4xf32>) -> tensor<1x2x1x4x4xf32>
  return %y : tensor<1x2x1x4x4xf32>
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
