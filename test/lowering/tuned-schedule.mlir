// patsparse-compile --tuning-db applies the database entry of each convolution: the conv's
// vector code uses its vector width and its accumulator block (rows x vectors per row).
// The database is written here for this file's layer (keys hash the pattern mix):
// RUN: %python -c "import json, sys; from patsparse.tune import model_layers; from patsparse.dialect.schedule import layer_key; layers = model_layers(sys.argv[1]); json.dump({'version': 1, 'layers': {layer_key(layers[0], 'host'): {'schedule': {'vector_width': 8, 'max_accumulators': 2, 'rows': 3, 'channel_tiles': False}}}}, open(sys.argv[2], 'w'))" %s %t.json
// RUN: %patsparse-compile %s --tuning-db %t.json --emit mlir -o %t.mlir
// RUN: FileCheck %s --input-file %t.mlir --check-prefix=WIDTH
// RUN: FileCheck %s --input-file %t.mlir --check-prefix=BLOCK
// The numbers: test_tuning.py (the same database on a random layer, compiled and run against PyTorch).

// Vectors of 8 lanes (the default would be 16), in the convolution and everything after it.
// WIDTH-LABEL: func.func private @patsparse_conv_0(
// WIDTH-NOT:   vector<16xf32>
// WIDTH:       vector<8xf32>
// WIDTH-NOT:   vector<16xf32>

// 3 rows x 2 vectors = 6 accumulators carried by each kernel loop.
// BLOCK-LABEL: func.func private @patsparse_conv_0(
// BLOCK:       scf.for {{.*}} iter_args(%{{[^ =]+}} = %{{[^,)]+}}, %{{[^ =]+}} = %{{[^,)]+}}, %{{[^ =]+}} = %{{[^,)]+}}, %{{[^ =]+}} = %{{[^,)]+}}, %{{[^ =]+}} = %{{[^,)]+}}, %{{[^ =]+}} = %{{[^,)]+}}) -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
func.func @forward(%x: tensor<1x2x12x20xf32>) -> tensor<1x2x12x20xf32> {
  %y = "patsparse.pattern_conv2d"(%x) {
    strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>,
    pattern_library = dense<[[0, 1, 0, 1, 1, 1, 0, 0, 0], [0, 1, 0, 0, 1, 1, 0, 0, 1]]> : tensor<2x9xi8>,
    filter_order = dense<[0, 1]> : tensor<2xi32>, filter_offsets = dense<[0, 2, 3]> : tensor<3xi32>,
    kernel_channels = dense<[0, 1, 1]> : tensor<3xi32>, kernel_pattern_ids = dense<[0, 1, 0]> : tensor<3xi32>,
    weights = dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0]> : tensor<12xf32>
  } : (tensor<1x2x12x20xf32>) -> tensor<1x2x12x20xf32>
  return %y : tensor<1x2x12x20xf32>
}
