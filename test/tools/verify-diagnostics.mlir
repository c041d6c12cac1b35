// RUN: not %patsparse-opt %s --split-input-file --verify-diagnostics 2>&1 | FileCheck %s

// --verify-diagnostics fails, naming the line, when an expected error is not
// produced, when an error is not expected, or when the text differs.

// CHECK: verify-diagnostics.mlir:[[@LINE+2]]: error: expected error "this never happens" was not produced
func.func @expected_but_not_produced() {
  // expected-error @+1 {{this never happens}}
  return
}

// -----

// CHECK: verify-diagnostics.mlir:[[@LINE+3]]:8: error: unexpected error: 'patsparse.pattern_conv2d' op filter_order: expected a permutation of 0..0, got [3]
// CHECK-NOT: unexpected
func.func @produced_but_not_expected(%input: tensor<1x1x3x3xf32>) -> tensor<1x1x1x1xf32> {
  %0 = "patsparse.pattern_conv2d"(%input) {
    strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>,
    pattern_library = dense<[[0, 1, 0, 1, 1, 0, 0, 1, 0]]> : tensor<1x9xi8>,
    filter_order = dense<[3]> : tensor<1xi32>, filter_offsets = dense<[0, 0]> : tensor<2xi32>,
    kernel_channels = dense<> : tensor<0xi32>, kernel_pattern_ids = dense<> : tensor<0xi32>,
    weights = dense<> : tensor<0xf32>
  } : (tensor<1x1x3x3xf32>) -> tensor<1x1x1x1xf32>
  return %0 : tensor<1x1x1x1xf32>
}
