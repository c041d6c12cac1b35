// Found by test/fuzz/fuzz_text.py: a blob whose value starts with a character no token starts
// with (`&`, a control character) made MLIR's parser abort ("shouldn't advance past EOF or
// errors"). The `{-#` in this comment is not taken for the section.
// RUN: not %patsparse-opt %s 2>&1 | FileCheck %s --implicit-check-not={{.}}
// RUN: not %patsparse-compile %s -o %t.so 2>&1 | FileCheck %s --check-prefix=COMPILE --implicit-check-not={{.}}
// CHECK: patsparse-opt: error: {{.*}}resource-blob-value-not-a-string.mlir:[[@LINE+11]]:7: the dialect_resources section is cut off or damaged (truncated file?): blob 'w' has no value (expected a hex string "0x..."){{$}}
// COMPILE: patsparse-compile: error: {{.*}}resource-blob-value-not-a-string.mlir:[[@LINE+10]]:7: the dialect_resources section is cut off or damaged (truncated file?): blob 'w' has no value (expected a hex string "0x..."){{$}}
module {
  func.func @forward() -> tensor<2xf32> {
    %w = arith.constant dense_resource<w> : tensor<2xf32>
    return %w : tensor<2xf32>
  }
}
{-#
  dialect_resources: {
    builtin: {
      w: &0x040000000000803F00000040"
    }
  }
#-}
