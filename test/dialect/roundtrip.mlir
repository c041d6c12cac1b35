// RUN: %patsparse-opt %s | %patsparse-opt | FileCheck %s
// RUN: %mlir-opt %s | %mlir-opt | FileCheck %s
// RUN: %patsparse-opt %s | %mlir-opt | %patsparse-opt --patsparse-verify | FileCheck %s

// Every attribute and both operand forms survive printing and re-parsing, in
// patsparse-opt and in plain mlir-opt with the IRDL file.

// CHECK-LABEL: func.func @pattern_conv_with_bias
// CHECK: "patsparse.pattern_conv2d"(%{{[^,]*}}, %{{[^)]*}}) {
// CHECK-SAME: filter_offsets = dense<[0, 2, 2, 3]> : tensor<4xi32>
// CHECK-SAME: filter_order = dense<[2, 0, 1]> : tensor<3xi32>
// CHECK-SAME: kernel_channels = dense<[0, 1, 1]> : tensor<3xi32>
// CHECK-SAME: kernel_pattern_ids = dense<[0, 1, 0]> : tensor<3xi32>
// CHECK-SAME: padding = array<i64: 1, 1, 1, 1>
// CHECK-SAME: pattern_library = dense<{{\[\[}}0, 1, 0, 1, 1, 0, 0, 1, 0], [1, 1, 0, 0, 1, 0, 0, 0, 1]]> : tensor<2x9xi8>
// CHECK-SAME: strides = array<i64: 1, 1>
// CHECK-SAME: weights = dense<{{.*}}> : tensor<12xf32>
// CHECK-SAME: (tensor<1x2x5x5xf32>, tensor<3xf32>) -> tensor<1x3x5x5xf32>
func.func @pattern_conv_with_bias(%input: tensor<1x2x5x5xf32>, %bias: tensor<3xf32>) -> tensor<1x3x5x5xf32> {
  %0 = "patsparse.pattern_conv2d"(%input, %bias) {
    strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>,
    pattern_library = dense<[[0, 1, 0, 1, 1, 0, 0, 1, 0], [1, 1, 0, 0, 1, 0, 0, 0, 1]]> : tensor<2x9xi8>,
    filter_order = dense<[2, 0, 1]> : tensor<3xi32>,
    filter_offsets = dense<[0, 2, 2, 3]> : tensor<4xi32>,
    kernel_channels = dense<[0, 1, 1]> : tensor<3xi32>,
    kernel_pattern_ids = dense<[0, 1, 0]> : tensor<3xi32>,
    weights = dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0]> : tensor<12xf32>
  } : (tensor<1x2x5x5xf32>, tensor<3xf32>) -> tensor<1x3x5x5xf32>
  return %0 : tensor<1x3x5x5xf32>
}

// A strided convolution without bias whose only filter has no kernels left
// (connectivity pruning removed them all): empty kernel arrays are valid.

// CHECK-LABEL: func.func @strided_without_bias_all_kernels_removed
// CHECK: "patsparse.pattern_conv2d"(%{{[^,)]*}}) {
// CHECK-SAME: strides = array<i64: 2, 2>
// CHECK-SAME: weights = dense<> : tensor<0xf32>
// CHECK-SAME: (tensor<2x1x6x6xf32>) -> tensor<2x1x2x2xf32>
func.func @strided_without_bias_all_kernels_removed(%input: tensor<2x1x6x6xf32>) -> tensor<2x1x2x2xf32> {
  %0 = "patsparse.pattern_conv2d"(%input) {
    strides = array<i64: 2, 2>, padding = array<i64: 0, 0, 0, 0>,
    pattern_library = dense<[[0, 1, 0, 1, 1, 0, 0, 1, 0]]> : tensor<1x9xi8>,
    filter_order = dense<[0]> : tensor<1xi32>,
    filter_offsets = dense<[0, 0]> : tensor<2xi32>,
    kernel_channels = dense<> : tensor<0xi32>,
    kernel_pattern_ids = dense<> : tensor<0xi32>,
    weights = dense<> : tensor<0xf32>
  } : (tensor<2x1x6x6xf32>) -> tensor<2x1x2x2xf32>
  return %0 : tensor<2x1x2x2xf32>
}
