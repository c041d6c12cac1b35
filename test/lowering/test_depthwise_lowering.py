"""Depthwise and grouped 3x3 pattern convolutions (`patsparse.pattern_conv2d` with `groups`),
compiled for the host (and AArch64 under qemu), against torch.nn.functional.conv2d(groups=...);
and a MobileNetV2 whose depthwise kernels are projected onto 8 patterns, imported by torch-mlir,
compiled with -O and compared with PyTorch."""

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from patsparse import runtime
from patsparse.compiler import compile_model
from patsparse.frontend import import_model
from patsparse.pipeline import CompileOptions

from helpers import conv_module, pattern_weight, torch_conv


def compile_and_run(tmp_path, text, x, **options):
    source = tmp_path / "conv.mlir"
    source.write_text(text)
    artifacts = compile_model(source, tmp_path / "conv.so", CompileOptions(**options))
    return runtime.load(artifacts.outputs["library"])(x)


def grouped_case(seed, groups, channels_per_group, filters_per_group, height, width, keep=0.8, has_bias=True):
    rng = np.random.default_rng(seed)
    weight = pattern_weight(rng, groups * filters_per_group, channels_per_group, keep)
    bias = rng.standard_normal(groups * filters_per_group).astype(np.float32) if has_bias else None
    x = rng.standard_normal((1, groups * channels_per_group, height, width)).astype(np.float32)
    return weight, bias, x


# (groups, channels per group, filters per group): depthwise, channel multiplier 2, grouped.
SHAPES = [(8, 1, 1), (4, 1, 2), (2, 3, 2)]


@pytest.mark.parametrize("groups,channels_per_group,filters_per_group", SHAPES)
@pytest.mark.parametrize("stride", [(1, 1), (2, 2)])
def test_grouped_pattern_conv_matches_torch(tmp_path, groups, channels_per_group, filters_per_group, stride):
    """-O and two threads (channels split over them), padding 1, a fused ReLU-free store."""
    weight, bias, x = grouped_case(3, groups, channels_per_group, filters_per_group, 11, 21)
    text = conv_module(x.shape, weight, bias, stride, (1, 1, 1, 1), as_linalg=False, groups=groups)
    actual = compile_and_run(tmp_path, text, x, detect_patterns=False, reorder_filters=True, eliminate_loads=True,
                             compact_indices=True, threads=2)
    np.testing.assert_allclose(actual, torch_conv(x, weight, bias, stride, (1, 1, 1, 1), groups), rtol=1e-4,
                               atol=1e-5)


def dense_depthwise_module(x_shape, weight, stride) -> str:
    """@forward: a padded dense depthwise convolution as torch-mlir emits it (C x 3 x 3 weight)."""
    n, c, h, w = x_shape
    out_h, out_w = (h - 1) // stride + 1, (w - 1) // stride + 1
    literal = np.array2string(weight.reshape(c, 3, 3), separator=", ", threshold=10**6,
                              floatmode="unique").replace("\n", "")
    return f"""func.func @forward(%x: tensor<{n}x{c}x{h}x{w}xf32>) -> tensor<{n}x{c}x{out_h}x{out_w}xf32> {{
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<{literal}> : tensor<{c}x3x3xf32>
  %padded = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {{
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  }} : tensor<{n}x{c}x{h}x{w}xf32> to tensor<{n}x{c}x{h + 2}x{w + 2}xf32>
  %empty = tensor.empty() : tensor<{n}x{c}x{out_h}x{out_w}xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<{n}x{c}x{out_h}x{out_w}xf32>) -> tensor<{n}x{c}x{out_h}x{out_w}xf32>
  %y = linalg.depthwise_conv_2d_nchw_chw {{dilations = dense<1> : vector<2xi64>, strides = dense<{stride}> : vector<2xi64>}}
         ins(%padded, %w : tensor<{n}x{c}x{h + 2}x{w + 2}xf32>, tensor<{c}x3x3xf32>) outs(%init : tensor<{n}x{c}x{out_h}x{out_w}xf32>) -> tensor<{n}x{c}x{out_h}x{out_w}xf32>
  return %y : tensor<{n}x{c}x{out_h}x{out_w}xf32>
}}
"""


@pytest.mark.parametrize("stride", [1, 2])
def test_dense_depthwise_conv_stays_correct(tmp_path, stride):
    """A dense (9-tap) depthwise kernel is not a pattern: detection leaves it (with its reason),
    the dense path of the generator computes it, in the -O build and in the dense build."""
    rng = np.random.default_rng(5)
    weight = rng.standard_normal((6, 1, 3, 3)).astype(np.float32)
    x = rng.standard_normal((1, 6, 9, 19)).astype(np.float32)
    expected = torch_conv(x, weight, None, (stride, stride), (1, 1, 1, 1), 6)
    text = dense_depthwise_module(x.shape, weight, stride)
    for options in (CompileOptions.optimised(), CompileOptions(detect_patterns=False)):
        actual = compile_and_run(tmp_path, text, x, **vars(options))
        np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(groups=st.integers(1, 6), channels_per_group=st.sampled_from([1, 1, 2, 3]),
       filters_per_group=st.sampled_from([1, 1, 2]), height=st.integers(3, 13), width=st.integers(3, 40),
       stride=st.sampled_from([(1, 1), (2, 2), (1, 2), (2, 1)]),
       padding=st.lists(st.integers(0, 2), min_size=4, max_size=4), has_bias=st.booleans(),
       keep=st.floats(0.0, 1.0), lanes=st.sampled_from([16, 8, 4]), accumulators=st.integers(1, 8),
       seed=st.integers(0, 10_000), dense=st.booleans(), rows=st.integers(1, 5), eliminate_loads=st.booleans(),
       compact=st.booleans(), rows_outer=st.booleans(), filter_pairs=st.booleans(), reorder=st.booleans(),
       threads=st.sampled_from([1, 2]))
def test_generated_grouped_conv_matches_torch(tmp_path_factory, groups, channels_per_group, filters_per_group,
                                              height, width, stride, padding, has_bias, keep, lanes, accumulators,
                                              seed, dense, rows, eliminate_loads, compact, rows_outer, filter_pairs,
                                              reorder, threads):
    assume(height + padding[0] + padding[2] >= 3 and width + padding[1] + padding[3] >= 3)
    weight, bias, x = grouped_case(seed, groups, channels_per_group, filters_per_group, height, width, keep, has_bias)
    # dense=True: the op expanded to linalg (depthwise_conv_2d_nchw_chw / conv_2d_ngchw_gfchw) and
    # then either detected again (pattern path) or, with detection off, the generator's dense path.
    text = conv_module(x.shape, weight, bias, stride, padding, as_linalg=dense, groups=groups)
    actual = compile_and_run(tmp_path_factory.mktemp("grouped"), text, x, vector_width=lanes,
                             accumulators=accumulators, detect_patterns=dense and seed % 2 == 0, rows=rows,
                             eliminate_loads=eliminate_loads, compact_indices=compact, rows_outer=rows_outer,
                             filter_pairs=filter_pairs, reorder_filters=reorder, threads=threads)
    np.testing.assert_allclose(actual, torch_conv(x, weight, bias, stride, padding, groups), rtol=1e-4, atol=1e-5)


@pytest.mark.qemu
@pytest.mark.parametrize("groups,channels_per_group,filters_per_group,stride", [(6, 1, 1, (1, 1)), (6, 1, 1, (2, 2)),
                                                                                 (2, 2, 3, (1, 1))])
def test_aarch64_grouped_under_qemu_matches_torch(tmp_path, groups, channels_per_group, filters_per_group, stride):
    weight, bias, x = grouped_case(7, groups, channels_per_group, filters_per_group, 9, 13)
    source = tmp_path / "conv.mlir"
    source.write_text(conv_module(x.shape, weight, bias, stride, (1, 1, 1, 1), as_linalg=False, groups=groups))
    artifacts = compile_model(source, tmp_path / "conv", CompileOptions.optimised(target="aarch64-linux-gnu"))
    actual = runtime.run_aarch64(artifacts.outputs["runner"], x)
    np.testing.assert_allclose(actual, torch_conv(x, weight, bias, stride, (1, 1, 1, 1), groups), rtol=1e-4,
                               atol=1e-5)


@pytest.mark.slow
def test_mobilenet_v2_with_pattern_depthwise_matches_pytorch(tmp_path):
    """MobileNetV2 (224x224): regular 3x3 convs at 8 patterns + 8x, every depthwise kernel projected
    onto the same 8 patterns; every depthwise layer is detected, and -O equals PyTorch."""
    from mlir import ir, passmanager

    from patsparse.dialect import PATTERN_CONV2D, PatternConv2dOp, make_context
    from patsparse.dialect.ir_utils import ops_where
    from patsparse.passes.detect_patterns import DetectPatternsPass
    from patsparse.pruning.checkpoint import save_pruned
    from patsparse.pruning.projected import projected_model

    model, layers = projected_model("mobilenet_v2", patterns=8, connectivity=8.0, seed=1, include_grouped=True)
    assert sum(1 for layer in layers.values() if layer.get("groups", 1) > 1) == 17
    checkpoint = tmp_path / "mobilenet_v2.pt"
    save_pruned(checkpoint, model, "mobilenet_v2", layers, {"input_shape": [1, 3, 224, 224]})
    source = import_model(checkpoint, tmp_path / "mobilenet_v2.mlir")

    with make_context(), ir.Location.unknown():
        module = ir.Module.parse(source.read_text())
        manager = passmanager.PassManager("builtin.module")
        DetectPatternsPass().add_to(manager)
        manager.run(module.operation)
        groups = [PatternConv2dOp(op).groups for op in ops_where(module.operation, lambda op: op.name == PATTERN_CONV2D)]
    assert sum(1 for g in groups if g > 1) == 17  # every depthwise layer is a pattern op

    library = runtime.load(compile_model(source, tmp_path / "mobilenet_v2.so", CompileOptions.optimised())
                           .outputs["library"])
    rng = np.random.default_rng(3)
    outputs = []
    for _ in range(2):
        x = rng.standard_normal((1, 3, 224, 224)).astype(np.float32)
        with torch.no_grad():
            expected = model(torch.from_numpy(x)).numpy()
        scale = float(np.abs(expected).max())
        np.testing.assert_allclose(library(x), expected, rtol=1e-4, atol=1e-5 * max(scale, 1.0))
        outputs.append(expected)
    assert np.abs(outputs[0] - outputs[1]).max() > 1e-3 * scale  # the output depends on the input
