// patsparse passes and upstream passes run in one PassManager, in order, from
// --pass-pipeline or from individual flags; stdin works like a file.

// RUN: %patsparse-opt %s --pass-pipeline='builtin.module(patsparse-verify, canonicalize, func.func(cse))' | FileCheck %s
// RUN: %patsparse-opt %s --patsparse-verify --canonicalize --cse | FileCheck %s
// RUN: cat %s | %patsparse-opt --patsparse-verify -o %t && FileCheck %s --check-prefix=UNSIMPLIFIED < %t
// RUN: %patsparse-opt %s --patsparse-verify --canonicalize --mlir-print-ir-after-all 2>&1 >/dev/null | FileCheck %s --check-prefix=PRINT

// Canonicalization folds the add of zero; the patsparse op is kept as it is.
// CHECK-LABEL: func.func @add_zero_then_pattern_conv
// CHECK-NOT: arith.addf
// CHECK: "patsparse.pattern_conv2d"(%arg0)
// UNSIMPLIFIED: arith.addf
// PRINT: IR Dump After VerifyPass (patsparse-verify)
// PRINT: IR Dump After Canonicalizer (canonicalize)
func.func @add_zero_then_pattern_conv(%input: tensor<1x1x3x3xf32>) -> tensor<1x1x1x1xf32> {
  %zero = arith.constant dense<0.0> : tensor<1x1x1x1xf32>
  %0 = "patsparse.pattern_conv2d"(%input) {
    strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>,
    pattern_library = dense<[[0, 1, 0, 1, 1, 0, 0, 1, 0]]> : tensor<1x9xi8>,
    filter_order = dense<[0]> : tensor<1xi32>, filter_offsets = dense<[0, 1]> : tensor<2xi32>,
    kernel_channels = dense<[0]> : tensor<1xi32>, kernel_pattern_ids = dense<[0]> : tensor<1xi32>,
    weights = dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  } : (tensor<1x1x3x3xf32>) -> tensor<1x1x1x1xf32>
  %1 = arith.addf %0, %zero : tensor<1x1x1x1xf32>
  return %1 : tensor<1x1x1x1xf32>
}
