// patsparse-compile refuses bad input with one line, a non-zero exit and no output files.

// RUN: rm -rf %t && mkdir %t
// RUN: not %patsparse-compile %s --target riscv64 -o %t/out.so 2>&1 | FileCheck %s --check-prefix=TARGET
// TARGET: patsparse-compile: error: unknown target 'riscv64': expected one of host, aarch64-linux-gnu

// RUN: not %patsparse-compile %S/Inputs/dynamic.mlir -o %t/out.so 2>&1 | FileCheck %s --check-prefix=DYNAMIC
// DYNAMIC: patsparse-compile: error: {{.*}}dynamic.mlir: @forward input has a dynamic shape (tensor<?x3x8x8xf32>); re-import the model with a fixed input shape

// RUN: not %patsparse-compile %S/Inputs/malformed.mlir -o %t/out.so 2>&1 | FileCheck %s --check-prefix=MALFORMED
// MALFORMED: patsparse-compile: error: {{.*}}malformed.mlir:2:23: use of undeclared SSA value name
// MALFORMED-NOT: Traceback

// RUN: not %patsparse-compile %S/Inputs/inconsistent-fkw.mlir -o %t/out.so 2>&1 | FileCheck %s --check-prefix=FKW
// FKW: patsparse-compile: error: {{.*}}inconsistent-fkw.mlir:3:8: 'patsparse.pattern_conv2d' op filter_offsets: expected non-decreasing offsets, entry 2 (1) is below entry 1 (2)
// FKW-NOT: Traceback

// RUN: not %patsparse-compile %S/Inputs/missing.mlir -o %t/out.so 2>&1 | FileCheck %s --check-prefix=MISSING
// MISSING: patsparse-compile: error: {{.*}}missing.mlir: no such file

// RUN: not %patsparse-compile %s --entry main -o %t/out.so 2>&1 | FileCheck %s --check-prefix=ENTRY
// ENTRY: patsparse-compile: error: {{.*}}: no function @main (functions: @forward)

// RUN: not %patsparse-compile %s --threads 0 -o %t/out.so 2>&1 | FileCheck %s --check-prefix=THREADS
// THREADS: patsparse-compile: error: --threads 0: expected at least 1

// RUN: not %patsparse-compile %s --vector-width 5 -o %t/out.so 2>&1 | FileCheck %s --check-prefix=WIDTH
// WIDTH: patsparse-compile: error: --vector-width 5: expected 4, 8 or 16

// RUN: not %patsparse-compile %s --tuning-db %t/nothing.json -o %t/out.so 2>&1 | FileCheck %s --check-prefix=NODB
// NODB: patsparse-compile: error: {{.*}}nothing.json: no such tuning database (patsparse-tune writes one)

// RUN: not ls %t/out.so %t/out.h %t/out.json
func.func @forward(%x: tensor<1x1x4x4xf32>) -> tensor<1x1x4x4xf32> {
  return %x : tensor<1x1x4x4xf32>
}
