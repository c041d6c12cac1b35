"""PNG plots of a run: the pattern library, per-layer pattern histogram and connectivity
rate, and the accuracy curves. Uses matplotlib's Agg backend (no display needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_library(library, path, usage=None) -> None:
    """Each pattern as a 3x3 image (kept taps dark), with its share of kernels if given."""
    plt = _plt()
    library = np.asarray(library).reshape(-1, 3, 3)
    k = len(library)
    cols = min(k, 6)
    rows = -(-k // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.7 * rows), squeeze=False)
    total = float(np.sum(usage)) if usage is not None else 0.0
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= k:
            ax.axis("off")
            continue
        ax.imshow(library[i], cmap="Greys", vmin=0, vmax=1.25)
        for edge in np.arange(-0.5, 3, 1):
            ax.axhline(edge, color="0.6", lw=0.5)
            ax.axvline(edge, color="0.6", lw=0.5)
        title = f"p{i}"
        if usage is not None and total:
            title += f" {100 * usage[i] / total:.0f}%"
        ax.set_title(title, fontsize=8)
    fig.suptitle("pattern library", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_layers(layers: dict, path) -> None:
    """Per layer: stacked pattern usage (bars) and connectivity rate (line, right axis)."""
    plt = _plt()
    names = list(layers)
    usage = np.array([layers[n]["pattern_usage"] for n in names], dtype=float)
    rate = [layers[n]["connectivity_rate"] for n in names]
    share = usage / np.maximum(usage.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(max(4, 0.7 * len(names) + 2), 3.2))
    bottom = np.zeros(len(names))
    cmap = plt.get_cmap("tab20")
    for p in range(share.shape[1]):
        ax.bar(range(len(names)), share[:, p], bottom=bottom, color=cmap(p % 20), label=f"p{p}")
        bottom += share[:, p]
    ax.set_ylabel("share of kept kernels per pattern")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=45, ha="right", fontsize=7)
    ax2 = ax.twinx()
    ax2.plot(range(len(names)), rate, "k.-", label="kernels kept")
    ax2.set_ylim(0, 1.05)
    ax2.set_ylabel("connectivity rate (kernels kept)")
    ax.legend(fontsize=6, ncol=2, loc="upper left", bbox_to_anchor=(1.12, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_curves(history: list, path, dense_accuracy=None) -> None:
    """Test and train accuracy per epoch, phases coloured."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    colors = {"dense": "tab:blue", "admm": "tab:orange", "retrain": "tab:green"}
    for phase in ("dense", "admm", "retrain"):
        pts = [(h["epoch"], h["test_acc"], h["train_acc"]) for h in history if h["phase"] == phase]
        if pts:
            e, te, tr = zip(*pts)
            ax.plot(e, te, "o-", color=colors[phase], label=f"{phase} test")
            ax.plot(e, tr, "x--", color=colors[phase], alpha=0.5, label=f"{phase} train")
    if dense_accuracy is not None:
        ax.axhline(dense_accuracy, color="0.5", lw=0.8, ls=":", label="dense test")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_all(metrics: dict, out) -> list[Path]:
    """Write library.png, layers.png (pruned runs) and curves.png into ``out``."""
    out = Path(out)
    written = []
    if metrics.get("pattern_library"):
        usage = np.sum([layer["pattern_usage"] for layer in metrics["layers"].values()], axis=0)
        plot_library(metrics["pattern_library"], out / "library.png", usage)
        plot_layers(metrics["layers"], out / "layers.png")
        written += [out / "library.png", out / "layers.png"]
    if metrics.get("history"):
        plot_curves(metrics["history"], out / "curves.png", metrics.get("dense_accuracy"))
        written.append(out / "curves.png")
    return written
