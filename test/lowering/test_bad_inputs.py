"""Bad input to patsparse-compile and to compiled models: one-line errors that say what was
expected, no silent conversions, no files written; and what Inf / NaN inputs give
(docs/compiling.md, "Infinity and NaN")."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import conv_module, pattern_weight, torch_conv

from patsparse import runtime
from patsparse.compiler import compile_model
from patsparse.pipeline import CompileOptions

SHAPE = (1, 2, 6, 6)
PADDING = (1, 1, 1, 1)
COMPILE_TOOL = Path(sys.executable).parent / "patsparse-compile"


@pytest.fixture(scope="module")
def conv():
    rng = np.random.default_rng(0)
    return pattern_weight(rng, 4, SHAPE[1], 1.0), rng.standard_normal(4).astype(np.float32)


def build(tmp_path, conv, dense=False):
    weight, bias = conv
    source = tmp_path / "conv.mlir"
    source.write_text(conv_module(SHAPE, weight, bias, (1, 1), PADDING, as_linalg=dense))
    options = CompileOptions(detect_patterns=False) if dense else CompileOptions()
    return runtime.load(compile_model(source, tmp_path / "conv.so", options).outputs["library"])


@pytest.fixture(scope="module")
def model(tmp_path_factory, conv):
    return build(tmp_path_factory.mktemp("pattern"), conv)


def test_output_that_is_an_existing_directory_is_refused(tmp_path, conv):
    source = tmp_path / "conv.mlir"
    source.write_text(conv_module(SHAPE, *conv, (1, 1), PADDING, as_linalg=False))
    (tmp_path / "out").mkdir()
    result = subprocess.run([str(COMPILE_TOOL), str(source), "-o", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert result.stderr == f"patsparse-compile: error: {tmp_path / 'out'}: is a directory; expected an output file name\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conv.mlir", "out"]  # no out.so, out.h, out.json
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("x, message", [
    (None, "input: expected a numpy float32 array (or array-like of floats) of shape [1, 2, 6, 6], got NoneType"),
    (np.ones(SHAPE, np.int32), "input dtype int32: the model takes float32; convert with x.astype(np.float32)"),
    (np.ones(SHAPE, bool), "input dtype bool: the model takes float32; convert with x.astype(np.float32)"),
    (np.ones(SHAPE, np.complex64), "input dtype complex64: the model takes float32"),
    (np.ones(SHAPE), "input dtype float64: the model takes float32; convert with x.astype(np.float32)"),
    (np.ones(SHAPE, int).tolist(), "input dtype int64: the model takes float32; convert with np.asarray(x, dtype=np.float32)"),
    (np.ones((1, 2, 6), np.float32), "input shape [1, 2, 6]: expected a numpy float32 array (or array-like of floats) "
                                     "of shape [1, 2, 6, 6]"),
], ids=["None", "int32", "bool", "complex64", "float64", "list_of_ints", "shape"])
def test_inputs_that_are_not_float32_arrays_of_the_shape_are_refused(model, tmp_path, x, message):
    for call in (model, model.time):
        with pytest.raises(runtime.ModelRuntimeError) as error:
            call(x)
        assert str(error.value) == message
    # run_aarch64 checks its input before starting qemu: a sidecar with the shapes is enough.
    (tmp_path / "runner.json").write_text(json.dumps({"input_shape": list(SHAPE), "output_shape": [1, 4, 6, 6]}))
    with pytest.raises(runtime.ModelRuntimeError) as error:
        runtime.run_aarch64(tmp_path / "runner", x)
    assert str(error.value) == message


def test_a_list_of_floats_is_converted(model):
    x = np.random.default_rng(1).standard_normal(SHAPE).astype(np.float32)
    np.testing.assert_array_equal(model(x.tolist()), model(x))


@pytest.mark.parametrize("special", [np.inf, np.nan], ids=["inf", "nan"])
def test_non_finite_input_through_pruned_weights(tmp_path, conv, model, special):
    """The pattern-sparse build skips pruned weights, so Inf/NaN reach only the outputs where
    they meet a kept weight; PyTorch's 0 x Inf = NaN covers more. The dense build agrees with PyTorch."""
    weight, bias = conv
    x = np.random.default_rng(2).standard_normal(SHAPE).astype(np.float32)
    x[0, 0, 2, 3] = special
    expected = torch_conv(x, weight, bias, (1, 1), PADDING)
    # Where the value meets a kept weight: Inf stays Inf (NaN stays NaN).
    kept = np.isinf(torch_conv(np.where(np.isfinite(x), x, np.inf).astype(np.float32), weight, bias, (1, 1), PADDING))
    only_pruned = np.isnan(expected) & ~kept
    assert kept.any() and only_pruned.any()  # both cases occur in this test

    actual = model(x)
    np.testing.assert_array_equal(~np.isfinite(actual), kept)
    np.testing.assert_array_equal(actual[kept], expected[kept])  # the same +-Inf, or NaN
    # Elsewhere finite: the value under pruned weights counts as nothing.
    finite = torch_conv(np.nan_to_num(x, nan=0.0, posinf=0.0), weight, bias, (1, 1), PADDING)
    np.testing.assert_allclose(actual[~kept], finite[~kept], rtol=1e-4, atol=1e-5)

    dense = build(tmp_path, conv, dense=True)(x)
    np.testing.assert_array_equal(np.isnan(dense), np.isnan(expected))
    np.testing.assert_array_equal(dense[np.isinf(expected)], expected[np.isinf(expected)])
