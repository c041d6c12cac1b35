// `permutation = [1 0]` (a missing comma) on linalg.transpose made MLIR's parser abort
// (assertion "attributes may never be null", SIGABRT): now one line naming the place, exit 1,
// nothing written. `not` fails on a signal, so a crash fails this test.
// RUN: rm -f %t.out
// RUN: not %patsparse-opt %s -o %t.out 2>&1 | FileCheck %s --check-prefixes=OPT,CHECK --implicit-check-not={{.}}
// RUN: not %patsparse-compile %s -o %t.out 2>&1 | FileCheck %s --check-prefixes=COMPILE,CHECK --implicit-check-not={{.}}
// RUN: not %patsparse-tune %s --db %t.out 2>&1 | FileCheck %s --check-prefixes=TUNE,CHECK --implicit-check-not={{.}}
// RUN: not test -e %t.out
// OPT: patsparse-opt: error:
// COMPILE: patsparse-compile: error:
// TUNE: patsparse-tune: error:
// CHECK-SAME: {{.*}}missing-comma-permutation.mlir:[[@LINE+3]]:92: expected a comma-separated list of integers in [...] after 'permutation = ', got '[1 0]'{{$}}
func.func @forward(%x: tensor<2x3xf32>) -> tensor<3x2xf32> {
  %e = tensor.empty() : tensor<3x2xf32>
  %t = linalg.transpose ins(%x : tensor<2x3xf32>) outs(%e : tensor<3x2xf32>) permutation = [1 0]
  return %t : tensor<3x2xf32>
}
