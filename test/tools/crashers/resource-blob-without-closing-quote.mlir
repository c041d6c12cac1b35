// Found by test/fuzz/fuzz_text.py: a blob string in dialect_resources not closed on its line,
// even with the section closed (`#-}`), made MLIR's parser abort ("shouldn't advance past
// EOF or errors").
// RUN: not %patsparse-opt %s 2>&1 | FileCheck %s --implicit-check-not={{.}}
// CHECK: patsparse-opt: error: {{.*}}resource-blob-without-closing-quote.mlir:[[@LINE+10]]:7: the dialect_resources section is cut off or damaged (truncated file?): blob 'w' has no closing '"' on its line{{$}}
module {
  func.func @forward() -> tensor<2xf32> {
    %w = arith.constant dense_resource<w> : tensor<2xf32>
    return %w : tensor<2xf32>
  }
}
{-#
  dialect_resources: {
    builtin: {
      w: "0x040000000000803F00000040,
      b: "0x040000000000803F00000040"
    }
  }
#-}
