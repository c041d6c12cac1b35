// RUN: %patsparse-opt %s --patsparse-detect-patterns --patsparse-report -o /dev/null 2>&1 | FileCheck %s
// RUN: %patsparse-opt %s --patsparse-detect-patterns --patsparse-report="output=%t.json" -o /dev/null && FileCheck %s --check-prefix=JSON < %t.json

// One rewritten layer (3 of 4 kernels kept, 2 patterns; 2*36*2*2*9 -> 2*36*4*3 FLOPs)
// and a stride-2 layer left dense (2*4*2*2*9 FLOPs), with its reason.
// CHECK: layer weight input kept patterns MFLOP dense MFLOP status
// CHECK-NEXT: 0 2x2x3x3 1x2x6x6 3/4 2/2 0.002592 0.000864 rewritten
// CHECK-NEXT: 1 2x2x3x3 1x2x6x6 - - 0.000288 0.000288 dense: weights are not a constant
// CHECK-NEXT: total: 2 convolutions, 1 rewritten, 0.00288 -> 0.001152 MFLOP (2.50x fewer)
// JSON: "op": "pattern"
// JSON: "kernels_kept": 3
// JSON: "flops_dense": 2592
// JSON: "flops": 864
// JSON: "status": "dense: weights are not a constant"
func.func @one_pattern_layer_one_dense_layer(%x: tensor<1x2x6x6xf32>, %w2: tensor<2x2x3x3xf32>) -> tensor<1x2x2x2xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<[[[[0.0, 1.0, 0.0], [2.0, 3.0, 0.0], [0.0, 4.0, 0.0]], [[5.0, 6.0, 0.0], [0.0, 7.0, 0.0], [0.0, 0.0, 8.0]]], [[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], [[0.0, 9.0, 0.0], [10.0, 11.0, 0.0], [0.0, 12.0, 0.0]]]]> : tensor<2x2x3x3xf32>
  %padded = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x2x6x6xf32> to tensor<1x2x8x8xf32>
  %empty = tensor.empty() : tensor<1x2x6x6xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<1x2x6x6xf32>) -> tensor<1x2x6x6xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%padded, %w : tensor<1x2x8x8xf32>, tensor<2x2x3x3xf32>) outs(%init : tensor<1x2x6x6xf32>) -> tensor<1x2x6x6xf32>
  %e2 = tensor.empty() : tensor<1x2x2x2xf32>
  %i2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %z = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>}
         ins(%y, %w2 : tensor<1x2x6x6xf32>, tensor<2x2x3x3xf32>) outs(%i2 : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  return %z : tensor<1x2x2x2xf32>
}
