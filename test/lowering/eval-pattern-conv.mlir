// Lower, run and check the printed numbers, on the host and as AArch64 under qemu.
// RUN: %patsparse-compile %s -o %t.so
// RUN: %python -m patsparse.cli run %t.so --fill 1 | FileCheck %s
// RUN: %python -m patsparse.cli run %t.so --fill 1 --threads 2 | FileCheck %s
// RUN: %patsparse-compile %s -O --target aarch64-linux-gnu -o %t.arm
// RUN: %python -m patsparse.cli run %t.arm --fill 1 | FileCheck %s

// Filter 0: one kernel, pattern {(0,1), (1,0), (1,1), (1,2)} with weights 1, 2, 3, 4, bias 0.5;
// on an all-ones 4x4 input with zero padding, an interior pixel sums all four taps: 10.5; the
// top row misses tap (0,1): 9.5; the left column misses (1,0): 8.5; the right misses (1,2): 6.5;
// the corners miss two taps.
// Filter 1 has no kernel: its output is its bias, -1.
// CHECK:      {{\[\[\[\[}} 7.5  9.5  9.5  5.5]
// CHECK-NEXT:    [ 8.5 10.5 10.5  6.5]
// CHECK-NEXT:    [ 8.5 10.5 10.5  6.5]
// CHECK-NEXT:    [ 8.5 10.5 10.5  6.5]]
// CHECK:         {{\[\[}}-1.  -1.  -1.  -1. ]
func.func @forward(%input: tensor<1x1x4x4xf32>) -> tensor<1x2x4x4xf32> {
  %bias = arith.constant dense<[0.5, -1.0]> : tensor<2xf32>
  %0 = "patsparse.pattern_conv2d"(%input, %bias) {
    strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>,
    pattern_library = dense<[[0, 1, 0, 1, 1, 1, 0, 0, 0]]> : tensor<1x9xi8>,
    filter_order = dense<[0, 1]> : tensor<2xi32>,
    filter_offsets = dense<[0, 1, 1]> : tensor<3xi32>,
    kernel_channels = dense<[0]> : tensor<1xi32>,
    kernel_pattern_ids = dense<[0]> : tensor<1xi32>,
    weights = dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  } : (tensor<1x1x4x4xf32>, tensor<2xf32>) -> tensor<1x2x4x4xf32>
  return %0 : tensor<1x2x4x4xf32>
}
