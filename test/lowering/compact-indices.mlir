// Compact FKW: index arrays in the narrowest unsigned type that holds them; weights stay f32
// in read order. Without the option every index array is i32.
// RUN: %patsparse-opt %s --convert-patsparse-to-vector="compact-indices=true channel-tiles=false" | FileCheck %s --check-prefix=COMPACT
// RUN: %patsparse-opt %s --convert-patsparse-to-vector="channel-tiles=false" | FileCheck %s --check-prefix=WIDE
// RUN: %patsparse-opt %s --convert-patsparse-to-vector="compact-indices=true" | FileCheck %s --check-prefix=TILES

// 300 input channels (channel ids up to 299: u16), 3 kernels (segments up to 3: u8),
// 2 filters (order: u8). Channel ids above 255 must survive the narrowing.
// COMPACT-DAG: memref.global "private" constant @patsparse_conv_0_weights : memref<12xf32>
// COMPACT-DAG: memref.global "private" constant @patsparse_conv_0_channels : memref<3xi16> = dense<[0, 299, 7]>
// COMPACT-DAG: memref.global "private" constant @patsparse_conv_0_segments : memref<6xi8>
// COMPACT-DAG: memref.global "private" constant @patsparse_conv_0_filter_order : memref<2xi8>
// COMPACT: arith.index_castui {{.*}} : i16 to index
// WIDE-DAG: memref.global "private" constant @patsparse_conv_0_channels : memref<3xi32> = dense<[0, 299, 7]>
// The channel-tile generator (the default for stride 1) sorts the kernels by channel: filter 0's
// kernel on channel 0, filter 1's on 7, filter 0's on 299; each one's accumulator row (filter x
// 32 positions: u8) and 300 channels x 2 patterns + 1 segment starts (up to 3: u8).
// TILES-DAG: memref.global "private" constant @patsparse_conv_0_kernel_rows : memref<3xi8> = dense<[0, 32, 0]>
// TILES-DAG: memref.global "private" constant @patsparse_conv_0_channel_segments : memref<601xi8>
// TILES-DAG: memref.global "private" constant @patsparse_conv_0_channel_weights : memref<12xf32> = dense<[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00, 9.000000e+00, 1.000000e+01, 1.100000e+01, 1.200000e+01, 5.000000e+00, 6.000000e+00, 7.000000e+00, 8.000000e+00]>
// WIDE-DAG: memref.global "private" constant @patsparse_conv_0_segments : memref<6xi32>
func.func @forward(%input: tensor<1x300x4x4xf32>) -> tensor<1x2x4x4xf32> {
  %0 = "patsparse.pattern_conv2d"(%input) {
    strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>,
    pattern_library = dense<[[0, 1, 0, 1, 1, 1, 0, 0, 0], [0, 0, 0, 0, 1, 1, 0, 1, 1]]> : tensor<2x9xi8>,
    filter_order = dense<[0, 1]> : tensor<2xi32>,
    filter_offsets = dense<[0, 2, 3]> : tensor<3xi32>,
    kernel_channels = dense<[0, 299, 7]> : tensor<3xi32>,
    kernel_pattern_ids = dense<[0, 1, 1]> : tensor<3xi32>,
    weights = dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0]> : tensor<12xf32>
  } : (tensor<1x300x4x4xf32>) -> tensor<1x2x4x4xf32>
  return %0 : tensor<1x2x4x4xf32>
}
