// Elementwise ops after a convolution run in its store loop (lowering/epilogue.py): SiLU as
// torch-mlir writes it (a sigmoid generic, then a multiply by it) and ReLU6 (a clamp whose bounds
// are tensor<f32> constants) leave no linalg.generic behind; the sigmoid's exp is a vector op
// applied to the accumulators before the store. A result that is also used elsewhere (a residual)
// is not fused.
// RUN: %patsparse-opt %s --split-input-file --convert-patsparse-to-vector="dense-convolutions=true vector-width=4" | FileCheck %s
// The numbers: test/lowering/test_fused_epilogue.py.

// CHECK-LABEL: func.func @silu
// CHECK-NOT: linalg.generic
// CHECK: return
// CHECK-LABEL: func.func private @patsparse_conv_0_body
// CHECK: vector.fma
// CHECK: scf.yield
// CHECK: arith.negf {{.*}} : vector<4xf32>
// CHECK-NEXT: math.exp {{.*}} : vector<4xf32>
// CHECK: arith.divf
// CHECK: arith.mulf {{.*}} : vector<4xf32>
// CHECK: vector.store
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @silu(%x: tensor<1x4x5x5xf32>) -> tensor<1x8x5x5xf32> {
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %w = arith.constant dense<0.5> : tensor<8x4x1x1xf32>
  %e = tensor.empty() : tensor<1x8x5x5xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x8x5x5xf32>) -> tensor<1x8x5x5xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%x, %w : tensor<1x4x5x5xf32>, tensor<8x4x1x1xf32>) outs(%f : tensor<1x8x5x5xf32>) -> tensor<1x8x5x5xf32>
  %s = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%y : tensor<1x8x5x5xf32>) outs(%e : tensor<1x8x5x5xf32>) {
  ^bb0(%in: f32, %o: f32):
    %n = arith.negf %in : f32
    %x2 = math.exp %n : f32
    %d = arith.addf %x2, %one : f32
    %r = arith.divf %one, %d : f32
    linalg.yield %r : f32
  } -> tensor<1x8x5x5xf32>
  %z = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%y, %s : tensor<1x8x5x5xf32>, tensor<1x8x5x5xf32>) outs(%e : tensor<1x8x5x5xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.mulf %a, %b : f32
    linalg.yield %m : f32
  } -> tensor<1x8x5x5xf32>
  return %z : tensor<1x8x5x5xf32>
}

// -----

// CHECK-LABEL: func.func @relu6
// CHECK-NOT: linalg.generic
// CHECK: return
// CHECK-LABEL: func.func private @patsparse_conv_0_body
// CHECK: scf.yield
// CHECK: arith.maximumf {{.*}} : vector<4xf32>
// CHECK: arith.minimumf {{.*}} : vector<4xf32>
// CHECK: vector.store
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#scalar = affine_map<(d0, d1, d2, d3) -> ()>
func.func @relu6(%x: tensor<1x2x6x6xf32>) -> tensor<1x3x6x6xf32> {
  %zero = arith.constant 0.0 : f32
  %lo = arith.constant dense<0.0> : tensor<f32>
  %hi = arith.constant dense<6.0> : tensor<f32>
  %w = arith.constant dense<0.25> : tensor<3x2x3x3xf32>
  %p = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x2x6x6xf32> to tensor<1x2x8x8xf32>
  %e = tensor.empty() : tensor<1x3x6x6xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x3x6x6xf32>) -> tensor<1x3x6x6xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%p, %w : tensor<1x2x8x8xf32>, tensor<3x2x3x3xf32>) outs(%f : tensor<1x3x6x6xf32>) -> tensor<1x3x6x6xf32>
  %a = linalg.generic {indexing_maps = [#id, #scalar, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%y, %lo : tensor<1x3x6x6xf32>, tensor<f32>) outs(%e : tensor<1x3x6x6xf32>) {
  ^bb0(%in: f32, %b: f32, %o: f32):
    %m = arith.maximumf %in, %b : f32
    linalg.yield %m : f32
  } -> tensor<1x3x6x6xf32>
  %c = linalg.generic {indexing_maps = [#scalar, #id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%hi, %a : tensor<f32>, tensor<1x3x6x6xf32>) outs(%e : tensor<1x3x6x6xf32>) {
  ^bb0(%b: f32, %in: f32, %o: f32):
    %m = arith.minimumf %b, %in : f32
    linalg.yield %m : f32
  } -> tensor<1x3x6x6xf32>
  return %c : tensor<1x3x6x6xf32>
}

// -----

// A residual add of the convolution's input: the whole cluster (exp, add, multiply) fuses; the
// GEMM loads %x beside its stores (a fourth buffer of the body, so patsparse_parallel_for4).
// CHECK-LABEL: func.func @residual_input
// CHECK-NOT: linalg.generic
// CHECK: call @patsparse_conv_0_tensor(%{{.*}}, %arg0)
// CHECK-LABEL: func.func private @patsparse_conv_0(
// CHECK-SAME: memref<1x4x5x5xf32>, %{{.*}}: memref<1x4x5x5xf32>, %{{.*}}: memref<1x4x5x5xf32>)
// CHECK-LABEL: func.func private @patsparse_conv_0_body
// CHECK: scf.yield
// CHECK: math.exp {{.*}} : vector<4xf32>
// CHECK: vector.maskedload
// CHECK: arith.addf {{.*}} : vector<4xf32>
// CHECK: arith.mulf {{.*}} : vector<4xf32>
// CHECK: vector.maskedstore
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @residual_input(%x: tensor<1x4x5x5xf32>) -> tensor<1x4x5x5xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<0.5> : tensor<4x4x1x1xf32>
  %e = tensor.empty() : tensor<1x4x5x5xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x4x5x5xf32>) -> tensor<1x4x5x5xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%x, %w : tensor<1x4x5x5xf32>, tensor<4x4x1x1xf32>) outs(%f : tensor<1x4x5x5xf32>) -> tensor<1x4x5x5xf32>
  %s = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%y : tensor<1x4x5x5xf32>) outs(%e : tensor<1x4x5x5xf32>) {
  ^bb0(%in: f32, %o: f32):
    %x2 = math.exp %in : f32
    linalg.yield %x2 : f32
  } -> tensor<1x4x5x5xf32>
  %z = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%x, %y : tensor<1x4x5x5xf32>, tensor<1x4x5x5xf32>) outs(%e : tensor<1x4x5x5xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.addf %a, %b : f32
    linalg.yield %m : f32
  } -> tensor<1x4x5x5xf32>
  %r = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%z, %s : tensor<1x4x5x5xf32>, tensor<1x4x5x5xf32>) outs(%e : tensor<1x4x5x5xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.mulf %a, %b : f32
    linalg.yield %m : f32
  } -> tensor<1x4x5x5xf32>
  return %r : tensor<1x4x5x5xf32>
}

// -----

// The add reads a value computed after the convolution (not an input it can load), so the
// cluster stops before it and the exponential, which the multiply also reads, escapes: nothing fuses.
// CHECK-LABEL: func.func @escaping
// CHECK: call @patsparse_conv_0_tensor
// CHECK: linalg.generic
// CHECK: math.exp
// CHECK: linalg.generic
// CHECK: arith.addf
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @escaping(%x: tensor<1x4x5x5xf32>) -> tensor<1x4x5x5xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<0.5> : tensor<4x4x1x1xf32>
  %e = tensor.empty() : tensor<1x4x5x5xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x4x5x5xf32>) -> tensor<1x4x5x5xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%x, %w : tensor<1x4x5x5xf32>, tensor<4x4x1x1xf32>) outs(%f : tensor<1x4x5x5xf32>) -> tensor<1x4x5x5xf32>
  %t = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%x : tensor<1x4x5x5xf32>) outs(%e : tensor<1x4x5x5xf32>) {
  ^bb0(%in: f32, %o: f32):
    %x3 = math.exp %in : f32
    linalg.yield %x3 : f32
  } -> tensor<1x4x5x5xf32>
  %s = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%y : tensor<1x4x5x5xf32>) outs(%e : tensor<1x4x5x5xf32>) {
  ^bb0(%in: f32, %o: f32):
    %x2 = math.exp %in : f32
    linalg.yield %x2 : f32
  } -> tensor<1x4x5x5xf32>
  %z = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%t, %y : tensor<1x4x5x5xf32>, tensor<1x4x5x5xf32>) outs(%e : tensor<1x4x5x5xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.addf %a, %b : f32
    linalg.yield %m : f32
  } -> tensor<1x4x5x5xf32>
  %r = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%z, %s : tensor<1x4x5x5xf32>, tensor<1x4x5x5xf32>) outs(%e : tensor<1x4x5x5xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.mulf %a, %b : f32
    linalg.yield %m : f32
  } -> tensor<1x4x5x5xf32>
  return %r : tensor<1x4x5x5xf32>
}
