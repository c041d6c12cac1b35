func.func @forward(%input: tensor<1x1x4x4xf32>) -> tensor<1x2x4x4xf32> {
  %bias = arith.constant dense<[0.5, -1.0]> : tensor<2xf32>
  %0 = "patsparse.pattern_conv2d"(%input, %bias) {
    strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>,
    pattern_library = dense<[[0, 1, 0, 1, 1, 1, 0, 0, 0]]> : tensor<1x9xi8>,
    filter_order = dense<[0, 1]> : tensor<2xi32>,
    filter_offsets = dense<[0, 2, 1]> : tensor<3xi32>,
    kernel_channels = dense<[0]> : tensor<1xi32>,
    kernel_pattern_ids = dense<[0]> : tensor<1xi32>,
    weights = dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  } : (tensor<1x1x4x4xf32>, tensor<2xf32>) -> tensor<1x2x4x4xf32>
  return %0 : tensor<1x2x4x4xf32>
}
