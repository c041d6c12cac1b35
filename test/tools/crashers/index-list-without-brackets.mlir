// Found by test/fuzz/fuzz_text.py: `permutation = ` followed by anything but a bracketed
// list (here `1, 0`) made MLIR's parser abort (assertion "attributes may never be null").
// RUN: not %patsparse-opt %s 2>&1 | FileCheck %s --implicit-check-not={{.}}
// CHECK: patsparse-opt: error: {{.*}}index-list-without-brackets.mlir:[[@LINE+3]]:92: expected a comma-separated list of integers in [...] after 'permutation = ', got '1, 0'{{$}}
func.func @forward(%x: tensor<2x3xf32>) -> tensor<3x2xf32> {
  %e = tensor.empty() : tensor<3x2xf32>
  %t = linalg.transpose ins(%x : tensor<2x3xf32>) outs(%e : tensor<3x2xf32>) permutation = 1, 0
  return %t : tensor<3x2xf32>
}
