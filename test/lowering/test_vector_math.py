"""patsparse-approximate-math: the compiled exp, log, tanh, erf, expm1, log1p and the activations
built on them (sigmoid, SiLU, GELU, tanh-GELU, softmax) against float64 references over the
whole f32 range, on the host and under qemu.

The sweep (1M values): random bit patterns (every exponent of both signs, NaN, denormals),
uniform values where the functions bend, the overflow and underflow edges of exp, and the
specials (+-0, +-inf, NaN, the smallest denormal, the largest finite). Errors are counted in
ulp against the float64 reference rounded to f32 (so the reference's own rounding counts up to
half an ulp), NaN must match NaN and infinities must match exactly.
"""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from torch import nn

from patsparse import runtime
from patsparse.compiler import compile_model
from patsparse.frontend import import_model
from patsparse.pipeline import CompileOptions

HERE = Path(__file__).parent
SWEEP = 1 << 20


def sweep_values(size: int = SWEEP, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    quarter = size // 4
    bits = rng.integers(0, 1 << 32, size=quarter, dtype=np.uint64).astype(np.uint32).view(np.float32)
    near_zero = rng.uniform(-12.0, 12.0, quarter).astype(np.float32)
    small = (rng.uniform(-1.0, 1.0, quarter // 2) * np.exp2(rng.uniform(-30, 0, quarter // 2))).astype(np.float32)
    edges = np.concatenate([rng.uniform(lo, hi, quarter // 8).astype(np.float32) for lo, hi in
                            ((88.0, 89.0), (-88.0, -87.0), (-104.5, -102.5), (-0.8, 0.8))])
    denormals = (rng.integers(1, 1 << 23, quarter // 2, dtype=np.uint32) | (rng.integers(0, 2, quarter // 2, dtype=np.uint32) << 31)).view(np.float32)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 1e-45, -1e-45, 1.1754944e-38, 3.4028235e38,
                         -3.4028235e38, 1.0, -1.0, 0.5, 88.72283, 88.72284, -87.33655, -103.27893, -103.97208,
                         0.625, -0.625, 0.7, -0.7, 4.0, 3.92, 9.0, 10.0, -1.0000001], np.float32)
    values = np.concatenate([bits, near_zero, small, edges, denormals, specials])
    values = np.concatenate([values, near_zero[: size - len(values)]])
    return values[:size]


def ordered(values: np.ndarray) -> np.ndarray:
    """f32 bit patterns as integers in the order of the values (-0 and +0 one apart)."""
    bits = values.astype(np.float32).view(np.int32).astype(np.int64)
    return np.where(bits < 0, -(bits & 0x7FFFFFFF) - 1, bits)


def ulp_errors(got: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """ulp distance of `got` from `reference` (float64) rounded to f32; NaN/inf mismatches huge."""
    with np.errstate(over="ignore", invalid="ignore"):
        rounded = reference.astype(np.float32)
    errors = np.abs(ordered(got) - ordered(rounded)).astype(np.float64)
    zero = (got == 0) & (rounded == 0)  # +0 and -0
    errors[zero] = 0
    errors[np.isnan(rounded) | np.isnan(got)] = np.where(np.isnan(rounded) & np.isnan(got), 0, np.inf)[np.isnan(rounded) | np.isnan(got)]
    return errors


def _erf(values):
    return np.vectorize(math.erf, otypes=[np.float64])(values)


def _exp_f32(x):
    """exp rounded to f32 (+inf past 88.72): what an exact f32 `math.exp` returns."""
    with np.errstate(over="ignore"):
        return np.exp(x).astype(np.float32).astype(np.float64)


def _sigmoid(x):
    # torch-mlir's 1 / (1 + exp(-x)) with an exact f32 exp: 0 once exp(-x) overflows (x < -88.72),
    # where the true sigmoid is a denormal; the formula, not the exp, decides there.
    return 1.0 / (1.0 + _exp_f32(-x))


def _gelu(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def _tanh_gelu(x):
    return 0.5 * x * (1.0 + np.tanh(0.7978845608 * (x + 0.044715 * x ** 3)))


# name -> (body taking %in and yielding %y, float64 reference, max ulp or None, max absolute
# error relative to max(1, |x|) or None). The activation bodies are what torch-mlir emits.
# GELU's 1 + erf(x / sqrt 2) cancels for x < 0 (in PyTorch too), so it is held to an absolute
# bound scaled by |x|, as is tanh-GELU (x^3 overflows past 7e12, making it NaN or inf).
OPS = {
    "exp": ("%y = math.exp %in : f32", np.exp, 1, None),
    "log": ("%y = math.log %in : f32", np.log, 1, None),
    "tanh": ("%y = math.tanh %in : f32", np.tanh, 1, None),
    "erf": ("%y = math.erf %in : f32", _erf, 2, None),
    "expm1": ("%y = math.expm1 %in : f32", np.expm1, 2, None),
    "log1p": ("%y = math.log1p %in : f32", np.log1p, 2, None),
    "sigmoid": ("%n = arith.negf %in : f32\n %e = math.exp %n : f32\n %d = arith.addf %e, %one : f32\n"
                " %y = arith.divf %one, %d : f32", _sigmoid, 3, None),
    "silu": ("%n = arith.negf %in : f32\n %e = math.exp %n : f32\n %d = arith.addf %e, %one : f32\n"
             " %s = arith.divf %one, %d : f32\n %y = arith.mulf %in, %s : f32", lambda x: x * _sigmoid(x), 4, None),
    "gelu": ("%s = arith.divf %in, %sqrt2 : f32\n %e = math.erf %s : f32\n %a = arith.addf %e, %one : f32\n"
             " %h = arith.mulf %a, %half : f32\n %y = arith.mulf %in, %h : f32", _gelu, None, 2e-7),
    "tanh_gelu": ("%c = math.fpowi %in, %three : f32, i64\n %m = arith.mulf %c, %k0 : f32\n"
                  " %a = arith.addf %in, %m : f32\n %b = arith.mulf %a, %k1 : f32\n %t = math.tanh %b : f32\n"
                  " %u = arith.addf %t, %one : f32\n %h = arith.mulf %u, %half : f32\n %y = arith.mulf %in, %h : f32",
                  _tanh_gelu, None, 4e-7),
}


def elementwise_module(body: str, size: int) -> str:
    return f"""#map = affine_map<(d0) -> (d0)>
func.func @forward(%x: tensor<{size}xf32>) -> tensor<{size}xf32> {{
  %one = arith.constant 1.0 : f32
  %half = arith.constant 0.5 : f32
  %sqrt2 = arith.constant 1.41421354 : f32
  %k0 = arith.constant 4.471500e-02 : f32
  %k1 = arith.constant 0.797884583 : f32
  %three = arith.constant 3 : i64
  %e0 = tensor.empty() : tensor<{size}xf32>
  %r = linalg.generic {{indexing_maps = [#map, #map], iterator_types = ["parallel"]}}
      ins(%x : tensor<{size}xf32>) outs(%e0 : tensor<{size}xf32>) {{
  ^bb0(%in: f32, %out: f32):
    {body}
    linalg.yield %y : f32
  }} -> tensor<{size}xf32>
  return %r : tensor<{size}xf32>
}}
"""


def compiled(tmp_path, name, size, target="host"):
    source = tmp_path / f"{name}.mlir"
    source.write_text(elementwise_module(OPS[name][0], size))
    artifacts = compile_model(str(source), tmp_path / name, CompileOptions(target=target))
    return artifacts


def errors_of(name, x, got):
    """(ulp errors, absolute errors / max(1, |x|)) of `got` for OPS[name] on `x`."""
    reference = OPS[name][1]
    with np.errstate(all="ignore"):
        expected = reference(x.astype(np.float64))
        absolute = np.abs(got.astype(np.float64) - expected) / np.maximum(1.0, np.abs(x.astype(np.float64)))
    same = (got.astype(np.float64) == expected) | (np.isnan(got) & np.isnan(expected))
    absolute[same] = 0.0
    absolute[np.isnan(absolute)] = np.inf
    return ulp_errors(got, expected), absolute, expected


def check(name, x, got):
    _, _, max_ulp, max_absolute = OPS[name]
    ulps, absolute, expected = errors_of(name, x, got)
    errors, bound = (ulps, max_ulp) if max_ulp is not None else (absolute, max_absolute)
    worst = int(np.argmax(errors))
    assert errors[worst] <= bound, (f"{name}({x[worst]!r}) = {got[worst]!r}, expected {expected[worst]!r}: "
                                    f"error {errors[worst]} ({'ulp' if max_ulp is not None else 'absolute'})")


@pytest.mark.parametrize("name", list(OPS))
def test_approximation_over_the_whole_f32_range_within_a_few_ulp(tmp_path, name):
    x = sweep_values()
    model = runtime.load(compiled(tmp_path, name, x.size).outputs["library"])
    check(name, x, model(x))


@pytest.mark.qemu
def test_approximations_on_aarch64_under_qemu(tmp_path):
    x = sweep_values(1 << 16, seed=1)
    for name in OPS:
        runner = compiled(tmp_path, name, x.size, target="aarch64-linux-gnu").outputs["runner"]
        check(name, x, runtime.run_aarch64(runner, x))


# --- through the real importer, against PyTorch ------------------------------------------------

ACTIVATIONS_SHAPE = (1, 8, 4, 6)


class Activations(nn.Module):
    """The activations of the zoo's models as torch-mlir imports them (softmax over channels)."""

    def forward(self, x):
        return torch.cat([torch.sigmoid(x), F.silu(x), F.gelu(x), F.gelu(x, approximate="tanh"), torch.tanh(x),
                          F.hardswish(x), torch.softmax(x, 1), F.log_softmax(x, 1), F.mish(x)], 1)


def make_activations():
    return Activations().eval()


@pytest.fixture(scope="module")
def activations(tmp_path_factory):
    scratch = tmp_path_factory.mktemp("activations")
    previous = Path.cwd()
    import os
    os.chdir(HERE)  # the importer finds factories in the current directory
    try:
        source = import_model("test_vector_math:make_activations", scratch / "activations.mlir",
                              input_shape=ACTIVATIONS_SHAPE)
    finally:
        os.chdir(previous)
    return scratch, source, runtime.load(compile_model(source, scratch / "activations.so", CompileOptions())
                                         .outputs["library"])


def _pytorch(x):
    with torch.no_grad():
        return make_activations()(torch.from_numpy(x)).numpy()


# torch-mlir writes tanh-GELU's sqrt(2 / pi) as 0.797724 (0.7978846 in PyTorch), which moves
# its results by up to 5e-5; every other activation is held to 2e-6.
TOLERANCE = {3: 1e-4}


def _assert_matches_pytorch(got, x):
    expected = _pytorch(x)
    channels = ACTIVATIONS_SHAPE[1]
    # PyTorch's GELU kernel gives NaN for +inf, where its formula x / 2 (1 + erf(x / sqrt 2)) and
    # torch.erf give +inf (torch-mlir imports the formula).
    gelu = expected[:, 2 * channels:3 * channels]
    gelu[np.isposinf(x)] = np.inf
    for block in range(expected.shape[1] // channels):
        part, want = got[:, block * channels:(block + 1) * channels], expected[:, block * channels:(block + 1) * channels]
        np.testing.assert_array_equal(np.isnan(part), np.isnan(want), err_msg=f"activation {block}")
        infinite = np.isinf(want)
        np.testing.assert_array_equal(part[infinite], want[infinite], err_msg=f"activation {block}")
        finite = np.isfinite(want)
        tolerance = TOLERANCE.get(block, 2e-6)
        np.testing.assert_allclose(part[finite], want[finite], rtol=tolerance, atol=tolerance, err_msg=f"activation {block}")


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(x=hnp.arrays(np.float32, ACTIVATIONS_SHAPE,
                    elements=st.one_of(st.floats(-30, 30, width=32),
                                       # beyond ~1e30 PyTorch's GELU overflows in x * (1 + erf) (inf
                                       # where the value is finite): its evaluation order, not ours
                                       st.floats(-2.0 ** 100, 2.0 ** 100, width=32),
                                       st.sampled_from([0.0, -0.0, 1e-45, -1e-45, 88.8, -88.8, -104.0]))))
def test_imported_activations_match_pytorch(activations, x):
    _, _, model = activations
    _assert_matches_pytorch(model(x), x)


@pytest.mark.slow
def test_imported_activations_with_nan_and_infinity_match_pytorch(activations):
    _, _, model = activations
    x = np.random.default_rng(2).standard_normal(ACTIVATIONS_SHAPE).astype(np.float32) * 4
    x[0, 0, 0, :4] = [np.nan, np.inf, -np.inf, -0.0]
    _assert_matches_pytorch(model(x), x)


@pytest.mark.slow
@pytest.mark.qemu
def test_imported_activations_on_aarch64_under_qemu(activations):
    scratch, source, _ = activations
    runner = compile_model(source, scratch / "activations_arm", CompileOptions(target="aarch64-linux-gnu")).outputs["runner"]
    x = np.random.default_rng(3).standard_normal(ACTIVATIONS_SHAPE).astype(np.float32) * 6
    _assert_matches_pytorch(runtime.run_aarch64(runner, x), x)
