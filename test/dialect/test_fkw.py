"""FKW packing: property tests over random pattern-pruned weights."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patsparse.dialect.fkw import FKW, FKWError, check_fkw, from_dense_weight, pattern_taps, to_dense_weight

ALL_CENTRE_PATTERNS = [
    np.array([1 if t in taps + (4,) else 0 for t in range(9)], np.int8)
    for taps in __import__("itertools").combinations([0, 1, 2, 3, 5, 6, 7, 8], 3)
]


@st.composite
def pattern_pruned_weights(draw):
    """A dense OIHW weight whose kernels are all-zero or inside one of a few patterns."""
    filters = draw(st.integers(1, 9))
    channels = draw(st.integers(1, 7))
    num_patterns = draw(st.integers(1, 8))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    library = np.stack([ALL_CENTRE_PATTERNS[i] for i in rng.choice(len(ALL_CENTRE_PATTERNS), num_patterns, replace=False)])
    pattern_ids = rng.integers(0, num_patterns, size=(filters, channels))
    kept = rng.random((filters, channels)) < draw(st.floats(0.0, 1.0))
    masks = library[pattern_ids] * kept[..., None]
    values = rng.normal(size=(filters, channels, 9)).astype(np.float32)
    values[values == 0] = 1.0  # a zero inside a pattern is legal but changes the inferred support
    return (values * masks).reshape(filters, channels, 3, 3), library


@settings(max_examples=200, deadline=None)
@given(pattern_pruned_weights())
def test_round_trip_with_given_library(case):
    weight, library = case
    fkw = from_dense_weight(weight, library)
    assert check_fkw(fkw, weight.shape[1]) == []
    np.testing.assert_array_equal(to_dense_weight(fkw, weight.shape[1]), weight)
    assert fkw.num_kernels == int((np.abs(weight).sum(axis=(2, 3)) > 0).sum())
    assert fkw.weights.shape == (4 * fkw.num_kernels,)


@settings(max_examples=200, deadline=None)
@given(pattern_pruned_weights(), st.randoms(use_true_random=False))
def test_round_trip_with_inferred_library_and_filter_order(case, random):
    weight, _ = case
    order = list(range(weight.shape[0]))
    random.shuffle(order)
    fkw = from_dense_weight(weight, filter_order=np.array(order))
    assert check_fkw(fkw, weight.shape[1]) == []
    np.testing.assert_array_equal(fkw.filter_order, order)
    np.testing.assert_array_equal(to_dense_weight(fkw, weight.shape[1]), weight)


def test_kernels_are_stored_in_filter_order_then_channel_order():
    weight = np.zeros((2, 2, 3, 3), np.float32)
    weight[0, 1, 1, :] = [1, 2, 3]          # taps 3, 4, 5
    weight[0, 1, 0, 1] = 4                  # tap 1
    weight[1, 0].flat[[1, 4, 5, 7]] = [5, 6, 7, 8]
    fkw = from_dense_weight(weight, filter_order=np.array([1, 0]))
    # Position 0 computes filter 1, so its kernel comes first.
    np.testing.assert_array_equal(fkw.filter_offsets, [0, 1, 2])
    np.testing.assert_array_equal(fkw.kernel_channels, [0, 1])
    np.testing.assert_array_equal(fkw.weights, [5, 6, 7, 8, 4, 1, 2, 3])  # increasing tap order
    np.testing.assert_array_equal(pattern_taps(fkw.pattern_library)[fkw.kernel_pattern_ids], [[1, 4, 5, 7], [1, 3, 4, 5]])


def test_kernel_outside_every_pattern_is_refused():
    weight = np.zeros((1, 3, 3, 3), np.float32)
    weight[0, 2].flat[[0, 2, 6, 8]] = 1.0
    library = np.array([[0, 1, 0, 1, 1, 0, 0, 1, 0]], np.int8)
    with pytest.raises(FKWError, match=r"kernel \(filter 0, channel 2\) has non-zeros at taps \[0, 2, 6, 8\]"):
        from_dense_weight(weight, library)


def test_kernel_with_five_nonzeros_is_refused_even_with_inferred_library():
    weight = np.zeros((1, 1, 3, 3), np.float32)
    weight[0, 0].flat[[0, 1, 2, 4, 7]] = 1.0
    with pytest.raises(FKWError, match="no pattern of the library covers"):
        from_dense_weight(weight)


def test_partial_support_fits_an_existing_pattern():
    weight = np.zeros((2, 1, 3, 3), np.float32)
    weight[0, 0].flat[[1, 3, 4, 5]] = 1.0
    weight[1, 0].flat[[3, 4]] = 2.0      # a pruned-to-zero tap inside the same pattern
    fkw = from_dense_weight(weight)
    assert fkw.num_patterns == 1
    np.testing.assert_array_equal(to_dense_weight(fkw, 1), weight)


def test_non_3x3_weight_is_refused():
    with pytest.raises(FKWError, match="expected an OIHW array with 3x3 kernels, got shape 4x4x5x5"):
        from_dense_weight(np.ones((4, 4, 5, 5), np.float32))


def test_to_dense_refuses_inconsistent_arrays():
    fkw = FKW(np.array([[0, 1, 0, 1, 1, 0, 0, 1, 0]], np.int8), np.array([0]), np.array([0, 2]),
              np.array([0]), np.array([0]), np.zeros(4, np.float32))
    with pytest.raises(FKWError, match="filter_offsets: expected last entry 1"):
        to_dense_weight(fkw, 1)


@settings(max_examples=100, deadline=None)
@given(pattern_pruned_weights(), st.integers(1, 4), st.data())
def test_grouped_round_trip_with_global_channels(case, groups, data):
    """A grouped weight (F x C/G x 3 x 3, F a multiple of G) packs with global kernel channels,
    each inside its filter's group, and unpacks to the same weight."""
    weight, library = case
    weight = np.concatenate([weight] * groups)  # F * G filters, G groups of F
    channels = weight.shape[1] * groups
    order = np.array(data.draw(st.permutations(range(weight.shape[0]))))
    fkw = from_dense_weight(weight, library, filter_order=order, groups=groups)
    assert check_fkw(fkw, channels, groups) == []
    np.testing.assert_array_equal(to_dense_weight(fkw, channels, groups), weight)
    filters = np.repeat(fkw.filter_order, np.diff(fkw.filter_offsets))
    np.testing.assert_array_equal(fkw.kernel_channels // weight.shape[1], filters // (weight.shape[0] // groups))


def test_grouped_kernel_outside_its_group_is_reported():
    weight = np.zeros((2, 1, 3, 3), np.float32)
    weight[:, 0, 1, 1] = 1.0
    fkw = from_dense_weight(weight, groups=2)
    moved = FKW(fkw.pattern_library, fkw.filter_order, fkw.filter_offsets, np.array([0, 0], np.int32),
                fkw.kernel_pattern_ids, fkw.weights)
    assert check_fkw(moved, 2, 2) == [
        "kernel_channels: expected the channels of group 1, [1, 2), for filter 1, kernel 1 has 0"]
    assert check_fkw(fkw, 3, 2) == ["groups: expected a divisor of the 3 input channels, got 2"]
