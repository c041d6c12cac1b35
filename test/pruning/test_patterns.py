"""Pattern maths: the 56 candidates, natural patterns, library extraction, selection."""

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from patsparse.pruning import patterns as P


def test_there_are_56_distinct_candidates_each_with_centre_and_4_taps():
    cands = P.candidate_patterns()
    assert cands.shape == (56, 9) and cands.dtype == np.int8
    assert (cands.sum(axis=1) == 4).all()
    assert (cands[:, P.CENTER_TAP] == 1).all()
    assert len({tuple(row) for row in cands}) == 56
    # Exactly the centre plus every 3-subset of the other 8 taps.
    expected = {tuple(sorted((4, *c))) for c in itertools.combinations([0, 1, 2, 3, 5, 6, 7, 8], 3)}
    assert {tuple(np.flatnonzero(row)) for row in cands} == expected


def test_candidate_index_roundtrip_and_rejects_non_patterns():
    cands = P.candidate_patterns()
    for i, row in enumerate(cands):
        assert P.candidate_index(row) == i
    with pytest.raises(ValueError):
        P.candidate_index([1, 1, 1, 1, 0, 0, 0, 0, 0])  # no centre
    with pytest.raises(ValueError):
        P.candidate_index([0, 1, 0, 1, 1, 1, 0, 1, 0])  # 5 taps


def test_natural_pattern_keeps_centre_even_when_small():
    kernel = np.array([[9.0, -8.0, 0.0], [0.0, 0.001, 0.0], [0.0, 0.0, -7.0]])
    mask = P.natural_patterns(kernel)[0]
    assert tuple(np.flatnonzero(mask)) == (0, 1, 4, 8)


def test_natural_pattern_tie_goes_to_lower_tap():
    mask = P.natural_patterns(np.ones((3, 3)))[0]
    assert tuple(np.flatnonzero(mask)) == (0, 1, 2, 4)


def test_library_extraction_on_constructed_weights():
    rng = np.random.default_rng(0)
    cands = P.candidate_patterns()
    # 50 kernels of pattern 10, 30 of pattern 3, 20 of pattern 40, 5 of pattern 7.
    wanted = [10] * 50 + [3] * 30 + [40] * 20 + [7] * 5
    kernels = np.stack([cands[i] * (1 + rng.random(9)) for i in wanted]).reshape(-1, 3, 3)
    kernels += 0.01 * rng.standard_normal(kernels.shape) * (1 - cands[wanted].reshape(-1, 3, 3))
    counts = P.pattern_frequencies(torch.from_numpy(kernels))
    assert counts[10] == 50 and counts[3] == 30 and counts[40] == 20 and counts[7] == 5
    lib = P.extract_library([kernels[:60], kernels[60:]], 3)  # a list of layers counts as one pool
    assert [P.candidate_index(r) for r in lib] == [10, 3, 40]
    # Asking for more patterns than occur fills from the default library, still distinct.
    lib6 = P.extract_library(kernels, 6)
    assert [P.candidate_index(r) for r in lib6[:4]] == [10, 3, 40, 7]
    P.check_library(lib6)


def test_all_zero_kernels_are_not_counted():
    assert P.pattern_frequencies(np.zeros((5, 3, 3))).sum() == 0


@pytest.mark.parametrize("k", [4, 6, 8, 12])
def test_default_library_is_valid_and_nested(k):
    lib = P.default_library(k)
    assert lib.shape == (k, 9)
    P.check_library(lib)
    assert (lib == P.default_library(12)[:k]).all()
    # Gaussian-shaped: every default pattern keeps at least two of the four edge taps.
    assert (lib[:, [1, 3, 5, 7]].sum(axis=1) >= 2).all()


finite = st.floats(-10, 10, allow_nan=False, width=32)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, (7, 9), elements=finite), st.integers(1, 12))
def test_selection_keeps_maximum_energy(kernels, k):
    lib = P.default_library(k)
    ids = P.select_patterns(kernels, lib)
    # Brute force over the library.
    energies = np.array([[np.sum((kern * pat) ** 2) for pat in lib] for kern in kernels])
    assert np.allclose(energies[np.arange(7), ids], energies.max(axis=1))


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, (2, 3, 3, 3), elements=finite), st.integers(1, 12))
def test_projection_is_idempotent_and_in_the_library(kernels, k):
    lib = P.default_library(k)
    projected, ids = P.project_onto_library(kernels, lib)
    assert ids.shape == (2, 3)
    flat = projected.reshape(-1, 9)
    # Non-zeros only inside the selected pattern.
    assert (flat[lib[ids.reshape(-1)] == 0] == 0).all()
    again, _ = P.project_onto_library(projected, lib)
    assert np.array_equal(again, projected)
    # It is the closest point: no other library pattern is nearer.
    for kern, proj in zip(kernels.reshape(-1, 9), flat):
        best = min(np.sum((kern - kern * pat) ** 2) for pat in lib)
        assert np.isclose(np.sum((kern - proj) ** 2), best)


def test_projection_keeps_torch_type():
    w = torch.randn(4, 3, 3, 3)
    projected, _ = P.project_onto_library(w, P.default_library(8))
    assert isinstance(projected, torch.Tensor) and projected.dtype == w.dtype and projected.shape == w.shape
    assert ((projected != 0).flatten(2).sum(2) <= 4).all()
