// RUN: %patsparse-opt %s --split-input-file --patsparse-eliminate-redundant-loads="rows=2" | FileCheck %s --check-prefix=ATTR
// RUN: %patsparse-opt %s --split-input-file --patsparse-eliminate-redundant-loads="rows=2 report=true" -o /dev/null 2>&1 | FileCheck %s --check-prefix=REPORT
// RUN: %patsparse-opt %s --split-input-file --convert-patsparse-to-vector="vector-width=4 accumulators=1 channel-tiles=false" | FileCheck %s --check-prefix=BASE
// RUN: %patsparse-opt %s --split-input-file --patsparse-eliminate-redundant-loads="rows=2" --convert-patsparse-to-vector="vector-width=4 accumulators=1 channel-tiles=false" | FileCheck %s --check-prefix=LRE
// RUN: %patsparse-opt %s --split-input-file --patsparse-eliminate-redundant-loads | FileCheck %s --check-prefix=AUTO

// One kernel with taps (0,1) (1,1) (1,2) (2,1), 4 output rows. The base lowering loads one
// vector per tap: 4 loads. Two rows per block read input rows y..y+3 through 8 taps, of
// which (1,1)/(0,1) and (2,1)/(1,1) of the two rows coincide: 6 distinct loads for 8 FMAs.
// ATTR-LABEL: func.func @cross_without_left
// ATTR: patsparse.schedule = {eliminate_loads = true, rows = 2 : i64}
// REPORT: layer 0: loads per FMA 1.000 -> 0.750 (rows 2)
// REPORT: total: loads per FMA 1.000 -> 0.750
// Input loads are the ones from the flat padded input (row copies use 2-d and 4-d buffers).
// BASE-LABEL: func.func private @patsparse_conv_0_body
// BASE-COUNT-4: vector.load {{.*}} : memref<{{[0-9]+}}xf32>, vector<4xf32>
// BASE-NOT: vector.load {{.*}} : memref<{{[0-9]+}}xf32>
// BASE: return
// LRE-LABEL: func.func private @patsparse_conv_0_body
// LRE-COUNT-6: vector.load {{.*}} : memref<{{[0-9]+}}xf32>, vector<4xf32>
// LRE-NOT: vector.load {{.*}} : memref<{{[0-9]+}}xf32>
// LRE: return
func.func @cross_without_left(%input: tensor<1x1x4x4xf32>) -> tensor<1x1x4x4xf32> {
  %0 = "patsparse.pattern_conv2d"(%input) {
    strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>,
    pattern_library = dense<[[0, 1, 0, 0, 1, 1, 0, 1, 0]]> : tensor<1x9xi8>,
    filter_order = dense<[0]> : tensor<1xi32>,
    filter_offsets = dense<[0, 1]> : tensor<2xi32>,
    kernel_channels = dense<[0]> : tensor<1xi32>,
    kernel_pattern_ids = dense<[0]> : tensor<1xi32>,
    weights = dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  } : (tensor<1x1x4x4xf32>) -> tensor<1x1x4x4xf32>
  return %0 : tensor<1x1x4x4xf32>
}

// -----

// A rows count the tuner already chose is kept; only load elimination is added.
// ATTR-LABEL: func.func @tuned_rows_are_kept
// ATTR: patsparse.schedule = {eliminate_loads = true, rows = 3 : i64, vector_width = 8 : i64}
// REPORT: layer 0: loads per FMA 1.000 -> {{0\.[0-9]+}} (rows 3)
func.func @tuned_rows_are_kept(%input: tensor<1x1x6x6xf32>) -> tensor<1x1x6x6xf32> {
  %0 = "patsparse.pattern_conv2d"(%input) {
    strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>,
    pattern_library = dense<[[0, 1, 0, 0, 1, 1, 0, 1, 0]]> : tensor<1x9xi8>,
    filter_order = dense<[0]> : tensor<1xi32>,
    filter_offsets = dense<[0, 1]> : tensor<2xi32>,
    kernel_channels = dense<[0]> : tensor<1xi32>,
    kernel_pattern_ids = dense<[0]> : tensor<1xi32>,
    weights = dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>,
    patsparse.schedule = {rows = 3 : i64, vector_width = 8 : i64}
  } : (tensor<1x1x6x6xf32>) -> tensor<1x1x6x6xf32>
  return %0 : tensor<1x1x6x6xf32>
}

// -----

// rows=0 (the default): about 4 rows, but a 7-row output gets one block of 7, not 4 + 3.
// AUTO-LABEL: func.func @seven_rows_in_one_block
// AUTO: patsparse.schedule = {eliminate_loads = true, rows = 7 : i64}
func.func @seven_rows_in_one_block(%input: tensor<1x1x7x7xf32>) -> tensor<1x1x7x7xf32> {
  %0 = "patsparse.pattern_conv2d"(%input) {
    strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>,
    pattern_library = dense<[[0, 1, 0, 0, 1, 1, 0, 1, 0]]> : tensor<1x9xi8>,
    filter_order = dense<[0]> : tensor<1xi32>,
    filter_offsets = dense<[0, 1]> : tensor<2xi32>,
    kernel_channels = dense<[0]> : tensor<1xi32>,
    kernel_pattern_ids = dense<[0]> : tensor<1xi32>,
    weights = dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  } : (tensor<1x1x7x7xf32>) -> tensor<1x1x7x7xf32>
  return %0 : tensor<1x1x7x7xf32>
}
