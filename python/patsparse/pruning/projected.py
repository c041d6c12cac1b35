"""Pattern-projected models without training: for compiler tests and benchmarks at full size.

VGG-16 or ResNet-18 cannot be trained here (2 cores, no ImageNet), but the compiler only
needs their shapes and a realistic sparsity structure. `projected_model` builds a model
(random or from a dense checkpoint), projects its 3x3 weights onto K patterns and, with a
connectivity target, removes whole kernels (`project_onto_patterns`), then re-estimates the
BatchNorm statistics on seeded random inputs so activations keep unit scale through the
depth of the net. Without that step a pruned random VGG-16 outputs its last bias for
every input, and a compiler test comparing outputs would compare constants.
"""

from __future__ import annotations

import torch
from torch import nn

from . import models
from .project import project_onto_patterns


def calibrate_batchnorm_on_noise(model: nn.Module, input_shape, batches: int = 4, batch_size: int = 4,
                                 seed: int = 0) -> None:
    """Running mean/var of every BatchNorm from `batches` seeded standard-normal batches."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    generator = torch.Generator().manual_seed(seed)
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a plain average over the calibration batches
    model.train()
    with torch.no_grad():
        for _ in range(batches):
            model(torch.randn((batch_size, *input_shape[1:]), generator=generator))
    for norm in norms:
        norm.momentum = 0.1
    model.eval()


def projected_model(name: str, patterns: int = 8, connectivity: float | None = None, seed: int = 0,
                    model: nn.Module | None = None, calibration_batches: int = 4,
                    include_grouped: bool = False) -> tuple[nn.Module, dict]:
    """`(model in eval mode, layers)`: `name` (or `model`) projected onto `patterns` patterns.

    `layers` is the dict `save_pruned` stores (pattern library, pattern ids, kernel mask and
    keep ratio per 3x3 layer). `include_grouped` pattern-projects depthwise and grouped 3x3
    convs too (MobileNetV2's), patterns only; off by default, as before.

    >>> model, layers = projected_model("mobilenet_v2", include_grouped=True)  # doctest: +SKIP
    >>> layers["features.1.conv.0.0"]["groups"]                                 # doctest: +SKIP
    32
    """
    if model is None:
        torch.manual_seed(seed)
        model = models.build(name)
    layers = project_onto_patterns(model, patterns, connectivity, include_grouped=include_grouped)
    calibrate_batchnorm_on_noise(model, models.input_shape(name), calibration_batches, seed=seed)
    return model.eval(), layers
