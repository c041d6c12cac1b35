// RUN: not %patsparse-opt %s --patsparse-reorder-filters="mode=fast" 2>&1 | FileCheck %s --check-prefix=MODE
// RUN: not %patsparse-opt %s --patsparse-reorder-filters="threads=0" 2>&1 | FileCheck %s --check-prefix=THREADS
// RUN: not %patsparse-opt %s --patsparse-reorder-filters="threads=four" 2>&1 | FileCheck %s --check-prefix=TYPE

// An unknown mode or a thread count below 1 fails the pass, naming the option.
// MODE: error: patsparse-reorder-filters: mode: expected one of work, none, got 'fast'
// THREADS: error: patsparse-reorder-filters: threads: expected a positive number, got 0
// An option of the wrong type is refused before anything runs.
// TYPE: patsparse-opt: error: pass 'patsparse-reorder-filters': option 'threads' expects int, got 'four'
func.func @nothing() {
  return
}
