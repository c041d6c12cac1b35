// Found by cutting an imported model at every byte: a file that ends right after a blob's
// name in dialect_resources (`w:`) made MLIR's parser abort ("shouldn't advance past EOF").
// RUN: not %patsparse-opt %s 2>&1 | FileCheck %s --implicit-check-not={{.}}
// CHECK: patsparse-opt: error: {{.*}}truncated-after-blob-name.mlir:[[@LINE+7]]:5: the dialect_resources section is cut off or damaged (truncated file?): blob 'w' has no value (expected a hex string "0x...") and the section no closing '#-}'{{$}}
func.func @forward() -> tensor<2xf32> {
  %w = arith.constant dense_resource<w> : tensor<2xf32>
  return %w : tensor<2xf32>
}
{-#
  dialect_resources: { builtin: {
    w:
