// A strided dense convolution with an even number of filters runs as filter pairs: every kernel
// is shared between the two filters of a pair, so each input vector is loaded once for two FMAs.
// (Stride-1 and 1x1 dense convolutions take the packed GEMM instead: pointwise-gemm.mlir.)
// RUN: %patsparse-opt %s --split-input-file --convert-patsparse-to-vector="dense-convolutions=true vector-width=4 accumulators=1" | FileCheck %s
// The numbers: test_pattern_conv_lowering.py (dense=True draws even and odd filter counts).

// CHECK-LABEL: func.func @two_filters
// CHECK: memref.global "private" constant @patsparse_conv_0_pairs : memref<2xi32> = dense<[0, 1]>
// CHECK-LABEL: func.func private @patsparse_conv_0_body
// CHECK: vector.load {{.*}} : memref<{{[0-9]+}}xf32>, vector<4xf32>
// CHECK-NEXT: vector.fma
// CHECK-NEXT: vector.fma
func.func @two_filters(%x: tensor<1x1x5x5xf32>) -> tensor<1x2x2x2xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<[[[[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]], [[[2.0, 2.0, 2.0], [2.0, 2.0, 2.0], [2.0, 2.0, 2.0]]]]> : tensor<2x1x3x3xf32>
  %e = tensor.empty() : tensor<1x2x2x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>}
         ins(%x, %w : tensor<1x1x5x5xf32>, tensor<2x1x3x3xf32>) outs(%f : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  return %y : tensor<1x2x2x2xf32>
}

// -----

// A schedule on the op that says no pairs wins.
// CHECK-LABEL: func.func @pairs_switched_off
// CHECK-NOT: _pairs
// CHECK-LABEL: func.func private @patsparse_conv_0_body
func.func @pairs_switched_off(%x: tensor<1x1x5x5xf32>) -> tensor<1x2x2x2xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<1.0> : tensor<2x1x3x3xf32>
  %e = tensor.empty() : tensor<1x2x2x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>,
                                 patsparse.schedule = {filter_pairs = false}}
         ins(%x, %w : tensor<1x1x5x5xf32>, tensor<2x1x3x3xf32>) outs(%f : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  return %y : tensor<1x2x2x2xf32>
}

// -----

// Three filters: one per work item.
// CHECK-LABEL: func.func @odd_filters
// CHECK-NOT: _pairs
// CHECK-LABEL: func.func private @patsparse_conv_0_body
func.func @odd_filters(%x: tensor<1x1x5x5xf32>) -> tensor<1x3x2x2xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<1.0> : tensor<3x1x3x3xf32>
  %e = tensor.empty() : tensor<1x3x2x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x3x2x2xf32>) -> tensor<1x3x2x2xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>}
         ins(%x, %w : tensor<1x1x5x5xf32>, tensor<3x1x3x3xf32>) outs(%f : tensor<1x3x2x2xf32>) -> tensor<1x3x2x2xf32>
  return %y : tensor<1x3x2x2xf32>
}
