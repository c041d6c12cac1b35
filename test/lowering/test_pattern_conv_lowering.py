"""convert-patsparse-to-vector and the dense path of the same generator, compiled for the
host (and AArch64 under qemu) and compared with torch.nn.functional.conv2d."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest
from helpers import LIBRARY, conv_module, pattern_weight, torch_conv
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from patsparse import runtime
from patsparse.compiler import compile_model
from patsparse.dialect import from_dense_weight
from patsparse.dialect.conv_layer import ConvLayer, pair_filters
from patsparse.pipeline import CompileOptions


def with_relu(text: str) -> str:
    """`text` (one @forward returning one 4-d tensor) with a ReLU, in torch-mlir's form, on its result."""
    match = re.search(r"return (%\S+) : (tensor<[^>]*>)", text)
    value, tensor = match.group(1), match.group(2)
    identity = "affine_map<(n, c, h, w) -> (n, c, h, w)>"
    relu = (f"%relu_zero = arith.constant 0.0 : f32\n    %relu_init = tensor.empty() : {tensor}\n"
            f"    %relu = linalg.generic {{indexing_maps = [{identity}, {identity}], iterator_types = "
            f"[\"parallel\", \"parallel\", \"parallel\", \"parallel\"]}} ins({value} : {tensor}) "
            f"outs(%relu_init : {tensor}) {{\n    ^bb0(%in: f32, %out: f32):\n"
            f"      %p = arith.cmpf ugt, %in, %relu_zero : f32\n      %s = arith.select %p, %in, %relu_zero : f32\n"
            f"      linalg.yield %s : f32\n    }} -> {tensor}\n    return %relu : {tensor}")
    return text[:match.start()] + relu + text[match.end():]


def compile_and_run(tmp_path, text, x, **options):
    source = tmp_path / "conv.mlir"
    source.write_text(text)
    artifacts = compile_model(source, tmp_path / "conv.so", CompileOptions(**options))
    return runtime.load(artifacts.outputs["library"])(x)


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(channels=st.integers(1, 6), filters=st.integers(1, 9), height=st.integers(3, 13), width=st.integers(3, 40),
       stride=st.sampled_from([(1, 1), (2, 2), (1, 2), (2, 1)]), padding=st.lists(st.integers(0, 2), min_size=4, max_size=4),
       has_bias=st.booleans(), keep=st.floats(0.0, 1.0), lanes=st.sampled_from([16, 8, 4]),
       accumulators=st.integers(1, 8), zero_filter=st.booleans(), seed=st.integers(0, 10_000),
       dense=st.booleans(), rows=st.integers(1, 5), eliminate_loads=st.booleans(), compact=st.booleans(),
       rows_outer=st.booleans(), relu=st.booleans(), filter_pairs=st.booleans(), channel_tiles=st.booleans())
def test_generated_conv_matches_torch(tmp_path_factory, channels, filters, height, width, stride, padding, has_bias,
                                      keep, lanes, accumulators, zero_filter, seed, dense, rows, eliminate_loads,
                                      compact, rows_outer, relu, filter_pairs, channel_tiles):
    assume(height + padding[0] + padding[2] >= 3 and width + padding[1] + padding[3] >= 3)
    rng = np.random.default_rng(seed)
    weight = pattern_weight(rng, filters, channels, keep, zero_filter)
    bias = rng.standard_normal(filters).astype(np.float32) if has_bias else None
    x = rng.standard_normal((2, channels, height, width)).astype(np.float32)
    # dense=True: the linalg convolution takes the dense (all-taps) path of the generator.
    text = conv_module(x.shape, weight, bias, stride, padding, as_linalg=dense)
    if relu:  # fused into the convolution's stores
        text = with_relu(text)
    actual = compile_and_run(tmp_path_factory.mktemp("conv"), text, x, vector_width=lanes,
                             accumulators=accumulators, detect_patterns=False, rows=rows,
                             eliminate_loads=eliminate_loads, compact_indices=compact, rows_outer=rows_outer,
                             filter_pairs=filter_pairs, channel_tiles=channel_tiles)
    expected = torch_conv(x, weight, bias, stride, padding)
    np.testing.assert_allclose(actual, np.maximum(expected, 0) if relu else expected, rtol=1e-4, atol=1e-5)


@pytest.mark.qemu
@pytest.mark.parametrize("stride,padding,filters,filter_pairs", [((1, 1), (1, 1, 1, 1), 5, False),
                                                                 ((2, 2), (0, 1, 2, 0), 5, False),
                                                                 ((1, 1), (1, 1, 1, 1), 6, True)])
def test_aarch64_build_under_qemu_matches_torch(tmp_path, stride, padding, filters, filter_pairs):
    rng = np.random.default_rng(7)
    weight = pattern_weight(rng, filters, 3, 0.6, zero_filter=True)
    bias = rng.standard_normal(filters).astype(np.float32)
    x = rng.standard_normal((1, 3, 9, 11)).astype(np.float32)
    if filter_pairs:  # the shared-kernel path runs: some kernels are shared within a pair
        layer = ConvLayer.from_fkw("conv", from_dense_weight(weight, LIBRARY), x.shape, (1, filters, 9, 11), stride,
                                   padding, True)
        assert pair_filters(layer).shared_kernels.sum() > 0
    source = tmp_path / "conv.mlir"
    source.write_text(conv_module(x.shape, weight, bias, stride, padding, as_linalg=False))
    artifacts = compile_model(source, tmp_path / "conv", CompileOptions(target="aarch64-linux-gnu",
                                                                        filter_pairs=filter_pairs))
    actual = runtime.run_aarch64(artifacts.outputs["runner"], x)
    np.testing.assert_allclose(actual, torch_conv(x, weight, bias, stride, padding), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("stride,rows_outer", [((1, 1), False), ((1, 1), True), ((2, 2), True)])
def test_padding_is_zero_in_dirty_memory(tmp_path, stride, rows_outer):
    """The generated code zeroes only the padding of its input buffer; with glibc filling every
    allocation with garbage (MALLOC_PERTURB_), the results must not change."""
    rng = np.random.default_rng(9)
    weight = pattern_weight(rng, 4, 3, 0.8)
    x = rng.standard_normal((1, 3, 7, 21)).astype(np.float32)
    source = tmp_path / "conv.mlir"
    source.write_text(conv_module(x.shape, weight, None, stride, (2, 1, 1, 2), as_linalg=False))
    library = compile_model(source, tmp_path / "conv.so", CompileOptions(rows=2, rows_outer=rows_outer))
    np.save(tmp_path / "x.npy", x)
    script = ("import numpy as np, sys; from patsparse import runtime; m = runtime.load(sys.argv[1]); "
              "np.save(sys.argv[3], m(np.load(sys.argv[2])))")
    subprocess.run([sys.executable, "-c", script, library.outputs["library"], str(tmp_path / "x.npy"),
                    str(tmp_path / "y.npy")], check=True, env={**os.environ, "MALLOC_PERTURB_": "165"})
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), torch_conv(x, weight, None, stride, (2, 1, 1, 2)),
                               rtol=1e-4, atol=1e-5)
