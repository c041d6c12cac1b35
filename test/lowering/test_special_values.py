"""NaN and infinity go through the compiled dense rest as they go through PyTorch.

torch-mlir lowers clamp, maximum and minimum to compare-and-select, which turns NaN into the
bound (ReLU6 of NaN gave 0); the front end marks those ops and their selects become
NaN-propagating maximumf/minimumf (python/patsparse/frontend/torch_mlir_steps.py). A user's
`where(x > c, x, c)`, which PyTorch computes as c for NaN, keeps its meaning."""

import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from patsparse import runtime
from patsparse.compiler import compile_model
from patsparse.frontend import import_model
from patsparse.pipeline import CompileOptions

SHAPE = (1, 3, 4, 4)
HERE = Path(__file__).parent


class Clamps(nn.Module):
    def forward(self, x):
        return torch.stack([
            F.relu6(x), F.hardtanh(x), F.hardsigmoid(x), F.hardswish(x), F.relu(x),
            torch.clamp_min(x, 0.0), torch.clamp_max(x, 0.5), x.clamp(-1.0, 1.0),
            torch.maximum(x, torch.zeros(())), torch.minimum(x, 2 * x),
            torch.where(x > 0.25, x, torch.full((), 0.25)),  # PyTorch: 0.25 for NaN
        ], 1)


def make_clamps():
    return Clamps().eval()


@pytest.mark.slow
def test_nan_and_infinity_through_clamps_maximum_and_minimum_match_pytorch(tmp_path, monkeypatch):
    monkeypatch.chdir(HERE)  # the importer finds factories in the current directory
    source = import_model("test_special_values:make_clamps", tmp_path / "clamps.mlir", input_shape=SHAPE)
    model = runtime.load(compile_model(source, tmp_path / "clamps.so", CompileOptions()).outputs["library"])
    x = np.random.default_rng(0).standard_normal(SHAPE).astype(np.float32)
    x[0, 0, 0, 0], x[0, 1, 1, 1], x[0, 2, 2, 2], x[0, 0, 3, 3] = np.nan, np.inf, -np.inf, -0.0
    expected = make_clamps()(torch.from_numpy(x)).numpy()
    got = model(x)
    # Every op but the where keeps the NaN (hardswish of -inf is NaN too: -inf * 0).
    assert [bool(np.isnan(expected[:, k]).any()) for k in range(11)] == [True] * 10 + [False]
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_array_equal(np.nan_to_num(got), np.nan_to_num(expected))


class SharedMask(nn.Module):
    """One boolean mask read by three ops: stored as i8 (lowering/boolean_storage.py); as i1 it
    aborted MLIR's memref-to-LLVM lowering (SIGABRT)."""

    def forward(self, x):
        isnan = x != x
        return torch.cat([torch.where(isnan, x, torch.clamp(x, 0, 6)), torch.where(isnan, x, torch.clamp(x, -1, 1)),
                          torch.where(isnan, 2 * x, torch.clamp(x, -2, 2))], 1)


def make_shared_mask():
    return SharedMask().eval()


class HugeStride(nn.Module):
    """A stride larger than the input is legal (one output); 2147483647 made the compile run for minutes."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, stride=2147483647, padding=1)
        self.dense = nn.Conv2d(3, 2, 5, stride=(1, 2147483647), padding=2)

    def forward(self, x):
        return torch.cat([self.conv(x).flatten(1), self.dense(x).flatten(1),
                          F.max_pool2d(x, 3, stride=2147483647).flatten(1)], 1)


def make_huge_stride():
    return HugeStride().eval()


@pytest.mark.slow
@pytest.mark.parametrize("factory", ["make_shared_mask", "make_huge_stride"])
def test_odd_graphs_compile_and_match_pytorch(tmp_path, monkeypatch, factory):
    monkeypatch.chdir(HERE)
    source = import_model(f"test_special_values:{factory}", tmp_path / "model.mlir", input_shape=SHAPE)
    start = time.perf_counter()
    model = runtime.load(compile_model(source, tmp_path / "model.so", CompileOptions.optimised()).outputs["library"])
    assert time.perf_counter() - start < 60
    x = np.random.default_rng(1).standard_normal(SHAPE).astype(np.float32)
    x[0, 1, 2, 3] = np.nan
    expected = globals()[factory]()(torch.from_numpy(x)).detach().numpy()
    got = model(x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(np.nan_to_num(got), np.nan_to_num(expected), rtol=1e-5, atol=1e-5)
