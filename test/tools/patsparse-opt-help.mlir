// --help lists every pass with its description and the mlir-opt-like options.
// RUN: %patsparse-opt --help | FileCheck %s
// CHECK: usage: patsparse-opt
// CHECK-DAG: --pass-pipeline
// CHECK-DAG: --split-input-file
// CHECK-DAG: --verify-diagnostics
// CHECK-DAG: --mlir-print-ir-after-all
// CHECK-DAG: --patsparse-verify Check FKW arrays and shapes of patsparse ops
