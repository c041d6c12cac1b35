// patsparse-schedule-dense leaves the functions the convolution lowering generated (named
// patsparse_*) and the ops marked patsparse.dense_reason as they are, and vectorizes the rest:
// here a ReLU, 128 elements in tiles of 4 vectors of 16.
// RUN: %patsparse-opt %s --patsparse-schedule-dense="vector-width=16" | FileCheck %s
// The numbers: test_dense_vectorization.py (this file, scheduled, compiled and run).

// The kernel is unchanged, line for line.
// CHECK-LABEL: func.func @patsparse_kernel(%arg0: memref<4x32xf32>, %arg1: memref<4x32xf32>) {
// CHECK-NEXT:    %c0 = arith.constant 0 : index
// CHECK-NEXT:    %c1 = arith.constant 1 : index
// CHECK-NEXT:    %c4 = arith.constant 4 : index
// CHECK-NEXT:    %c32 = arith.constant 32 : index
// CHECK-NEXT:    %cst = arith.constant 2.000000e+00 : f32
// CHECK-NEXT:    scf.for %arg2 = %c0 to %c4 step %c1 {
// CHECK-NEXT:      scf.for %arg3 = %c0 to %c32 step %c1 {
// CHECK-NEXT:        %0 = memref.load %arg0[%arg2, %arg3] : memref<4x32xf32>
// CHECK-NEXT:        %1 = arith.mulf %0, %cst : f32
// CHECK-NEXT:        memref.store %1, %arg1[%arg2, %arg3] : memref<4x32xf32>
// CHECK-NEXT:      }
// CHECK-NEXT:    }
// CHECK-NEXT:    return
// CHECK-NEXT:  }

// CHECK-LABEL: func.func @forward(
// CHECK-NOT:     linalg.generic
// CHECK:         vector<64xf32>
// CHECK-NOT:     linalg.generic
// CHECK:         linalg.generic {{.*}} attrs = {patsparse.dense_reason = "test"}
// CHECK-NOT:     linalg.generic

#id = affine_map<(d0, d1) -> (d0, d1)>
module {
  func.func @patsparse_kernel(%in: memref<4x32xf32>, %out: memref<4x32xf32>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c4 = arith.constant 4 : index
    %c32 = arith.constant 32 : index
    %two = arith.constant 2.0 : f32
    scf.for %i = %c0 to %c4 step %c1 {
      scf.for %j = %c0 to %c32 step %c1 {
        %v = memref.load %in[%i, %j] : memref<4x32xf32>
        %w = arith.mulf %v, %two : f32
        memref.store %w, %out[%i, %j] : memref<4x32xf32>
      }
    }
    return
  }
  func.func @forward(%x: tensor<4x32xf32>) -> tensor<4x32xf32> {
    %zero = arith.constant 0.0 : f32
    %e = tensor.empty() : tensor<4x32xf32>
    %relu = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
        ins(%x : tensor<4x32xf32>) outs(%e : tensor<4x32xf32>) {
    ^bb0(%in: f32, %out: f32):
      %p = arith.cmpf ugt, %in, %zero : f32
      %s = arith.select %p, %in, %zero : f32
      linalg.yield %s : f32
    } -> tensor<4x32xf32>
    %in_buffer = bufferization.to_buffer %relu : tensor<4x32xf32> to memref<4x32xf32>
    %out_buffer = memref.alloc() : memref<4x32xf32>
    func.call @patsparse_kernel(%in_buffer, %out_buffer) : (memref<4x32xf32>, memref<4x32xf32>) -> ()
    %doubled = bufferization.to_tensor %out_buffer restrict : memref<4x32xf32> to tensor<4x32xf32>
    %e2 = tensor.empty() : tensor<4x32xf32>
    %kept = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
        ins(%doubled : tensor<4x32xf32>) outs(%e2 : tensor<4x32xf32>) attrs = {patsparse.dense_reason = "test"} {
    ^bb0(%in: f32, %out: f32):
      %n = arith.negf %in : f32
      linalg.yield %n : f32
    } -> tensor<4x32xf32>
    return %kept : tensor<4x32xf32>
  }
}
