// A model of the activations torch-mlir emits (sigmoid = 1 / (1 + exp(-x)), SiLU, erf-GELU,
// tanh-GELU with its x^3 as math.fpowi) compiles to LLVM IR with no libm call and no
// `llvm.exp`/`llvm.powi` intrinsic (which LLVM scalarises into one expf / __powisf2 call per
// element), on both targets: patsparse-approximate-math has made them vector arithmetic.
// RUN: %patsparse-compile %s --emit llvm -o %t.ll
// RUN: FileCheck %s --input-file %t.ll
// RUN: %patsparse-compile %s --target aarch64-linux-gnu --emit llvm -o %t.arm.ll
// RUN: FileCheck %s --input-file %t.arm.ll
// And in the AArch64 assembly: no call but the allocator's and memcpy.
// RUN: %patsparse-compile %s --target aarch64-linux-gnu --emit asm -o %t.s
// RUN: FileCheck %s --input-file %t.s --check-prefix=ASM
// ASM-NOT: bl {{.*}}{{expf|erff|tanhf|powi}}
// ASM: fmul v{{[0-9]+}}.4s
// ASM-NOT: bl {{.*}}{{expf|erff|tanhf|powi}}
// The pipeline's option approximate-math=false leaves the math ops to upstream (for comparison).
// RUN: %patsparse-opt %s --pass-pipeline='builtin.module(patsparse-lower{approximate-math=false})' | FileCheck %s --check-prefix=UPSTREAM
// RUN: %patsparse-opt %s --pass-pipeline='builtin.module(patsparse-lower)' | FileCheck %s --check-prefix=LOWERED

// UPSTREAM: math.exp {{.*}} : vector<{{[0-9]+}}xf32>
// UPSTREAM: math.erf {{.*}} : vector<{{[0-9]+}}xf32>
// LOWERED-NOT: math.

// CHECK-NOT: @expf
// CHECK-NOT: @erff
// CHECK-NOT: @tanhf
// CHECK-NOT: @llvm.exp.
// CHECK-NOT: @llvm.powi.
// CHECK-NOT: @__powisf2
// CHECK: define void @{{.*}}forward(
// CHECK: fmul <{{[0-9]+}} x float>
// CHECK-NOT: @expf
// CHECK-NOT: @erff
// CHECK-NOT: @tanhf
// CHECK-NOT: @llvm.exp.
// CHECK-NOT: @llvm.powi.
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @forward(%x: tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32> {
  %one = arith.constant 1.0 : f32
  %half = arith.constant 0.5 : f32
  %rsqrt2 = arith.constant 0.707106769 : f32
  %c = arith.constant 4.471500e-02 : f32
  %s = arith.constant 7.977240e-01 : f32
  %three = arith.constant 3 : i64
  %empty = tensor.empty() : tensor<1x4x8x8xf32>
  %r = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%x : tensor<1x4x8x8xf32>) outs(%empty : tensor<1x4x8x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    // sigmoid and SiLU
    %n = arith.negf %in : f32
    %e = math.exp %n : f32
    %d = arith.addf %e, %one : f32
    %sigmoid = arith.divf %one, %d : f32
    %silu = arith.mulf %in, %sigmoid : f32
    // erf GELU
    %scaled = arith.mulf %in, %rsqrt2 : f32
    %erf = math.erf %scaled : f32
    %erf1 = arith.addf %erf, %one : f32
    %erfh = arith.mulf %erf1, %half : f32
    %gelu = arith.mulf %in, %erfh : f32
    // tanh GELU
    %cube = math.fpowi %in, %three : f32, i64
    %cc = arith.mulf %cube, %c : f32
    %inner = arith.addf %in, %cc : f32
    %inner2 = arith.mulf %inner, %s : f32
    %t = math.tanh %inner2 : f32
    %t1 = arith.addf %t, %one : f32
    %th = arith.mulf %t1, %half : f32
    %tgelu = arith.mulf %in, %th : f32
    %a = arith.addf %silu, %gelu : f32
    %b = arith.addf %a, %tgelu : f32
    linalg.yield %b : f32
  } -> tensor<1x4x8x8xf32>
  return %r : tensor<1x4x8x8xf32>
}
