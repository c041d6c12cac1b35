"""Dense convolutions through the packed GEMM (lowering/conv_gemm.py), against
torch.nn.functional.conv2d: 1x1 (strided too) and KxK with padding, stride 1 and strided; tile remainders in
filters and positions, bias or none, a fused ReLU, batches, threads, every vector width, and
AArch64 under qemu."""

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patsparse import runtime
from patsparse.compiler import compile_model
from patsparse.dialect import make_context
from patsparse.dialect.conv_layer import conv_layers
from patsparse.lowering.conv_gemm import TILES, dense_matrix, gemm_applies, packed_weights
from patsparse.pipeline import CompileOptions


def literal(array: np.ndarray) -> str:
    return np.array2string(array, separator=", ", threshold=10**9, floatmode="unique").replace("\n", "")


def pointwise_module(x_shape, weight, bias, relu: bool, stride: int = 1, padding: int = 0) -> str:
    """@forward: a convolution as torch-mlir emits it (a zero tensor.pad, the bias broadcast into
    the init), and a ReLU."""
    n, c, h, w = x_shape
    f, _, kh, kw = weight.shape
    hp, wp = h + 2 * padding, w + 2 * padding
    out = f"tensor<{n}x{f}x{(hp - kh) // stride + 1}x{(wp - kw) // stride + 1}xf32>"
    pad = "" if not padding else f"""%xp = tensor.pad %x low[0, 0, {padding}, {padding}] high[0, 0, {padding}, {padding}] {{
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  }} : tensor<{n}x{c}x{h}x{w}xf32> to tensor<{n}x{c}x{hp}x{wp}xf32>"""
    source = "%xp" if padding else "%x"
    if bias is None:
        init = f"%init = linalg.fill ins(%zero : f32) outs(%empty : {out}) -> {out}"
    else:
        init = (f"%b = arith.constant dense<{literal(bias)}> : tensor<{f}xf32>\n"
                f"  %init = linalg.broadcast ins(%b : tensor<{f}xf32>) outs(%empty : {out}) dimensions = [0, 2, 3]")
    tail = "return %y : " + out
    if relu:
        tail = f"""%e2 = tensor.empty() : {out}
  %r = linalg.generic {{indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}}
      ins(%y : {out}) outs(%e2 : {out}) {{
  ^bb0(%in: f32, %o: f32):
    %m = arith.maximumf %in, %zero : f32
    linalg.yield %m : f32
  }} -> {out}
  return %r : {out}"""
    return f"""#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @forward(%x: tensor<{n}x{c}x{h}x{w}xf32>) -> {out} {{
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<{literal(weight)}> : tensor<{f}x{c}x{kh}x{kw}xf32>
  {pad}
  %empty = tensor.empty() : {out}
  {init}
  %y = linalg.conv_2d_nchw_fchw {{dilations = dense<1> : vector<2xi64>, strides = dense<{stride}> : vector<2xi64>}}
         ins({source}, %w : tensor<{n}x{c}x{hp}x{wp}xf32>, tensor<{f}x{c}x{kh}x{kw}xf32>) outs(%init : {out}) -> {out}
  {tail}
}}
"""


def case(seed, batch, channels, filters, height, width, has_bias, zero_fraction=0.0, kernel=1):
    rng = np.random.default_rng(seed)
    weight = rng.standard_normal((filters, channels, kernel, kernel)).astype(np.float32)
    weight[rng.random((filters, channels)) < zero_fraction] = 0.0  # connectivity-pruned kernels
    bias = rng.standard_normal(filters).astype(np.float32) if has_bias else None
    x = rng.standard_normal((batch, channels, height, width)).astype(np.float32)
    return weight, bias, x


def expected(x, weight, bias, relu, stride=1, padding=0):
    y = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(weight),
                                   None if bias is None else torch.from_numpy(bias), stride=stride, padding=padding)
    return (torch.relu(y) if relu else y).numpy()


def compile_and_run(tmp_path, text, x, **options):
    source = tmp_path / "pointwise.mlir"
    source.write_text(text)
    artifacts = compile_model(source, tmp_path / "pointwise.so", CompileOptions(**options))
    return runtime.load(artifacts.outputs["library"])(x)


def test_packed_panels_hold_each_blocks_filters_channel_by_channel():
    matrix = np.arange(5 * 3 * 2, dtype=np.float32).reshape(5, 3, 2) + 1   # F=5, C=3, 2 taps
    packed = packed_weights(matrix, 4)
    assert packed.shape == (2, 3, 2, 4)
    np.testing.assert_array_equal(packed[0, 2, 1], matrix[0:4, 2, 1])
    np.testing.assert_array_equal(packed[1, :, :, 0], matrix[4])
    assert not packed[1, :, :, 1:].any()   # rows past F are zero


def test_only_plain_1x1_layers_take_the_gemm(tmp_path):
    from mlir import ir

    weight, bias, x = case(0, 1, 5, 7, 6, 9, True)
    with make_context(), ir.Location.unknown():
        module = ir.Module.parse(pointwise_module(x.shape, weight, bias, False))
        [(_, layer, _, _)] = conv_layers(module.operation, True)
    assert gemm_applies(layer)
    np.testing.assert_array_equal(dense_matrix(layer), weight.reshape(7, 5, 1))
    import dataclasses
    assert gemm_applies(dataclasses.replace(layer, strides=(2, 2), output_hw=(3, 5)))
    assert not gemm_applies(dataclasses.replace(layer, padding=(1, 1, 1, 1), output_hw=(8, 11)))
    assert not gemm_applies(dataclasses.replace(layer, groups=5))
    weight3 = case(0, 1, 5, 7, 6, 9, True, kernel=3)[0]
    with make_context(), ir.Location.unknown():
        module = ir.Module.parse(pointwise_module(x.shape, weight3, bias, False, padding=1))
        [(_, dense3, _, _)] = conv_layers(module.operation, True)
    assert gemm_applies(dense3)
    np.testing.assert_array_equal(dense_matrix(dense3), weight3.reshape(7, 5, 9))
    assert gemm_applies(dataclasses.replace(dense3, strides=(2, 2), output_hw=(3, 5)))   # on the grid's phases
    assert not gemm_applies(dataclasses.replace(dense3, strides=(2, 2), output_hw=(4, 5)))
    assert not gemm_applies(dataclasses.replace(dense3, patterns=[dense3.patterns[0][:4]]))  # a pattern layer


# Tile edges: F below, at and past MR (8 or 6); pixels below one vector, past a tile, and exact.
EDGES = [(1, 3, 1, 1, 1), (1, 16, 8, 4, 4), (1, 9, 13, 7, 7), (2, 5, 24, 6, 8), (1, 32, 17, 10, 10), (1, 7, 6, 1, 5)]


@pytest.mark.parametrize("batch,channels,filters,height,width", EDGES)
@pytest.mark.parametrize("has_bias,relu", [(True, True), (False, False)])
def test_pointwise_conv_matches_torch(tmp_path, batch, channels, filters, height, width, has_bias, relu):
    weight, bias, x = case(1, batch, channels, filters, height, width, has_bias, zero_fraction=0.3)
    actual = compile_and_run(tmp_path, pointwise_module(x.shape, weight, bias, relu), x, detect_patterns=False,
                             threads=2)
    np.testing.assert_allclose(actual, expected(x, weight, bias, relu), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("stride,height,width", [(2, 7, 7), (2, 14, 9), (3, 10, 17)])
def test_strided_pointwise_conv_matches_torch(tmp_path, stride, height, width):
    """A ResNet shortcut (1x1, stride 2): the subsampled copy, then the GEMM."""
    weight, bias, x = case(4, 2, 12, 20, height, width, True)
    actual = compile_and_run(tmp_path, pointwise_module(x.shape, weight, bias, False, stride), x,
                             detect_patterns=False, threads=2)
    np.testing.assert_allclose(actual, expected(x, weight, bias, False, stride), rtol=1e-4, atol=1e-5)


# KxK stride 1: rows shorter and longer than a tile, one row, padding 0..2, 3x3/5x5/7x1 kernels.
SPATIAL = [(1, 3, 8, 9, 13, 3, 1), (2, 5, 11, 6, 6, 3, 1), (1, 16, 16, 7, 7, 3, 0), (1, 4, 9, 1, 20, 3, 1),
           (1, 6, 10, 12, 5, 5, 2), (1, 8, 17, 14, 14, 3, 1)]


@pytest.mark.parametrize("batch,channels,filters,height,width,kernel,padding", SPATIAL)
def test_dense_kxk_conv_matches_torch(tmp_path, batch, channels, filters, height, width, kernel, padding):
    weight, bias, x = case(5, batch, channels, filters, height, width, True, zero_fraction=0.25, kernel=kernel)
    text = pointwise_module(x.shape, weight, bias, True, padding=padding)
    actual = compile_and_run(tmp_path, text, x, detect_patterns=False, threads=2)
    np.testing.assert_allclose(actual, expected(x, weight, bias, True, padding=padding), rtol=1e-4,
                               atol=1e-5 * kernel * np.sqrt(channels))


# KxK strided, on the padded grid's stride phases: the ResNet stem (7x7/2, 3 channels), 3x3/2
# without padding, 5x5/3, rows of one tile and of several.
STRIDED = [(1, 3, 16, 15, 15, 7, 3, 2), (2, 5, 11, 6, 7, 3, 0, 2), (1, 4, 9, 8, 20, 5, 2, 3), (1, 8, 17, 29, 30, 3, 1, 2)]


@pytest.mark.parametrize("batch,channels,filters,height,width,kernel,padding,stride", STRIDED)
def test_strided_kxk_conv_matches_torch(tmp_path, batch, channels, filters, height, width, kernel, padding, stride):
    weight, bias, x = case(6, batch, channels, filters, height, width, True, zero_fraction=0.25, kernel=kernel)
    text = pointwise_module(x.shape, weight, bias, True, stride, padding)
    actual = compile_and_run(tmp_path, text, x, detect_patterns=False, threads=2)
    np.testing.assert_allclose(actual, expected(x, weight, bias, True, stride, padding), rtol=1e-4,
                               atol=1e-5 * kernel * np.sqrt(channels))


def test_pointwise_conv_in_a_pattern_build_matches_torch(tmp_path):
    """-O (detection on): a 1x1 layer is not a pattern layer and still takes the GEMM."""
    weight, bias, x = case(2, 1, 24, 40, 14, 14, True)
    actual = compile_and_run(tmp_path, pointwise_module(x.shape, weight, bias, True), x,
                             **vars(CompileOptions.optimised()))
    np.testing.assert_allclose(actual, expected(x, weight, bias, True), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.integers(1, 2), channels=st.integers(1, 40), filters=st.integers(1, 30),
       height=st.integers(1, 12), width=st.integers(1, 20), has_bias=st.booleans(), relu=st.booleans(),
       stride=st.sampled_from([1, 1, 2]), lanes=st.sampled_from(sorted(TILES)), threads=st.sampled_from([1, 2]),
       seed=st.integers(0, 10_000), kernel=st.sampled_from([1, 1, 3]), padding=st.integers(0, 2))
def test_generated_pointwise_conv_matches_torch(tmp_path_factory, batch, channels, filters, height, width, has_bias,
                                                relu, stride, lanes, threads, seed, kernel, padding):
    if kernel == 1:
        padding = 0
    else:
        height, width = height + 2, width + 2   # at least the kernel
    weight, bias, x = case(seed, batch, channels, filters, height, width, has_bias, zero_fraction=0.2, kernel=kernel)
    text = pointwise_module(x.shape, weight, bias, relu, stride, padding)
    actual = compile_and_run(tmp_path_factory.mktemp("gemm"), text, x, detect_patterns=False, vector_width=lanes,
                             threads=threads)
    np.testing.assert_allclose(actual, expected(x, weight, bias, relu, stride, padding), rtol=1e-4,
                               atol=1e-5 * kernel * np.sqrt(channels))


@pytest.mark.qemu
@pytest.mark.parametrize("batch,channels,filters,height,width,stride,kernel,padding", [
    (1, 9, 13, 7, 7, 1, 1, 0), (2, 16, 8, 3, 5, 1, 1, 0), (1, 6, 10, 9, 11, 2, 1, 0), (1, 5, 10, 9, 11, 1, 3, 1),
    (1, 3, 10, 11, 9, 2, 7, 3)])
def test_aarch64_pointwise_under_qemu_matches_torch(tmp_path, batch, channels, filters, height, width, stride, kernel,
                                                    padding):
    weight, bias, x = case(3, batch, channels, filters, height, width, True, kernel=kernel)
    source = tmp_path / "pointwise.mlir"
    source.write_text(pointwise_module(x.shape, weight, bias, True, stride, padding))
    artifacts = compile_model(source, tmp_path / "pointwise", CompileOptions(detect_patterns=False,
                                                                             target="aarch64-linux-gnu"))
    actual = runtime.run_aarch64(artifacts.outputs["runner"], x)
    np.testing.assert_allclose(actual, expected(x, weight, bias, True, stride, padding), rtol=1e-4, atol=1e-4)
