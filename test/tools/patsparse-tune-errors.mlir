// patsparse-tune refuses bad input with one line and a non-zero exit, and leaves a database
// that is not its own alone.

// RUN: rm -rf %t && mkdir %t
// RUN: not %patsparse-tune %S/Inputs/malformed.mlir --db %t/db.json 2>&1 | FileCheck %s --check-prefix=MALFORMED
// MALFORMED: patsparse-tune: error: {{.*}}malformed.mlir: not a valid MLIR module
// MALFORMED-NOT: Traceback

// RUN: not %patsparse-tune %s --db %t/db.json 2>&1 | FileCheck %s --check-prefix=NOCONV
// NOCONV: patsparse-tune: error: {{.*}}patsparse-tune-errors.mlir: no convolution to tune

// RUN: echo '{"version": 99}' > %t/foreign.json
// RUN: not %patsparse-tune %s --db %t/foreign.json 2>&1 | FileCheck %s --check-prefix=FOREIGN
// FOREIGN: patsparse-tune: error: {{.*}}foreign.json: not a tuning database
// RUN: FileCheck %s --check-prefix=KEPT < %t/foreign.json
// KEPT: {"version": 99}

// RUN: not %patsparse-tune %s --db %t/db.json --target riscv64 2>&1 | FileCheck %s --check-prefix=TARGET
// TARGET: patsparse-tune: error: unknown target 'riscv64': expected one of host, aarch64-linux-gnu
// RUN: not ls %t/db.json
func.func @forward(%x: tensor<1x1x4x4xf32>) -> tensor<1x1x4x4xf32> {
  return %x : tensor<1x1x4x4xf32>
}
