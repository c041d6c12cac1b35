// Bad input gives one clear line (file:line:col where there is one), a non-zero
// exit, no Python traceback and no output file.

// RUN: rm -f %t.out
// RUN: not %patsparse-opt %S/Inputs/malformed.mlir -o %t.out 2>&1 | FileCheck %s --check-prefix=MALFORMED
// RUN: not test -e %t.out
// MALFORMED: Inputs/malformed.mlir:2:23: error: use of undeclared SSA value name
// MALFORMED-NOT: Traceback

// RUN: not %patsparse-opt %S/Inputs/does-not-exist.mlir 2>&1 | FileCheck %s --check-prefix=MISSING
// MISSING: patsparse-opt: error: {{.*}}Inputs/does-not-exist.mlir: no such file

// The vector widths patsparse-compile accepts, and no others:
// RUN: not %patsparse-opt %s --convert-patsparse-to-vector="vector-width=7" 2>&1 | FileCheck %s --check-prefix=WIDTH7
// WIDTH7: error: convert-patsparse-to-vector: vector-width=7: expected 4, 8 or 16
// RUN: not %patsparse-opt %s --patsparse-eliminate-redundant-loads="vector-width=7" 2>&1 | FileCheck %s --check-prefix=WIDTH7L
// WIDTH7L: error: patsparse-eliminate-redundant-loads: vector-width=7: expected 4, 8 or 16

// RUN: not %patsparse-opt %s --patsparse-no-such-pass 2>&1 | FileCheck %s --check-prefix=UNKNOWN
// UNKNOWN: patsparse-opt: error: unknown pass 'patsparse-no-such-pass' (see patsparse-opt --help for the patsparse passes)

// RUN: not %patsparse-opt %s --no-such-upstream-pass 2>&1 | FileCheck %s --check-prefix=UPSTREAM
// UPSTREAM: patsparse-opt: error: invalid pass pipeline 'no-such-upstream-pass': {{.*}}'no-such-upstream-pass' does not refer to a registered pass or pass pipeline

// RUN: not %patsparse-opt %s --pass-pipeline='builtin.module(patsparse-verify{bogus=1})' 2>&1 | FileCheck %s --check-prefix=OPTION
// OPTION: patsparse-opt: error: pass 'patsparse-verify' has no option 'bogus' (options: none)

// RUN: not %patsparse-opt %s --pass-pipeline='func.func(cse)' 2>&1 | FileCheck %s --check-prefix=ANCHOR
// ANCHOR: patsparse-opt: error: invalid pass pipeline 'func.func(cse)': expected 'builtin.module(...)'

// RUN: not %patsparse-opt %s --pass-pipeline='builtin.module(func.func(patsparse-verify))' 2>&1 | FileCheck %s --check-prefix=NESTED
// NESTED: patsparse-opt: error: patsparse passes run on the module: put 'func.func(patsparse-verify)' at the top level of builtin.module(...)

func.func @ok() {
  return
}

// Option values out of range: one line naming the pass and the option, no traceback.
// RUN: not %patsparse-opt %s --convert-linear-to-vector="vector-width=0" 2>&1 | FileCheck %s --check-prefix=LANES
// LANES: error: convert-linear-to-vector: vector-width=0: expected a positive number of lanes
// LANES-NOT: Traceback
// RUN: not %patsparse-opt %s --convert-patsparse-to-vector="rows=0" 2>&1 | FileCheck %s --check-prefix=ROWS
// ROWS: error: convert-patsparse-to-vector: rows=0: expected at least 1
// RUN: not %patsparse-opt %s --patsparse-eliminate-redundant-loads="rows=-1" 2>&1 | FileCheck %s --check-prefix=AUTOROWS
// AUTOROWS: error: patsparse-eliminate-redundant-loads: rows=-1: expected 0 (automatic) or more
