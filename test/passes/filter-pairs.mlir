// Filter-level load redundancy elimination: patsparse-eliminate-redundant-loads{filter-pairs}.
// RUN: %patsparse-opt %s --split-input-file --patsparse-eliminate-redundant-loads="rows=1 filter-pairs=true" | FileCheck %s --check-prefix=ATTR
// RUN: %patsparse-opt %s --split-input-file --patsparse-eliminate-redundant-loads="rows=1 filter-pairs=true report=true" -o /dev/null 2>&1 | FileCheck %s --check-prefix=REPORT
// RUN: %patsparse-opt %s --split-input-file --patsparse-eliminate-redundant-loads="rows=1 filter-pairs=true" --convert-patsparse-to-vector="vector-width=4 accumulators=1 channel-tiles=false" | FileCheck %s --check-prefix=IR

// Two filters that both read channel 0 through pattern 0: that kernel is shared, its 4 input
// vectors are loaded once for 8 FMAs (4 per filter); the other two kernels are each filter's
// own. Loads per FMA: 16 / 16 before, (4 + 4 + 4) / 16 after.
// ATTR-LABEL: func.func @one_shared_kernel
// ATTR: patsparse.schedule = {eliminate_loads = true, filter_pairs = true, rows = 1 : i64}
// REPORT: layer 0: loads per FMA 1.000 -> 0.750 (rows 1, filter pairs)
// REPORT: total: loads per FMA 1.000 -> 0.750
// IR-DAG: memref.global "private" constant @patsparse_conv_0_pairs : memref<2xi32> = dense<[0, 1]>
// IR-DAG: memref.global "private" constant @patsparse_conv_0_shared_channels : memref<1xi32> = dense<0>
// IR-DAG: memref.global "private" constant @patsparse_conv_0_shared_segments : memref<3xi32> = dense<[0, 1, 1]>
// Per tap, the first filter's weight, then the second's.
// IR-DAG: memref.global "private" constant @patsparse_conv_0_shared_weights : memref<8xf32> = dense<[1.000000e+00, 9.000000e+00, 2.000000e+00, 1.000000e+01, 3.000000e+00, 1.100000e+01, 4.000000e+00, 1.200000e+01]>
// IR-DAG: memref.global "private" constant @patsparse_conv_0_channels : memref<2xi32> = dense<1>
// The first kernel loop is the shared one: every input vector feeds two FMAs.
// IR-LABEL: func.func private @patsparse_conv_0_body
// IR: scf.for
// IR: scf.for {{.*}} iter_args
// IR: vector.load {{.*}} : memref<{{[0-9]+}}xf32>, vector<4xf32>
// IR-NEXT: vector.fma
// IR-NEXT: vector.fma
// IR: vector.load {{.*}} : memref<{{[0-9]+}}xf32>, vector<4xf32>
// IR-NEXT: vector.fma
// IR-NEXT: vector.fma
// IR: vector.load {{.*}} : memref<{{[0-9]+}}xf32>, vector<4xf32>
// IR-NEXT: vector.fma
// IR-NEXT: vector.fma
// IR: vector.load {{.*}} : memref<{{[0-9]+}}xf32>, vector<4xf32>
// IR-NEXT: vector.fma
// IR-NEXT: vector.fma
// IR: scf.yield
func.func @one_shared_kernel(%input: tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32> {
  %0 = "patsparse.pattern_conv2d"(%input) {
    strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>,
    pattern_library = dense<[[0, 1, 0, 1, 1, 0, 0, 1, 0], [0, 1, 0, 0, 1, 1, 0, 1, 0]]> : tensor<2x9xi8>,
    filter_order = dense<[0, 1]> : tensor<2xi32>,
    filter_offsets = dense<[0, 2, 4]> : tensor<3xi32>,
    kernel_channels = dense<[0, 1, 0, 1]> : tensor<4xi32>,
    kernel_pattern_ids = dense<[0, 0, 0, 1]> : tensor<4xi32>,
    weights = dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0]> : tensor<16xf32>
  } : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  return %0 : tensor<1x2x4x4xf32>
}

// -----

// Filters are paired by the kernels they share, not by position: 0 with 3, 1 with 2. Every
// kernel is then shared: one load per two FMAs.
// ATTR-LABEL: func.func @best_partners
// REPORT: layer 0: loads per FMA 1.000 -> 0.500 (rows 1, filter pairs)
// IR-LABEL: func.func @best_partners
// IR: memref.global "private" constant @patsparse_conv_0_pairs : memref<4xi32> = dense<[0, 3, 1, 2]>
func.func @best_partners(%input: tensor<1x2x4x4xf32>) -> tensor<1x4x4x4xf32> {
  %0 = "patsparse.pattern_conv2d"(%input) {
    strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>,
    pattern_library = dense<[[0, 1, 0, 1, 1, 0, 0, 1, 0], [0, 1, 0, 0, 1, 1, 0, 1, 0]]> : tensor<2x9xi8>,
    filter_order = dense<[0, 1, 2, 3]> : tensor<4xi32>,
    filter_offsets = dense<[0, 2, 4, 6, 8]> : tensor<5xi32>,
    kernel_channels = dense<[0, 1, 0, 1, 0, 1, 0, 1]> : tensor<8xi32>,
    kernel_pattern_ids = dense<[0, 1, 1, 0, 1, 0, 0, 1]> : tensor<8xi32>,
    weights = dense<1.0> : tensor<32xf32>
  } : (tensor<1x2x4x4xf32>) -> tensor<1x4x4x4xf32>
  return %0 : tensor<1x4x4x4xf32>
}

// -----

// An odd number of filters is left unpaired.
// ATTR-LABEL: func.func @odd_filters
// ATTR: patsparse.schedule = {eliminate_loads = true, rows = 1 : i64}
// REPORT: layer 0: loads per FMA 1.000 -> 1.000 (rows 1){{$}}
func.func @odd_filters(%input: tensor<1x1x4x4xf32>) -> tensor<1x3x4x4xf32> {
  %0 = "patsparse.pattern_conv2d"(%input) {
    strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>,
    pattern_library = dense<[[0, 1, 0, 1, 1, 0, 0, 1, 0]]> : tensor<1x9xi8>,
    filter_order = dense<[0, 1, 2]> : tensor<3xi32>,
    filter_offsets = dense<[0, 1, 2, 3]> : tensor<4xi32>,
    kernel_channels = dense<[0, 0, 0]> : tensor<3xi32>,
    kernel_pattern_ids = dense<[0, 0, 0]> : tensor<3xi32>,
    weights = dense<1.0> : tensor<12xf32>
  } : (tensor<1x1x4x4xf32>) -> tensor<1x3x4x4xf32>
  return %0 : tensor<1x3x4x4xf32>
}
