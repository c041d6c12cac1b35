// Found by test/fuzz/fuzz_text.py: `padding = array<i48: ...>` passes IRDL, and reading it
// from Python raised TypeError ("Can't cast unknown element type") inside the FKW verifier:
// an internal error with a traceback. Now the verifier's one error line, exit 1.
// RUN: not %patsparse-opt %s 2>&1 | FileCheck %s --implicit-check-not={{.}}
// RUN: not %patsparse-compile %s -o %t.so 2>&1 | FileCheck %s --check-prefix=COMPILE
// CHECK: {{^.*}}odd-width-dense-array.mlir:[[@LINE+4]]:8: error: 'patsparse.pattern_conv2d' op padding: expected array<i64: ...>, got a dense array of another element type{{$}}
// COMPILE: patsparse-compile: error: {{.*}}odd-width-dense-array.mlir:[[@LINE+3]]:8: 'patsparse.pattern_conv2d' op padding: expected array<i64: ...>, got a dense array of another element type
// COMPILE-NOT: internal error
func.func @forward(%input: tensor<1x1x4x4xf32>) -> tensor<1x1x4x4xf32> {
  %0 = "patsparse.pattern_conv2d"(%input) {
    strides = array<i64: 1, 1>, padding = array<i48: 1, 1, 1, 1>,
    pattern_library = dense<[[0, 1, 0, 1, 1, 1, 0, 0, 0]]> : tensor<1x9xi8>,
    filter_order = dense<[0]> : tensor<1xi32>,
    filter_offsets = dense<[0, 1]> : tensor<2xi32>,
    kernel_channels = dense<[0]> : tensor<1xi32>,
    kernel_pattern_ids = dense<[0]> : tensor<1xi32>,
    weights = dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  } : (tensor<1x1x4x4xf32>) -> tensor<1x1x4x4xf32>
  return %0 : tensor<1x1x4x4xf32>
}
