// A 1x1 stride-1 convolution is a matrix product: the packed GEMM (lowering/conv_gemm.py) reads
// the input in place (no padded copy), keeps an MR x NR tile of accumulators through the channel
// loop (here, 4 lanes: 8 filters x 3 vectors), and per channel loads NR input vectors and
// broadcasts MR packed weights for MR x NR FMAs; a ReLU after it is applied in the store loop.
// RUN: %patsparse-opt %s --convert-patsparse-to-vector="dense-convolutions=true vector-width=4" | FileCheck %s
// The numbers: test/lowering/test_gemm_lowering.py.

// CHECK-LABEL: func.func @pointwise
// CHECK: call @patsparse_conv_0_tensor
// CHECK-NOT: linalg.generic
// CHECK: memref.global "private" constant @patsparse_conv_0_packed_weights : memref<64xf32>
// CHECK-LABEL: func.func private @patsparse_conv_0(
// CHECK-NOT: memref.alloc()
// CHECK: call @patsparse_conv_0_body
// CHECK-LABEL: func.func private @patsparse_conv_0_body
// CHECK: %{{[0-9]+}}:24 = scf.for {{.*}} -> (vector<4xf32>,
// CHECK-COUNT-3: vector.load {{.*}} : memref<{{[0-9]+}}xf32>, vector<4xf32>
// CHECK-COUNT-24: vector.fma
// CHECK: scf.yield
// CHECK: arith.maximumf {{.*}} : vector<4xf32>
// CHECK: vector.store
func.func @pointwise(%x: tensor<1x4x5x5xf32>) -> tensor<1x10x5x5xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<0.5> : tensor<10x4x1x1xf32>
  %e = tensor.empty() : tensor<1x10x5x5xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x10x5x5xf32>) -> tensor<1x10x5x5xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%x, %w : tensor<1x4x5x5xf32>, tensor<10x4x1x1xf32>) outs(%f : tensor<1x10x5x5xf32>) -> tensor<1x10x5x5xf32>
  %e2 = tensor.empty() : tensor<1x10x5x5xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>],
                       iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%y : tensor<1x10x5x5xf32>) outs(%e2 : tensor<1x10x5x5xf32>) {
  ^bb0(%in: f32, %o: f32):
    %m = arith.maximumf %in, %zero : f32
    linalg.yield %m : f32
  } -> tensor<1x10x5x5xf32>
  return %r : tensor<1x10x5x5xf32>
}
