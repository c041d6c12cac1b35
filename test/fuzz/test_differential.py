"""The differential fuzzer's regressions and a seeded slice of it (differential.py; the long
campaign is `python test/fuzz/differential.py --models 2000 --qemu 100`)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import differential  # noqa: E402
import random_cnn  # noqa: E402

INPUT = [1, 3, 8, 8]


def _conv(source, out=3, k=(3, 3), pad=1, groups=1, stride=1):
    return {"op": "conv", "in": source, "out": out, "k": list(k), "stride": stride, "pad": pad, "dil": 1,
            "groups": groups, "bias": True}


# One producer of every kind the compiler lowers differently; each keeps 3 channels and 4x4 or 8x8.
PRODUCERS = {
    "avg_pool": {"op": "pool", "in": 0, "kind": "avg", "k": 2, "stride": 2, "pad": 0},
    "max_pool": {"op": "pool", "in": 0, "kind": "max", "k": 2, "stride": 2, "pad": 0},
    "pattern_conv": _conv(0),
    "dense_conv_5x5": _conv(0, k=(5, 5), pad=2),
    "conv_1x1": _conv(0, k=(1, 1), pad=0),
    "depthwise_conv": _conv(0, groups=3),
    "batchnorm": {"op": "bn", "in": 0},
    "relu": {"op": "act", "in": 0, "fn": "relu"},
    "sigmoid": {"op": "act", "in": 0, "fn": "sigmoid"},
    "residual_add": {"op": "add", "in": [0, 0]},
}


def reread_after_add(producer: dict, first_reader: str) -> dict:
    """p = producer(x); y0 = conv_a(p) + p; y1 = reader(p): y1 reads p after the add that could
    overwrite it in place (issue 17: the add clobbered a pooling output for the second conv)."""
    reader = _conv(1) if first_reader == "conv" else {"op": "act", "in": 1, "fn": "tanh"}
    return {"input": INPUT, "seed": 3, "patterns": 4, "connectivity": None,
            "nodes": [producer, _conv(1), {"op": "add", "in": [2, 1]}, reader], "outputs": [3, 4], "linear": 0}


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["O", "plain", "dense"])
def test_a_value_read_again_after_a_residual_add_keeps_its_value(mode):
    specs = [reread_after_add(producer, reader) for producer in PRODUCERS.values() for reader in ("conv", "act")]
    assert all(random_cnn.is_valid(spec) for spec in specs)
    findings = differential.check_batch(specs, modes=(mode,))
    assert [(f.mode, f.detail) for f in findings] == []


def test_the_harness_sees_a_wrong_result():
    """A comparison that cannot fail proves nothing: a perturbed output is reported."""
    spec = reread_after_add(PRODUCERS["avg_pool"], "conv")
    batch = differential.Batch([spec], Path("."), seed=0)
    exact = [r.astype("float32") for r in batch.reference]
    assert batch.findings_for(exact, "exact") == []
    perturbed = [r.copy().astype("float32") for r in exact]
    perturbed[1][0, 5] += 3e-5 * batch.scale(0)
    assert [f.kind for f in batch.findings_for(perturbed, "perturbed")] == ["mismatch"]


@pytest.mark.slow
@pytest.mark.qemu
def test_seeded_slice_of_random_models_matches_pytorch_in_every_build_mode():
    """48 random models in 6 batches, every host build mode at 1 and 2 threads, the first batch
    also on AArch64 under qemu: no mismatch, no error."""
    totals = differential.campaign(models=48, qemu_models=8, batch_size=8, seed=2026, out=None, shrink_budget=0,
                                   log=lambda *_: None)
    assert totals["models"] == 48 and totals["qemu_models"] == 8
    assert [(f.mode, f.kind, f.detail.splitlines()[0]) for f in totals["findings"]] == []
