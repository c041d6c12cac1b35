"""Model-level pattern and connectivity projection, masks, and compression reports.

A *layers* dict maps each 3x3 conv module's name to ``{"pattern_library": int8 (K, 9),
"pattern_ids": int64 (O, I) with -1 for removed kernels, "kernel_mask": bool (O, I)}``;
it is what :func:`patsparse.pruning.checkpoint.save_pruned` stores.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from . import connectivity as conn
from .patterns import TAPS, check_library, extract_library, project_onto_library


def is_conv3x3(module: nn.Module) -> bool:
    """True for a dense (groups=1) 2-d convolution with a 3x3 kernel."""
    return isinstance(module, nn.Conv2d) and tuple(module.kernel_size) == (3, 3) and module.groups == 1


def conv3x3_layers(model: nn.Module) -> list[tuple[str, nn.Conv2d]]:
    """``(name, module)`` of every 3x3 conv, in definition order (the first is the input layer)."""
    model = getattr(model, "module", model)  # DistributedDataParallel wraps the model
    return [(name, m) for name, m in model.named_modules() if is_conv3x3(m)]


def is_pattern_conv(module: nn.Module, include_grouped: bool = True) -> bool:
    """True for a 2-d 3x3 convolution that patterns can prune: dense, or (``include_grouped``)
    grouped / depthwise, whose weight ``(O, I / groups, 3, 3)`` is a grid of 3x3 kernels too."""
    return isinstance(module, nn.Conv2d) and tuple(module.kernel_size) == (3, 3) and \
        (module.groups == 1 or include_grouped)


def pattern_conv_layers(model: nn.Module, include_grouped: bool = True) -> list[tuple[str, nn.Conv2d]]:
    """``(name, module)`` of every pattern-prunable 3x3 conv (see :func:`is_pattern_conv`), in order.

    >>> m = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(8, 8, 3, groups=8), nn.Conv2d(8, 4, 1))
    >>> [name for name, _ in pattern_conv_layers(m)], [name for name, _ in pattern_conv_layers(m, False)]
    (['0', '1'], ['0'])
    """
    model = getattr(model, "module", model)
    return [(name, m) for name, m in model.named_modules() if is_pattern_conv(m, include_grouped)]


def conv_kind(module: nn.Conv2d) -> str:
    """``"dense"`` (groups 1), ``"depthwise"`` (one input channel per group) or ``"grouped"``."""
    if module.groups == 1:
        return "dense"
    return "depthwise" if module.in_channels == module.groups else "grouped"


def layer_keep_ratios(model: nn.Module, connectivity: float | None, exempt_first: bool = True,
                      allocation: str = "uniform") -> dict[str, float]:
    """Per-layer kernel keep ratio reaching ``connectivity`` x total on the 3x3 layers.

    ``allocation`` is ``"uniform"`` (one ratio for every non-exempt layer) or ``"erk"``
    (see :func:`patsparse.pruning.connectivity.erk_scores`).
    """
    if allocation not in conn.ALLOCATIONS:
        raise ValueError(f"connectivity allocation {allocation!r}: expected one of {', '.join(conn.ALLOCATIONS)}")
    layers = conv3x3_layers(model)
    shapes = [tuple(m.weight.shape[:2]) for _, m in layers]
    counts = [o * i for o, i in shapes]
    exempt = {0} if exempt_first and len(layers) > 1 else set()
    scores = conn.erk_scores(shapes) if allocation == "erk" else None
    ratios = conn.keep_ratios_for_target(counts, connectivity, exempt, scores)
    return {name: r for (name, _), r in zip(layers, ratios)}


def masks_from_layers(layers: dict) -> dict[str, torch.Tensor]:
    """Per-layer ``(O, I, 3, 3)`` float 0/1 weight masks from a layers dict."""
    masks = {}
    for name, info in layers.items():
        library = np.asarray(info["pattern_library"], dtype=np.float32)
        ids = np.asarray(info["pattern_ids"])
        tap_mask = library[np.clip(ids, 0, None)] * (ids >= 0)[..., None]
        masks[name] = torch.from_numpy(tap_mask.reshape(*ids.shape, 3, 3).astype(np.float32))
    return masks


@torch.no_grad()
def hard_prune(model: nn.Module, library, keep_ratios: dict[str, float] | None = None) -> dict:
    """Project every 3x3 conv onto ``library`` then remove its weakest kernels, in place.

    Kernels are first projected onto their best pattern; connectivity pruning then ranks
    the *projected* kernels by L2 norm. Returns the layers dict.
    """
    return prune_layers(conv3x3_layers(model), library, keep_ratios)


@torch.no_grad()
def prune_layers(named_convs, library, keep_ratios: dict[str, float] | None = None) -> dict:
    """:func:`hard_prune` on the given ``(name, conv)`` pairs (dense, grouped or depthwise).

    A grouped conv's kernel grid is ``(O, I / groups)``; its entry also records ``groups``.
    """
    library = check_library(library)
    keep_ratios = keep_ratios or {}
    layers = {}
    for name, module in named_convs:
        weight = module.weight
        projected, ids = project_onto_library(weight.data, library)
        num_kernels = weight.shape[0] * weight.shape[1]
        ratio = keep_ratios.get(name, 1.0)
        if ratio < 1.0:
            projected, kernel_mask = conn.project_connectivity(projected, conn.kernels_to_keep(num_kernels, ratio))
        else:
            kernel_mask = torch.ones(weight.shape[:2], dtype=torch.bool, device=weight.device)
        weight.data.copy_(projected)
        kernel_mask_np = kernel_mask.cpu().numpy().astype(bool)
        layers[name] = {
            "pattern_library": library.copy(),
            "pattern_ids": np.where(kernel_mask_np, ids, -1).astype(np.int64),
            "kernel_mask": kernel_mask_np,
        }
        if module.groups != 1:
            layers[name]["groups"] = int(module.groups)
    return layers


@torch.no_grad()
def apply_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> None:
    """Zero every masked-out weight (call after each optimiser step)."""
    modules = dict(conv3x3_layers(model))
    for name, mask in masks.items():
        weight = modules[name].weight
        weight.mul_(mask.to(device=weight.device, dtype=weight.dtype))


def project_onto_patterns(model: nn.Module, num_patterns: int = 8, connectivity: float | None = None,
                          exempt_first: bool = True, library=None, allocation: str = "uniform",
                          include_grouped: bool = False) -> dict:
    """Project a model's 3x3 conv weights onto ``num_patterns`` patterns, in place.

    The library is the ``num_patterns`` most frequent natural patterns of the model's own
    3x3 kernels (unless ``library`` is given). With ``connectivity`` (a total compression
    of the 3x3 layers, patterns included, e.g. 8.0) whole kernels are then removed by L2
    norm at per-layer rates set by ``allocation`` (see :func:`layer_keep_ratios`);
    ``exempt_first`` keeps the first 3x3 layer's kernels.
    With ``include_grouped`` depthwise and grouped 3x3 convs are pattern-projected too (one
    library pattern per kernel, no connectivity pruning: they keep every kernel, and the
    connectivity target counts the dense 3x3 layers only); off by default, so existing callers
    get the dense 3x3 layers alone, as before.
    Returns the layers dict, each entry also holding ``keep_ratio``.
    Works with random or trained weights; magnitude projection without retraining.
    """
    layers_list = pattern_conv_layers(model, include_grouped)
    if not layers_list:
        return {}
    if library is None:
        library = extract_library([m.weight for _, m in layers_list], num_patterns)
    ratios = {name: 1.0 for name, _ in layers_list}
    if any(m.groups == 1 for _, m in layers_list):
        ratios.update(layer_keep_ratios(model, connectivity, exempt_first, allocation))
    layers = prune_layers(layers_list, library, ratios)
    for name, info in layers.items():
        info["keep_ratio"] = ratios[name]
    return layers


def compression_report(model: nn.Module, include_grouped: bool = False) -> dict:
    """Per 3x3 layer: kernels, kept (non-zero) kernels, non-zero weights, compression; and totals.

    ``include_grouped`` counts depthwise / grouped 3x3 convs too (default: dense 3x3 layers only).
    """
    per_layer = {}
    dense_total = nonzero_total = 0
    for name, module in pattern_conv_layers(model, include_grouped):
        weight = module.weight.detach()
        dense = weight.numel()
        nonzero = int((weight != 0).sum())
        kept = int((weight.flatten(2).abs().sum(2) != 0).sum())
        per_layer[name] = {
            "shape": list(weight.shape),
            "kernels": weight.shape[0] * weight.shape[1],
            "kept_kernels": kept,
            "nonzero_weights": nonzero,
            "compression": dense / nonzero if nonzero else float("inf"),
        }
        dense_total += dense
        nonzero_total += nonzero
    total = dense_total / nonzero_total if nonzero_total else float("inf")
    return {"layers": per_layer, "dense_weights": dense_total, "nonzero_weights": nonzero_total,
            "compression": total}


def nominal_compression(layers: dict) -> float:
    """3x3 compression counting every kept kernel as 4 weights (independent of exact zeros)."""
    kernels = [np.asarray(info["kernel_mask"]).size for info in layers.values()]
    kept = [int(np.asarray(info["kernel_mask"]).sum()) for info in layers.values()]
    return conn.compression(kernels, kept)


__all__ = [
    "TAPS", "apply_masks", "compression_report", "conv3x3_layers", "conv_kind", "hard_prune", "is_conv3x3",
    "is_pattern_conv", "layer_keep_ratios", "masks_from_layers", "nominal_compression", "pattern_conv_layers",
    "project_onto_patterns", "prune_layers",
]
