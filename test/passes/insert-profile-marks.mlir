// RUN: %patsparse-opt %s --split-input-file --patsparse-insert-profile-marks | FileCheck %s

// A mark goes before each layer, and before the ops that only feed it (the padding and the
// bias broadcast of the convolution); the ReLU after the convolution belongs to its layer;
// the name comes from the importer's patsparse.source attribute.
// CHECK-LABEL: func.func private @patsparse_profile_mark(i32)
// CHECK-LABEL: func.func @forward
// CHECK: %[[C0:.*]] = arith.constant 0 : i32
// CHECK-NEXT: call @patsparse_profile_mark(%[[C0]]) {patsparse.layer = {flops = 1.382400e+04 : f64, index = 0 : i32, kind = "3x3 conv", name = "features.0", shape = "1x3x8x8 -> 1x4x8x8"}}
// CHECK-NEXT: tensor.pad
// CHECK: linalg.broadcast
// CHECK: linalg.conv_2d_nchw_fchw
// CHECK: linalg.generic
// CHECK: %[[C1:.*]] = arith.constant 1 : i32
// CHECK-NEXT: call @patsparse_profile_mark(%[[C1]]) {patsparse.layer = {flops = 2.560000e+02 : f64, index = 1 : i32, kind = "pooling", name = "layer 1", shape = "1x4x8x8 -> 1x4x4x4"}}
// CHECK: linalg.pooling_nchw_max
// CHECK-NOT: patsparse_profile_mark
// CHECK: return
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @forward(%x: tensor<1x3x8x8xf32>) -> tensor<1x4x4x4xf32> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant -3.4e38 : f32
  %w = arith.constant dense<0.5> : tensor<4x3x3x3xf32>
  %b = arith.constant dense<0.1> : tensor<4xf32>
  %padded = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x3x8x8xf32> to tensor<1x3x10x10xf32>
  %e = tensor.empty() : tensor<1x4x8x8xf32>
  %init = linalg.broadcast ins(%b : tensor<4xf32>) outs(%e : tensor<1x4x8x8xf32>) dimensions = [0, 2, 3]
  %conv = linalg.conv_2d_nchw_fchw {patsparse.source = "features.0"} ins(%padded, %w : tensor<1x3x10x10xf32>, tensor<4x3x3x3xf32>) outs(%init : tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32>
  %relu = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%conv : tensor<1x4x8x8xf32>) outs(%e : tensor<1x4x8x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.maximumf %in, %zero : f32
    linalg.yield %m : f32
  } -> tensor<1x4x8x8xf32>
  %window = tensor.empty() : tensor<2x2xf32>
  %pe = tensor.empty() : tensor<1x4x4x4xf32>
  %pinit = linalg.fill ins(%ninf : f32) outs(%pe : tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32>
  %pool = linalg.pooling_nchw_max {strides = dense<2> : vector<2xi64>, dilations = dense<1> : vector<2xi64>} ins(%relu, %window : tensor<1x4x8x8xf32>, tensor<2x2xf32>) outs(%pinit : tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32>
  return %pool : tensor<1x4x4x4xf32>
}

// -----

// Work before the first layer is the prologue, layer 0.
// CHECK-LABEL: func.func @forward
// CHECK: call @patsparse_profile_mark(%{{.*}}) {patsparse.layer = {flops = 0.000000e+00 : f64, index = 0 : i32, kind = "other", name = "(prologue)", shape = ""}}
// CHECK-NEXT: linalg.generic
// CHECK: call @patsparse_profile_mark(%{{.*}}) {patsparse.layer = {flops = 1.280000e+02 : f64, index = 1 : i32, kind = "matmul"
// CHECK: linalg.matmul
#id = affine_map<(d0, d1) -> (d0, d1)>
func.func @forward(%x: tensor<4x8xf32>, %w: tensor<8x2xf32>) -> tensor<4x2xf32> {
  %e = tensor.empty() : tensor<4x8xf32>
  %neg = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %n = arith.negf %in : f32
    linalg.yield %n : f32
  } -> tensor<4x8xf32>
  %zero = arith.constant 0.0 : f32
  %o = tensor.empty() : tensor<4x2xf32>
  %init = linalg.fill ins(%zero : f32) outs(%o : tensor<4x2xf32>) -> tensor<4x2xf32>
  %y = linalg.matmul ins(%neg, %w : tensor<4x8xf32>, tensor<8x2xf32>) outs(%init : tensor<4x2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}
