// A fuzzing seed (test/fuzz/fuzz_text.py): the constructs behind the known parser aborts,
// well formed: weights in a dialect_resources blob, and linalg ops whose custom syntax has
// `permutation = [...]` / `dimensions = [...]` lists.
module {
func.func @forward(%x: tensor<1x2xf32>) -> tensor<2x1xf32> {
  %w = arith.constant dense_resource<w> : tensor<1x2xf32>
  %b = arith.constant dense_resource<"b.f32"> : tensor<2xf32>
  %e = tensor.empty() : tensor<1x2xf32>
  %s = linalg.add ins(%x, %w : tensor<1x2xf32>, tensor<1x2xf32>) outs(%e : tensor<1x2xf32>) -> tensor<1x2xf32>
  %eb = tensor.empty() : tensor<1x2xf32>
  %bb = linalg.broadcast ins(%b : tensor<2xf32>) outs(%eb : tensor<1x2xf32>) dimensions = [0]
  %et = tensor.empty() : tensor<2x1xf32>
  %t = linalg.transpose ins(%s : tensor<1x2xf32>) outs(%et : tensor<2x1xf32>) permutation = [1, 0]
  %er = tensor.empty() : tensor<2xf32>
  %r = linalg.reduce ins(%bb : tensor<1x2xf32>) outs(%er : tensor<2xf32>) dimensions = [0]
    (%in: f32, %acc: f32) {
      %sum = arith.addf %in, %acc : f32
      linalg.yield %sum : f32
    }
  return %t : tensor<2x1xf32>
}
}
{-#
  dialect_resources: {
    builtin: {
      w: "0x040000000000803F00000040",
      "b.f32": "0x040000000000404000008040"
    }
  }
#-}
