// A grouped dense convolution (groups > 1, not depthwise) with an even number of filters runs
// on the tap generator as filter pairs: every kernel is shared between the two filters of a pair
// (same group), so each input vector is loaded once for two FMAs. (Ungrouped dense convolutions,
// strided or not, take the packed GEMM instead: pointwise-gemm.mlir, test_gemm_lowering.py.)
// RUN: %patsparse-opt %s --split-input-file --convert-patsparse-to-vector="dense-convolutions=true vector-width=4 accumulators=1" | FileCheck %s
// The numbers: test_pattern_conv_lowering.py (dense=True draws even and odd filter counts).

// CHECK-LABEL: func.func @two_pairs
// CHECK: memref.global "private" constant @patsparse_conv_0_pairs : memref<4xi32> = dense<[0, 1, 2, 3]>
// CHECK-LABEL: func.func private @patsparse_conv_0_body
// CHECK: vector.load {{.*}} : memref<{{[0-9]+}}xf32>, vector<4xf32>
// CHECK-NEXT: vector.fma
// CHECK-NEXT: vector.fma
func.func @two_pairs(%x: tensor<1x4x5x5xf32>) -> tensor<1x4x2x2xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<1.0> : tensor<4x2x3x3xf32>
  %e = tensor.empty() : tensor<1x4x2x2xf32>
  %xg = tensor.expand_shape %x [[0], [1, 2], [3], [4]] output_shape [1, 2, 2, 5, 5] : tensor<1x4x5x5xf32> into tensor<1x2x2x5x5xf32>
  %wg = tensor.expand_shape %w [[0, 1], [2], [3], [4]] output_shape [2, 2, 2, 3, 3] : tensor<4x2x3x3xf32> into tensor<2x2x2x3x3xf32>
  %eg = tensor.expand_shape %e [[0], [1, 2], [3], [4]] output_shape [1, 2, 2, 2, 2] : tensor<1x4x2x2xf32> into tensor<1x2x2x2x2xf32>
  %init = linalg.fill ins(%zero : f32) outs(%eg : tensor<1x2x2x2x2xf32>) -> tensor<1x2x2x2x2xf32>
  %yg = linalg.conv_2d_ngchw_gfchw {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>}
         ins(%xg, %wg : tensor<1x2x2x5x5xf32>, tensor<2x2x2x3x3xf32>) outs(%init : tensor<1x2x2x2x2xf32>) -> tensor<1x2x2x2x2xf32>
  %y = tensor.collapse_shape %yg [[0], [1, 2], [3], [4]] : tensor<1x2x2x2x2xf32> into tensor<1x4x2x2xf32>
  return %y : tensor<1x4x2x2xf32>
}

// -----

// A schedule on the op that says no pairs wins.
// CHECK-LABEL: func.func @pairs_switched_off
// CHECK-NOT: _pairs
// CHECK-LABEL: func.func private @patsparse_conv_0_body
func.func @pairs_switched_off(%x: tensor<1x4x5x5xf32>) -> tensor<1x4x2x2xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<1.0> : tensor<4x2x3x3xf32>
  %e = tensor.empty() : tensor<1x4x2x2xf32>
  %xg = tensor.expand_shape %x [[0], [1, 2], [3], [4]] output_shape [1, 2, 2, 5, 5] : tensor<1x4x5x5xf32> into tensor<1x2x2x5x5xf32>
  %wg = tensor.expand_shape %w [[0, 1], [2], [3], [4]] output_shape [2, 2, 2, 3, 3] : tensor<4x2x3x3xf32> into tensor<2x2x2x3x3xf32>
  %eg = tensor.expand_shape %e [[0], [1, 2], [3], [4]] output_shape [1, 2, 2, 2, 2] : tensor<1x4x2x2xf32> into tensor<1x2x2x2x2xf32>
  %init = linalg.fill ins(%zero : f32) outs(%eg : tensor<1x2x2x2x2xf32>) -> tensor<1x2x2x2x2xf32>
  %yg = linalg.conv_2d_ngchw_gfchw {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>, patsparse.schedule = {filter_pairs = false}}
         ins(%xg, %wg : tensor<1x2x2x5x5xf32>, tensor<2x2x2x3x3xf32>) outs(%init : tensor<1x2x2x2x2xf32>) -> tensor<1x2x2x2x2xf32>
  %y = tensor.collapse_shape %yg [[0], [1, 2], [3], [4]] : tensor<1x2x2x2x2xf32> into tensor<1x4x2x2xf32>
  return %y : tensor<1x4x2x2xf32>
}

// -----

// Three filters (one per group of two channels): one per work item.
// CHECK-LABEL: func.func @odd_filters
// CHECK-NOT: _pairs
// CHECK-LABEL: func.func private @patsparse_conv_0_body
func.func @odd_filters(%x: tensor<1x6x5x5xf32>) -> tensor<1x3x2x2xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<1.0> : tensor<3x2x3x3xf32>
  %e = tensor.empty() : tensor<1x3x2x2xf32>
  %xg = tensor.expand_shape %x [[0], [1, 2], [3], [4]] output_shape [1, 3, 2, 5, 5] : tensor<1x6x5x5xf32> into tensor<1x3x2x5x5xf32>
  %wg = tensor.expand_shape %w [[0, 1], [2], [3], [4]] output_shape [3, 1, 2, 3, 3] : tensor<3x2x3x3xf32> into tensor<3x1x2x3x3xf32>
  %eg = tensor.expand_shape %e [[0], [1, 2], [3], [4]] output_shape [1, 3, 1, 2, 2] : tensor<1x3x2x2xf32> into tensor<1x3x1x2x2xf32>
  %init = linalg.fill ins(%zero : f32) outs(%eg : tensor<1x3x1x2x2xf32>) -> tensor<1x3x1x2x2xf32>
  %yg = linalg.conv_2d_ngchw_gfchw {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>}
         ins(%xg, %wg : tensor<1x3x2x5x5xf32>, tensor<3x1x2x3x3xf32>) outs(%init : tensor<1x3x1x2x2xf32>) -> tensor<1x3x1x2x2xf32>
  %y = tensor.collapse_shape %yg [[0], [1, 2], [3], [4]] : tensor<1x3x1x2x2xf32> into tensor<1x3x2x2xf32>
  return %y : tensor<1x3x2x2xf32>
}
