"""Verify a pruned checkpoint: every 3x3 kernel is all zero or has its non-zeros only
inside its library pattern, and the stored ids / masks agree with each other."""

from __future__ import annotations

import numpy as np

from .checkpoint import load_pruned
from .patterns import TAPS, is_valid_pattern
from .project import conv3x3_layers, conv_kind, pattern_conv_layers


def verify_pruned(path, model_path=None) -> dict:
    """Check a pruned checkpoint. Returns ``{"ok", "violations", "layers", "compression"}``.

    Every dense 3x3 conv must carry pattern information; depthwise / grouped 3x3 convs are
    checked when the checkpoint records them (``groups``), and may otherwise stay dense.
    Raises :class:`~patsparse.pruning.checkpoint.CheckpointError` if the file cannot be loaded.
    """
    model, info = load_pruned(path, model_path)
    violations: list[str] = []
    per_layer = {}
    dense_total = nonzero_total = 0
    stored = info["layers"]
    dense_names = {name for name, _ in conv3x3_layers(model)}
    checked = [(name, m) for name, m in pattern_conv_layers(model) if name in dense_names or name in stored]
    for name, module in checked:
        weight = module.weight.detach().cpu().numpy()
        out_ch, in_ch = weight.shape[:2]
        kernels = weight.reshape(out_ch, in_ch, TAPS)
        nonzero = int(np.count_nonzero(kernels))
        dense_total += kernels.size
        nonzero_total += nonzero
        row = {"shape": list(weight.shape), "kernels": out_ch * in_ch, "nonzero_weights": nonzero,
               "compression": kernels.size / nonzero if nonzero else float("inf"), "kind": conv_kind(module)}
        per_layer[name] = row
        if name not in stored:
            violations.append(f"{name}: 3x3 layer has no pattern information")
            continue
        library = stored[name]["pattern_library"]
        ids = stored[name]["pattern_ids"]
        mask = stored[name]["kernel_mask"]
        if library.ndim != 2 or library.shape[1] != TAPS or not all(is_valid_pattern(p) for p in library):
            violations.append(f"{name}: pattern library is not a (K, 9) array of 4-tap centre patterns")
            continue
        if ids.shape != (out_ch, in_ch) or mask.shape != (out_ch, in_ch):
            violations.append(f"{name}: pattern_ids / kernel_mask shape {ids.shape} / {mask.shape}, "
                              f"expected {(out_ch, in_ch)}")
            continue
        if int(stored[name].get("groups", 1)) != module.groups:
            violations.append(f"{name}: recorded groups {stored[name].get('groups', 1)}, the conv has {module.groups}")
            continue
        row["patterns"] = len(library)
        row["kept_kernels"] = int(mask.sum())
        if ((ids >= 0) != mask).any() or (ids >= len(library)).any():
            bad = np.argwhere(((ids >= 0) != mask) | (ids >= len(library)))[0]
            violations.append(f"{name}: kernel {tuple(bad)} has pattern id {ids[tuple(bad)]} but mask {mask[tuple(bad)]}")
        allowed = library[np.clip(ids, 0, len(library) - 1)].astype(bool) & mask[..., None]
        outside = (kernels != 0) & ~allowed
        if outside.any():
            count = int(outside.any(axis=2).sum())
            o, i = np.argwhere(outside.any(axis=2))[0]
            violations.append(f"{name}: {count} kernel(s) have non-zeros outside their pattern, first ({o}, {i})")
    for name in stored:
        if name not in per_layer:
            violations.append(f"{name}: pattern information for a layer that is not a 3x3 conv of the model")
    compression = dense_total / nonzero_total if nonzero_total else float("inf")
    return {"ok": not violations, "violations": violations, "layers": per_layer, "compression": compression,
            "model": info["model"], "metadata": info["metadata"]}


def format_report(report: dict) -> str:
    kinds = [row.get("kind", "dense") for row in report["layers"].values()]
    grouped = sum(kind != "dense" for kind in kinds)
    lines = [f"model {report['model']}: {len(report['layers'])} 3x3 conv layers"
             + (f" ({grouped} depthwise / grouped)" if grouped else "")]
    lines.append(f"{'layer':<28} {'shape':<18} {'K':>3} {'kernels kept':>14} {'non-zeros':>10} {'compr.':>7}")
    for name, row in report["layers"].items():
        kept = f"{row.get('kept_kernels', '?')}/{row['kernels']}"
        shape = "x".join(map(str, row["shape"]))
        lines.append(f"{name:<28} {shape:<18} {row.get('patterns', '?'):>3} {kept:>14} {row['nonzero_weights']:>10} "
                     f"{row['compression']:>6.2f}x")
    lines.append(f"total 3x3 compression: {report['compression']:.2f}x")
    if report["ok"]:
        lines.append("OK: every 3x3 kernel is all zero or inside its library pattern")
    else:
        lines += [f"VIOLATION: {v}" for v in report["violations"]]
    return "\n".join(lines)
