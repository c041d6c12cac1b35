// Depthwise pattern convolutions through convert-patsparse-to-vector: one work item per
// channel (threads split the channels with parallel=true), vectors along the output row, and
// per pattern, with its taps compile-time constants, exactly 4 FMAs per output vector (a dense
// depthwise kernel: 9).
// RUN: %patsparse-opt %s --split-input-file --convert-patsparse-to-vector="vector-width=8 accumulators=1" | FileCheck %s
// RUN: %patsparse-opt %s --split-input-file --convert-patsparse-to-vector="vector-width=8 accumulators=1 parallel=true" | FileCheck %s --check-prefix=PARALLEL
// RUN: %patsparse-opt %s --split-input-file --convert-patsparse-to-vector="dense-convolutions=true vector-width=8 accumulators=1" | FileCheck %s --check-prefix=DENSE
// The numbers: test_depthwise_lowering.py (hypothesis against PyTorch, qemu).

// Two channels, two patterns. At most one kernel per filter: the work item (one channel)
// switches once on its kernel's pattern; each case copies the channel into a small zero-padded
// plane (7 rows of 10 floats, reused by every item), broadcasts the kernel's 4 weights outside
// the row loop and runs it with exactly 4 FMAs per output vector, at the pattern's constant tap
// offsets (pattern 0's taps 1, 3, 4, 7: offsets 1, 10, 11, 21), each row stored straight to the
// output. A filter without a kernel (the default case) stores its bias.
// CHECK-LABEL: func.func @depthwise_four_fmas_per_vector
// CHECK: memref.global "private" constant @patsparse_conv_0_position_patterns : memref<2xi32> = dense<[0, 1]>
// CHECK-LABEL: func.func private @patsparse_conv_0_body
// CHECK: %[[PLANE:.*]] = memref.alloc() {{.*}} : memref<1x1x7x1x10xf32>
// CHECK: %[[FLAT:.*]] = memref.reinterpret_cast %[[PLANE]] {{.*}} to memref<70xf32>
// CHECK: scf.for %{{.*}} = %arg3 to %arg4
// CHECK: scf.index_switch
// CHECK: case 0 {
// CHECK: vector.load %{{.*}} : memref<1x2x5x8xf32>, vector<8xf32>
// CHECK: vector.store %{{.*}}, %[[PLANE]]
// CHECK-COUNT-4: memref.load %{{.*}} : memref<8xf32>
// CHECK: scf.for
// CHECK: %[[ROW:.*]] = arith.muli %{{.*}}, %c10 : index
// CHECK-NEXT: %[[BASE:.*]] = arith.addi %[[ROW]], %c0 : index
// CHECK: arith.addi %[[BASE]], %c1 : index
// CHECK: vector.load %[[FLAT]]
// CHECK: vector.fma
// CHECK: arith.addi %[[BASE]], %c10 : index
// CHECK: vector.fma
// CHECK: arith.addi %[[BASE]], %c11 : index
// CHECK: vector.fma
// CHECK: arith.addi %[[BASE]], %c21 : index
// CHECK: vector.fma
// CHECK-NOT: vector.fma
// CHECK: vector.store %{{.*}} : memref<1x2x5x8xf32>, vector<8xf32>
// CHECK: case 1 {
// CHECK-COUNT-4: vector.fma
// CHECK-NOT: vector.fma
// CHECK: default {
// CHECK-NOT: vector.fma
// CHECK: return
// PARALLEL-LABEL: func.func private @patsparse_conv_0(
// PARALLEL: call @patsparse_parallel_for(%{{.*}}, %c2,
func.func @depthwise_four_fmas_per_vector(%x: tensor<1x2x5x8xf32>) -> tensor<1x2x5x8xf32> {
  %y = "patsparse.pattern_conv2d"(%x) {
    strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>, groups = 2 : i64,
    pattern_library = dense<[[0, 1, 0, 1, 1, 0, 0, 1, 0], [1, 1, 0, 0, 1, 0, 0, 0, 1]]> : tensor<2x9xi8>,
    filter_order = dense<[0, 1]> : tensor<2xi32>, filter_offsets = dense<[0, 1, 2]> : tensor<3xi32>,
    kernel_channels = dense<[0, 1]> : tensor<2xi32>, kernel_pattern_ids = dense<[0, 1]> : tensor<2xi32>,
    weights = dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]> : tensor<8xf32>
  } : (tensor<1x2x5x8xf32>) -> tensor<1x2x5x8xf32>
  return %y : tensor<1x2x5x8xf32>
}

// -----

// Stride 2, one pattern: still 4 FMAs per output vector; the plane is width-phased (two phases
// of 9 floats a row) and the input row's columns are de-interleaved with a shuffle.
// CHECK-LABEL: func.func @depthwise_stride_two
// CHECK-LABEL: func.func private @patsparse_conv_0_body
// CHECK: memref.alloc() {{.*}} : memref<1x1x18x2x9xf32>
// CHECK: case 0 {
// CHECK: vector.shuffle
// CHECK: scf.for
// CHECK-COUNT-4: vector.fma
// CHECK-NOT: vector.fma
// CHECK: default {
func.func @depthwise_stride_two(%x: tensor<1x2x16x16xf32>) -> tensor<1x2x8x8xf32> {
  %y = "patsparse.pattern_conv2d"(%x) {
    strides = array<i64: 2, 2>, padding = array<i64: 1, 1, 1, 1>, groups = 2 : i64,
    pattern_library = dense<[[0, 1, 0, 1, 1, 0, 0, 1, 0]]> : tensor<1x9xi8>,
    filter_order = dense<[0, 1]> : tensor<2xi32>, filter_offsets = dense<[0, 1, 2]> : tensor<3xi32>,
    kernel_channels = dense<[0, 1]> : tensor<2xi32>, kernel_pattern_ids = dense<[0, 0]> : tensor<2xi32>,
    weights = dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]> : tensor<8xf32>
  } : (tensor<1x2x16x16xf32>) -> tensor<1x2x8x8xf32>
  return %y : tensor<1x2x8x8xf32>
}

// -----

// A dense depthwise convolution (linalg, 9 taps per kernel) takes the same generator with one
// 9-tap pattern: 9 FMAs per output vector, no filter pairs (depthwise filters share no input).
// DENSE-LABEL: func.func @dense_depthwise_nine_fmas
// DENSE-NOT: linalg.depthwise_conv_2d_nchw_chw
// DENSE-NOT: _pairs
// DENSE-LABEL: func.func private @patsparse_conv_0_body
// DENSE: case 0 {
// DENSE-COUNT-9: vector.fma
// DENSE-NOT: vector.fma
// DENSE: default {
func.func @dense_depthwise_nine_fmas(%x: tensor<1x2x10x10xf32>) -> tensor<1x2x8x8xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<[[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]], [[10.0, 11.0, 12.0], [13.0, 14.0, 15.0], [16.0, 17.0, 18.0]]]> : tensor<2x3x3xf32>
  %empty = tensor.empty() : tensor<1x2x8x8xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  %y = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%x, %w : tensor<1x2x10x10xf32>, tensor<2x3x3xf32>) outs(%init : tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  return %y : tensor<1x2x8x8xf32>
}
