"""The training loop: dense baseline, ADMM pattern + connectivity pruning, masked retraining.

A run is a list of phases, each a number of epochs:

- ``dense``    train the baseline (skipped when starting from ``dense_checkpoint``);
- ``admm``     ADMM with the augmented-Lagrangian penalty (method "admm" only), at a constant
               learning rate or (``admm_lr_schedule="cosine"``) one decaying to 0 over the phase;
- ``retrain``  hard prune (pattern projection, then connectivity by kernel L2 norm), then
               masked retraining: the masks are applied after every optimiser step. For
               method "magnitude" the hard prune happens on the dense weights directly and the
               retraining gets the ADMM epochs too, so both methods train equally long.

With ``distill`` = alpha > 0 the admm and retrain phases (both methods) train on
``(1 - alpha) * CE + alpha * T^2 * KL(teacher || student)`` at temperature T (knowledge
distillation): the teacher is a frozen eval-mode copy of the model taken at the start of the
first pruning phase, i.e. the dense model (``dense_checkpoint`` or the end of the dense phase).
Its weights are saved in the state, so a resumed run distils from the same teacher.

After every epoch the full training state (weights, optimiser, ADMM variables, masks,
history, progress) is written atomically to ``OUT/state.pt``; ``resume`` continues exactly
where that file stopped (the batch order depends only on the seed and epoch number).

Runs under ``torchrun --nproc_per_node N`` with DistributedDataParallel (gloo on CPU,
nccl on GPUs): ranks split every epoch's batches, evaluation is sharded and summed, and only
rank 0 writes files.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from patsparse.dialect.support import atomic_write

from . import checkpoint as ckpt
from . import data as fmnist
from . import models
from .admm import AdmmPruner
from .patterns import library_usage
from .project import (
    apply_masks,
    compression_report,
    hard_prune,
    layer_keep_ratios,
    masks_from_layers,
    nominal_compression,
)
from .steps import _all_sum, _lr_at, dist_setup, distillation_loss, evaluate, recalibrate_batchnorm, weights_checksum

STATE_FORMAT = "patsparse-train-state"
METHODS = ("admm", "magnitude", "dense")
LR_SCHEDULES = ("constant", "cosine")


@dataclasses.dataclass
class Config:
    """Everything that determines a run's result (saved in the state; resume must match)."""

    model: str = "vgg_small"
    method: str = "admm"
    patterns: int = 8
    connectivity: float | None = None
    exempt_first: bool = True
    allocation: str = "uniform"
    dense_epochs: int = 8
    admm_epochs: int = 3
    retrain_epochs: int = 3
    batch_size: int = 128
    lr: float = 2e-3
    admm_lr: float = 1e-3
    admm_lr_schedule: str = "constant"
    retrain_lr: float = 1e-3
    rho: float = 0.05
    rho_max: float = 2.0
    admm_updates_per_epoch: int = 4
    initial_library: int = 32
    train_limit: int | None = None
    test_limit: int | None = None
    augment: bool = True
    seed: int = 0
    dense_checkpoint: str | None = None
    distill: float = 0.0
    distill_temperature: float = 4.0

    def phases(self) -> list[tuple[str, int]]:
        phases = []
        if self.dense_checkpoint is None and self.dense_epochs > 0:
            phases.append(("dense", self.dense_epochs))
        if self.method == "admm":
            phases += [("admm", self.admm_epochs), ("retrain", self.retrain_epochs)]
        elif self.method == "magnitude":
            phases.append(("retrain", self.admm_epochs + self.retrain_epochs))
        return [(name, n) for name, n in phases if n > 0 or name == "retrain"]


class RunError(Exception):
    """A user-facing problem with a run (bad resume state, impossible options)."""


class Trainer:
    """Runs one configuration in an output folder; see the module docstring."""

    def __init__(self, config: Config, out: str | os.PathLike, *, progress: bool = True, command: str = "",
                 device: str | None = None):
        if config.method not in METHODS:
            raise RunError(f"unknown method {config.method!r}; choose from {', '.join(METHODS)}")
        if config.model not in models.MODELS:
            raise RunError(f"unknown model {config.model!r}; choose from {', '.join(models.MODELS)}")
        if models.input_shape(config.model)[1:] != (1, 28, 28):
            raise RunError(f"model {config.model!r} takes {models.input_shape(config.model)[1:]} input; "
                           "training on Fashion-MNIST needs a 1x28x28 model (vgg_small, vgg_wide, resnet_small)")
        if not 1 <= config.patterns <= 56:
            raise RunError(f"--patterns must be in 1..56, got {config.patterns}")
        if not 0.0 <= config.distill <= 1.0:
            raise RunError(f"--distill must be in 0..1 (the weight of the distillation term), got {config.distill:g}")
        if config.admm_lr_schedule not in LR_SCHEDULES:
            raise RunError(f"unknown ADMM learning-rate schedule {config.admm_lr_schedule!r}; choose from "
                           f"{', '.join(LR_SCHEDULES)}")
        if not config.distill_temperature > 0:
            raise RunError(f"--distill-temperature must be positive, got {config.distill_temperature:g}")
        if config.distill > 0 and config.method != "dense" and config.dense_checkpoint is None \
                and config.dense_epochs == 0:
            raise RunError("--distill needs a dense teacher: give --dense-checkpoint or --dense-epochs > 0")
        self.config = config
        self.out = Path(out)
        self.command = command
        self.rank, self.world, self.device = dist_setup(device)
        self.progress = progress and self.rank == 0
        self.state_path = self.out / "state.pt"

    # ----------------------------------------------------------------------------------------
    def _log(self, message: str) -> None:
        if self.rank == 0:
            from tqdm import tqdm

            tqdm.write(message)

    def _new_model(self) -> nn.Module:
        torch.manual_seed(self.config.seed)
        return models.build(self.config.model)

    def _wrap(self, model: nn.Module) -> nn.Module:
        model.to(self.device)
        if self.world > 1:
            return nn.parallel.DistributedDataParallel(model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        return model

    def _save_state(self, state: dict) -> None:
        if self.rank == 0:
            ckpt.atomic_save(state, self.state_path)
        if self.world > 1:
            dist.barrier()

    def _load_state(self) -> dict:
        path = self.state_path
        if not path.is_file():
            raise RunError(f"--resume: no training state at {path}")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # corrupt file: a clear one-line error
            raise RunError(f"--resume: cannot read {path} ({type(err).__name__})") from None
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            raise RunError(f"--resume: {path} is not a patsparse-prune training state")
        saved = state["config"]
        current = dataclasses.asdict(self.config)
        # Options added later than the state file: it was written with their defaults.
        defaults = {f.name: f.default for f in dataclasses.fields(Config)}
        ignored = set()
        if self.config.method == "dense":  # pruning options do not affect a dense-only run
            ignored = {"patterns", "connectivity", "exempt_first", "allocation", "admm_epochs", "retrain_epochs", "admm_lr", "admm_lr_schedule",
                       "retrain_lr", "rho", "rho_max", "admm_updates_per_epoch", "initial_library", "distill",
                       "distill_temperature"}
        diff = [k for k in current if k not in ignored and saved.get(k, defaults[k]) != current[k]]
        if diff:
            raise RunError(f"--resume: options differ from the interrupted run in {', '.join(diff)}")
        return state

    # ----------------------------------------------------------------------------------------
    def run(self, resume: bool = False, stop_after_epochs: int | None = None) -> dict | None:
        """Train all phases; returns the metrics dict when finished (None if stopped early)."""
        cfg = self.config
        torch.manual_seed(cfg.seed)
        train_x, train_y = fmnist.load_fashion_mnist("train", cfg.train_limit)
        test_x, test_y = fmnist.load_fashion_mnist("test", cfg.test_limit)
        phases = cfg.phases()
        iters_per_epoch = math.ceil(math.ceil(len(train_x) / self.world) / cfg.batch_size)

        model = self._new_model()
        history, extra = [], {}
        phase_index, epochs_done, elapsed = 0, 0, 0.0
        admm_state = opt_state = layers = teacher_state = None
        if resume:
            state = self._load_state()
            model.load_state_dict(state["model_state"])
            history, extra = state["history"], state["extra"]
            phase_index, epochs_done, elapsed = state["phase_index"], state["epochs_done"], state["elapsed_s"]
            admm_state, opt_state = state["admm_state"], state["optimizer_state"]
            layers = _layers_from_tensors(state["layers"]) if state["layers"] is not None else None
            teacher_state = state.get("teacher_state")
            self._log(f"resuming {self.out} at phase {phase_index} epoch {epochs_done}")
        elif cfg.dense_checkpoint is not None:
            try:
                dense, info = ckpt.load_model(cfg.dense_checkpoint)
            except ckpt.CheckpointError:
                raise
            if info["model"] != cfg.model:
                raise RunError(f"--dense-checkpoint {cfg.dense_checkpoint} holds model {info['model']!r}, "
                               f"not {cfg.model!r}")
            model.load_state_dict(dense.state_dict())
            extra["dense_checkpoint_metadata"] = info["metadata"]
        model = self._wrap(model)
        inner = getattr(model, "module", model)

        if "dense_accuracy" not in extra and (not phases or phases[0][0] != "dense"):
            extra["dense_accuracy"] = evaluate(model, test_x, test_y, self.device, self.rank, self.world)
            self._log(f"starting accuracy {extra['dense_accuracy']:.2f}%")

        started = time.time() - elapsed
        epochs_this_call = 0
        first_pruning_phase = next((i for i, (name, _) in enumerate(phases) if name != "dense"), None)
        teacher = None
        while phase_index < len(phases):
            phase, phase_epochs = phases[phase_index]
            admm = None
            if cfg.distill > 0 and phase != "dense" and teacher is None:
                if teacher_state is None and (phase_index, epochs_done) != (first_pruning_phase, 0):
                    raise RunError(f"--resume: {self.state_path} lacks the distillation teacher's weights")
                # At the start of the first pruning phase the model is the dense one.
                teacher = self._make_teacher(teacher_state if teacher_state is not None else inner.state_dict())
                self._log(f"distilling from the dense model (alpha {cfg.distill:g}, T {cfg.distill_temperature:g})")
            masks = masks_from_layers(layers) if layers is not None else None
            if epochs_done == 0:
                opt_state = admm_state = None
                if phase == "admm":
                    total_updates = phase_epochs * min(cfg.admm_updates_per_epoch, iters_per_epoch)
                    admm = self._new_admm(inner, total_updates)
                elif phase == "retrain":
                    layers, masks = self._hard_prune(inner, admm_state_prev=extra.get("_admm_final_library"))
                    extra["compression_3x3"] = nominal_compression(layers)
                    recalibrate_batchnorm(model, train_x, cfg.batch_size, cfg.seed, self.device, self.rank, self.world)
                    extra["accuracy_after_hard_prune"] = evaluate(model, test_x, test_y, self.device, self.rank, self.world)
                    self._log(f"hard pruned: {extra['compression_3x3']:.2f}x on 3x3 layers, accuracy before "
                              f"retraining {extra['accuracy_after_hard_prune']:.2f}%")
            elif phase == "admm":
                total_updates = phase_epochs * min(cfg.admm_updates_per_epoch, iters_per_epoch)
                admm = self._new_admm(inner, total_updates)
                admm.load_state_dict(admm_state)
            base_lr = {"dense": cfg.lr, "admm": cfg.admm_lr, "retrain": cfg.retrain_lr}[phase]
            optimizer = torch.optim.Adam(inner.parameters(), lr=base_lr)
            if opt_state is not None:
                optimizer.load_state_dict(opt_state)
            schedule = cfg.admm_lr_schedule if phase == "admm" else "cosine"
            total_steps = phase_epochs * iters_per_epoch

            while epochs_done < phase_epochs:
                global_epoch = sum(n for _, n in phases[:phase_index]) + epochs_done
                record = self._train_epoch(model, inner, optimizer, admm, masks, train_x, train_y, phase, epochs_done,
                                           global_epoch, base_lr, schedule, total_steps, iters_per_epoch, teacher)
                record["test_acc"] = evaluate(model, test_x, test_y, self.device, self.rank, self.world)
                record["time_s"] = time.time() - started
                history.append(record)
                self._log(f"[{phase} {epochs_done + 1}/{phase_epochs}] loss {record['train_loss']:.4f} "
                          f"train {record['train_acc']:.2f}% test {record['test_acc']:.2f}%"
                          + (f" library {record['library_size']} rho {record['rho']:.3g}" if admm else ""))
                epochs_done += 1
                if phase == "dense":
                    extra["dense_accuracy"] = record["test_acc"]
                if admm is not None and epochs_done == phase_epochs:
                    extra["_admm_final_library"] = [int(i) for i in admm.library_indices]
                    extra["admm_initial_library_size"] = admm.initial_library_size
                next_phase, next_done = (phase_index, epochs_done) if epochs_done < phase_epochs else (phase_index + 1, 0)
                self._save_state({
                    "format": STATE_FORMAT, "version": 1, "config": dataclasses.asdict(cfg),
                    "model_state": inner.state_dict(), "phase_index": next_phase, "epochs_done": next_done,
                    "optimizer_state": optimizer.state_dict() if next_done else None,
                    "admm_state": admm.state_dict() if (admm is not None and next_done) else None,
                    "layers": _layers_to_tensors(layers), "history": history, "extra": extra,
                    "teacher_state": teacher.state_dict() if teacher is not None else None,
                    "elapsed_s": time.time() - started})
                epochs_this_call += 1
                if stop_after_epochs is not None and epochs_this_call >= stop_after_epochs and \
                        (next_phase, next_done) != (len(phases), 0):
                    self._log(f"stopped after {epochs_this_call} epoch(s); continue with --resume")
                    return None
            phase_index, epochs_done = phase_index + 1, 0
            opt_state = admm_state = None

        return self._finish(model, inner, layers, history, extra, time.time() - started, test_x, test_y)

    # ----------------------------------------------------------------------------------------
    def _make_teacher(self, state_dict) -> nn.Module:
        """A frozen eval-mode model holding ``state_dict`` (not DDP-wrapped: each rank computes the
        teacher outputs of its own batches)."""
        with torch.random.fork_rng(devices=[]):  # building draws random init weights; leave the RNG alone
            teacher = models.build(self.config.model)
        teacher.load_state_dict(state_dict)
        teacher.to(self.device).eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        return teacher

    def _new_admm(self, inner, total_updates) -> AdmmPruner:
        cfg = self.config
        return AdmmPruner(inner, cfg.patterns, cfg.connectivity, cfg.exempt_first, cfg.initial_library,
                          cfg.rho, cfg.rho_max, total_updates, allocation=cfg.allocation)

    def _hard_prune(self, inner, admm_state_prev=None):
        cfg = self.config
        from .patterns import candidate_patterns, extract_library
        from .project import conv3x3_layers

        if cfg.method == "admm" and admm_state_prev is not None:
            library = candidate_patterns()[admm_state_prev[: cfg.patterns]]
        else:  # magnitude baseline: most frequent natural patterns of the dense weights
            library = extract_library([m.weight for _, m in conv3x3_layers(inner)], cfg.patterns)
        ratios = layer_keep_ratios(inner, cfg.connectivity, cfg.exempt_first, cfg.allocation)
        layers = hard_prune(inner, library, ratios)
        return layers, masks_from_layers(layers)

    def _train_epoch(self, model, inner, optimizer, admm, masks, xs, ys, phase, epoch_in_phase, global_epoch,
                     base_lr, schedule, total_steps, iters_per_epoch, teacher=None) -> dict:
        from tqdm import tqdm

        cfg = self.config
        model.train()
        update_every = max(1, iters_per_epoch // max(1, cfg.admm_updates_per_epoch))
        loss_sum = correct = seen = 0.0
        batches = fmnist.batches(xs, ys, cfg.batch_size, seed=cfg.seed, epoch=global_epoch, rank=self.rank,
                                 world_size=self.world, augment=cfg.augment)
        # disable=None: bars only on a terminal, so logs redirected to a file stay readable.
        bar = tqdm(batches, total=iters_per_epoch, disable=None if self.progress else True, leave=False,
                   desc=f"{phase} {epoch_in_phase + 1}", unit="batch", dynamic_ncols=True)
        info = {}
        for step, (x, y) in enumerate(bar):
            x, y = x.to(self.device), y.to(self.device)
            global_step = epoch_in_phase * iters_per_epoch + step
            for group in optimizer.param_groups:
                group["lr"] = _lr_at(base_lr, global_step, total_steps, schedule)
            out = model(x)
            if teacher is not None:
                with torch.no_grad():
                    teacher_out = teacher(x)
                loss = distillation_loss(out, teacher_out, y, cfg.distill, cfg.distill_temperature)
            else:
                loss = F.cross_entropy(out, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if admm is not None:
                admm.add_penalty_grad(inner)
            optimizer.step()
            if masks is not None:
                apply_masks(inner, masks)
            if admm is not None and (step + 1) % update_every == 0 and \
                    (step + 1) // update_every <= cfg.admm_updates_per_epoch:
                info = admm.update(inner)
            loss_sum += float(loss.detach()) * len(y)
            correct += float((out.argmax(1) == y).sum())
            seen += len(y)
            if step % 20 == 0:
                bar.set_postfix(loss=f"{float(loss.detach()):.3f}")
        loss_sum, correct, seen = _all_sum([loss_sum, correct, seen], self.device, self.world)
        record = {"phase": phase, "epoch": global_epoch + 1, "train_loss": loss_sum / max(1, seen),
                  "train_acc": 100.0 * correct / max(1, seen), "lr": optimizer.param_groups[0]["lr"]}
        if admm is not None:
            record.update(library_size=len(admm.library_indices), rho=admm.rho, **admm.residuals(inner))
            record["penalty"] = admm.penalty(inner)
        return record

    def _finish(self, model, inner, layers, history, extra, wall, test_x, test_y) -> dict:
        cfg = self.config
        final_acc = evaluate(model, test_x, test_y, self.device, self.rank, self.world)
        checksums = [weights_checksum(inner)]
        if self.world > 1:
            gathered = [None] * self.world
            dist.all_gather_object(gathered, checksums[0])
            checksums = gathered
        report = compression_report(inner)
        epochs = {name: n for name, n in cfg.phases()}
        metrics = {
            "model": cfg.model, "dataset": "fashion-mnist", "method": cfg.method,
            "num_patterns": cfg.patterns if cfg.method != "dense" else None,
            "connectivity_target": cfg.connectivity, "exempt_first": cfg.exempt_first,
            "allocation": cfg.allocation, "accuracy": final_acc, "dense_accuracy": extra.get("dense_accuracy"),
            "accuracy_after_hard_prune": extra.get("accuracy_after_hard_prune"),
            "compression_3x3": report["compression"], "epochs": epochs,
            "distill": ({"alpha": cfg.distill, "temperature": cfg.distill_temperature}
                        if cfg.distill > 0 and cfg.method != "dense" else None),
            "total_epochs": sum(epochs.values()), "wall_time_s": wall, "world_size": self.world,
            "rank_weight_checksums": checksums, "config": dataclasses.asdict(cfg), "command": self.command,
            "train_examples": cfg.train_limit or 60000, "test_examples": len(test_x),
            "history": history, "layers": {},
        }
        if "admm_initial_library_size" in extra:
            metrics["admm_initial_library_size"] = extra["admm_initial_library_size"]
        if layers is not None:
            library = next(iter(layers.values()))["pattern_library"]
            metrics["pattern_library"] = library.tolist()
            for name, info in layers.items():
                mask = info["kernel_mask"]
                metrics["layers"][name] = {
                    **report["layers"][name],
                    "connectivity_rate": float(mask.mean()),
                    "pattern_usage": library_usage(info["pattern_ids"], len(library)).tolist(),
                }
        else:
            metrics["layers"] = report["layers"]
        if self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
            meta = {k: metrics[k] for k in ("dataset", "method", "num_patterns", "connectivity_target", "accuracy",
                                           "dense_accuracy", "compression_3x3", "epochs", "exempt_first",
                                           "allocation", "distill")}
            if layers is None:
                ckpt.save_model(self.out / "dense.pt", inner, cfg.model, meta)
            else:
                meta["keep_ratios"] = layer_keep_ratios(inner, cfg.connectivity, cfg.exempt_first, cfg.allocation)
                ckpt.save_pruned(self.out / "pruned.pt", inner, cfg.model, layers, meta)
            atomic_write(self.out / "metrics.json", json.dumps(metrics, indent=1, default=float) + "\n")
            from . import plots

            plots.plot_all(metrics, self.out)
        if self.world > 1:
            dist.barrier()
        return metrics


def _layers_to_tensors(layers):
    if layers is None:
        return None
    return {name: {"pattern_library": torch.as_tensor(info["pattern_library"]),
                   "pattern_ids": torch.as_tensor(info["pattern_ids"]),
                   "kernel_mask": torch.as_tensor(info["kernel_mask"])} for name, info in layers.items()}


def _layers_from_tensors(layers):
    return {name: {k: v.numpy() for k, v in info.items()} for name, info in layers.items()}
