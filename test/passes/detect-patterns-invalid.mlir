// RUN: not %patsparse-opt %s --patsparse-detect-patterns="library=010110010:111" 2>&1 | FileCheck %s --check-prefix=SHORT
// RUN: not %patsparse-opt %s --patsparse-detect-patterns="max-patterns=many" 2>&1 | FileCheck %s --check-prefix=TYPE
// RUN: not %patsparse-opt %s --patsparse-detect-patterns="max-patterns=0" 2>&1 | FileCheck %s --check-prefix=ZERO

// A malformed library option fails the pass with the offending mask.
// SHORT: error: patsparse-detect-patterns: library: expected 9-character 0/1 masks with four 1s, got '111'
// An option of the wrong type is refused before anything runs.
// TYPE: patsparse-opt: error: pass 'patsparse-detect-patterns': option 'max-patterns' expects int, got 'many'
// No pattern at all would silently leave every convolution dense: refused.
// ZERO: error: patsparse-detect-patterns: max-patterns=0: expected at least 1 (0 would leave every convolution dense)
func.func @nothing() {
  return
}
