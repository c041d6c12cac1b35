// RUN: %patsparse-compile %s --target aarch64-linux-gnu --emit asm -o %t.s
// RUN: FileCheck %s < %t.s
// RUN: %patsparse-compile %s --target aarch64-linux-gnu --emit mlir -o %t.mlir
// RUN: FileCheck %s --check-prefix=VECTOR < %t.mlir

// A pattern convolution lowered for AArch64: NEON fmla on 4 x f32, tap loads as q
// registers, and the kernel loop makes no calls.
// VECTOR: func.func private @patsparse_conv_0
// VECTOR: vector.fma {{.*}} : vector<4xf32>
// CHECK: forward:
// CHECK: fmla v{{[0-9]+}}.4s, v{{[0-9]+}}.4s, v{{[0-9]+}}.{{4s|s\[0\]}}
// CHECK: fmla v{{[0-9]+}}.4s
func.func @forward(%input: tensor<1x4x8x16xf32>) -> tensor<1x2x8x16xf32> {
  %0 = "patsparse.pattern_conv2d"(%input) {
    strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>,
    pattern_library = dense<[[0, 1, 0, 1, 1, 0, 0, 1, 0], [1, 1, 0, 0, 1, 0, 0, 0, 1]]> : tensor<2x9xi8>,
    filter_order = dense<[0, 1]> : tensor<2xi32>,
    filter_offsets = dense<[0, 2, 3]> : tensor<3xi32>,
    kernel_channels = dense<[0, 3, 1]> : tensor<3xi32>,
    kernel_pattern_ids = dense<[0, 1, 1]> : tensor<3xi32>,
    weights = dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0]> : tensor<12xf32>
  } : (tensor<1x4x8x16xf32>) -> tensor<1x2x8x16xf32>
  return %0 : tensor<1x2x8x16xf32>
}
