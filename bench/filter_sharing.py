"""How much filter-level load sharing could save: per pruned checkpoint, the share of kernels
whose (input channel, pattern) also occurs in another filter of the same layer.

    .venv/bin/python bench/filter_sharing.py test/data/checkpoints/vgg_small_p8_c8.pt ...

Filter-level load redundancy elimination (PatDNN) computes two filters together and loads an
input vector once for a kernel both have with the same channel and pattern. "best partner":
each filter paired with the filter that shares the most such kernels (an upper bound for
pairs); "average partner": a filter paired at random; "same channel": the channel alone
matches (patterns may differ; loads then overlap only partly).
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from patsparse.pruning.checkpoint import load_pruned


def sharing(path: str) -> dict:
    model = load_pruned(path)[0]
    totals = {"kernels": 0, "best": 0, "average": 0.0, "channel": 0}
    for module in model.modules():
        if not isinstance(module, torch.nn.Conv2d) or module.kernel_size != (3, 3):
            continue
        taps = module.weight.detach().numpy().reshape(module.out_channels, module.in_channels, 9) != 0
        kept = taps.any(-1)
        if not kept.any() or taps.sum(-1)[kept].max() > 4:
            continue  # not a pattern layer
        code = (taps * (1 << np.arange(9))).sum(-1)  # the pattern as a tap bitmask, 0 = removed
        same = ((code[:, None, :] == code[None, :, :]) & kept[:, None, :] & kept[None, :, :]).sum(-1)
        channel = (kept[:, None, :] & kept[None, :, :]).sum(-1)
        np.fill_diagonal(same, 0)
        np.fill_diagonal(channel, 0)
        filters = module.out_channels
        totals["kernels"] += int(kept.sum())
        totals["best"] += int(same.max(1).sum())
        totals["average"] += float(same.sum() / max(filters - 1, 1))
        totals["channel"] += int(channel.max(1).sum())
    return totals


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    print("| checkpoint | kernels | same (channel, pattern), best partner | average partner | same channel, best partner |")
    print("|---|---|---|---|---|")
    for path in sys.argv[1:]:
        t = sharing(path)
        k = max(t["kernels"], 1)
        print(f"| {path} | {t['kernels']} | {t['best'] / k:.1%} | {t['average'] / k:.1%} | {t['channel'] / k:.1%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
