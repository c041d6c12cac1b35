"""Connectivity pruning: remove whole 3x3 kernels (input-output channel connections).

A layer's kernels are ranked by L2 norm and the weakest are removed, at a per-layer keep
ratio. :func:`keep_ratios_for_target` turns a target total compression of the 3x3 layers
(patterns included: with every kept kernel holding 4 of 9 weights, patterns alone give
2.25x) into per-layer keep ratios; the first layer may be exempted (it keeps all kernels).

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


def keep_ratios_for_target(kernel_counts, target_compression: float | None, exempt=()) -> list[float]:
    """Per-layer kernel keep ratios that reach ``target_compression`` on the 3x3 layers.

    ``kernel_counts[i]`` is ``O * I`` of layer i; layers whose index is in ``exempt`` keep
    every kernel, the others share one uniform ratio. ``None`` or a target at or below the
    2.25x that patterns give alone means "keep every kernel". Raises ValueError when the
    target cannot be reached with the exempt layers kept dense.
    """
    counts = [int(c) for c in kernel_counts]
    if target_compression is None or target_compression <= PATTERN_COMPRESSION + 1e-12:
        return [1.0] * len(counts)
    kept_total = TAPS * sum(counts) / (TAPS_PER_PATTERN * float(target_compression))
    exempt_kernels = sum(c for i, c in enumerate(counts) if i in exempt)
    prunable = sum(c for i, c in enumerate(counts) if i not in exempt)
    if prunable == 0 or kept_total <= exempt_kernels:
        raise ValueError(
            f"cannot reach {target_compression}x on the 3x3 layers with the exempt layers kept whole"
        )
    ratio = (kept_total - exempt_kernels) / prunable
    return [1.0 if i in exempt else ratio for i in range(len(counts))]


def kernels_to_keep(num_kernels: int, keep_ratio: float) -> int:
    """Number of kernels a layer keeps at ``keep_ratio`` (rounded, at least one)."""
    return max(1, min(num_kernels, int(round(keep_ratio * num_kernels))))
