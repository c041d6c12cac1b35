"""Pattern convolutions through the input-stationary channel tiles (lowering/conv_channel_tiles.py),
against torch.nn.functional.conv2d: several filter blocks and a short last one, short last
position tiles, padding on any side, strides on the padded grid's phases, batches, threads, a
fused ReLU and SiLU, compact indices, every vector width, and AArch64 under qemu."""

import dataclasses
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_pattern_conv_lowering import with_relu

from patsparse import runtime
from patsparse.compiler import compile_model
from patsparse.dialect import from_dense_weight
from patsparse.dialect.conv_layer import ConvLayer
from patsparse.dialect.schedule import Schedule
from patsparse.lowering.conv_channel_tiles import (
    TILE_BYTES,
    TileGeometry,
    channel_major_kernels,
    channel_tiles_apply,
    tile_vectors,
)
from patsparse.pipeline import CompileOptions

from helpers import LIBRARY, conv_module, pattern_weight, torch_conv


def make_layer(rng, filters, channels, size, keep=0.6, stride=1, padding=(1, 1, 1, 1)):
    weight = pattern_weight(rng, filters, channels, keep)
    out = (size + padding[0] + padding[2] - 3) // stride + 1
    return weight, ConvLayer.from_fkw("conv", from_dense_weight(weight, LIBRARY), (1, channels, size, size),
                                      (1, filters, out, out), (stride, stride), padding, True)


def with_silu(text: str) -> str:
    """`text` with x * sigmoid(x) on its result, as torch-mlir writes nn.SiLU (two generics)."""
    match = re.search(r"return (%\S+) : (tensor<[^>]*>)", text)
    value, tensor = match.group(1), match.group(2)
    identity = "affine_map<(n, c, h, w) -> (n, c, h, w)>"
    loops = '["parallel", "parallel", "parallel", "parallel"]'
    silu = f"""%one = arith.constant 1.0 : f32
    %e0 = tensor.empty() : {tensor}
    %s = linalg.generic {{indexing_maps = [{identity}, {identity}], iterator_types = {loops}}} ins({value} : {tensor}) outs(%e0 : {tensor}) {{
    ^bb0(%in: f32, %out: f32):
      %n = arith.negf %in : f32
      %x = math.exp %n : f32
      %d = arith.addf %x, %one : f32
      %r = arith.divf %one, %d : f32
      linalg.yield %r : f32
    }} -> {tensor}
    %e1 = tensor.empty() : {tensor}
    %z = linalg.generic {{indexing_maps = [{identity}, {identity}, {identity}], iterator_types = {loops}}} ins({value}, %s : {tensor}, {tensor}) outs(%e1 : {tensor}) {{
    ^bb0(%a: f32, %b: f32, %out: f32):
      %m = arith.mulf %a, %b : f32
      linalg.yield %m : f32
    }} -> {tensor}
    return %z : {tensor}"""
    return text[:match.start()] + silu + text[match.end():]


def compile_and_run(tmp_path, text, x, **options):
    source = tmp_path / "conv.mlir"
    source.write_text(text)
    artifacts = compile_model(source, tmp_path / "conv.so", CompileOptions(detect_patterns=False, **options))
    return runtime.load(artifacts.outputs["library"], threads=options.get("threads", 1))(x)


def test_kernels_are_sorted_by_block_channel_and_pattern_and_keep_their_weights():
    rng = np.random.default_rng(3)
    _, layer = make_layer(rng, 11, 6, 5)
    rows, weights, starts = channel_major_kernels(layer, 4, 8)     # blocks of 4 filters, rows of 8 floats
    patterns, channels = len(layer.patterns), 6
    assert starts[0] == 0 and starts[-1] == layer.num_kernels and len(starts) == 3 * channels * patterns + 1
    seen = set()
    for block in range(3):
        for c in range(channels):
            for p in range(patterns):
                s = (block * channels + c) * patterns + p
                for k in range(starts[s], starts[s + 1]):
                    seen.add((block * 4 + rows[k] // 8, c, p, tuple(weights[4 * k:4 * k + 4])))
    original = set()
    for position in range(layer.filters):
        for p in range(patterns):
            for k in range(layer.segments[position, p], layer.segments[position, p + 1]):
                original.add((int(layer.filter_order[position]), int(layer.kernel_channels[k]), p,
                              tuple(layer.weights[4 * k:4 * k + 4])))
    assert seen == original and len(original) == layer.num_kernels


def test_which_layers_take_the_channel_tiles():
    rng = np.random.default_rng(0)
    _, layer = make_layer(rng, 8, 4, 9)
    schedule = Schedule(vector_width=16)
    assert channel_tiles_apply(layer, schedule)
    assert not channel_tiles_apply(layer, dataclasses.replace(schedule, channel_tiles=False))
    assert channel_tiles_apply(make_layer(rng, 8, 4, 9, stride=2)[1], schedule)   # on the grid's phases
    assert not channel_tiles_apply(dataclasses.replace(layer, groups=2), schedule)
    dense = ConvLayer.dense("conv", rng.standard_normal((8, 4, 3, 3)).astype(np.float32), (1, 4, 9, 9),
                            (1, 8, 9, 9), (1, 1), (1, 1, 1, 1), True)
    assert not channel_tiles_apply(dense, schedule)          # the packed GEMM's
    # 9 taps x 2 vectors + accumulators + weights fit 32 registers; AVX2's 16 take one vector.
    assert tile_vectors(layer, 16) == 2 and tile_vectors(layer, 4) == 2 and tile_vectors(layer, 8) == 1


def test_filter_blocks_fill_the_tile_budget_evenly():
    rng = np.random.default_rng(1)
    _, layer = make_layer(rng, 300, 2, 12)
    geometry = TileGeometry.of(layer, 16)
    assert geometry.tile_positions == 32 and geometry.block_filters * 32 * 4 <= TILE_BYTES
    assert geometry.blocks == 3 and geometry.block_filters == 100       # 300 = 3 x 100, not 128 + 128 + 44


@pytest.mark.parametrize("filters,size,padding,lanes,batch,threads,relu,stride", [
    (300, 7, (1, 1, 1, 1), 16, 1, 1, True, (1, 1)),    # 3 filter blocks; 7x7 on a pitch of 9
    (130, 12, (0, 2, 1, 0), 16, 2, 2, False, (1, 1)),  # a short last block, uneven padding, batch, threads
    (9, 5, (1, 1, 1, 1), 8, 1, 1, True, (1, 1)),       # AVX2: one vector per tap
    (600, 4, (2, 2, 2, 2), 4, 1, 2, False, (1, 1)),    # NEON: 512-filter blocks, element-wise row tails
    (140, 15, (1, 1, 1, 1), 16, 2, 2, True, (2, 2)),   # stride 2 on the grid's 4 phases (a ResNet downsample)
    (20, 11, (0, 1, 2, 0), 4, 1, 1, False, (2, 1)),    # 2 row phases, odd sizes, NEON
    (7, 13, (1, 1, 1, 1), 8, 1, 1, False, (3, 3)),     # 9 phases, AVX2
])
def test_channel_tiles_match_torch(tmp_path, filters, size, padding, lanes, batch, threads, relu, stride):
    rng = np.random.default_rng(filters)
    weight = pattern_weight(rng, filters, 5, 0.5, zero_filter=True)
    bias = rng.standard_normal(filters).astype(np.float32)
    x = rng.standard_normal((batch, 5, size, size)).astype(np.float32)
    text = conv_module(x.shape, weight, bias, stride, padding, as_linalg=False)
    actual = compile_and_run(tmp_path, with_relu(text) if relu else text, x, vector_width=lanes, threads=threads)
    expected = torch_conv(x, weight, bias, stride, padding)
    np.testing.assert_allclose(actual, np.maximum(expected, 0) if relu else expected, rtol=1e-4, atol=1e-5)


def test_silu_is_applied_to_the_tile_before_the_copy(tmp_path):
    rng = np.random.default_rng(5)
    weight = pattern_weight(rng, 20, 4, 0.7)
    bias = rng.standard_normal(20).astype(np.float32)
    x = (3 * rng.standard_normal((1, 4, 10, 13))).astype(np.float32)
    text = with_silu(conv_module(x.shape, weight, bias, (1, 1), (1, 1, 1, 1), as_linalg=False))
    y = torch_conv(x, weight, bias, (1, 1), (1, 1, 1, 1))
    actual = compile_and_run(tmp_path, text, x)
    np.testing.assert_allclose(actual, y / (1 + np.exp(-y)), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(channels=st.integers(1, 9), filters=st.sampled_from([1, 2, 7, 16, 129, 257]), height=st.integers(1, 12),
       width=st.integers(1, 40), padding=st.lists(st.integers(0, 2), min_size=4, max_size=4),
       batch=st.integers(1, 2), keep=st.floats(0.0, 1.0), lanes=st.sampled_from([16, 8, 4]),
       compact=st.booleans(), threads=st.sampled_from([1, 2]), relu=st.booleans(), seed=st.integers(0, 10_000),
       stride=st.sampled_from([(1, 1), (1, 1), (2, 2), (1, 2), (2, 1)]))
def test_random_layers_match_torch(tmp_path_factory, channels, filters, height, width, padding, batch, keep, lanes,
                                   compact, threads, relu, seed, stride):
    assume(height + padding[0] + padding[2] >= 3 and width + padding[1] + padding[3] >= 3)
    rng = np.random.default_rng(seed)
    weight = pattern_weight(rng, filters, channels, keep)
    bias = rng.standard_normal(filters).astype(np.float32) if seed % 2 else None
    x = rng.standard_normal((batch, channels, height, width)).astype(np.float32)
    text = conv_module(x.shape, weight, bias, stride, padding, as_linalg=False)
    actual = compile_and_run(tmp_path_factory.mktemp("tiles"), with_relu(text) if relu else text, x,
                             vector_width=lanes, compact_indices=compact, threads=threads)
    expected = torch_conv(x, weight, bias, stride, padding)
    np.testing.assert_allclose(actual, np.maximum(expected, 0) if relu else expected, rtol=1e-4, atol=1e-5)


@pytest.mark.qemu
def test_aarch64_channel_tiles_under_qemu_match_torch(tmp_path):
    rng = np.random.default_rng(11)
    weight = pattern_weight(rng, 520, 3, 0.6, zero_filter=True)   # two filter blocks of 260
    bias = rng.standard_normal(520).astype(np.float32)
    x = rng.standard_normal((1, 3, 6, 7)).astype(np.float32)
    source = tmp_path / "conv.mlir"
    source.write_text(with_relu(conv_module(x.shape, weight, bias, (1, 1), (1, 1, 1, 1), as_linalg=False)))
    artifacts = compile_model(source, tmp_path / "conv", CompileOptions(target="aarch64-linux-gnu",
                                                                        detect_patterns=False))
    actual = runtime.run_aarch64(artifacts.outputs["runner"], x)
    expected = np.maximum(torch_conv(x, weight, bias, (1, 1), (1, 1, 1, 1)), 0)
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("stride", [(1, 1), (2, 2)])
def test_a_large_input_is_padded_by_the_threads(tmp_path, stride):
    """Inputs of 2 MiB and more are copied onto the padded grid as work items on the threads."""
    rng = np.random.default_rng(12)
    weight = pattern_weight(rng, 8, 128, 0.3)
    bias = rng.standard_normal(8).astype(np.float32)
    x = rng.standard_normal((1, 128, 64, 64)).astype(np.float32)
    text = conv_module(x.shape, weight, bias, stride, (1, 1, 1, 1), as_linalg=False)
    from mlir import ir, passmanager

    from patsparse.dialect import make_context
    from patsparse.lowering.convert_patsparse_to_vector import ConvertPatsparseToVectorPass

    with make_context():
        module = ir.Module.parse(text)
        manager = passmanager.PassManager("builtin.module")
        ConvertPatsparseToVectorPass(parallel=True).add_to(manager)
        manager.run(module.operation)
        assert "constant @patsparse_conv_0_pad :" in str(module)   # handed to patsparse_parallel_for
    actual = compile_and_run(tmp_path, text, x, threads=2)
    np.testing.assert_allclose(actual, torch_conv(x, weight, bias, stride, (1, 1, 1, 1)), rtol=1e-4, atol=1e-4)
