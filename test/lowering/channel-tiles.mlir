// Stride-1 pattern convolutions input-stationary (lowering/conv_channel_tiles.py): per output tile
// and input channel, the tile's input vectors at every tap of the library are loaded once, then
// each kernel on that channel (its pattern's taps as constants) adds its 4 weights x NR vectors
// into its filter's row of the accumulator tile: a load, 4 FMAs and a store per vector, and no
// input load inside the kernel loops. On NEON (4 lanes) the 4 weights are one vector load.
// RUN: %patsparse-opt %s --convert-patsparse-to-vector="vector-width=4" --canonicalize | FileCheck %s
// RUN: %patsparse-opt %s --convert-patsparse-to-vector="vector-width=16" --canonicalize | FileCheck %s --check-prefix=AVX512
// RUN: %patsparse-opt %s --convert-patsparse-to-vector="vector-width=4 channel-tiles=false" | FileCheck %s --check-prefix=TAPS

// Kernels by (channel, pattern): filter 0 on channel 0, filter 1 on channel 1, filter 0 on
// channel 2; rows are filter x 8 positions (2 vectors of 4); segments per (channel, pattern).
// CHECK-DAG: memref.global "private" constant @patsparse_conv_0_kernel_rows : memref<3xi32> = dense<[0, 8, 0]>
// CHECK-DAG: memref.global "private" constant @patsparse_conv_0_channel_segments : memref<7xi32> = dense<[0, 1, 1, 1, 2, 2, 3]>
// CHECK-LABEL: func.func private @patsparse_conv_0_body
// CHECK: %[[TILE:.*]] = memref.alloc() {alignment = 64 : i64} : memref<16xf32>
// The channel loop; a channel without kernels in the block is skipped.
// CHECK: scf.for
// CHECK: scf.if
// The union of the two patterns has 6 taps: 6 x 2 input vectors, once per channel.
// CHECK-COUNT-12: vector.load %{{.*}} : memref<194xf32>, vector<4xf32>
// CHECK-NOT: memref<194xf32>, vector<4xf32>
// CHECK: scf.for
// CHECK: vector.load %{{.*}} : memref<12xf32>, vector<4xf32>
// CHECK-COUNT-4: vector.extract
// CHECK: vector.load %[[TILE]]
// CHECK-COUNT-4: vector.fma
// CHECK-NEXT: vector.store %{{.*}}, %[[TILE]]
// CHECK: vector.load %[[TILE]]
// CHECK-COUNT-4: vector.fma
// CHECK-NEXT: vector.store %{{.*}}, %[[TILE]]
// CHECK-NEXT: }
// The second pattern's loop: again no input load.
// CHECK-NEXT: scf.for
// CHECK-NOT: memref<194xf32>
// CHECK: vector.store %{{.*}}, %[[TILE]]
// NEON copies the rows out with whole vectors and then elements (no masked memory ops).
// CHECK: vector.store %{{.*}} : memref<72xf32>, vector<4xf32>
// CHECK: memref.store %{{.*}} : memref<72xf32>
// CHECK-NOT: vector.maskedstore
// CHECK: return

// AVX-512: 4 scalar weights broadcast (embedded in the FMAs by the backend); the copy's last
// vector masked.
// AVX512-LABEL: func.func private @patsparse_conv_0_body
// AVX512: scf.for
// AVX512: memref.load %{{.*}} : memref<12xf32>
// AVX512: vector.broadcast
// AVX512-COUNT-4: vector.fma
// AVX512: vector.maskedstore %{{.*}} : memref<72xf32>

// TAPS-NOT: kernel_rows
// TAPS: memref.global "private" constant @patsparse_conv_0_channels
func.func @forward(%input: tensor<1x3x6x6xf32>) -> tensor<1x2x6x6xf32> {
  %0 = "patsparse.pattern_conv2d"(%input) {
    strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>,
    pattern_library = dense<[[0, 1, 0, 1, 1, 1, 0, 0, 0], [0, 0, 0, 0, 1, 1, 0, 1, 1]]> : tensor<2x9xi8>,
    filter_order = dense<[0, 1]> : tensor<2xi32>,
    filter_offsets = dense<[0, 2, 3]> : tensor<3xi32>,
    kernel_channels = dense<[0, 2, 1]> : tensor<3xi32>,
    kernel_pattern_ids = dense<[0, 1, 1]> : tensor<3xi32>,
    weights = dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0]> : tensor<12xf32>
  } : (tensor<1x3x6x6xf32>) -> tensor<1x2x6x6xf32>
  return %0 : tensor<1x2x6x6xf32>
}
