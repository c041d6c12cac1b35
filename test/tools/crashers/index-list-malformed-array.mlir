// Found by test/fuzz/fuzz_text.py: `dimensions = array<i64: 1, 1, = ...` on linalg.broadcast
// (the custom form wants [...]; only a well-formed array<i64: ...> is taken for the generic
// form) made MLIR's parser abort (assertion "attributes may never be null").
// RUN: not %patsparse-opt %s 2>&1 | FileCheck %s --implicit-check-not={{.}}
// CHECK: patsparse-opt: error: {{.*}}index-list-malformed-array.mlir:[[@LINE+3]]:93: expected a comma-separated list of integers in [...] after 'dimensions = ', got 'array<i64: 1, 1, = [0, 2]'{{$}}
func.func @forward(%b: tensor<8xf32>) -> tensor<1x8x8x8xf32> {
  %e = tensor.empty() : tensor<1x8x8x8xf32>
  %0 = linalg.broadcast ins(%b : tensor<8xf32>) outs(%e : tensor<1x8x8x8xf32>) dimensions = array<i64: 1, 1, = [0, 2]
  return %0 : tensor<1x8x8x8xf32>
}
