"""The zoo bench/peers.py runs: each model dense, with 8 patterns, and with 8 patterns + 8x
connectivity on the 3x3 layers; weights made once, seeded, and kept in the cache so every
engine (and every later run) sees the same numbers."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

ZOO = ["vgg16_cifar", "vgg16", "resnet18", "resnet50", "mobilenet_v2", "yolov8n"]
TINY = ["vgg_small", "resnet_small"]  # 1x28x28 nets: for the test and for trying the script
VARIANTS = {"dense": (None, None), "p8": (8, None), "p8+8x": (8, 8.0)}  # (patterns, connectivity)


@dataclasses.dataclass(frozen=True)
class Case:
    model: str
    variant: str

    @property
    def label(self) -> str:
        return f"{self.model} {self.variant}"

    @property
    def key(self) -> str:  # a file name
        return f"{self.model}-{self.variant.replace('+', '_')}"

    @property
    def pruned(self) -> bool:
        return self.variant != "dense"


def cases(models: list[str], variants: list[str]) -> list[Case]:
    return [Case(m, v) for m in models for v in variants]


def dense_model(name: str, seed: int = 0):
    """Random weights (seeded) with BatchNorm statistics estimated on noise, as for the projected
    variants, so the dense net's outputs also depend on its input."""
    import torch

    from patsparse.pruning import models
    from patsparse.pruning.projected import calibrate_batchnorm_on_noise

    torch.manual_seed(seed)
    model = models.build(name)
    calibrate_batchnorm_on_noise(model, models.input_shape(name), seed=seed)
    return model.eval()


def checkpoint(case: Case, cache: Path) -> Path:
    """The case's weights as a patsparse checkpoint (`save_pruned`; layers empty when dense),
    written once under `cache`."""
    from patsparse.pruning.checkpoint import save_pruned
    from patsparse.pruning.models import input_shape
    from patsparse.pruning.projected import projected_model

    path = cache / case.key / "weights.pt"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    patterns, connectivity = VARIANTS[case.variant]
    if case.pruned:
        model, layers = projected_model(case.model, patterns, connectivity)
    else:
        model, layers = dense_model(case.model), {}
    temporary = path.with_suffix(".tmp")
    save_pruned(temporary, model, case.model, layers, {"input_shape": list(input_shape(case.model))})
    temporary.replace(path)
    return path


def load_model(case: Case, cache: Path):
    """(model in eval mode, input array, PyTorch's output) for the case; the input is seeded."""
    import torch

    from patsparse.pruning.checkpoint import load_pruned
    from patsparse.pruning.models import input_shape

    model, _ = load_pruned(checkpoint(case, cache))
    model.eval()
    x = np.random.default_rng(0).standard_normal(input_shape(case.model)).astype(np.float32)
    with torch.no_grad():
        reference = model(torch.from_numpy(x)).numpy()
    return model, x, reference
