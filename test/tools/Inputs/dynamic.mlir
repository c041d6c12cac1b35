func.func @forward(%x: tensor<?x3x8x8xf32>) -> tensor<?x3x8x8xf32> {
  return %x : tensor<?x3x8x8xf32>
}
