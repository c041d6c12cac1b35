// A file cut off inside `dimensions = [...]` of a linalg.broadcast made MLIR's parser abort
// (assertion "attributes may never be null", SIGABRT); the list is named instead.
// RUN: not %patsparse-opt %s 2>&1 | FileCheck %s --implicit-check-not={{.}}
// CHECK: patsparse-opt: error: {{.*}}truncated-dimensions.mlir:[[@LINE+3]]:93: expected a comma-separated list of integers in [...] after 'dimensions = ', got '[0, 2,'{{$}}
func.func @forward(%b: tensor<8xf32>) -> tensor<1x8x8x8xf32> {
  %e = tensor.empty() : tensor<1x8x8x8xf32>
  %0 = linalg.broadcast ins(%b : tensor<8xf32>) outs(%e : tensor<1x8x8x8xf32>) dimensions = [0, 2,
