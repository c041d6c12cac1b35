// A download cut off inside the hex blob of its dialect_resources section made MLIR's
// parser abort (assertion "shouldn't advance past EOF or errors", SIGABRT): now one line,
// exit 1, nothing written. `not` fails on a signal, so a crash fails this test.
// RUN: rm -f %t.out
// RUN: not %patsparse-opt %s -o %t.out 2>&1 | FileCheck %s --check-prefixes=OPT,CHECK --implicit-check-not={{.}}
// RUN: not %patsparse-compile %s -o %t.out 2>&1 | FileCheck %s --check-prefixes=COMPILE,CHECK --implicit-check-not={{.}}
// RUN: not %patsparse-tune %s --db %t.out 2>&1 | FileCheck %s --check-prefixes=TUNE,CHECK --implicit-check-not={{.}}
// RUN: not test -e %t.out
// OPT: patsparse-opt: error:
// COMPILE: patsparse-compile: error:
// TUNE: patsparse-tune: error:
// CHECK-SAME: {{.*}}truncated-resource.mlir:[[@LINE+6]]:35: the dialect_resources section is cut off or damaged (truncated file?): blob 'w' has no closing '"' on its line and the section no closing '#-}'{{$}}
func.func @forward(%x: tensor<1x2xf32>) -> tensor<1x2xf32> {
  %w = arith.constant dense_resource<w> : tensor<1x2xf32>
  return %w : tensor<1x2xf32>
}
{-#
  dialect_resources: { builtin: { w: "0x040000000000803F00
