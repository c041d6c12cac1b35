// nn.Linear as torch-mlir imports it (a matmul with the transposed constant weight and a zero
// init) becomes a call of generated vector code; other matmuls stay for the dense schedule.
// RUN: %patsparse-opt %s --split-input-file --convert-linear-to-vector="vector-width=4" | FileCheck %s
// RUN: %patsparse-opt %s --split-input-file --convert-linear-to-vector="vector-width=4 parallel=true" | FileCheck %s --check-prefix=PAR

// CHECK-LABEL: func.func @linear
// CHECK-NOT: linalg.transpose
// CHECK-NOT: linalg.matmul
// The call site stays on tensors; the wrapper bridges to the buffer function.
// CHECK: call @patsparse_linear_0_tensor(%{{.*}}) : (tensor<1x10xf32>) -> tensor<1x6xf32>
// CHECK: memref.global "private" constant @patsparse_linear_0_weights : memref<60xf32>
// N = 6: blocks of 2 features; K = 10: one step of 2 x 4 lanes, then 2 scalar steps.
// CHECK-LABEL: func.func private @patsparse_linear_0_body
// CHECK: scf.for
// CHECK: scf.for {{.*}} step %c8{{.*}} iter_args
// CHECK-COUNT-4: vector.fma
// CHECK: vector.reduction <add>
// CHECK: vector.reduction <add>
// CHECK: scf.for {{.*}} = %c8 to %c10 step %c1
// CHECK-LABEL: func.func private @patsparse_linear_0_tensor(
// CHECK: bufferization.to_buffer
// CHECK: memref.alloc
// CHECK: call @patsparse_linear_0({{.*}}) : (memref<1x10xf32>, memref<1x6xf32>) -> ()
// CHECK: bufferization.to_tensor
// PAR-LABEL: func.func private @patsparse_linear_0(
// PAR: call @patsparse_parallel_for
func.func @linear(%x: tensor<1x10xf32>) -> tensor<1x6xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<0.5> : tensor<6x10xf32>
  %e = tensor.empty() : tensor<10x6xf32>
  %t = linalg.transpose ins(%w : tensor<6x10xf32>) outs(%e : tensor<10x6xf32>) permutation = [1, 0]
  %e2 = tensor.empty() : tensor<1x6xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e2 : tensor<1x6xf32>) -> tensor<1x6xf32>
  %y = linalg.matmul ins(%x, %t : tensor<1x10xf32>, tensor<10x6xf32>) outs(%z : tensor<1x6xf32>) -> tensor<1x6xf32>
  return %y : tensor<1x6xf32>
}

// -----

// A weight that is not a constant: left alone.
// CHECK-LABEL: func.func @weight_is_an_argument
// CHECK: linalg.matmul
// CHECK-NOT: call @patsparse_linear
func.func @weight_is_an_argument(%x: tensor<1x10xf32>, %w: tensor<6x10xf32>) -> tensor<1x6xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<10x6xf32>
  %t = linalg.transpose ins(%w : tensor<6x10xf32>) outs(%e : tensor<10x6xf32>) permutation = [1, 0]
  %e2 = tensor.empty() : tensor<1x6xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e2 : tensor<1x6xf32>) -> tensor<1x6xf32>
  %y = linalg.matmul ins(%x, %t : tensor<1x10xf32>, tensor<10x6xf32>) outs(%z : tensor<1x6xf32>) -> tensor<1x6xf32>
  return %y : tensor<1x6xf32>
}

// -----

// An init that is not zero (the matmul accumulates into it): left alone.
// CHECK-LABEL: func.func @nonzero_init
// CHECK: linalg.matmul
// CHECK-NOT: call @patsparse_linear
func.func @nonzero_init(%x: tensor<1x10xf32>) -> tensor<1x6xf32> {
  %one = arith.constant 1.0 : f32
  %w = arith.constant dense<0.5> : tensor<6x10xf32>
  %e = tensor.empty() : tensor<10x6xf32>
  %t = linalg.transpose ins(%w : tensor<6x10xf32>) outs(%e : tensor<10x6xf32>) permutation = [1, 0]
  %e2 = tensor.empty() : tensor<1x6xf32>
  %z = linalg.fill ins(%one : f32) outs(%e2 : tensor<1x6xf32>) -> tensor<1x6xf32>
  %y = linalg.matmul ins(%x, %t : tensor<1x10xf32>, tensor<10x6xf32>) outs(%z : tensor<1x6xf32>) -> tensor<1x6xf32>
  return %y : tensor<1x6xf32>
}
