"""Connectivity pruning: remove whole 3x3 kernels (input-output channel connections).

A layer's kernels are ranked by L2 norm and the weakest are removed, at a per-layer keep
ratio. :func:`keep_ratios_for_target` turns a target total compression of the 3x3 layers
(patterns included: with every kept kernel holding 4 of 9 weights, patterns alone give
2.25x) into per-layer keep ratios, uniform or by the ERK rule (narrow layers keep more);
the first layer may be exempted (it keeps all kernels).

Compression of a set of 3x3 layers = (dense 3x3 weights) / (weights that may be non-zero)
= sum(9 * O * I) / sum(4 * kept kernels).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .patterns import PATTERN_COMPRESSION, TAPS, TAPS_PER_PATTERN


def kernel_norms(weight: torch.Tensor) -> torch.Tensor:
    """L2 norm of every kernel of an ``(O, I, 3, 3)`` weight, shape ``(O, I)``."""
    return weight.detach().flatten(2).norm(dim=2)


def top_kernels_mask(weight: torch.Tensor, num_keep: int) -> torch.Tensor:
    """Bool ``(O, I)`` mask keeping the ``num_keep`` kernels of largest L2 norm.

    Ties go to the lower flat index (output-major), so the result is deterministic.
    """
    norms = kernel_norms(weight).double().cpu().numpy().reshape(-1)
    num_keep = max(0, min(int(num_keep), norms.size))
    order = np.argsort(-norms, kind="stable")[:num_keep]
    mask = np.zeros(norms.size, dtype=bool)
    mask[order] = True
    return torch.from_numpy(mask.reshape(weight.shape[:2])).to(weight.device)


def project_connectivity(weight: torch.Tensor, num_keep: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Euclidean projection onto "at most ``num_keep`` non-zero kernels": (projected, mask)."""
    mask = top_kernels_mask(weight, num_keep)
    return weight * mask[:, :, None, None].to(weight.dtype), mask


def compression(kernel_counts, kept_kernels) -> float:
    """Total 3x3 compression for layers with ``kernel_counts`` kernels, ``kept_kernels`` kept."""
    dense = TAPS * float(sum(kernel_counts))
    kept = TAPS_PER_PATTERN * float(sum(kept_kernels))
    return math.inf if kept == 0 else dense / kept


ALLOCATIONS = ("uniform", "erk")


def erk_scores(shapes) -> list[float]:
    """Erdős–Rényi-kernel density scores ``(O + I + 3 + 3) / (O * I * 3 * 3)`` of ``(O, I)`` layers.

    Under ERK (Evci et al., "Rigging the Lottery", 2020) a layer keeps a fraction of its
    kernels proportional to this score: wide layers, whose kernels are many and redundant,
    are pruned harder than narrow ones, where every connection counts.
    """
    return [(o + i + 6) / (o * i * 9.0) for o, i in shapes]


def keep_ratios_for_target(kernel_counts, target_compression: float | None, exempt=(), scores=None) -> list[float]:
    """Per-layer kernel keep ratios that reach ``target_compression`` on the 3x3 layers.

    ``kernel_counts[i]`` is ``O * I`` of layer i; layers whose index is in ``exempt`` keep
    every kernel. The others keep ``min(1, s * scores[i])`` of their kernels, with one
    scale ``s`` solved for the target (no ``scores``: one uniform ratio; see
    :func:`erk_scores`); a layer that would keep more than all its kernels keeps all and
    the rest is shared by the others. ``None`` or a target at or below the 2.25x that
    patterns give alone means "keep every kernel". Raises ValueError when the target
    cannot be reached with the exempt layers kept dense.
    """
    counts = [int(c) for c in kernel_counts]
    if target_compression is None or target_compression <= PATTERN_COMPRESSION + 1e-12:
        return [1.0] * len(counts)
    scores = [1.0] * len(counts) if scores is None else [float(x) for x in scores]
    kept_total = TAPS * sum(counts) / (TAPS_PER_PATTERN * float(target_compression))
    whole = {i for i in range(len(counts)) if i in exempt}
    if len(whole) == len(counts) or kept_total <= sum(counts[i] for i in whole):
        raise ValueError(
            f"cannot reach {target_compression}x on the 3x3 layers with the exempt layers kept whole"
        )
    while True:  # cap layers at 1.0 until the scale fits every remaining layer
        budget = kept_total - sum(counts[i] for i in whole)
        free = [i for i in range(len(counts)) if i not in whole]
        scale = budget / sum(counts[i] * scores[i] for i in free)
        capped = {i for i in free if scale * scores[i] >= 1.0}
        if not capped:
            break
        whole |= capped
    return [1.0 if i in whole else scale * scores[i] for i in range(len(counts))]


def kernels_to_keep(num_kernels: int, keep_ratio: float) -> int:
    """Number of kernels a layer keeps at ``keep_ratio`` (rounded, at least one)."""
    return max(1, min(num_kernels, round(keep_ratio * num_kernels)))
