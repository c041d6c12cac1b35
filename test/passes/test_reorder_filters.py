"""patsparse-reorder-filters keeps what a convolution computes: random pattern-sparse layers
go through detect -> reorder and then both the reference path (expand to linalg, upstream
lowering, ExecutionEngine) and the compiled vector code, and must equal PyTorch."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mlir import ir, passmanager
from mlir.dialects import arith, func, linalg, tensor

from patsparse import runtime
from patsparse.compiler import compile_model
from patsparse.dialect import PATTERN_CONV2D, PatternConv2dOp, from_dense_weight, make_context, to_dense_weight
from patsparse.dialect.schedule import FILTER_GROUPS
from patsparse.jit import Jit
from patsparse.passes.detect_patterns import DetectPatternsPass
from patsparse.passes.reorder_filters import ReorderFiltersPass, count_groups, filter_keys, imbalance, permute_filters
from patsparse.pipeline import CompileOptions

from helpers import LIBRARY, torch_conv


def pattern_weight(rng, kept_counts, channels):
    """OIHW weight: filter f keeps kept_counts[f] random channels, each in a random pattern."""
    flat = np.zeros((len(kept_counts), channels, 9), np.float32)
    for f, kept in enumerate(kept_counts):
        for c in rng.choice(channels, size=kept, replace=False):
            flat[f, c] = rng.standard_normal(9) * LIBRARY[rng.integers(len(LIBRARY))]
    return flat.reshape(len(kept_counts), channels, 3, 3)


def linalg_conv_module(input_shape, weight, bias, strides, padding) -> str:
    """func @forward(%x) as torch-mlir imports nn.Conv2d: zero pad, bias broadcast (or zero
    fill), linalg.conv_2d_nchw_fchw with constant weights."""
    n, c, h, w = input_shape
    top, left, bottom, right = padding
    out_shape = [n, weight.shape[0], (h + top + bottom - 3) // strides[0] + 1, (w + left + right - 3) // strides[1] + 1]
    with make_context(), ir.Location.unknown():
        module = ir.Module.create()
        f32 = ir.F32Type.get()
        with ir.InsertionPoint(module.body):
            @func.FuncOp.from_py_func(ir.RankedTensorType.get(list(input_shape), f32), name="forward")
            def forward(x):
                zero = arith.constant(f32, 0.0)
                padded_type = ir.RankedTensorType.get([n, c, h + top + bottom, w + left + right], f32)
                pad = tensor.PadOp(padded_type, x, [], [], [0, 0, top, left], [0, 0, bottom, right])
                index = ir.IndexType.get()
                with ir.InsertionPoint(pad.regions[0].blocks.append(index, index, index, index)):
                    tensor.YieldOp(zero)
                weight_value = arith.constant(ir.RankedTensorType.get(list(weight.shape), f32),
                                              ir.DenseElementsAttr.get(weight))
                empty = tensor.empty(out_shape, f32)
                if bias is None:
                    init = linalg.fill(zero, outs=[empty])
                else:
                    bias_value = arith.constant(ir.RankedTensorType.get([len(bias)], f32),
                                                ir.DenseElementsAttr.get(bias))
                    init = linalg.broadcast(bias_value, outs=[empty], dimensions=[0, 2, 3])
                return linalg.conv_2d_nchw_fchw(pad.result, weight_value, outs=[init], strides=list(strides),
                                                dilations=[1, 1])
        return str(module)


def detect_and_reorder(text: str, **options) -> tuple[str, ReorderFiltersPass]:
    reorder = ReorderFiltersPass(**options)
    with make_context():
        module = ir.Module.parse(text)
        manager = passmanager.PassManager("builtin.module")
        DetectPatternsPass().add_to(manager)
        reorder.add_to(manager)
        manager.run(module.operation)
        return str(module), reorder


def pattern_convs(text: str) -> list[tuple]:
    """(fkw, filter_groups attribute, dense weight) of every pattern convolution."""
    found = []
    with make_context():
        module = ir.Module.parse(text)

        def visit(op):
            if op.name == PATTERN_CONV2D:
                conv = PatternConv2dOp(op.operation)
                found.append((conv.fkw, ir.IntegerAttr(op.attributes[FILTER_GROUPS]).value, conv.to_dense_weight()))
            return ir.WalkResult.ADVANCE

        module.operation.walk(visit)
    return found


def compiled(tmp_path, text, x):
    """The vector code of convert-patsparse-to-vector (which reads filter_order), on the host."""
    source = tmp_path / "conv.mlir"
    source.write_text(text)
    artifacts = compile_model(source, tmp_path / "conv.so", CompileOptions(detect_patterns=False, vector_width=8))
    return runtime.load(artifacts.outputs["library"])(x)


def check_layer(tmp_path, rng, kept_counts, channels, strides, padding, has_bias, mode):
    weight = pattern_weight(rng, kept_counts, channels)
    bias = rng.standard_normal(len(kept_counts)).astype(np.float32) if has_bias else None
    x = rng.standard_normal((2, channels, 7, 9)).astype(np.float32)
    text, _ = detect_and_reorder(linalg_conv_module(x.shape, weight, bias, strides, padding), mode=mode)
    [(fkw, _, dense)] = pattern_convs(text)
    np.testing.assert_array_equal(dense, weight)
    expected = torch_conv(x, weight, bias, strides, padding)
    np.testing.assert_allclose(Jit(text)(x), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(compiled(tmp_path, text, x), expected, rtol=1e-4, atol=1e-5)
    return fkw


@pytest.mark.parametrize("strides,padding,has_bias", [((1, 1), (1, 1, 1, 1), True), ((2, 1), (0, 1, 2, 0), False)])
def test_reordered_layer_matches_torch(tmp_path, strides, padding, has_bias):
    rng = np.random.default_rng(3)
    kept_counts = [1, 4, 0, 2, 4, 1, 3, 2]
    fkw = check_layer(tmp_path, rng, kept_counts, 4, strides, padding, has_bias, mode="work")
    # The layer really was permuted: heaviest filters first, every output channel kept.
    assert fkw.filter_order.tolist() == [1, 4, 6, 3, 7, 0, 5, 2]
    assert np.diff(fkw.filter_offsets).tolist() == [4, 4, 3, 2, 2, 1, 1, 0]


@pytest.mark.slow
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(channels=st.integers(1, 4), filters=st.integers(1, 9), seed=st.integers(0, 10_000),
       strides=st.sampled_from([(1, 1), (2, 2)]), padding=st.lists(st.integers(0, 1), min_size=4, max_size=4),
       has_bias=st.booleans())
def test_random_layers_with_and_without_reorder_match_torch(tmp_path_factory, channels, filters, seed, strides,
                                                            padding, has_bias):
    kept_counts = np.random.default_rng(seed).integers(0, channels + 1, size=filters).tolist()
    for mode in ("work", "none"):
        fkw = check_layer(tmp_path_factory.mktemp("conv"), np.random.default_rng(seed), kept_counts, channels,
                          strides, padding, has_bias, mode)
        keys = filter_keys(fkw)
        if mode == "none":
            assert fkw.filter_order.tolist() == list(range(filters))
        else:
            assert [k[0] for k in keys] == sorted(kept_counts, reverse=True)
            assert keys == sorted(keys, key=lambda k: (-k[0], tuple(-c for c in k[1])))


def test_permuting_filters_keeps_the_dense_weight():
    rng = np.random.default_rng(5)
    weight = pattern_weight(rng, [2, 0, 3, 1, 3], 3)
    fkw = from_dense_weight(weight, LIBRARY)
    for _ in range(5):
        permuted = permute_filters(fkw, rng.permutation(5))
        np.testing.assert_array_equal(to_dense_weight(permuted, 3), weight)
        # Composing a second permutation still lands every filter in its own channel.
        np.testing.assert_array_equal(to_dense_weight(permute_filters(permuted, rng.permutation(5)), 3), weight)


def test_groups_and_imbalance_of_a_constructed_imbalanced_layer():
    # Heavy filters every 4th position: round-robin over 4 threads gives them all to thread 0.
    kept_counts = [3, 1, 1, 1, 3, 1, 1, 1]
    weight = pattern_weight(np.random.default_rng(0), kept_counts, 3)
    x_shape = (1, 3, 5, 5)
    text, reorder = detect_and_reorder(linalg_conv_module(x_shape, weight, None, (1, 1), (1, 1, 1, 1)), threads=4)
    [layer] = reorder.statistics["per_layer"]
    assert layer["imbalance_before"] == pytest.approx(2.0)            # loads 6, 2, 2, 2
    assert layer["imbalance_after"] == pytest.approx(4 / 3)           # loads 4, 4, 2, 2
    assert layer["imbalance_after"] < layer["imbalance_before"]
    [(fkw, groups, _)] = pattern_convs(text)
    keys = filter_keys(fkw)
    assert groups == layer["groups_after"] == count_groups(keys)
    assert [k[0] for k in keys] == [3, 3, 1, 1, 1, 1, 1, 1]
    assert layer["groups_before"] >= 4                                # 3, 1.., 3, 1..: at least 4 runs
    assert reorder.statistics["reordered"] == 1 and reorder.statistics["layers"] == 1


def test_imbalance_and_group_counts():
    assert imbalance([3, 1, 1, 1, 3, 1, 1, 1], 4) == pytest.approx(2.0)
    assert imbalance([2, 2, 1, 1], 2) == pytest.approx(1.0)
    assert imbalance([5], 4) == pytest.approx(4.0)                    # one busy thread, three idle
    assert imbalance([0, 0], 2) == 1.0
    assert count_groups([(2, (1, 1)), (2, (1, 1)), (1, (0, 1)), (2, (1, 1))]) == 3
    assert count_groups([]) == 0
