// RUN: %patsparse-opt %s --split-input-file --verify-diagnostics
// RUN: not %patsparse-opt %s --split-input-file --patsparse-verify 2>&1 | FileCheck %s --check-prefix=PLAIN

// Each case breaks one rule of patsparse.pattern_conv2d; the diagnostic names the
// array and what was expected. The second RUN line shows the plain (non-verifying)
// output: file:line:col, no traceback.
// PLAIN: invalid.mlir:{{[0-9]+}}:8: error: 'patsparse.pattern_conv2d' op pattern_library: expected exactly 4 taps per pattern, pattern 0 has 3
// PLAIN-NOT: Traceback

// A pattern must keep exactly 4 of the 9 taps.
func.func @pattern_with_three_taps(%input: tensor<1x2x5x5xf32>, %bias: tensor<2xf32>) -> tensor<1x2x5x5xf32> {
  // expected-error @+1 {{pattern_library: expected exactly 4 taps per pattern, pattern 0 has 3}}
  %0 = "patsparse.pattern_conv2d"(%input, %bias) {
    strides = array<i64: 1, 1>,
    padding = array<i64: 1, 1, 1, 1>,
    pattern_library = dense<[[0, 1, 0, 1, 1, 0, 0, 0, 0], [1, 1, 0, 0, 1, 0, 0, 0, 1]]> : tensor<2x9xi8>,
    filter_order = dense<[0, 1]> : tensor<2xi32>,
    filter_offsets = dense<[0, 2, 3]> : tensor<3xi32>,
    kernel_channels = dense<[0, 1, 1]> : tensor<3xi32>,
    kernel_pattern_ids = dense<[0, 1, 0]> : tensor<3xi32>,
    weights = dense<1.0> : tensor<12xf32>
  } : (tensor<1x2x5x5xf32>, tensor<2xf32>) -> tensor<1x2x5x5xf32>
  return %0 : tensor<1x2x5x5xf32>
}

// -----

// Masks hold 0 or 1 only.
func.func @pattern_entry_not_zero_or_one(%input: tensor<1x2x5x5xf32>, %bias: tensor<2xf32>) -> tensor<1x2x5x5xf32> {
  // expected-error @+1 {{pattern_library: expected 0/1 entries, pattern 0 is [0, 2, 0, 1, 1, 0, 0, 1, 0]}}
  %0 = "patsparse.pattern_conv2d"(%input, %bias) {
    strides = array<i64: 1, 1>,
    padding = array<i64: 1, 1, 1, 1>,
    pattern_library = dense<[[0, 2, 0, 1, 1, 0, 0, 1, 0], [1, 1, 0, 0, 1, 0, 0, 0, 1]]> : tensor<2x9xi8>,
    filter_order = dense<[0, 1]> : tensor<2xi32>,
    filter_offsets = dense<[0, 2, 3]> : tensor<3xi32>,
    kernel_channels = dense<[0, 1, 1]> : tensor<3xi32>,
    kernel_pattern_ids = dense<[0, 1, 0]> : tensor<3xi32>,
    weights = dense<1.0> : tensor<12xf32>
  } : (tensor<1x2x5x5xf32>, tensor<2xf32>) -> tensor<1x2x5x5xf32>
  return %0 : tensor<1x2x5x5xf32>
}

// -----

// The library is K x 9.
func.func @library_not_k_by_9(%input: tensor<1x2x5x5xf32>, %bias: tensor<2xf32>) -> tensor<1x2x5x5xf32> {
  // expected-error @+1 {{pattern_library: expected shape K x 9, got 1x8}}
  %0 = "patsparse.pattern_conv2d"(%input, %bias) {
    strides = array<i64: 1, 1>,
    padding = array<i64: 1, 1, 1, 1>,
    pattern_library = dense<[[0, 1, 0, 1, 1, 0, 0, 1]]> : tensor<1x8xi8>,
    filter_order = dense<[0, 1]> : tensor<2xi32>,
    filter_offsets = dense<[0, 2, 3]> : tensor<3xi32>,
    kernel_channels = dense<[0, 1, 1]> : tensor<3xi32>,
    kernel_pattern_ids = dense<[0, 1, 0]> : tensor<3xi32>,
    weights = dense<1.0> : tensor<12xf32>
  } : (tensor<1x2x5x5xf32>, tensor<2xf32>) -> tensor<1x2x5x5xf32>
  return %0 : tensor<1x2x5x5xf32>
}

// -----

// Each output channel is computed exactly once.
func.func @filter_order_not_permutation(%input: tensor<1x2x5x5xf32>, %bias: tensor<2xf32>) -> tensor<1x2x5x5xf32> {
  // expected-error @+1 {{filter_order: expected a permutation of 0..1, got [1, 1]}}
  %0 = "patsparse.pattern_conv2d"(%input, %bias) {
    strides = array<i64: 1, 1>,
    padding = array<i64: 1, 1, 1, 1>,
    pattern_library = dense<[[0, 1, 0, 1, 1, 0, 0, 1, 0], [1, 1, 0, 0, 1, 0, 0, 0, 1]]> : tensor<2x9xi8>,
    filter_order = dense<[1, 1]> : tensor<2xi32>,
    filter_offsets = dense<[0, 2, 3]> : tensor<3xi32>,
    kernel_channels = dense<[0, 1, 1]> : tensor<3xi32>,
    kernel_pattern_ids = dense<[0, 1, 0]> : tensor<3xi32>,
    weights = dense<1.0> : tensor<12xf32>
  } : (tensor<1x2x5x5xf32>, tensor<2xf32>) -> tensor<1x2x5x5xf32>
  return %0 : tensor<1x2x5x5xf32>
}

// -----

// One offset per filter plus one.
func.func @filter_offsets_wrong_length(%input: tensor<1x2x5x5xf32>, %bias: tensor<2xf32>) -> tensor<1x2x5x5xf32> {
  // expected-error @+1 {{filter_offsets: expected 3 entries (filters + 1), got 2}}
  %0 = "patsparse.pattern_conv2d"(%input, %bias) {
    strides = array<i64: 1, 1>,
    padding = array<i64: 1, 1, 1, 1>,
    pattern_library = dense<[[0, 1, 0, 1, 1, 0, 0, 1, 0], [1, 1, 0, 0, 1, 0, 0, 0, 1]]> : tensor<2x9xi8>,
    filter_order = dense<[0, 1]> : tensor<2xi32>,
    filter_offsets = dense<[0, 3]> : tensor<2xi32>,
    kernel_channels = dense<[0, 1, 1]> : tensor<3xi32>,
    kernel_pattern_ids = dense<[0, 1, 0]> : tensor<3xi32>,
    weights = dense<1.0> : tensor<12xf32>
  } : (tensor<1x2x5x5xf32>, tensor<2xf32>) -> tensor<1x2x5x5xf32>
  return %0 : tensor<1x2x5x5xf32>
}

// -----

// Offsets start at 0.
func.func @filter_offsets_not_starting_at_zero(%input: tensor<1x2x5x5xf32>, %bias: tensor<2xf32>) -> tensor<1x2x5x5xf32> {
  // expected-error @+1 {{filter_offsets: expected first entry 0, got 1}}
  %0 = "patsparse.pattern_conv2d"(%input, %bias) {
    strides = array<i64: 1, 1>,
    padding = array<i64: 1, 1, 1, 1>,
    pattern_library = dense<[[0, 1, 0, 1, 1, 0, 0, 1, 0], [1, 1, 0, 0, 1, 0, 0, 0, 1]]> : tensor<2x9xi8>,
    filter_order = dense<[0, 1]> : tensor<2xi32>,
    filter_offsets = dense<[1, 2, 3]> : tensor<3xi32>,
    kernel_channels = dense<[0, 1, 1]> : tensor<3xi32>,
    kernel_pattern_ids = dense<[0, 1, 0]> : tensor<3xi32>,
    weights = dense<1.0> : tensor<12xf32>
  } : (tensor<1x2x5x5xf32>, tensor<2xf32>) -> tensor<1x2x5x5xf32>
  return %0 : tensor<1x2x5x5xf32>
}

// -----

// Offsets never decrease.
func.func @filter_offsets_decreasing(%input: tensor<1x2x5x5xf32>, %bias: tensor<2xf32>) -> tensor<1x2x5x5xf32> {
  // expected-error @+1 {{filter_offsets: expected non-decreasing offsets, entry 2 (3) is below entry 1 (4)}}
  %0 = "patsparse.pattern_conv2d"(%input, %bias) {
    strides = array<i64: 1, 1>,
    padding = array<i64: 1, 1, 1, 1>,
    pattern_library = dense<[[0, 1, 0, 1, 1, 0, 0, 1, 0], [1, 1, 0, 0, 1, 0, 0, 0, 1]]> : tensor<2x9xi8>,
    filter_order = dense<[0, 1]> : tensor<2xi32>,
    filter_offsets = dense<[0, 4, 3]> : tensor<3xi32>,
    kernel_channels = dense<[0, 1, 1]> : tensor<3xi32>,
    kernel_pattern_ids = dense<[0, 1, 0]> : tensor<3xi32>,
    weights = dense<1.0> : tensor<12xf32>
  } : (tensor<1x2x5x5xf32>, tensor<2xf32>) -> tensor<1x2x5x5xf32>
  return %0 : tensor<1x2x5x5xf32>
}

// -----

// The last offset is the number of kernels.
func.func @filter_offsets_not_ending_at_kernel_count(%input: tensor<1x2x5x5xf32>, %bias: tensor<2xf32>) -> tensor<1x2x5x5xf32> {
  // expected-error @+1 {{filter_offsets: expected last entry 3 (the number of kernels), got 2}}
  %0 = "patsparse.pattern_conv2d"(%input, %bias) {
    strides = array<i64: 1, 1>,
    padding = array<i64: 1, 1, 1, 1>,
    pattern_library = dense<[[0, 1, 0, 1, 1, 0, 0, 1, 0], [1, 1, 0, 0, 1, 0, 0, 0, 1]]> : tensor<2x9xi8>,
    filter_order = dense<[0, 1]> : tensor<2xi32>,
    filter_offsets = dense<[0, 1, 2]> : tensor<3xi32>,
    kernel_channels = dense<[0, 1, 1]> : tensor<3xi32>,
    kernel_pattern_ids = dense<[0, 1, 0]> : tensor<3xi32>,
    weights = dense<1.0> : tensor<12xf32>
  } : (tensor<1x2x5x5xf32>, tensor<2xf32>) -> tensor<1x2x5x5xf32>
  return %0 : tensor<1x2x5x5xf32>
}

// -----

// One pattern id per kernel.
func.func @pattern_ids_wrong_length(%input: tensor<1x2x5x5xf32>, %bias: tensor<2xf32>) -> tensor<1x2x5x5xf32> {
  // expected-error @+1 {{kernel_pattern_ids: expected 3 entries (one per kernel), got 2}}
  %0 = "patsparse.pattern_conv2d"(%input, %bias) {
    strides = array<i64: 1, 1>,
    padding = array<i64: 1, 1, 1, 1>,
    pattern_library = dense<[[0, 1, 0, 1, 1, 0, 0, 1, 0], [1, 1, 0, 0, 1, 0, 0, 0, 1]]> : tensor<2x9xi8>,
    filter_order = dense<[0, 1]> : tensor<2xi32>,
    filter_offsets = dense<[0, 2, 3]> : tensor<3xi32>,
    kernel_channels = dense<[0, 1, 1]> : tensor<3xi32>,
    kernel_pattern_ids = dense<[0, 1]> : tensor<2xi32>,
    weights = dense<1.0> : tensor<12xf32>
  } : (tensor<1x2x5x5xf32>, tensor<2xf32>) -> tensor<1x2x5x5xf32>
  return %0 : tensor<1x2x5x5xf32>
}

// -----

// Pattern ids index the library.
func.func @pattern_id_beyond_library(%input: tensor<1x2x5x5xf32>, %bias: tensor<2xf32>) -> tensor<1x2x5x5xf32> {
  // expected-error @+1 {{kernel_pattern_ids: expected ids in [0, 2), kernel 1 has 2}}
  %0 = "patsparse.pattern_conv2d"(%input, %bias) {
    strides = array<i64: 1, 1>,
    padding = array<i64: 1, 1, 1, 1>,
    pattern_library = dense<[[0, 1, 0, 1, 1, 0, 0, 1, 0], [1, 1, 0, 0, 1, 0, 0, 0, 1]]> : tensor<2x9xi8>,
    filter_order = dense<[0, 1]> : tensor<2xi32>,
    filter_offsets = dense<[0, 2, 3]> : tensor<3xi32>,
    kernel_channels = dense<[0, 1, 1]> : tensor<3xi32>,
    kernel_pattern_ids = dense<[0, 2, 0]> : tensor<3xi32>,
    weights = dense<1.0> : tensor<12xf32>
  } : (tensor<1x2x5x5xf32>, tensor<2xf32>) -> tensor<1x2x5x5xf32>
  return %0 : tensor<1x2x5x5xf32>
}

// -----

// Kernel channels index the input channels.
func.func @channel_out_of_range(%input: tensor<1x2x5x5xf32>, %bias: tensor<2xf32>) -> tensor<1x2x5x5xf32> {
  // expected-error @+1 {{kernel_channels: expected channels in [0, 2), kernel 1 has 2}}
  %0 = "patsparse.pattern_conv2d"(%input, %bias) {
    strides = array<i64: 1, 1>,
    padding = array<i64: 1, 1, 1, 1>,
    pattern_library = dense<[[0, 1, 0, 1, 1, 0, 0, 1, 0], [1, 1, 0, 0, 1, 0, 0, 0, 1]]> : tensor<2x9xi8>,
    filter_order = dense<[0, 1]> : tensor<2xi32>,
    filter_offsets = dense<[0, 2, 3]> : tensor<3xi32>,
    kernel_channels = dense<[0, 2, 1]> : tensor<3xi32>,
    kernel_pattern_ids = dense<[0, 1, 0]> : tensor<3xi32>,
    weights = dense<1.0> : tensor<12xf32>
  } : (tensor<1x2x5x5xf32>, tensor<2xf32>) -> tensor<1x2x5x5xf32>
  return %0 : tensor<1x2x5x5xf32>
}

// -----

// A filter has at most one kernel per input channel.
func.func @channel_twice_in_one_filter(%input: tensor<1x2x5x5xf32>, %bias: tensor<2xf32>) -> tensor<1x2x5x5xf32> {
  // expected-error @+1 {{kernel_channels: expected each input channel at most once per filter, channel 1 appears 2 times in filter 0}}
  %0 = "patsparse.pattern_conv2d"(%input, %bias) {
    strides = array<i64: 1, 1>,
    padding = array<i64: 1, 1, 1, 1>,
    pattern_library = dense<[[0, 1, 0, 1, 1, 0, 0, 1, 0], [1, 1, 0, 0, 1, 0, 0, 0, 1]]> : tensor<2x9xi8>,
    filter_order = dense<[0, 1]> : tensor<2xi32>,
    filter_offsets = dense<[0, 2, 3]> : tensor<3xi32>,
    kernel_channels = dense<[1, 1, 1]> : tensor<3xi32>,
    kernel_pattern_ids = dense<[0, 1, 0]> : tensor<3xi32>,
    weights = dense<1.0> : tensor<12xf32>
  } : (tensor<1x2x5x5xf32>, tensor<2xf32>) -> tensor<1x2x5x5xf32>
  return %0 : tensor<1x2x5x5xf32>
}

// -----

// Four weights per kernel.
func.func @weights_wrong_length(%input: tensor<1x2x5x5xf32>, %bias: tensor<2xf32>) -> tensor<1x2x5x5xf32> {
  // expected-error @+1 {{weights: expected 12 entries (4 per kernel), got 11}}
  %0 = "patsparse.pattern_conv2d"(%input, %bias) {
    strides = array<i64: 1, 1>,
    padding = array<i64: 1, 1, 1, 1>,
    pattern_library = dense<[[0, 1, 0, 1, 1, 0, 0, 1, 0], [1, 1, 0, 0, 1, 0, 0, 0, 1]]> : tensor<2x9xi8>,
    filter_order = dense<[0, 1]> : tensor<2xi32>,
    filter_offsets = dense<[0, 2, 3]> : tensor<3xi32>,
    kernel_channels = dense<[0, 1, 1]> : tensor<3xi32>,
    kernel_pattern_ids = dense<[0, 1, 0]> : tensor<3xi32>,
    weights = dense<1.0> : tensor<11xf32>
  } : (tensor<1x2x5x5xf32>, tensor<2xf32>) -> tensor<1x2x5x5xf32>
  return %0 : tensor<1x2x5x5xf32>
}

// -----

// Weights are f32.
func.func @weights_not_f32(%input: tensor<1x2x5x5xf32>, %bias: tensor<2xf32>) -> tensor<1x2x5x5xf32> {
  // expected-error @+1 {{weights: expected dense f32 elements, got tensor<12xi32>}}
  %0 = "patsparse.pattern_conv2d"(%input, %bias) {
    strides = array<i64: 1, 1>,
    padding = array<i64: 1, 1, 1, 1>,
    pattern_library = dense<[[0, 1, 0, 1, 1, 0, 0, 1, 0], [1, 1, 0, 0, 1, 0, 0, 0, 1]]> : tensor<2x9xi8>,
    filter_order = dense<[0, 1]> : tensor<2xi32>,
    filter_offsets = dense<[0, 2, 3]> : tensor<3xi32>,
    kernel_channels = dense<[0, 1, 1]> : tensor<3xi32>,
    kernel_pattern_ids = dense<[0, 1, 0]> : tensor<3xi32>,
    weights = dense<1> : tensor<12xi32>
  } : (tensor<1x2x5x5xf32>, tensor<2xf32>) -> tensor<1x2x5x5xf32>
  return %0 : tensor<1x2x5x5xf32>
}

// -----

// Index arrays are integers.
func.func @index_array_not_integer(%input: tensor<1x2x5x5xf32>, %bias: tensor<2xf32>) -> tensor<1x2x5x5xf32> {
  // expected-error @+1 {{kernel_channels: expected dense integer elements, got tensor<3xf32>}}
  %0 = "patsparse.pattern_conv2d"(%input, %bias) {
    strides = array<i64: 1, 1>,
    padding = array<i64: 1, 1, 1, 1>,
    pattern_library = dense<[[0, 1, 0, 1, 1, 0, 0, 1, 0], [1, 1, 0, 0, 1, 0, 0, 0, 1]]> : tensor<2x9xi8>,
    filter_order = dense<[0, 1]> : tensor<2xi32>,
    filter_offsets = dense<[0, 2, 3]> : tensor<3xi32>,
    kernel_channels = dense<[0.0, 1.0, 1.0]> : tensor<3xf32>,
    kernel_pattern_ids = dense<[0, 1, 0]> : tensor<3xi32>,
    weights = dense<1.0> : tensor<12xf32>
  } : (tensor<1x2x5x5xf32>, tensor<2xf32>) -> tensor<1x2x5x5xf32>
  return %0 : tensor<1x2x5x5xf32>
}

// -----

// One bias per filter.
func.func @bias_wrong_size(%input: tensor<1x2x5x5xf32>, %bias: tensor<3xf32>) -> tensor<1x2x5x5xf32> {
  // expected-error @+1 {{bias: expected 2 entries (one per filter), got 3}}
  %0 = "patsparse.pattern_conv2d"(%input, %bias) {
    strides = array<i64: 1, 1>,
    padding = array<i64: 1, 1, 1, 1>,
    pattern_library = dense<[[0, 1, 0, 1, 1, 0, 0, 1, 0], [1, 1, 0, 0, 1, 0, 0, 0, 1]]> : tensor<2x9xi8>,
    filter_order = dense<[0, 1]> : tensor<2xi32>,
    filter_offsets = dense<[0, 2, 3]> : tensor<3xi32>,
    kernel_channels = dense<[0, 1, 1]> : tensor<3xi32>,
    kernel_pattern_ids = dense<[0, 1, 0]> : tensor<3xi32>,
    weights = dense<1.0> : tensor<12xf32>
  } : (tensor<1x2x5x5xf32>, tensor<3xf32>) -> tensor<1x2x5x5xf32>
  return %0 : tensor<1x2x5x5xf32>
}

// -----

// The output shape follows from input, padding and strides.
func.func @output_shape_disagrees(%input: tensor<1x2x5x5xf32>, %bias: tensor<2xf32>) -> tensor<1x2x4x4xf32> {
  // expected-error @+1 {{output: expected shape 1x2x5x5 (batch, filters, rows, columns), got 1x2x4x4}}
  %0 = "patsparse.pattern_conv2d"(%input, %bias) {
    strides = array<i64: 1, 1>,
    padding = array<i64: 1, 1, 1, 1>,
    pattern_library = dense<[[0, 1, 0, 1, 1, 0, 0, 1, 0], [1, 1, 0, 0, 1, 0, 0, 0, 1]]> : tensor<2x9xi8>,
    filter_order = dense<[0, 1]> : tensor<2xi32>,
    filter_offsets = dense<[0, 2, 3]> : tensor<3xi32>,
    kernel_channels = dense<[0, 1, 1]> : tensor<3xi32>,
    kernel_pattern_ids = dense<[0, 1, 0]> : tensor<3xi32>,
    weights = dense<1.0> : tensor<12xf32>
  } : (tensor<1x2x5x5xf32>, tensor<2xf32>) -> tensor<1x2x4x4xf32>
  return %0 : tensor<1x2x4x4xf32>
}

// -----

// Strides are positive.
func.func @zero_stride(%input: tensor<1x2x5x5xf32>, %bias: tensor<2xf32>) -> tensor<1x2x5x5xf32> {
  // expected-error @+1 {{strides: expected 2 positive values [height, width], got [0, 1]}}
  %0 = "patsparse.pattern_conv2d"(%input, %bias) {
    strides = array<i64: 0, 1>,
    padding = array<i64: 1, 1, 1, 1>,
    pattern_library = dense<[[0, 1, 0, 1, 1, 0, 0, 1, 0], [1, 1, 0, 0, 1, 0, 0, 0, 1]]> : tensor<2x9xi8>,
    filter_order = dense<[0, 1]> : tensor<2xi32>,
    filter_offsets = dense<[0, 2, 3]> : tensor<3xi32>,
    kernel_channels = dense<[0, 1, 1]> : tensor<3xi32>,
    kernel_pattern_ids = dense<[0, 1, 0]> : tensor<3xi32>,
    weights = dense<1.0> : tensor<12xf32>
  } : (tensor<1x2x5x5xf32>, tensor<2xf32>) -> tensor<1x2x5x5xf32>
  return %0 : tensor<1x2x5x5xf32>
}

// -----

// Padding is [top, left, bottom, right].
func.func @padding_three_values(%input: tensor<1x2x5x5xf32>, %bias: tensor<2xf32>) -> tensor<1x2x5x5xf32> {
  // expected-error @+1 {{padding: expected 4 non-negative values [top, left, bottom, right], got [1, 1, 1]}}
  %0 = "patsparse.pattern_conv2d"(%input, %bias) {
    strides = array<i64: 1, 1>,
    padding = array<i64: 1, 1, 1>,
    pattern_library = dense<[[0, 1, 0, 1, 1, 0, 0, 1, 0], [1, 1, 0, 0, 1, 0, 0, 0, 1]]> : tensor<2x9xi8>,
    filter_order = dense<[0, 1]> : tensor<2xi32>,
    filter_offsets = dense<[0, 2, 3]> : tensor<3xi32>,
    kernel_channels = dense<[0, 1, 1]> : tensor<3xi32>,
    kernel_pattern_ids = dense<[0, 1, 0]> : tensor<3xi32>,
    weights = dense<1.0> : tensor<12xf32>
  } : (tensor<1x2x5x5xf32>, tensor<2xf32>) -> tensor<1x2x5x5xf32>
  return %0 : tensor<1x2x5x5xf32>
}

// -----

// The input is an f32 tensor.
func.func @input_not_f32(%input: tensor<1x2x5x5xf16>, %bias: tensor<2xf32>) -> tensor<1x2x5x5xf32> {
  // expected-error @+1 {{input: expected a rank-4 tensor of f32, got tensor<1x2x5x5xf16>}}
  %0 = "patsparse.pattern_conv2d"(%input, %bias) {
    strides = array<i64: 1, 1>,
    padding = array<i64: 1, 1, 1, 1>,
    pattern_library = dense<[[0, 1, 0, 1, 1, 0, 0, 1, 0], [1, 1, 0, 0, 1, 0, 0, 0, 1]]> : tensor<2x9xi8>,
    filter_order = dense<[0, 1]> : tensor<2xi32>,
    filter_offsets = dense<[0, 2, 3]> : tensor<3xi32>,
    kernel_channels = dense<[0, 1, 1]> : tensor<3xi32>,
    kernel_pattern_ids = dense<[0, 1, 0]> : tensor<3xi32>,
    weights = dense<1.0> : tensor<12xf32>
  } : (tensor<1x2x5x5xf16>, tensor<2xf32>) -> tensor<1x2x5x5xf32>
  return %0 : tensor<1x2x5x5xf32>
}

// -----

// Shapes are static.
func.func @input_dynamic_shape(%input: tensor<1x2x?x5xf32>, %bias: tensor<2xf32>) -> tensor<1x2x5x5xf32> {
  // expected-error @+1 {{input: expected a static shape, got tensor<1x2x?x5xf32>}}
  %0 = "patsparse.pattern_conv2d"(%input, %bias) {
    strides = array<i64: 1, 1>,
    padding = array<i64: 1, 1, 1, 1>,
    pattern_library = dense<[[0, 1, 0, 1, 1, 0, 0, 1, 0], [1, 1, 0, 0, 1, 0, 0, 0, 1]]> : tensor<2x9xi8>,
    filter_order = dense<[0, 1]> : tensor<2xi32>,
    filter_offsets = dense<[0, 2, 3]> : tensor<3xi32>,
    kernel_channels = dense<[0, 1, 1]> : tensor<3xi32>,
    kernel_pattern_ids = dense<[0, 1, 0]> : tensor<3xi32>,
    weights = dense<1.0> : tensor<12xf32>
  } : (tensor<1x2x?x5xf32>, tensor<2xf32>) -> tensor<1x2x5x5xf32>
  return %0 : tensor<1x2x5x5xf32>
}

// -----

// IRDL requires every attribute.
func.func @missing_attribute(%input: tensor<1x2x5x5xf32>) -> tensor<1x2x5x5xf32> {
  // expected-error @+1 {{attribute "weights" is expected but not provided}}
  %0 = "patsparse.pattern_conv2d"(%input) {
    strides = array<i64: 1, 1>,
    padding = array<i64: 1, 1, 1, 1>,
    pattern_library = dense<[[0, 1, 0, 1, 1, 0, 0, 1, 0], [1, 1, 0, 0, 1, 0, 0, 0, 1]]> : tensor<2x9xi8>,
    filter_order = dense<[0, 1]> : tensor<2xi32>,
    filter_offsets = dense<[0, 2, 3]> : tensor<3xi32>,
    kernel_channels = dense<[0, 1, 1]> : tensor<3xi32>,
    kernel_pattern_ids = dense<[0, 1, 0]> : tensor<3xi32>
  } : (tensor<1x2x5x5xf32>) -> tensor<1x2x5x5xf32>
  return %0 : tensor<1x2x5x5xf32>
}

// -----

// Index arrays of an odd integer width (i12) are refused by name (they crashed the verifier).
func.func @index_array_of_odd_width(%input: tensor<1x2x5x5xf32>, %bias: tensor<2xf32>) -> tensor<1x2x5x5xf32> {
  // expected-error @+1 {{kernel_channels: expected integers of 8, 16, 32 or 64 bits, got tensor<3xi12>}}
  %0 = "patsparse.pattern_conv2d"(%input, %bias) {
    strides = array<i64: 1, 1>,
    padding = array<i64: 1, 1, 1, 1>,
    pattern_library = dense<[[0, 1, 0, 1, 1, 0, 0, 1, 0], [1, 1, 0, 0, 1, 0, 0, 0, 1]]> : tensor<2x9xi8>,
    filter_order = dense<[0, 1]> : tensor<2xi32>,
    filter_offsets = dense<[0, 2, 3]> : tensor<3xi32>,
    kernel_channels = dense<[0, 1, 1]> : tensor<3xi12>,
    kernel_pattern_ids = dense<[0, 1, 0]> : tensor<3xi32>,
    weights = dense<1.0> : tensor<12xf32>
  } : (tensor<1x2x5x5xf32>, tensor<2xf32>) -> tensor<1x2x5x5xf32>
  return %0 : tensor<1x2x5x5xf32>
}

// -----

// The schedule the passes record and the code generator reads is checked on any op.
func.func @schedule_with_unknown_entry(%input: tensor<1x2x5x5xf32>, %bias: tensor<2xf32>) -> tensor<1x2x5x5xf32> {
  // expected-error @+2 {{patsparse.schedule: unknown entry 'lanes' (expected vector_width, max_accumulators, rows, eliminate_loads, compact_indices, parallel, rows_outer, filter_pairs, channel_tiles)}}
  // expected-error @+1 {{patsparse.schedule: vector-width=7: expected 4, 8 or 16}}
  %0 = "patsparse.pattern_conv2d"(%input, %bias) {
    strides = array<i64: 1, 1>,
    padding = array<i64: 1, 1, 1, 1>,
    pattern_library = dense<[[0, 1, 0, 1, 1, 0, 0, 1, 0], [1, 1, 0, 0, 1, 0, 0, 0, 1]]> : tensor<2x9xi8>,
    filter_order = dense<[0, 1]> : tensor<2xi32>,
    filter_offsets = dense<[0, 2, 3]> : tensor<3xi32>,
    kernel_channels = dense<[0, 1, 1]> : tensor<3xi32>,
    kernel_pattern_ids = dense<[0, 1, 0]> : tensor<3xi32>,
    weights = dense<1.0> : tensor<12xf32>,
    patsparse.schedule = {lanes = 4 : i64, vector_width = 7 : i64}
  } : (tensor<1x2x5x5xf32>, tensor<2xf32>) -> tensor<1x2x5x5xf32>
  return %0 : tensor<1x2x5x5xf32>
}

// -----

// groups must be a positive integer.
func.func @groups_zero(%input: tensor<1x2x5x5xf32>) -> tensor<1x2x5x5xf32> {
  // expected-error @+1 {{groups: expected a positive integer (i64), got 0 : i64}}
  %0 = "patsparse.pattern_conv2d"(%input) {
    strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>, groups = 0 : i64,
    pattern_library = dense<[[0, 1, 0, 1, 1, 0, 0, 1, 0]]> : tensor<1x9xi8>,
    filter_order = dense<[0, 1]> : tensor<2xi32>, filter_offsets = dense<[0, 1, 2]> : tensor<3xi32>,
    kernel_channels = dense<[0, 1]> : tensor<2xi32>, kernel_pattern_ids = dense<[0, 0]> : tensor<2xi32>,
    weights = dense<1.0> : tensor<8xf32>
  } : (tensor<1x2x5x5xf32>) -> tensor<1x2x5x5xf32>
  return %0 : tensor<1x2x5x5xf32>
}

// -----

// groups must be an integer attribute, not a string.
func.func @groups_not_an_integer(%input: tensor<1x2x5x5xf32>) -> tensor<1x2x5x5xf32> {
  // expected-error @+1 {{groups: expected a positive integer (i64), got "two"}}
  %0 = "patsparse.pattern_conv2d"(%input) {
    strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>, groups = "two",
    pattern_library = dense<[[0, 1, 0, 1, 1, 0, 0, 1, 0]]> : tensor<1x9xi8>,
    filter_order = dense<[0, 1]> : tensor<2xi32>, filter_offsets = dense<[0, 1, 2]> : tensor<3xi32>,
    kernel_channels = dense<[0, 1]> : tensor<2xi32>, kernel_pattern_ids = dense<[0, 0]> : tensor<2xi32>,
    weights = dense<1.0> : tensor<8xf32>
  } : (tensor<1x2x5x5xf32>) -> tensor<1x2x5x5xf32>
  return %0 : tensor<1x2x5x5xf32>
}

// -----

// groups must divide the filters.
func.func @groups_not_dividing_filters(%input: tensor<1x3x5x5xf32>) -> tensor<1x2x5x5xf32> {
  // expected-error @+1 {{groups: expected a divisor of the 2 filters, got 3}}
  %0 = "patsparse.pattern_conv2d"(%input) {
    strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>, groups = 3 : i64,
    pattern_library = dense<[[0, 1, 0, 1, 1, 0, 0, 1, 0]]> : tensor<1x9xi8>,
    filter_order = dense<[0, 1]> : tensor<2xi32>, filter_offsets = dense<[0, 1, 2]> : tensor<3xi32>,
    kernel_channels = dense<[0, 1]> : tensor<2xi32>, kernel_pattern_ids = dense<[0, 0]> : tensor<2xi32>,
    weights = dense<1.0> : tensor<8xf32>
  } : (tensor<1x3x5x5xf32>) -> tensor<1x2x5x5xf32>
  return %0 : tensor<1x2x5x5xf32>
}

// -----

// groups must divide the input channels.
func.func @groups_not_dividing_channels(%input: tensor<1x3x5x5xf32>) -> tensor<1x2x5x5xf32> {
  // expected-error @+1 {{groups: expected a divisor of the 3 input channels, got 2}}
  %0 = "patsparse.pattern_conv2d"(%input) {
    strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>, groups = 2 : i64,
    pattern_library = dense<[[0, 1, 0, 1, 1, 0, 0, 1, 0]]> : tensor<1x9xi8>,
    filter_order = dense<[0, 1]> : tensor<2xi32>, filter_offsets = dense<[0, 1, 2]> : tensor<3xi32>,
    kernel_channels = dense<[0, 1]> : tensor<2xi32>, kernel_pattern_ids = dense<[0, 0]> : tensor<2xi32>,
    weights = dense<1.0> : tensor<8xf32>
  } : (tensor<1x3x5x5xf32>) -> tensor<1x2x5x5xf32>
  return %0 : tensor<1x2x5x5xf32>
}

// -----

// In a depthwise op (groups = 2), filter 1 may only read channel 1: kernel_channels are global.
func.func @depthwise_kernel_outside_its_group(%input: tensor<1x2x5x5xf32>) -> tensor<1x2x5x5xf32> {
  // expected-error @+1 {{kernel_channels: expected the channels of group 1, [1, 2), for filter 1, kernel 1 has 0}}
  %0 = "patsparse.pattern_conv2d"(%input) {
    strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>, groups = 2 : i64,
    pattern_library = dense<[[0, 1, 0, 1, 1, 0, 0, 1, 0]]> : tensor<1x9xi8>,
    filter_order = dense<[0, 1]> : tensor<2xi32>, filter_offsets = dense<[0, 1, 2]> : tensor<3xi32>,
    kernel_channels = dense<[0, 0]> : tensor<2xi32>, kernel_pattern_ids = dense<[0, 0]> : tensor<2xi32>,
    weights = dense<1.0> : tensor<8xf32>
  } : (tensor<1x2x5x5xf32>) -> tensor<1x2x5x5xf32>
  return %0 : tensor<1x2x5x5xf32>
}
