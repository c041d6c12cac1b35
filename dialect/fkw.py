"""FKW (filter-kernel-weight) storage of a pattern convolution, in numpy.

After PatDNN (ASPLOS 2020). For a layer with F filters (output channels), C input
channels and a library of K patterns:

- ``pattern_library`` (K x 9, 0/1): which 4 of the 9 taps (t = 3*row + col) each pattern keeps;
- ``filter_order`` (F): position p computes output channel ``filter_order[p]``;
- ``filter_offsets`` (F + 1): kernels ``filter_offsets[p] .. filter_offsets[p+1]-1``
  belong to position p (a CSR row pointer over positions);
- ``kernel_channels`` (N): the input channel each kept kernel reads;
- ``kernel_pattern_ids`` (N): the pattern each kept kernel uses;
- ``weights`` (4 N): the kept weights, 4 per kernel in increasing tap order,
  stored in the order the generated code reads them.

A grouped convolution (``groups`` G, PyTorch's ``nn.Conv2d(groups=G)``; depthwise when
G = C = F) uses the same arrays: ``kernel_channels`` stay global input channels, and a kernel
of filter f must read a channel of f's group, ``kernel_channels[k] // (C / G) == f // (F / G)``.
Its dense weight is ``F x (C / G) x 3 x 3``, as in PyTorch.

Removed kernels (connectivity sparsity) are simply absent. This module is pure
numpy so the pruning side, the compiler and the tests share one definition.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TAPS_PER_PATTERN = 4
KERNEL_TAPS = 9


class FKWError(ValueError):
    """A dense weight that cannot be stored as FKW, or FKW arrays that disagree."""


@dataclass(frozen=True)
class FKW:
    pattern_library: np.ndarray
    filter_order: np.ndarray
    filter_offsets: np.ndarray
    kernel_channels: np.ndarray
    kernel_pattern_ids: np.ndarray
    weights: np.ndarray

    @property
    def num_filters(self) -> int:
        return int(self.filter_order.shape[0])

    @property
    def num_kernels(self) -> int:
        return int(self.kernel_channels.shape[0])

    @property
    def num_patterns(self) -> int:
        return int(self.pattern_library.shape[0])


def pattern_taps(pattern_library: np.ndarray) -> np.ndarray:
    """(K, 4) array: the taps each pattern keeps, in increasing order."""
    library = np.asarray(pattern_library)
    return np.stack([np.flatnonzero(row) for row in library]).astype(np.int64) if len(library) else np.zeros((0, 4), np.int64)


def check_fkw(fkw: FKW, in_channels: int | None = None, groups: int = 1) -> list[str]:
    """Every inconsistency of the FKW arrays, as '<array>: expected ..., got ...'.

    An empty list means the arrays describe a valid pattern convolution with
    ``fkw.num_filters`` outputs (and ``in_channels`` inputs, when given) in ``groups`` groups.
    """
    problems: list[str] = []
    if groups < 1:
        return [f"groups: expected a positive number, got {groups}"]
    library = np.asarray(fkw.pattern_library)
    if library.ndim != 2 or library.shape[1] != KERNEL_TAPS:
        problems.append(f"pattern_library: expected shape K x 9, got {_shape(library)}")
    else:
        if library.shape[0] == 0:
            problems.append("pattern_library: expected at least one pattern, got 0")
        for pattern_id, row in enumerate(library):
            if not np.isin(row, (0, 1)).all():
                problems.append(f"pattern_library: expected 0/1 entries, pattern {pattern_id} is {row.tolist()}")
            elif int(row.sum()) != TAPS_PER_PATTERN:
                problems.append(f"pattern_library: expected exactly 4 taps per pattern, pattern {pattern_id} has {int(row.sum())}")
    for name in ("filter_order", "filter_offsets", "kernel_channels", "kernel_pattern_ids", "weights"):
        array = np.asarray(getattr(fkw, name))
        if array.ndim != 1:
            problems.append(f"{name}: expected a 1-D array, got shape {_shape(array)}")
    if problems:
        return problems

    num_filters = fkw.num_filters
    order = np.asarray(fkw.filter_order)
    if sorted(order.tolist()) != list(range(num_filters)):
        problems.append(f"filter_order: expected a permutation of 0..{num_filters - 1}, got {_preview(order)}")

    offsets = np.asarray(fkw.filter_offsets)
    num_kernels = fkw.num_kernels
    if offsets.shape[0] != num_filters + 1:
        problems.append(
            f"filter_offsets: expected {num_filters + 1} entries (filters + 1), got {offsets.shape[0]}")
    elif offsets.shape[0] > 0:
        if offsets[0] != 0:
            problems.append(f"filter_offsets: expected first entry 0, got {offsets[0]}")
        steps = np.diff(offsets)
        if (steps < 0).any():
            position = int(np.flatnonzero(steps < 0)[0])
            problems.append(
                f"filter_offsets: expected non-decreasing offsets, entry {position + 1} ({offsets[position + 1]})"
                f" is below entry {position} ({offsets[position]})")
        if offsets[-1] != num_kernels:
            problems.append(
                f"filter_offsets: expected last entry {num_kernels} (the number of kernels), got {offsets[-1]}")

    pattern_ids = np.asarray(fkw.kernel_pattern_ids)
    if pattern_ids.shape[0] != num_kernels:
        problems.append(
            f"kernel_pattern_ids: expected {num_kernels} entries (one per kernel), got {pattern_ids.shape[0]}")
    elif num_kernels:
        bad = np.flatnonzero((pattern_ids < 0) | (pattern_ids >= library.shape[0]))
        if bad.size:
            problems.append(
                f"kernel_pattern_ids: expected ids in [0, {library.shape[0]}), kernel {bad[0]} has {pattern_ids[bad[0]]}")

    channels = np.asarray(fkw.kernel_channels)
    if in_channels is not None and num_kernels:
        bad = np.flatnonzero((channels < 0) | (channels >= in_channels))
        if bad.size:
            problems.append(
                f"kernel_channels: expected channels in [0, {in_channels}), kernel {bad[0]} has {channels[bad[0]]}")
    if groups > 1 and not problems:
        if num_filters % groups:
            problems.append(f"groups: expected a divisor of the {num_filters} filters, got {groups}")
        elif in_channels is not None and in_channels % groups:
            problems.append(f"groups: expected a divisor of the {in_channels} input channels, got {groups}")
        elif in_channels is not None and num_kernels:
            kernel_filters = order[np.repeat(np.arange(num_filters), np.diff(offsets))]
            filter_groups = kernel_filters // (num_filters // groups)
            wrong = np.flatnonzero(channels // (in_channels // groups) != filter_groups)
            if wrong.size:
                k = int(wrong[0])
                first = int(filter_groups[k]) * (in_channels // groups)
                problems.append(
                    f"kernel_channels: expected the channels of group {filter_groups[k]}, [{first}, "
                    f"{first + in_channels // groups}), for filter {kernel_filters[k]}, kernel {k} has {channels[k]}")
    if not problems and num_kernels:
        positions = np.repeat(np.arange(num_filters), np.diff(offsets))
        keys = positions * (int(channels.max()) + 1) + channels
        unique, counts = np.unique(keys, return_counts=True)
        if (counts > 1).any():
            key = unique[counts > 1][0]
            position, channel = divmod(int(key), int(channels.max()) + 1)
            problems.append(
                f"kernel_channels: expected each input channel at most once per filter,"
                f" channel {channel} appears {counts.max()} times in filter {order[position]}")

    weights = np.asarray(fkw.weights)
    if weights.shape[0] != TAPS_PER_PATTERN * num_kernels:
        problems.append(
            f"weights: expected {TAPS_PER_PATTERN * num_kernels} entries (4 per kernel), got {weights.shape[0]}")
    return problems


def to_dense_weight(fkw: FKW, in_channels: int, groups: int = 1) -> np.ndarray:
    """Rebuild the dense OIHW (F, C / groups, 3, 3) float32 weight (PyTorch's layout)."""
    problems = check_fkw(fkw, in_channels, groups)
    if problems:
        raise FKWError(problems[0])
    dense = np.zeros((fkw.num_filters, in_channels, KERNEL_TAPS), np.float32)
    if fkw.num_kernels:
        taps = pattern_taps(fkw.pattern_library)
        offsets = np.asarray(fkw.filter_offsets, np.int64)
        filters = np.repeat(np.asarray(fkw.filter_order, np.int64), np.diff(offsets))
        channels = np.asarray(fkw.kernel_channels, np.int64)
        kernel_taps = taps[np.asarray(fkw.kernel_pattern_ids, np.int64)]
        dense[filters[:, None], channels[:, None], kernel_taps] = np.asarray(fkw.weights, np.float32).reshape(-1, 4)
    dense = dense.reshape(fkw.num_filters, in_channels, 3, 3)
    if groups == 1:
        return dense
    group_of_filter = np.arange(fkw.num_filters) // (fkw.num_filters // groups)
    group_channels = in_channels // groups
    columns = group_of_filter[:, None] * group_channels + np.arange(group_channels)[None, :]
    return np.take_along_axis(dense, columns[:, :, None, None], axis=1)


def infer_pattern_library(weight: np.ndarray) -> np.ndarray:
    """The distinct 4-tap supports in use, sorted; supports with fewer taps fit into one
    of them or are completed (centre first, then the lowest free taps)."""
    rows = _kernel_supports(weight).reshape(-1, KERNEL_TAPS)
    counts = rows.sum(axis=1)
    library = [np.array(p, np.int8) for p in np.unique(rows[counts == TAPS_PER_PATTERN], axis=0)]
    for row in np.unique(rows[(counts > 0) & (counts < TAPS_PER_PATTERN)], axis=0):
        if any((row <= p).all() for p in library):
            continue
        completed = row.copy()
        for tap in [4] + list(range(KERNEL_TAPS)):
            if completed.sum() == TAPS_PER_PATTERN:
                break
            completed[tap] = 1
        library.append(completed.astype(np.int8))
    if not library:
        library = [np.array([0, 1, 0, 1, 1, 0, 0, 1, 0], np.int8)]  # any valid pattern: no kernel uses it
    return np.stack(sorted(library, key=lambda p: tuple(p), reverse=True)).astype(np.int8)


def from_dense_weight(weight: np.ndarray, pattern_library: np.ndarray | None = None,
                      filter_order: np.ndarray | None = None, groups: int = 1) -> FKW:
    """Pack a dense OIHW 3x3 weight whose every kernel is all-zero or inside a pattern.

    Each non-zero kernel gets the first library pattern that covers its non-zeros.
    With ``groups`` the weight is ``F x (C / groups) x 3 x 3`` (PyTorch's grouped layout)
    and the kernel channels come out global. Raises FKWError naming the first kernel that
    fits no pattern (its channel within the group).
    """
    weight = np.asarray(weight, np.float32)
    if weight.ndim != 4 or weight.shape[2:] != (3, 3):
        raise FKWError(f"weight: expected an OIHW array with 3x3 kernels, got shape {_shape(weight)}")
    num_filters, in_channels = weight.shape[:2]
    if groups < 1 or num_filters % groups:
        raise FKWError(f"groups: expected a positive divisor of the {num_filters} filters, got {groups}")
    library = infer_pattern_library(weight) if pattern_library is None else np.asarray(pattern_library, np.int8)
    problems = check_fkw(FKW(library, np.arange(num_filters), np.zeros(num_filters + 1, np.int64),
                             np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)))
    if problems:
        raise FKWError(problems[0])
    order = np.arange(num_filters) if filter_order is None else np.asarray(filter_order)
    supports = _kernel_supports(weight)                                       # F x C x 9
    nonzero = supports.any(axis=2)
    covering = (supports[:, :, None, :] <= library[None, None, :, :]).all(axis=3)  # F x C x K
    uncovered = nonzero & ~covering.any(axis=2)
    if uncovered.any():
        filter_index, channel = (int(v) for v in np.argwhere(uncovered)[0])
        raise FKWError(
            f"weight: kernel (filter {filter_index}, channel {channel}) has non-zeros at taps "
            f"{np.flatnonzero(supports[filter_index, channel]).tolist()}, which no pattern of the library covers")
    first_pattern = covering.argmax(axis=2)
    selected = nonzero[order]                                                  # positions x C
    position_index, channels = np.nonzero(selected)                           # sorted by position, channel
    filters = order[position_index]
    pattern_ids = first_pattern[filters, channels]
    global_channels = channels + (filters // (num_filters // groups)) * in_channels
    flat = weight.reshape(num_filters, in_channels, KERNEL_TAPS)
    kept = np.take_along_axis(flat[filters, channels], pattern_taps(library)[pattern_ids], axis=1)
    return FKW(
        pattern_library=library,
        filter_order=order.astype(np.int32),
        filter_offsets=np.concatenate([[0], np.cumsum(selected.sum(axis=1))]).astype(np.int32),
        kernel_channels=global_channels.astype(np.int32),
        kernel_pattern_ids=pattern_ids.astype(np.int32),
        weights=kept.reshape(-1).astype(np.float32),
    )


def _kernel_supports(weight: np.ndarray) -> np.ndarray:
    weight = np.asarray(weight)
    return (weight.reshape(weight.shape[0], weight.shape[1], KERNEL_TAPS) != 0).astype(np.int8)


def _shape(array: np.ndarray) -> str:
    return "x".join(str(d) for d in np.shape(array)) or "scalar"


def _preview(array: np.ndarray, limit: int = 8) -> str:
    values = np.asarray(array).tolist()
    return str(values) if len(values) <= limit else str(values[:limit])[:-1] + ", ...]"
