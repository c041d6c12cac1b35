"""The pieces of a training run that are not the run itself: distributed setup and sums, the
distillation loss, the learning-rate schedule, evaluation, BatchNorm recalibration, checksums
(patsparse.pruning.train builds its Trainer on them)."""

from __future__ import annotations

import math
import os

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

# --------------------------------------------------------------------------------------------
# Distributed helpers


def dist_setup(device_arg: str | None = None) -> tuple[int, int, torch.device]:
    """Initialise the process group when launched by torchrun; returns (rank, world, device)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    use_cuda = torch.cuda.is_available() and device_arg != "cpu"
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    if use_cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    return rank, world, device


def _all_sum(values: list[float], device, world: int) -> list[float]:
    if world == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


# --------------------------------------------------------------------------------------------


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor | None, targets: torch.Tensor, alpha: float,
                      temperature: float = 4.0) -> torch.Tensor:
    """``(1 - alpha) * CE(student, y) + alpha * T^2 * KL(softmax(teacher/T) || softmax(student/T))``.

    The KL term is averaged over the batch ("batchmean"); T^2 keeps its gradient on the scale of
    the cross entropy's (Hinton et al., 2015). ``alpha == 0`` or no teacher: plain cross entropy.
    """
    ce = F.cross_entropy(student, targets)
    if alpha <= 0 or teacher is None:
        return ce
    t = float(temperature)
    kl = F.kl_div(F.log_softmax(student / t, dim=1), F.log_softmax(teacher.detach() / t, dim=1),
                  reduction="batchmean", log_target=True)
    return (1.0 - alpha) * ce + alpha * (t * t) * kl


def _lr_at(base: float, step: int, total: int, schedule: str) -> float:
    if schedule == "constant" or total <= 0:
        return base
    return base * 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))


@torch.no_grad()
def evaluate(model: nn.Module, images, labels=None, device="cpu", rank: int = 0, world: int = 1,
             batch_size: int = 1000) -> float:
    """Top-1 accuracy (percent) on the given examples (sharded over ranks, summed).

    ``images`` is a tensor (with ``labels``) or a :class:`~patsparse.pruning.datasets.Split`.
    """
    from .datasets import Split, TensorData

    split = images if isinstance(images, Split) else Split(TensorData(images, labels), "examples")
    model.eval()
    correct = seen = 0
    for x, y in split.eval_batches(batch_size, rank, world):
        out = model(x.to(device))
        correct += int((out.argmax(1).cpu() == y).sum())
        seen += len(y)
    total_correct, total = _all_sum([float(correct), float(seen)], device, world)
    return 100.0 * total_correct / max(1.0, total)


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, images, batch_size: int, seed: int, device, rank: int = 0, world: int = 1,
                          num_batches: int = 50) -> None:
    """Re-estimate BatchNorm running statistics after hard pruning changed the weights.

    The running mean/var measured on dense weights no longer fit the pruned ones, which can
    make a pruned model look near chance until it is retrained. Uses a fixed, seeded set of
    training batches (deterministic, so resume stays exact).
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the calibration batches
    from .datasets import Split, TensorData

    split = images if isinstance(images, Split) else \
        Split(TensorData(images, torch.zeros(len(images), dtype=torch.long)), "examples")
    model.train()
    for i, (x, _) in enumerate(split.batches(batch_size, seed=seed, epoch=10_000, rank=rank, world=world)):
        if i >= num_batches:
            break
        model(x.to(device))
    for m, momentum in zip(bns, momenta):
        m.momentum = momentum


def weights_checksum(model) -> float:
    """A float64 fingerprint of all parameters and buffers (to compare ranks / runs): of a model
    or of a state dict."""
    state = model if isinstance(model, dict) else getattr(model, "module", model).state_dict()
    return float(sum(t.double().abs().sum() * (i + 1) for i, t in enumerate(state.values())
                     if t.is_floating_point()))


