// RUN: %patsparse-opt %s --split-input-file --patsparse-detect-patterns --patsparse-reorder-filters | FileCheck %s
// RUN: %patsparse-opt %s --split-input-file --patsparse-detect-patterns --patsparse-reorder-filters="mode=none" | FileCheck %s --check-prefix=NONE
// RUN: %patsparse-opt %s --split-input-file --patsparse-detect-patterns --patsparse-reorder-filters="report=true threads=2" -o /dev/null 2>&1 | FileCheck %s --check-prefix=REPORT
// RUN: %patsparse-opt %s --split-input-file --patsparse-detect-patterns --patsparse-reorder-filters -o /dev/null 2>&1 | FileCheck %s --check-prefix=QUIET --allow-empty

// The weights below use two patterns: A keeps taps {1, 3, 4, 7}, B keeps taps {0, 1, 4, 8}.
// The inferred library lists them as [B, A], so B has pattern id 0 and A has id 1.

// Filters keep 2, 1, 2 and 0 kernels: sorted by kept kernels (most first, stable) the
// positions hold filters [0, 2, 1, 3]. Each filter's CSR row moves with it (filter 1's
// kernel and its weights 9..12 go to the end), and filters 0 and 2 (same count, same mix)
// now form one group: 4 groups become 3.
// CHECK-LABEL: func.func @filters_with_different_kept_counts_are_reordered
// CHECK: "patsparse.pattern_conv2d"(%arg0)
// CHECK-SAME: filter_offsets = dense<[0, 2, 4, 5, 5]>
// CHECK-SAME: filter_order = dense<[0, 2, 1, 3]>
// CHECK-SAME: kernel_channels = dense<[0, 1, 0, 1, 0]>
// CHECK-SAME: kernel_pattern_ids = dense<[1, 0, 1, 0, 0]>
// CHECK-SAME: patsparse.filter_groups = 3 : i64
// CHECK-SAME: weights = dense<[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00, 5.000000e+00, 6.000000e+00, 7.000000e+00, 8.000000e+00, 1.300000e+01, 1.400000e+01, 1.500000e+01, 1.600000e+01, 1.700000e+01, 1.800000e+01, 1.900000e+01, 2.000000e+01, 9.000000e+00, 1.000000e+01, 1.100000e+01, 1.200000e+01]>
// With mode=none the order detect-patterns gave stays; the 4 runs are still recorded.
// NONE-LABEL: func.func @filters_with_different_kept_counts_are_reordered
// NONE: "patsparse.pattern_conv2d"(%arg0)
// NONE-SAME: filter_offsets = dense<[0, 2, 3, 5, 5]>
// NONE-SAME: filter_order = dense<[0, 1, 2, 3]>
// NONE-SAME: kernel_channels = dense<[0, 1, 0, 0, 1]>
// NONE-SAME: patsparse.filter_groups = 4 : i64
// Kept kernels per position 2, 1, 2, 0 -> 2, 2, 1, 0; with 2 threads taking positions
// round-robin the loads are 4, 1 (max / mean 1.60) -> 3, 2 (1.20).
// Without report=true nothing is printed.
// QUIET-NOT: patsparse-reorder-filters
// REPORT: [patsparse-reorder-filters] layer 0: 4 filters, 4 groups before -> 3 after, imbalance (2 threads) 1.60 -> 1.20
func.func @filters_with_different_kept_counts_are_reordered(%x: tensor<1x2x4x4xf32>) -> tensor<1x4x2x2xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<[[[[0.0, 1.0, 0.0], [2.0, 3.0, 0.0], [0.0, 4.0, 0.0]], [[5.0, 6.0, 0.0], [0.0, 7.0, 0.0], [0.0, 0.0, 8.0]]], [[[9.0, 10.0, 0.0], [0.0, 11.0, 0.0], [0.0, 0.0, 12.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 13.0, 0.0], [14.0, 15.0, 0.0], [0.0, 16.0, 0.0]], [[17.0, 18.0, 0.0], [0.0, 19.0, 0.0], [0.0, 0.0, 20.0]]], [[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]]> : tensor<4x2x3x3xf32>
  %empty = tensor.empty() : tensor<1x4x2x2xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<1x4x2x2xf32>) -> tensor<1x4x2x2xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%x, %w : tensor<1x2x4x4xf32>, tensor<4x2x3x3xf32>) outs(%init : tensor<1x4x2x2xf32>) -> tensor<1x4x2x2xf32>
  return %y : tensor<1x4x2x2xf32>
}

// -----

// Every filter keeps one kernel; the pattern mix breaks the tie: the filter using B
// (one kernel of id 0) goes before the two using A, which become one group.
// CHECK-LABEL: func.func @equal_counts_are_grouped_by_pattern_mix
// CHECK: "patsparse.pattern_conv2d"(%arg0)
// CHECK-SAME: filter_offsets = dense<[0, 1, 2, 3]>
// CHECK-SAME: filter_order = dense<[1, 0, 2]>
// CHECK-SAME: kernel_pattern_ids = dense<[0, 1, 1]>
// CHECK-SAME: patsparse.filter_groups = 2 : i64
// CHECK-SAME: weights = dense<[5.000000e+00, 6.000000e+00, 7.000000e+00, 8.000000e+00, 1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00, 9.000000e+00, 1.000000e+01, 1.100000e+01, 1.200000e+01]>
// NONE-LABEL: func.func @equal_counts_are_grouped_by_pattern_mix
// NONE: filter_order = dense<[0, 1, 2]>
// NONE-SAME: patsparse.filter_groups = 3 : i64
// REPORT: [patsparse-reorder-filters] layer 0: 3 filters, 3 groups before -> 2 after, imbalance (2 threads) 1.33 -> 1.33
func.func @equal_counts_are_grouped_by_pattern_mix(%x: tensor<1x1x4x4xf32>) -> tensor<1x3x2x2xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<[[[[0.0, 1.0, 0.0], [2.0, 3.0, 0.0], [0.0, 4.0, 0.0]]], [[[5.0, 6.0, 0.0], [0.0, 7.0, 0.0], [0.0, 0.0, 8.0]]], [[[0.0, 9.0, 0.0], [10.0, 11.0, 0.0], [0.0, 12.0, 0.0]]]]> : tensor<3x1x3x3xf32>
  %empty = tensor.empty() : tensor<1x3x2x2xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<1x3x2x2xf32>) -> tensor<1x3x2x2xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%x, %w : tensor<1x1x4x4xf32>, tensor<3x1x3x3xf32>) outs(%init : tensor<1x3x2x2xf32>) -> tensor<1x3x2x2xf32>
  return %y : tensor<1x3x2x2xf32>
}

// -----

// Already sorted (2 kernels, then 1): the arrays stay exactly as detect-patterns made them,
// and the op only gains the group count.
// CHECK-LABEL: func.func @already_sorted_filters_stay
// CHECK: "patsparse.pattern_conv2d"(%arg0)
// CHECK-SAME: filter_offsets = dense<[0, 2, 3]>
// CHECK-SAME: filter_order = dense<[0, 1]>
// CHECK-SAME: kernel_channels = dense<[0, 1, 0]>
// CHECK-SAME: kernel_pattern_ids = dense<[1, 0, 1]>
// CHECK-SAME: patsparse.filter_groups = 2 : i64
// CHECK-SAME: weights = dense<[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00, 5.000000e+00, 6.000000e+00, 7.000000e+00, 8.000000e+00, 9.000000e+00, 1.000000e+01, 1.100000e+01, 1.200000e+01]>
// NONE-LABEL: func.func @already_sorted_filters_stay
// NONE: filter_order = dense<[0, 1]>
// NONE-SAME: patsparse.filter_groups = 2 : i64
// REPORT: [patsparse-reorder-filters] layer 0: 2 filters, 2 groups before -> 2 after, imbalance (2 threads) 1.33 -> 1.33
func.func @already_sorted_filters_stay(%x: tensor<1x2x4x4xf32>) -> tensor<1x2x2x2xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<[[[[0.0, 1.0, 0.0], [2.0, 3.0, 0.0], [0.0, 4.0, 0.0]], [[5.0, 6.0, 0.0], [0.0, 7.0, 0.0], [0.0, 0.0, 8.0]]], [[[0.0, 9.0, 0.0], [10.0, 11.0, 0.0], [0.0, 12.0, 0.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]]> : tensor<2x2x3x3xf32>
  %empty = tensor.empty() : tensor<1x2x2x2xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%x, %w : tensor<1x2x4x4xf32>, tensor<2x2x3x3xf32>) outs(%init : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  return %y : tensor<1x2x2x2xf32>
}
