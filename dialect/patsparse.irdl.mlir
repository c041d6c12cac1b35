// The `patsparse` dialect: pattern-sparse convolutions (PatDNN, ASPLOS 2020;
// Ma et al., ECCV 2020). Loaded by Python (`patsparse.dialect.load_dialect`)
// and by plain `mlir-opt --irdl-file=dialect/patsparse.irdl.mlir`.
//
// IRDL checks operand and attribute kinds only. Semantic checks (the FKW
// arrays agree with each other and with the shapes) live in
// dialect/verifier.py and run in every patsparse pass and `patsparse-verify`.
// One constraint value used for two attributes would force them equal, so
// every attribute gets its own `irdl.base`.

irdl.dialect @patsparse {
  // patsparse.pattern_conv2d: a 3x3 NCHW convolution whose every kernel keeps
  // exactly 4 taps laid out as one pattern of a small library, and whose
  // removed kernels are not stored at all. Weights are in FKW form.
  //
  // Taps are numbered t = 3 * r + c (row r, column c of the 3x3 kernel).
  // pattern_library : K x 9 integer mask, each row exactly four 1s.
  // For filter position p (0 <= p < F), f = filter_order[p] is the output
  // channel it computes, and kernels filter_offsets[p] ..
  // filter_offsets[p+1]-1 belong to it. Kernel k reads input channel
  // kernel_channels[k] through pattern kernel_pattern_ids[k]; its 4 weights
  // are weights[4k .. 4k+3], in increasing tap order (t_0 < t_1 < t_2 < t_3):
  //
  //   out[n, f, y, x] = bias[f]
  //     + sum_{k in filter f} sum_{j<4} weights[4k + j]
  //         * in_padded[n, kernel_channels[k], y*sh + t_j / 3, x*sw + t_j % 3]
  //
  // where in_padded has padding = [top, left, bottom, right] zeros and
  // strides = [sh, sw]. Output H = (H_in + top + bottom - 3) / sh + 1.
  //
  // Optional `groups = G : i64` (default 1; not declared below, IRDL has no
  // optional attributes; dialect/verifier.py checks it): a grouped or depthwise
  // (G = C = F) convolution. The formula is the same, kernel_channels stay
  // global, and each kernel k of filter f reads a channel of f's group:
  //   kernel_channels[k] / (C / G) == f / (F / G).
  //
  //   %y = "patsparse.pattern_conv2d"(%x, %bias) {
  //          strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>,
  //          pattern_library = dense<[[0,1,0,1,1,0,0,1,0]]> : tensor<1x9xi8>,
  //          filter_order = dense<[0, 1]> : tensor<2xi32>,
  //          filter_offsets = dense<[0, 1, 1]> : tensor<3xi32>,
  //          kernel_channels = dense<[2]> : tensor<1xi32>,
  //          kernel_pattern_ids = dense<[0]> : tensor<1xi32>,
  //          weights = dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>}
  //        : (tensor<1x3x8x8xf32>, tensor<2xf32>) -> tensor<1x2x8x8xf32>
  irdl.operation @pattern_conv2d {
    %input_type = irdl.base "!builtin.tensor"
    %bias_type = irdl.base "!builtin.tensor"
    %output_type = irdl.base "!builtin.tensor"
    irdl.operands(input: %input_type, bias: optional %bias_type)
    irdl.results(output: %output_type)

    %strides = irdl.base "#builtin.dense_array"
    %padding = irdl.base "#builtin.dense_array"
    %pattern_library = irdl.base "#builtin.dense_int_or_fp_elements"
    %filter_order = irdl.base "#builtin.dense_int_or_fp_elements"
    %filter_offsets = irdl.base "#builtin.dense_int_or_fp_elements"
    %kernel_channels = irdl.base "#builtin.dense_int_or_fp_elements"
    %kernel_pattern_ids = irdl.base "#builtin.dense_int_or_fp_elements"
    %weights = irdl.base "#builtin.dense_int_or_fp_elements"
    irdl.attributes {
      "strides" = %strides,
      "padding" = %padding,
      "pattern_library" = %pattern_library,
      "filter_order" = %filter_order,
      "filter_offsets" = %filter_offsets,
      "kernel_channels" = %kernel_channels,
      "kernel_pattern_ids" = %kernel_pattern_ids,
      "weights" = %weights
    }
  }
}
