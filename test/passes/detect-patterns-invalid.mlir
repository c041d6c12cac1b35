// RUN: not %patsparse-opt %s --patsparse-detect-patterns="library=010110010:111" 2>&1 | FileCheck %s --check-prefix=SHORT
// RUN: not %patsparse-opt %s --patsparse-detect-patterns="max-patterns=many" 2>&1 | FileCheck %s --check-prefix=TYPE

// A malformed library option fails the pass with the offending mask.
// SHORT: error: patsparse-detect-patterns: library: expected 9-character 0/1 masks with four 1s, got '111'
// An option of the wrong type is refused before anything runs.
// TYPE: patsparse-opt: error: pass 'patsparse-detect-patterns': option 'max-patterns' expects int, got 'many'
func.func @nothing() {
  return
}
