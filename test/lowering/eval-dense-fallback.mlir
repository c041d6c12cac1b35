// Convolutions pattern detection leaves alone (a 3x3 kernel with all nine taps, a 2x2 kernel)
// take the dense path of the same generator, and compute the right numbers.
// RUN: %patsparse-opt %s --patsparse-detect-patterns | FileCheck %s --check-prefix=REASON
// RUN: %patsparse-compile %s -O -o %t.so
// RUN: %python -m patsparse.cli run %t.so --fill 1 | FileCheck %s
// RUN: %patsparse-compile %s --target aarch64-linux-gnu -o %t.arm
// RUN: %python -m patsparse.cli run %t.arm --fill 1 | FileCheck %s

// REASON: linalg.conv_2d_nchw_fchw {{.*}}patsparse.dense_reason = "kernel (filter 0, channel 0) has 9 non-zeros, a pattern keeps 4"
// REASON: linalg.conv_2d_nchw_fchw {{.*}}patsparse.dense_reason = "kernel 2x2, not 3x3"
// All-ones 4x4 input: the dense 3x3 conv gives 9 + 1 (bias) = 10 at each of 2x2 pixels; the 2x2
// conv of those, weight 0.5, gives 4 * 10 * 0.5 = 20.
// CHECK: {{\[\[\[\[}}20.]]]]
func.func @forward(%x: tensor<1x1x4x4xf32>) -> tensor<1x1x1x1xf32> {
  %zero = arith.constant 0.0 : f32
  %w3 = arith.constant dense<1.0> : tensor<1x1x3x3xf32>
  %w2 = arith.constant dense<0.5> : tensor<1x1x2x2xf32>
  %bias = arith.constant dense<1.0> : tensor<1xf32>
  %e1 = tensor.empty() : tensor<1x1x2x2xf32>
  %b1 = linalg.broadcast ins(%bias : tensor<1xf32>) outs(%e1 : tensor<1x1x2x2xf32>) dimensions = [0, 2, 3]
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%x, %w3 : tensor<1x1x4x4xf32>, tensor<1x1x3x3xf32>) outs(%b1 : tensor<1x1x2x2xf32>) -> tensor<1x1x2x2xf32>
  %e2 = tensor.empty() : tensor<1x1x1x1xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<1x1x1x1xf32>) -> tensor<1x1x1x1xf32>
  %z = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%y, %w2 : tensor<1x1x2x2xf32>, tensor<1x1x2x2xf32>) outs(%f2 : tensor<1x1x1x1xf32>) -> tensor<1x1x1x1xf32>
  return %z : tensor<1x1x1x1xf32>
}
