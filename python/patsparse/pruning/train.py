"""The training loop: dense baseline, ADMM pattern + connectivity pruning, masked retraining.

Built on :class:`patsparse.pruning.PatternSparsifier` (the same calls a user makes in their own
loop): the ADMM phase adds its penalty gradient and calls ``step``; the retraining phase starts
with ``hard_prune`` (masks as parametrizations); the end is ``export``. Any model
(``module.path:factory`` or a zoo name) and any data (:mod:`patsparse.pruning.datasets`).

A run is a list of phases, each a number of epochs:

- ``dense``    train the baseline (skipped when starting from ``dense_checkpoint``);
- ``admm``     ADMM with the augmented-Lagrangian penalty (method "admm" only), at a constant
               learning rate or (``admm_lr_schedule="cosine"``) one decaying to 0 over the phase;
- ``retrain``  hard prune (pattern projection, then connectivity by kernel L2 norm), then
               masked retraining: the masks are parametrizations of the weights. For
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
import os
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from patsparse.dialect.support import atomic_write

from . import checkpoint as ckpt
from . import models
from .datasets import FASHION_MNIST, DataError, Split, open_data, parse_numbers
from .patterns import candidate_index, candidate_patterns, library_usage
from .project import compression_report, nominal_compression
from .sparsifier import PatternSparsifier, plain_state_dict
from .steps import _all_sum, _lr_at, dist_setup, distillation_loss, evaluate, recalibrate_batchnorm, weights_checksum

STATE_FORMAT = "patsparse-train-state"
STATE_VERSION = 2  # 2: the sparsifier's state (ADMM variables or masks) in "sparsifier_state"
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
    data: str = FASHION_MNIST
    image_size: str | None = None
    image_mean: str | None = None
    image_std: str | None = None
    test_fraction: float = 0.2
    include_grouped: bool = True
    model_path: str | None = None  # where module:factory models / data are imported from (not a result)

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
        if config.model not in models.MODELS and not ckpt._REFERENCE.match(config.model):
            raise RunError(f"unknown model {config.model!r}; expected one of {', '.join(models.MODELS)} or a "
                           "module.path:factory reference")
        if config.model in models.MODELS and config.data == FASHION_MNIST and \
                models.input_shape(config.model)[1:] != (1, 28, 28):
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

    def _search(self) -> list[str]:
        return ckpt.model_search_path(None, self.config.model_path.split(os.pathsep) if self.config.model_path else None)

    def _build(self) -> nn.Module:
        return ckpt.build_model(self.config.model, {}, self._search(), where="--model")

    def _new_model(self) -> nn.Module:
        torch.manual_seed(self.config.seed)
        return self._build()

    def _new_sparsifier(self, method: str, total_updates: int = 1) -> PatternSparsifier:
        cfg = self.config
        return PatternSparsifier(cfg.patterns, cfg.connectivity, method, exempt_first=cfg.exempt_first,
                                 allocation=cfg.allocation, include_grouped=cfg.include_grouped,
                                 updates=total_updates, initial_library=cfg.initial_library, rho=cfg.rho,
                                 rho_max=cfg.rho_max)

    def _open_data(self, model: nn.Module) -> tuple[Split, Split, str]:
        cfg = self.config
        size = parse_numbers(cfg.image_size, "--image-size", int)
        if size is not None and len(size) == 1:
            size = size * 2
        if size is not None and len(size) != 2:
            raise DataError(f"--image-size {cfg.image_size!r}: expected H,W (or one number for square images)")
        if size is None and cfg.model in models.MODELS:
            size = models.input_shape(cfg.model)[-2:]
        train, test, description = open_data(
            cfg.data, model=model, image_size=size, mean=parse_numbers(cfg.image_mean, "--image-mean"),
            std=parse_numbers(cfg.image_std, "--image-std"), test_fraction=cfg.test_fraction, seed=cfg.seed,
            search=self._search())
        return train.limited(cfg.train_limit), test.limited(cfg.test_limit), description

    def _check_fit(self, model: nn.Module, split: Split) -> tuple[int, ...]:
        """The input shape ``(1, C, H, W)`` of the data; DataError when a sample does not fit the model."""
        cfg = self.config
        if len(split) == 0:
            raise DataError(f"{split.name}: holds no examples")
        try:
            x, y = split.first_sample()
        except DataError:
            raise
        except Exception as err:  # noqa: BLE001  (the user's dataset failed: one line)
            raise DataError(f"{split.name}: reading the first example failed ({ckpt._first_line(err)})") from None
        if not isinstance(x, torch.Tensor) or x.ndim != 3:
            what = f"a tensor of shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else f"a {type(x).__name__}"
            raise DataError(f"{split.name}: a sample is {what}; expected an image tensor (C, H, W) and a label")
        shape = (1, *x.shape)
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                out = model(x[None].float())
        except Exception as err:  # noqa: BLE001  (wrong shapes: say which, in one line)
            raise DataError(f"{split.name}: samples of shape {tuple(x.shape)} do not fit model {cfg.model!r} "
                            f"({ckpt._first_line(err)}); expected images the model accepts (see --image-size)") from None
        finally:
            model.train(was_training)
        label = int(y)
        if out.ndim != 2 or not 0 <= label < out.shape[1]:
            raise DataError(f"{split.name}: label {label} but model {cfg.model!r} outputs shape {tuple(out.shape)}; "
                            "expected (N, classes) logits with labels 0..classes-1")
        return shape

    def _wrap(self, model: nn.Module) -> nn.Module:
        model.to(self.device)
        if self.world > 1:
            return nn.parallel.DistributedDataParallel(model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        return model

    def _rewrap(self, model: nn.Module, inner: nn.Module) -> nn.Module:
        """A new DistributedDataParallel wrapper once the masks are registered: DDP does not follow
        a parametrization added after it was built (its reducer would wait for gradients forever)."""
        if self.world > 1:
            del model  # the old wrapper's reducer goes with it
            return self._wrap(inner)
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
        except Exception as err:  # noqa: BLE001  (corrupt file: a clear one-line error)
            raise RunError(f"--resume: cannot read {path} ({type(err).__name__})") from None
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            raise RunError(f"--resume: {path} is not a patsparse-prune training state")
        if state.get("version") != STATE_VERSION:
            raise RunError(f"--resume: {path} was written by an older patsparse-prune (state version "
                           f"{state.get('version')}, expected {STATE_VERSION}); start the run again")
        saved = state["config"]
        current = dataclasses.asdict(self.config)
        # Options added later than the state file: it was written with their defaults.
        defaults = {f.name: f.default for f in dataclasses.fields(Config)}
        ignored = {"model_path"}  # where the model's module lies does not change the result
        if self.config.method == "dense":  # pruning options do not affect a dense-only run
            ignored |= {"patterns", "include_grouped", "connectivity", "exempt_first", "allocation", "admm_epochs", "retrain_epochs", "admm_lr", "admm_lr_schedule",
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
        phases = cfg.phases()
        model = self._new_model()
        train, test, self.data_description = self._open_data(model)
        self.input_shape = self._check_fit(model, train)
        iters_per_epoch = train.num_batches(cfg.batch_size, self.world)
        if cfg.method != "dense":
            self._new_sparsifier("magnitude").prepare(model)  # a model with no 3x3 conv fails here, at once

        history, extra = [], {}
        phase_index, epochs_done, elapsed = 0, 0, 0.0
        sparsifier_state = opt_state = teacher_state = None
        if resume:
            state = self._load_state()
            model.load_state_dict(state["model_state"])
            history, extra = state["history"], state["extra"]
            phase_index, epochs_done, elapsed = state["phase_index"], state["epochs_done"], state["elapsed_s"]
            sparsifier_state, opt_state = state["sparsifier_state"], state["optimizer_state"]
            teacher_state = state.get("teacher_state")
            self._log(f"resuming {self.out} at phase {phase_index} epoch {epochs_done}")
        elif cfg.dense_checkpoint is not None:
            dense, info = ckpt.load_model(cfg.dense_checkpoint, self._search())
            if info["model"] != cfg.model:
                raise RunError(f"--dense-checkpoint {cfg.dense_checkpoint} holds model {info['model']!r}, "
                               f"not {cfg.model!r}")
            model.load_state_dict(dense.state_dict())
            extra["dense_checkpoint_metadata"] = info["metadata"]
        model = self._wrap(model)
        inner = getattr(model, "module", model)

        if "dense_accuracy" not in extra and (not phases or phases[0][0] != "dense"):
            extra["dense_accuracy"] = evaluate(model, test, None, self.device, self.rank, self.world)
            self._log(f"starting accuracy {extra['dense_accuracy']:.2f}%")

        started = time.time() - elapsed
        epochs_this_call = 0
        first_pruning_phase = next((i for i, (name, _) in enumerate(phases) if name != "dense"), None)
        teacher = sparsifier = None
        while phase_index < len(phases):
            phase, phase_epochs = phases[phase_index]
            admm = None
            if cfg.distill > 0 and phase != "dense" and teacher is None:
                if teacher_state is None and (phase_index, epochs_done) != (first_pruning_phase, 0):
                    raise RunError(f"--resume: {self.state_path} lacks the distillation teacher's weights")
                # At the start of the first pruning phase the model is the dense one.
                teacher = self._make_teacher(teacher_state if teacher_state is not None else inner.state_dict())
                self._log(f"distilling from the dense model (alpha {cfg.distill:g}, T {cfg.distill_temperature:g})")
            total_updates = phase_epochs * min(cfg.admm_updates_per_epoch, iters_per_epoch)
            if epochs_done == 0:
                opt_state = sparsifier_state = None
                if phase == "admm":
                    sparsifier = self._new_sparsifier("admm", total_updates).prepare(inner)
                    admm = sparsifier
                elif phase == "retrain":
                    sparsifier = self._hard_prune(inner, extra.get("_admm_final_library"))
                    model = self._rewrap(model, inner)
                    extra["compression_3x3"] = nominal_compression(sparsifier.layers())
                    recalibrate_batchnorm(model, train, cfg.batch_size, cfg.seed, self.device, self.rank, self.world)
                    extra["accuracy_after_hard_prune"] = evaluate(model, test, None, self.device, self.rank, self.world)
                    self._log(f"hard pruned: {extra['compression_3x3']:.2f}x on 3x3 layers, accuracy before "
                              f"retraining {extra['accuracy_after_hard_prune']:.2f}%")
            elif phase in ("admm", "retrain"):  # resumed inside the phase
                method = "admm" if phase == "admm" else "magnitude"
                sparsifier = self._new_sparsifier(method, total_updates).prepare(inner)
                sparsifier.load_state_dict(sparsifier_state)
                admm = sparsifier if phase == "admm" else None
                if phase == "retrain":
                    model = self._rewrap(model, inner)
            base_lr = {"dense": cfg.lr, "admm": cfg.admm_lr, "retrain": cfg.retrain_lr}[phase]
            optimizer = torch.optim.Adam(inner.parameters(), lr=base_lr)
            if opt_state is not None:
                optimizer.load_state_dict(opt_state)
            schedule = cfg.admm_lr_schedule if phase == "admm" else "cosine"
            total_steps = phase_epochs * iters_per_epoch

            while epochs_done < phase_epochs:
                global_epoch = sum(n for _, n in phases[:phase_index]) + epochs_done
                record = self._train_epoch(model, optimizer, admm, train, phase, epochs_done,
                                           global_epoch, base_lr, schedule, total_steps, iters_per_epoch, teacher)
                record["test_acc"] = evaluate(model, test, None, self.device, self.rank, self.world)
                record["time_s"] = time.time() - started
                history.append(record)
                self._log(f"[{phase} {epochs_done + 1}/{phase_epochs}] loss {record['train_loss']:.4f} "
                          f"train {record['train_acc']:.2f}% test {record['test_acc']:.2f}%"
                          + (f" library {record['library_size']} rho {record['rho']:.3g}" if admm else ""))
                epochs_done += 1
                if phase == "dense":
                    extra["dense_accuracy"] = record["test_acc"]
                if admm is not None and epochs_done == phase_epochs:
                    extra["_admm_final_library"] = [candidate_index(p) for p in admm.final_library()]
                    extra["admm_initial_library_size"] = admm.admm.initial_library_size
                next_phase, next_done = (phase_index, epochs_done) if epochs_done < phase_epochs else (phase_index + 1, 0)
                self._save_state({
                    "format": STATE_FORMAT, "version": STATE_VERSION, "config": dataclasses.asdict(cfg),
                    "model_state": plain_state_dict(inner), "phase_index": next_phase, "epochs_done": next_done,
                    "optimizer_state": optimizer.state_dict() if next_done else None,
                    "sparsifier_state": sparsifier.state_dict() if (sparsifier is not None and next_done) else None,
                    "history": history, "extra": extra,
                    "teacher_state": teacher.state_dict() if teacher is not None else None,
                    "elapsed_s": time.time() - started})
                epochs_this_call += 1
                if stop_after_epochs is not None and epochs_this_call >= stop_after_epochs and \
                        (next_phase, next_done) != (len(phases), 0):
                    self._log(f"stopped after {epochs_this_call} epoch(s); continue with --resume")
                    return None
            phase_index, epochs_done = phase_index + 1, 0
            opt_state = sparsifier_state = None

        if sparsifier is None and cfg.method != "dense":  # resumed after the last epoch had been saved
            sparsifier = self._hard_prune(inner, extra.get("_admm_final_library"))
        return self._finish(model, inner, sparsifier, history, extra, time.time() - started, test)

    # ----------------------------------------------------------------------------------------
    def _make_teacher(self, state_dict) -> nn.Module:
        """A frozen eval-mode model holding ``state_dict`` (not DDP-wrapped: each rank computes the
        teacher outputs of its own batches)."""
        with torch.random.fork_rng(devices=[]):  # building draws random init weights; leave the RNG alone
            teacher = self._build()
        teacher.load_state_dict(state_dict)
        teacher.to(self.device).eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        return teacher

    def _hard_prune(self, inner, final_library=None) -> PatternSparsifier:
        """Hard prune through the sparsifier: ADMM's final library, or (magnitude) the K most frequent
        natural patterns of the current weights."""
        library = candidate_patterns()[final_library] if (self.config.method == "admm" and final_library) else None
        sparsifier = self._new_sparsifier("magnitude").prepare(inner)
        sparsifier.hard_prune(library)
        return sparsifier

    def _train_epoch(self, model, optimizer, sparsifier, train: Split, phase, epoch_in_phase, global_epoch,
                     base_lr, schedule, total_steps, iters_per_epoch, teacher=None) -> dict:
        from tqdm import tqdm

        cfg = self.config
        model.train()
        update_every = max(1, iters_per_epoch // max(1, cfg.admm_updates_per_epoch))
        loss_sum = correct = seen = 0.0
        batches = train.batches(cfg.batch_size, seed=cfg.seed, epoch=global_epoch, rank=self.rank, world=self.world,
                                augment=cfg.augment)
        # disable=None: bars only on a terminal, so logs redirected to a file stay readable.
        bar = tqdm(batches, total=iters_per_epoch, disable=None if self.progress else True, leave=False,
                   desc=f"{phase} {epoch_in_phase + 1}", unit="batch", dynamic_ncols=True)
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
            if sparsifier is not None:
                sparsifier.add_penalty_grad()  # after backward: identical on every DDP rank
            optimizer.step()
            if sparsifier is not None and (step + 1) % update_every == 0 and \
                    (step + 1) // update_every <= cfg.admm_updates_per_epoch:
                sparsifier.step()
            loss_sum += float(loss.detach()) * len(y)
            correct += float((out.argmax(1) == y).sum())
            seen += len(y)
            if step % 20 == 0:
                bar.set_postfix(loss=f"{float(loss.detach()):.3f}")
        loss_sum, correct, seen = _all_sum([loss_sum, correct, seen], self.device, self.world)
        record = {"phase": phase, "epoch": global_epoch + 1, "train_loss": loss_sum / max(1, seen),
                  "train_acc": 100.0 * correct / max(1, seen), "lr": optimizer.param_groups[0]["lr"]}
        if sparsifier is not None:
            record.update(library_size=len(sparsifier.admm.library_indices), rho=sparsifier.admm.rho,
                          **sparsifier.residuals())
            record["penalty"] = sparsifier.penalty()
        return record

    def _finish(self, model, inner, sparsifier, history, extra, wall, test: Split) -> dict:
        cfg = self.config
        final_acc = evaluate(model, test, None, self.device, self.rank, self.world)
        checksums = [weights_checksum(plain_state_dict(inner))]
        if self.world > 1:
            gathered = [None] * self.world
            dist.all_gather_object(gathered, checksums[0])
            checksums = gathered
        report = compression_report(inner)
        layer_report = compression_report(inner, include_grouped=cfg.include_grouped)["layers"]
        epochs = {name: n for name, n in cfg.phases()}
        dataset = "fashion-mnist" if cfg.data == FASHION_MNIST else cfg.data
        metrics = {
            "model": cfg.model, "dataset": dataset, "method": cfg.method,
            "num_patterns": cfg.patterns if cfg.method != "dense" else None,
            "connectivity_target": cfg.connectivity, "exempt_first": cfg.exempt_first,
            "allocation": cfg.allocation, "accuracy": final_acc, "dense_accuracy": extra.get("dense_accuracy"),
            "accuracy_after_hard_prune": extra.get("accuracy_after_hard_prune"),
            "compression_3x3": report["compression"], "epochs": epochs,
            "distill": ({"alpha": cfg.distill, "temperature": cfg.distill_temperature}
                        if cfg.distill > 0 and cfg.method != "dense" else None),
            "total_epochs": sum(epochs.values()), "wall_time_s": wall, "world_size": self.world,
            "rank_weight_checksums": checksums, "config": dataclasses.asdict(cfg), "command": self.command,
            "train_examples": cfg.train_limit or (60000 if cfg.data == FASHION_MNIST else None),
            "test_examples": len(test), "input_shape": list(self.input_shape), "data": self.data_description,
            "history": history, "layers": {},
        }
        if metrics["train_examples"] is None:
            metrics.pop("train_examples")
        if "admm_initial_library_size" in extra:
            metrics["admm_initial_library_size"] = extra["admm_initial_library_size"]
        layers = sparsifier.layers() if sparsifier is not None else None
        if layers is not None:
            library = next(iter(layers.values()))["pattern_library"]
            metrics["pattern_library"] = library.tolist()
            for name, info in layers.items():
                mask = info["kernel_mask"]
                metrics["layers"][name] = {
                    **layer_report[name], "kind": info["kind"],
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
                ckpt.save_model(self.out / "dense.pt", inner, cfg.model, meta, input_shape=self.input_shape)
            else:
                meta["keep_ratios"] = dict(sparsifier.keep_ratios)
                # The run's method: hard pruning used ADMM's library through a plain projection.
                meta["sparsifier"] = {**sparsifier.options(), "method": cfg.method}
                sparsifier.export(inner, self.out / "pruned.pt", factory=cfg.model, metadata=meta,
                                  input_shape=self.input_shape)
            atomic_write(self.out / "metrics.json", json.dumps(metrics, indent=1, default=float) + "\n")
            from . import plots

            plots.plot_all(metrics, self.out)
        if self.world > 1:
            dist.barrier()
        return metrics
