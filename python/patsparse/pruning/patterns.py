"""Pattern maths for 3x3 kernels.

Tap numbering: tap ``t = 3*row + col`` (row-major inside the 3x3 kernel), so the centre is
tap 4. A *pattern* is a 9-entry 0/1 mask (numpy int8) with exactly 4 ones, one of them the
centre. There are C(8, 3) = 56 such candidates; :func:`candidate_patterns` lists them in a
fixed order (lexicographic in the three non-centre taps), and a *pattern library* is a
``(K, 9)`` int8 array of distinct candidates.

- The *natural pattern* of a kernel keeps the centre and its 3 largest-magnitude other taps.
- *Library extraction* counts natural patterns over many kernels and keeps the K most frequent.
- *Pattern selection* gives each kernel the library pattern that keeps the most of its L2
  energy (sum of squared kept weights).

Every function accepts numpy arrays or torch tensors of kernels shaped ``(..., 3, 3)`` or
``(..., 9)``; the maths is done in numpy (float64 energies), except the projection, which
returns the type it was given.
"""

from __future__ import annotations

import itertools

import numpy as np

from patsparse.dialect.fkw import KERNEL_TAPS as TAPS  # one definition of a 3x3 kernel's taps
from patsparse.dialect.fkw import TAPS_PER_PATTERN

CENTER_TAP = 4
NON_CENTER_TAPS = tuple(t for t in range(TAPS) if t != CENTER_TAP)

#: Compression of a 3x3 layer from patterns alone: 9 weights become 4.
PATTERN_COMPRESSION = TAPS / TAPS_PER_PATTERN


def _make_candidates() -> np.ndarray:
    rows = []
    for others in itertools.combinations(NON_CENTER_TAPS, TAPS_PER_PATTERN - 1):
        mask = np.zeros(TAPS, dtype=np.int8)
        mask[list(others)] = 1
        mask[CENTER_TAP] = 1
        rows.append(mask)
    table = np.stack(rows)
    table.setflags(write=False)
    return table


_CANDIDATES = _make_candidates()
# Key of a pattern: its 9-bit mask as an integer (bit t = tap t).
_BIT_WEIGHTS = (1 << np.arange(TAPS)).astype(np.int64)
_CANDIDATE_INDEX = {int(k): i for i, k in enumerate(_CANDIDATES.astype(np.int64) @ _BIT_WEIGHTS)}
_KEY_TO_INDEX = np.full(1 << TAPS, -1, dtype=np.int64)
for _key, _index in _CANDIDATE_INDEX.items():
    _KEY_TO_INDEX[_key] = _index


def candidate_patterns() -> np.ndarray:
    """All 56 four-tap patterns that contain the centre tap, shape ``(56, 9)``, int8."""
    return _CANDIDATES.copy()


def is_valid_pattern(mask) -> bool:
    """True when ``mask`` is a 9-entry 0/1 mask with 4 ones including the centre."""
    mask = np.asarray(mask).reshape(-1)
    return (
        mask.shape == (TAPS,)
        and bool(np.isin(mask, (0, 1)).all())
        and int(mask.sum()) == TAPS_PER_PATTERN
        and int(mask[CENTER_TAP]) == 1
    )


def candidate_index(mask) -> int:
    """Index of ``mask`` in :func:`candidate_patterns`; ValueError if it is not a candidate."""
    if not is_valid_pattern(mask):
        raise ValueError(f"not a 4-tap pattern containing the centre tap: {np.asarray(mask).tolist()}")
    return _CANDIDATE_INDEX[int(np.asarray(mask).reshape(-1).astype(np.int64) @ _BIT_WEIGHTS)]


def check_library(library) -> np.ndarray:
    """Return ``library`` as a ``(K, 9)`` int8 array; ValueError unless its rows are distinct patterns."""
    library = np.asarray(library)
    if library.ndim != 2 or library.shape[1] != TAPS or library.shape[0] < 1:
        raise ValueError(f"a pattern library is a (K, 9) array with K >= 1, got shape {library.shape}")
    indices = [candidate_index(row) for row in library]
    if len(set(indices)) != len(indices):
        raise ValueError("pattern library has duplicate patterns")
    return library.astype(np.int8)


def _as_flat_numpy(kernels) -> np.ndarray:
    """Kernels as a float64 numpy array shaped ``(N, 9)``."""
    if hasattr(kernels, "detach"):
        kernels = kernels.detach().cpu().double().numpy()
    kernels = np.asarray(kernels, dtype=np.float64)
    if kernels.shape[-2:] == (3, 3):
        kernels = kernels.reshape(*kernels.shape[:-2], TAPS)
    if kernels.shape[-1] != TAPS:
        raise ValueError(f"expected kernels shaped (..., 3, 3) or (..., 9), got {kernels.shape}")
    return kernels.reshape(-1, TAPS)


def natural_pattern_indices(kernels) -> np.ndarray:
    """Candidate index of each kernel's natural pattern (centre + its 3 largest other taps).

    Ties in magnitude go to the lower tap number, so the result is deterministic.
    Returns an int64 array with one entry per kernel (kernels flattened in C order).
    """
    magnitudes = np.abs(_as_flat_numpy(kernels))[:, NON_CENTER_TAPS]
    # Stable sort on the negated magnitude: equal magnitudes keep tap order.
    order = np.argsort(-magnitudes, axis=1, kind="stable")[:, : TAPS_PER_PATTERN - 1]
    taps = np.asarray(NON_CENTER_TAPS)[order]
    keys = (1 << CENTER_TAP) + (1 << taps).sum(axis=1)
    return _KEY_TO_INDEX[keys]


def natural_patterns(kernels) -> np.ndarray:
    """Natural pattern mask of each kernel, shape ``(N, 9)`` int8."""
    return _CANDIDATES[natural_pattern_indices(kernels)]


def pattern_frequencies(kernel_sets, weights=None) -> np.ndarray:
    """How many kernels have each candidate as natural pattern, over all given kernel sets.

    ``kernel_sets`` is one array of kernels or a list of them (e.g. every 3x3 layer's weight).
    All-zero kernels (removed connections) are not counted. Returns ``(56,)`` int64 counts.
    """
    if hasattr(kernel_sets, "shape"):
        kernel_sets = [kernel_sets]
    counts = np.zeros(len(_CANDIDATES), dtype=np.int64)
    for kernels in kernel_sets:
        flat = _as_flat_numpy(kernels)
        flat = flat[np.abs(flat).sum(axis=1) > 0]
        if len(flat):
            counts += np.bincount(natural_pattern_indices(flat), minlength=len(_CANDIDATES))
    return counts


def top_k_by_count(counts, k: int) -> np.ndarray:
    """Candidate indices of the ``k`` largest counts; ties go to the lower candidate index.

    Zero counts are kept as a tail in candidate order, so ``k`` patterns are always returned.
    """
    if not 1 <= k <= len(_CANDIDATES):
        raise ValueError(f"number of patterns must be in 1..{len(_CANDIDATES)}, got {k}")
    counts = np.asarray(counts)
    return np.argsort(-counts, kind="stable")[:k]


def extract_library(kernel_sets, k: int) -> np.ndarray:
    """The ``k`` most frequent natural patterns over the given kernels, ``(k, 9)`` int8.

    Rows are ordered by decreasing frequency (ties: lower candidate index first). If fewer
    than ``k`` distinct patterns occur, the remaining rows come from :func:`default_library`
    order, then candidate order, so the library always has ``k`` distinct patterns.
    """
    counts = pattern_frequencies(kernel_sets)
    chosen = [int(i) for i in top_k_by_count(counts, k) if counts[i] > 0]
    fill = [candidate_index(p) for p in default_library(len(_DEFAULT_ORDER))] + list(range(len(_CANDIDATES)))
    for index in fill:
        if len(chosen) == k:
            break
        if index not in chosen:
            chosen.append(index)
    return _CANDIDATES[chosen].copy()


def _mask(*taps: int) -> tuple[int, ...]:
    return tuple(sorted((CENTER_TAP, *taps)))


# The fixed default library, shaped like the ECCV paper's Gaussian / Enhanced-LoG patterns:
# a 3x3 Gaussian (or ELoG) is largest at the centre, then at the 4 edge taps (1, 3, 5, 7),
# then at the corners, so its best 4-tap approximations keep the centre plus edge taps.
_DEFAULT_ORDER = (
    # "T" shapes: centre + 3 of the 4 edge taps (the top-4 taps of a Gaussian).
    _mask(1, 3, 5), _mask(1, 3, 7), _mask(1, 5, 7), _mask(3, 5, 7),
    # 2x2 blocks: centre + 2 adjacent edge taps + the corner between them.
    _mask(0, 1, 3), _mask(1, 2, 5), _mask(3, 6, 7), _mask(5, 7, 8),
    # Lines: centre + 2 opposite edge taps + one corner.
    _mask(0, 1, 7), _mask(2, 3, 5), _mask(1, 7, 8), _mask(3, 5, 6),
)


def default_library(k: int = 8) -> np.ndarray:
    """A fixed library of ``k`` (1..12) patterns shaped like the paper's Gaussian/ELoG ones.

    K = 4 gives the four "T" shapes, K = 8 adds the four 2x2 blocks (PatDNN's set), K = 12
    adds four line-plus-corner shapes.
    """
    if not 1 <= k <= len(_DEFAULT_ORDER):
        raise ValueError(f"the default library has 1..{len(_DEFAULT_ORDER)} patterns, got {k}")
    library = np.zeros((k, TAPS), dtype=np.int8)
    for row, taps in zip(library, _DEFAULT_ORDER[:k]):
        row[list(taps)] = 1
    return library


def pattern_energies(kernels, library) -> np.ndarray:
    """Kept L2 energy of each kernel under each library pattern, shape ``(N, K)`` float64."""
    library = check_library(library).astype(np.float64)
    return (_as_flat_numpy(kernels) ** 2) @ library.T


def select_patterns(kernels, library) -> np.ndarray:
    """Per kernel, the index into ``library`` of the pattern keeping the most L2 energy.

    Ties go to the lower library index. Returns int64 of shape ``(N,)`` (kernels flattened).
    """
    return np.argmax(pattern_energies(kernels, library), axis=1).astype(np.int64)


def project_onto_library(kernels, library):
    """Euclidean projection of each kernel onto the set "some library pattern".

    Returns ``(projected, pattern_ids)``: ``projected`` has the input's type, shape and dtype,
    each kernel zeroed outside its selected pattern; ``pattern_ids`` is shaped like the
    kernel grid (input shape without the 3x3 / 9 tail). Idempotent.
    """
    library = check_library(library)
    ids = select_patterns(kernels, library)
    masks = library[ids]  # (N, 9)
    if hasattr(kernels, "detach"):
        import torch

        grid = kernels.shape[:-2] if kernels.shape[-2:] == (3, 3) else kernels.shape[:-1]
        mask_t = torch.from_numpy(masks).to(device=kernels.device, dtype=kernels.dtype).reshape(kernels.shape)
        return kernels * mask_t, ids.reshape(tuple(grid))
    kernels = np.asarray(kernels)
    grid = kernels.shape[:-2] if kernels.shape[-2:] == (3, 3) else kernels.shape[:-1]
    return kernels * masks.reshape(kernels.shape).astype(kernels.dtype), ids.reshape(grid)


def library_usage(pattern_ids, num_patterns: int) -> np.ndarray:
    """How many kernels use each library pattern (``-1`` ids, removed kernels, are ignored)."""
    ids = np.asarray(pattern_ids).reshape(-1)
    return np.bincount(ids[ids >= 0], minlength=num_patterns)
