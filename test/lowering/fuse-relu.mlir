// A ReLU that is a convolution's only user is applied by the convolution's stores (no second
// pass over the activation); a ReLU beside another user is left as it is.
// RUN: %patsparse-opt %s --split-input-file --convert-patsparse-to-vector="vector-width=4" | FileCheck %s
// Numbers: filter 0 is the pattern of eval-pattern-conv.mlir with weights 1, 2, 3, 4 and bias
// -9 on an all-ones input: interior 10 - 9 = 1, top row 0, left column -1 -> 0 (ReLU), right
// column -3 -> 0; filter 1 (no kernel, bias -1) is 0 everywhere.
// RUN: head -n 44 %s > %t.mlir
// RUN: %patsparse-compile %t.mlir -o %t.so
// RUN: %python -m patsparse.cli run %t.so --fill 1 | FileCheck %s --check-prefix=OUT
// RUN: %patsparse-compile %t.mlir --target aarch64-linux-gnu -o %t.arm
// RUN: %python -m patsparse.cli run %t.arm --fill 1 | FileCheck %s --check-prefix=OUT

// CHECK-LABEL: func.func @forward
// CHECK: call @patsparse_conv_0
// CHECK-NOT: linalg.generic
// CHECK: return
// CHECK-LABEL: func.func private @patsparse_conv_0_body
// CHECK: arith.maximumf {{.*}} : vector<4xf32>
// OUT: {{\[\[\[\[}}0. 0. 0. 0.]
// OUT-NEXT:    [0. 1. 1. 0.]
// OUT-NEXT:    [0. 1. 1. 0.]
// OUT-NEXT:    [0. 1. 1. 0.]]
// OUT:         {{\[\[}}0. 0. 0. 0.]
func.func @forward(%input: tensor<1x1x4x4xf32>) -> tensor<1x2x4x4xf32> {
  %bias = arith.constant dense<[-9.0, -1.0]> : tensor<2xf32>
  %zero = arith.constant 0.0 : f32
  %0 = "patsparse.pattern_conv2d"(%input, %bias) {
    strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>,
    pattern_library = dense<[[0, 1, 0, 1, 1, 1, 0, 0, 0]]> : tensor<1x9xi8>,
    filter_order = dense<[0, 1]> : tensor<2xi32>,
    filter_offsets = dense<[0, 1, 1]> : tensor<3xi32>,
    kernel_channels = dense<[0]> : tensor<1xi32>,
    kernel_pattern_ids = dense<[0]> : tensor<1xi32>,
    weights = dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  } : (tensor<1x1x4x4xf32>, tensor<2xf32>) -> tensor<1x2x4x4xf32>
  %e = tensor.empty() : tensor<1x2x4x4xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(n, c, h, w) -> (n, c, h, w)>, affine_map<(n, c, h, w) -> (n, c, h, w)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%0 : tensor<1x2x4x4xf32>) outs(%e : tensor<1x2x4x4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %p = arith.cmpf ugt, %in, %zero : f32
    %s = arith.select %p, %in, %zero : f32
    linalg.yield %s : f32
  } -> tensor<1x2x4x4xf32>
  return %r : tensor<1x2x4x4xf32>
}

// -----

// The convolution's result is also returned: the ReLU stays a separate op.
// CHECK-LABEL: func.func @two_users
// CHECK: call @patsparse_conv_0
// CHECK: linalg.generic
// CHECK-LABEL: func.func private @patsparse_conv_0_body
// CHECK-NOT: arith.maximumf
// CHECK: return
func.func @two_users(%input: tensor<1x1x4x4xf32>) -> (tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>) {
  %zero = arith.constant 0.0 : f32
  %0 = "patsparse.pattern_conv2d"(%input) {
    strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>,
    pattern_library = dense<[[0, 1, 0, 1, 1, 1, 0, 0, 0]]> : tensor<1x9xi8>,
    filter_order = dense<[0]> : tensor<1xi32>,
    filter_offsets = dense<[0, 1]> : tensor<2xi32>,
    kernel_channels = dense<[0]> : tensor<1xi32>,
    kernel_pattern_ids = dense<[0]> : tensor<1xi32>,
    weights = dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  } : (tensor<1x1x4x4xf32>) -> tensor<1x1x4x4xf32>
  %e = tensor.empty() : tensor<1x1x4x4xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(n, c, h, w) -> (n, c, h, w)>, affine_map<(n, c, h, w) -> (n, c, h, w)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%0 : tensor<1x1x4x4xf32>) outs(%e : tensor<1x1x4x4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %p = arith.cmpf ugt, %in, %zero : f32
    %s = arith.select %p, %in, %zero : f32
    linalg.yield %s : f32
  } -> tensor<1x1x4x4xf32>
  return %0, %r : tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>
}
