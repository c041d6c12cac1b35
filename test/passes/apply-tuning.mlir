// patsparse-apply-tuning sets each convolution's schedule from a tuning database.
// The database is written here for this file's layers (keys hash the pattern mix):
// RUN: %python -c "import json, sys; from patsparse.tune import model_layers; from patsparse.lowering.tuning import layer_key; layers = model_layers(sys.argv[1]); json.dump({'version': 1, 'layers': {layer_key(layers[0], 'host'): {'schedule': {'vector_width': 8, 'max_accumulators': 2, 'rows': 3, 'rows_outer': True, 'channel_tiles': False}}}}, open(sys.argv[2], 'w'))" %s %t.json
// RUN: %patsparse-opt %s --patsparse-detect-patterns --patsparse-apply-tuning="db=%t.json" | FileCheck %s
// RUN: %patsparse-opt %s --patsparse-detect-patterns --patsparse-apply-tuning="db=%t.json report=true" -o /dev/null 2>&1 | FileCheck %s --check-prefix=REPORT
// RUN: %patsparse-opt %s --patsparse-detect-patterns --patsparse-apply-tuning="db=%t.json target=aarch64-linux-gnu" | FileCheck %s --check-prefix=OTHER
// RUN: echo '{"version": 1, "layers": []}' > %t.bad.json
// RUN: not %patsparse-opt %s --patsparse-detect-patterns --patsparse-apply-tuning="db=%t.bad.json" 2>&1 | FileCheck %s --check-prefix=BAD
// A missing database is an error, as in patsparse-compile --tuning-db (it was ignored):
// RUN: not %patsparse-opt %s --patsparse-apply-tuning="db=%t.missing.json" 2>&1 | FileCheck %s --check-prefix=MISSING
// MISSING: error: patsparse-apply-tuning: {{.*}}.missing.json: no such tuning database (patsparse-tune writes one)
// RUN: not %patsparse-opt %s --patsparse-apply-tuning 2>&1 | FileCheck %s --check-prefix=NODB
// The flag is named once:
// NODB: error: patsparse-apply-tuning: no db=<file> given
// NODB-NOT: patsparse-apply-tuning: patsparse-apply-tuning

// The first two convolutions have the same key (shape, pattern mix): both get the entry, but
// the first keeps its hand-set rows. The third (a 2x2 kernel, dense) is not in the database.
// CHECK-LABEL: func.func @forward
// CHECK: "patsparse.pattern_conv2d"{{.*}}patsparse.schedule = {channel_tiles = false, filter_pairs = false, max_accumulators = 2 : i64, rows = 1 : i64, rows_outer = true, vector_width = 8 : i64}
// CHECK: "patsparse.pattern_conv2d"{{.*}}patsparse.schedule = {channel_tiles = false, filter_pairs = false, max_accumulators = 2 : i64, rows = 3 : i64, rows_outer = true, vector_width = 8 : i64}
// CHECK-NOT: patsparse.schedule
// CHECK: return
// REPORT: patsparse-apply-tuning: 2 of 3 convolutions tuned from
// Entries of another target do not apply: only the hand-set schedule is there.
// OTHER: patsparse.schedule = {rows = 1 : i64}
// OTHER-NOT: patsparse.schedule
// BAD: error: {{.*}}bad.json: not a tuning database
func.func @forward(%x: tensor<1x1x6x6xf32>) -> tensor<1x1x5x5xf32> {
  %zero = arith.constant 0.0 : f32
  %p = "patsparse.pattern_conv2d"(%x) {
    strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>,
    pattern_library = dense<[[0, 1, 0, 1, 1, 1, 0, 0, 0]]> : tensor<1x9xi8>,
    filter_order = dense<[0]> : tensor<1xi32>, filter_offsets = dense<[0, 1]> : tensor<2xi32>,
    kernel_channels = dense<[0]> : tensor<1xi32>, kernel_pattern_ids = dense<[0]> : tensor<1xi32>,
    weights = dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>,
    patsparse.schedule = {rows = 1 : i64}
  } : (tensor<1x1x6x6xf32>) -> tensor<1x1x6x6xf32>
  %w = arith.constant dense<[[[[0.0, 1.0, 0.0], [2.0, 3.0, 4.0], [0.0, 0.0, 0.0]]]]> : tensor<1x1x3x3xf32>
  %padded = tensor.pad %p low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x1x6x6xf32> to tensor<1x1x8x8xf32>
  %empty = tensor.empty() : tensor<1x1x6x6xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<1x1x6x6xf32>) -> tensor<1x1x6x6xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%padded, %w : tensor<1x1x8x8xf32>, tensor<1x1x3x3xf32>) outs(%init : tensor<1x1x6x6xf32>) -> tensor<1x1x6x6xf32>
  %w2 = arith.constant dense<0.5> : tensor<1x1x2x2xf32>
  %e2 = tensor.empty() : tensor<1x1x5x5xf32>
  %i2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<1x1x5x5xf32>) -> tensor<1x1x5x5xf32>
  %z = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%y, %w2 : tensor<1x1x6x6xf32>, tensor<1x1x2x2xf32>) outs(%i2 : tensor<1x1x5x5xf32>) -> tensor<1x1x5x5xf32>
  return %z : tensor<1x1x5x5xf32>
}
