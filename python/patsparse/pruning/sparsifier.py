"""`PatternSparsifier`: pattern + connectivity pruning for any `nn.Module`, in your own loop.

In the style of ``torch.ao.pruning``: ``prepare`` the model, train as usual with the ADMM
penalty added, call ``step`` a few times per epoch, ``hard_prune``, retrain (the masks are
parametrizations, so the optimiser needs no change), then ``export`` a checkpoint that
``patsparse-prune verify`` and ``patsparse-import`` read::

    sparsifier = PatternSparsifier(patterns=8, connectivity=8.0, updates=8)
    sparsifier.prepare(model)                   # every 3x3 conv, depthwise and grouped included
    for epoch in range(2):                      # ADMM: train towards the patterns
        for step, (x, y) in enumerate(loader):
            loss = F.cross_entropy(model(x), y) + sparsifier.penalty_loss()
            optimizer.zero_grad(); loss.backward(); optimizer.step()
            if step % 50 == 49:
                sparsifier.step()               # Z/Y projections, duals, library shrink
    sparsifier.hard_prune()                     # masks from here on
    ...                                         # retrain with the same optimiser / scheduler
    sparsifier.export(model, "pruned.pt")       # weights + library + per-kernel pattern ids

The penalty can instead be added to the gradients after ``backward``
(:meth:`PatternSparsifier.add_penalty_grad`; with a ``GradScaler`` call it after
``scaler.unscale_(optimizer)``). Under DistributedDataParallel prepare the inner model
before or after wrapping (``model.module`` is looked through); every rank computes the same
penalty and the same projections, so ranks stay in step. ``hard_prune`` registers
parametrizations, which a DDP wrapper built before them does not follow: wrap the model in
DDP again after it (``model = DistributedDataParallel(model.module, ...)``), as
``patsparse-prune`` does.

The method is the one of :mod:`patsparse.pruning.admm` (PatDNN / Ma et al.); ``method=
"magnitude"`` skips ADMM: ``hard_prune`` projects the current weights onto the K most frequent
natural patterns.
"""

from __future__ import annotations

import fnmatch

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from . import connectivity as conn
from .admm import AdmmPruner
from .patterns import candidate_patterns, check_library, extract_library, select_patterns
from .project import conv_kind, masks_from_layers, pattern_conv_layers, prune_layers

METHODS = ("admm", "magnitude")


class SparsifierError(ValueError):
    """A model, configuration or call order the sparsifier cannot work with (one-line message)."""


class PatternMask(nn.Module):
    """Parametrization ``weight -> weight * mask``: pruned taps stay zero and get no gradient."""

    def __init__(self, mask: torch.Tensor):
        super().__init__()
        self.register_buffer("mask", mask)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight * self.mask


def _inner(model: nn.Module) -> nn.Module:
    return getattr(model, "module", model)  # DistributedDataParallel wraps the model


def _entry_name(entry) -> tuple[str, dict]:
    """A config entry (``"features.3"``, ``{"module": ...}`` or ``{"tensor_fqn": "features.3.weight"}``)."""
    if isinstance(entry, str):
        return entry, {}
    if isinstance(entry, dict):
        options = dict(entry)
        name = options.pop("module", None)
        fqn = options.pop("tensor_fqn", None)
        if name is None and fqn is not None:
            name = fqn.removesuffix(".weight")
        if isinstance(name, str):
            unknown = set(options) - {"keep_ratio"}
            if unknown:
                raise SparsifierError(f"config entry for {name!r}: unknown option(s) {', '.join(sorted(unknown))}; "
                                      "expected keep_ratio")
            return name, options
    raise SparsifierError(f"config entry {entry!r}: expected a module path, or a dict with 'module' (or "
                          "'tensor_fqn') and optionally 'keep_ratio'")


class PatternSparsifier:
    """Pattern (K-pattern library, 4 of 9 taps per kernel) and connectivity pruning of 3x3 convs.

    Args:
        patterns: K, the size of the pattern library (1..56).
        connectivity: total compression of the dense 3x3 layers, patterns included (e.g. 8.0:
            patterns give 2.25x, so 28% of the kernels stay); ``None``: patterns only.
        method: ``"admm"`` (train towards the constraints first) or ``"magnitude"``.
        exempt_first: the first dense 3x3 conv keeps all its kernels.
        allocation: ``"uniform"`` (one keep ratio) or ``"erk"`` (narrow layers keep more).
        include_grouped: also prune depthwise and grouped 3x3 convs (patterns only: a depthwise
            channel has one kernel, so they keep every kernel).
        updates: how many times :meth:`step` will be called (sets the rho growth from ``rho``
            to ``rho_max`` and the library shrink, which reaches K after ``shrink_fraction`` of them).
        initial_library: ADMM starts from this many most frequent natural patterns.

    >>> model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3, groups=4))
    >>> sparsifier = PatternSparsifier(patterns=2, method="magnitude").prepare(model)
    >>> sparsifier.layer_names
    ['0', '2']
    >>> layers = sparsifier.hard_prune()
    >>> [int((m.weight[0, 0] != 0).sum()) for m in (model[0], model[2])]
    [4, 4]
    """

    def __init__(self, patterns: int = 8, connectivity: float | None = None, method: str = "admm", *,
                 exempt_first: bool = True, allocation: str = "uniform", include_grouped: bool = True,
                 updates: int = 12, initial_library: int = 32, rho: float = 0.05, rho_max: float = 2.0,
                 shrink_fraction: float = 0.6):
        if method not in METHODS:
            raise SparsifierError(f"method {method!r}: expected one of {', '.join(METHODS)}")
        if not 1 <= int(patterns) <= len(candidate_patterns()):
            raise SparsifierError(f"patterns={patterns}: expected 1 to 56 (there are 56 candidate patterns)")
        if connectivity is not None and connectivity < 9 / 4:
            raise SparsifierError(f"connectivity={connectivity}: expected at least 2.25 (patterns alone give 2.25x)")
        if allocation not in conn.ALLOCATIONS:
            raise SparsifierError(f"allocation {allocation!r}: expected one of {', '.join(conn.ALLOCATIONS)}")
        self.patterns = int(patterns)
        self.connectivity = None if connectivity is None else float(connectivity)
        self.method = method
        self.exempt_first = bool(exempt_first)
        self.allocation = allocation
        self.include_grouped = bool(include_grouped)
        self.updates = max(1, int(updates))
        self.initial_library = int(initial_library)
        self.rho, self.rho_max, self.shrink_fraction = float(rho), float(rho_max), float(shrink_fraction)
        self.model: nn.Module | None = None
        self.keep_ratios: dict[str, float] = {}
        self.admm: AdmmPruner | None = None
        self.pruned_layers: dict | None = None

    # ------------------------------------------------------------------------------------------
    def options(self) -> dict:
        """The constructor's arguments (recorded in checkpoints and training states)."""
        return {"patterns": self.patterns, "connectivity": self.connectivity, "method": self.method,
                "exempt_first": self.exempt_first, "allocation": self.allocation,
                "include_grouped": self.include_grouped, "updates": self.updates,
                "initial_library": self.initial_library, "rho": self.rho, "rho_max": self.rho_max,
                "shrink_fraction": self.shrink_fraction}

    @property
    def layer_names(self) -> list[str]:
        """Module paths of the prepared convs, in definition order."""
        return list(self.keep_ratios)

    def _layers(self) -> list[tuple[str, nn.Conv2d]]:
        if self.model is None:
            raise SparsifierError("call prepare(model) first")
        modules = dict(_inner(self.model).named_modules())
        return [(name, modules[name]) for name in self.keep_ratios]

    def prepare(self, model: nn.Module, config=None, exclude=()) -> PatternSparsifier:
        """Find the convs to prune and set up the ADMM state. Returns ``self``.

        ``config``: ``None`` (every eligible 3x3 conv) or a list of module paths / dicts
        ``{"module": "features.3", "keep_ratio": 0.5}`` (``"tensor_fqn": "features.3.weight"``
        as in ``torch.ao.pruning`` works too); a ``keep_ratio`` overrides the connectivity
        share of that layer. ``exclude``: module paths or glob patterns (``"head.*"``) to leave
        dense.
        """
        inner = _inner(model)
        eligible = pattern_conv_layers(inner, self.include_grouped)
        by_name = dict(eligible)
        overrides = {}
        if config is None:
            chosen = [name for name, _ in eligible]
        else:
            chosen = []
            modules = dict(inner.named_modules())
            for entry in config:
                name, options = _entry_name(entry)
                if name not in by_name:
                    what = (f"is a {type(modules[name]).__name__}" if name in modules else "is not a module of the model")
                    raise SparsifierError(f"config: {name!r} {what}; expected a 3x3 nn.Conv2d (eligible: "
                                          f"{', '.join(by_name) or 'none'})")
                chosen.append(name)
                if "keep_ratio" in options:
                    ratio = float(options["keep_ratio"])
                    if not 0.0 < ratio <= 1.0:
                        raise SparsifierError(f"config: {name!r} keep_ratio {ratio}: expected a value in (0, 1]")
                    overrides[name] = ratio
            chosen = [name for name, _ in eligible if name in set(chosen)]  # definition order
        chosen = [name for name in chosen if not any(fnmatch.fnmatchcase(name, pat) for pat in exclude)]
        if not chosen:
            found = sorted({type(m).__name__ for m in inner.modules() if isinstance(m, nn.Conv2d)
                            or type(m).__name__.startswith("Conv")})
            raise SparsifierError(
                f"model {type(inner).__name__} has no 3x3 convolution to prune"
                + (f" (it has {', '.join(found)} layers, none 3x3{'' if self.include_grouped else ' with groups=1'})"
                   if found else "") + "; expected at least one nn.Conv2d with kernel_size 3")
        self.model = model
        dense = [name for name in chosen if by_name[name].groups == 1]
        shapes = [tuple(by_name[name].weight.shape[:2]) for name in dense]
        exempt = {0} if self.exempt_first and len(dense) > 1 else set()
        scores = conn.erk_scores(shapes) if self.allocation == "erk" else None
        try:
            ratios = conn.keep_ratios_for_target([o * i for o, i in shapes], self.connectivity, exempt, scores) \
                if dense else []
        except ValueError as err:
            raise SparsifierError(str(err)) from None
        dense_ratios = dict(zip(dense, ratios))
        self.keep_ratios = {name: overrides.get(name, dense_ratios.get(name, 1.0)) for name in chosen}
        self.pruned_layers = None
        self.admm = None
        if self.method == "admm":
            self.admm = AdmmPruner(inner, self.patterns, self.connectivity, initial_library=self.initial_library,
                                   rho=self.rho, rho_max=self.rho_max, total_updates=self.updates,
                                   shrink_fraction=self.shrink_fraction, layers=self._layers(),
                                   keep_ratios=self.keep_ratios)
        return self

    # ------------------------------------------------------------------------------------------
    def _admm(self, what: str) -> AdmmPruner:
        if self.model is None:
            raise SparsifierError(f"{what}: call prepare(model) first")
        if self.admm is None:
            raise SparsifierError(f"{what}: only for method 'admm' before hard_prune()")
        return self.admm

    def penalty_loss(self) -> torch.Tensor:
        """The ADMM penalty ``rho/2 (||W - Z + U||^2 + ||W - Y + V||^2)`` as a differentiable term to
        add to the loss (works with autocast, ``GradScaler``, gradient accumulation and DDP). Zero
        once hard pruned or for method "magnitude"."""
        if self.admm is None:
            return torch.zeros(())
        admm = self._admm("penalty_loss")
        total = 0.0
        for name, module in admm._modules(_inner(self.model)).items():
            w = module.weight
            total = total + (w - admm.Z[name] + admm.U[name]).pow(2).sum()
            if admm.use_connectivity:
                total = total + (w - admm.Y[name] + admm.V[name]).pow(2).sum()
        return 0.5 * admm.rho * total

    def add_penalty_grad(self) -> None:
        """Add the penalty's gradient to every prepared weight's ``.grad`` (call after ``backward``,
        before ``optimizer.step()``; with a ``GradScaler`` after ``scaler.unscale_``). No-op once
        hard pruned or for method "magnitude"."""
        if self.admm is not None:
            self.admm.add_penalty_grad(_inner(self.model))

    def step(self) -> dict:
        """One ADMM update: Z/Y projections, dual updates, library shrink, rho growth.

        Returns ``{"library_size", "rho"}``. For method "magnitude" (nothing to update) it returns
        ``{}``. Call it ``updates`` times in all, spread over the ADMM epochs.
        """
        if self.method == "magnitude":
            return {}
        return self._admm("step").update(_inner(self.model))

    def residuals(self) -> dict:
        """How far the weights are from the constraint sets (see :meth:`AdmmPruner.residuals`)."""
        return self._admm("residuals").residuals(_inner(self.model))

    def penalty(self) -> float:
        """The penalty's value (a float, for logging)."""
        return self._admm("penalty").penalty(_inner(self.model))

    @property
    def library(self) -> np.ndarray:
        """The current pattern library ``(L, 9)`` (L shrinks to K during ADMM; K after hard pruning)."""
        if self.pruned_layers:
            return next(iter(self.pruned_layers.values()))["pattern_library"]
        return self._admm("library").library

    def final_library(self) -> np.ndarray:
        """The K-pattern library :meth:`hard_prune` uses: the ADMM library (its K most used
        patterns if :meth:`step` was called too few times to shrink it), or for "magnitude" the K
        most frequent natural patterns of the current weights."""
        layers = self._layers()
        if self.admm is None:
            return extract_library([m.weight for _, m in layers], self.patterns)
        indices = list(self.admm.library_indices)
        if len(indices) > self.patterns:
            library = candidate_patterns()[indices]
            usage = np.zeros(len(indices), dtype=np.int64)
            for _, module in layers:
                usage += np.bincount(select_patterns(module.weight, library), minlength=len(indices))
            keep = sorted(np.argsort(-usage, kind="stable")[: self.patterns])
            indices = [indices[i] for i in keep]
        return candidate_patterns()[indices[: self.patterns]]

    @torch.no_grad()
    def hard_prune(self, library=None) -> dict:
        """Project every prepared kernel onto its best library pattern, remove the weakest kernels
        (per-layer keep ratios), and register the masks as parametrizations. Returns the layers
        dict (``pattern_library``, ``pattern_ids``, ``kernel_mask`` per module path).

        After this the model trains with any optimiser: masked taps stay zero and get zero
        gradients. Re-estimate BatchNorm statistics before evaluating (the weights changed).
        """
        layers_list = self._layers()
        if self.pruned_layers is not None:
            raise SparsifierError("hard_prune: already hard pruned")
        library = self.final_library() if library is None else check_library(library)
        layers = prune_layers(layers_list, library, self.keep_ratios)
        self._register_masks(layers)
        self.admm = None  # the ADMM variables are no longer needed
        return self.layers()

    def _register_masks(self, layers: dict) -> None:
        modules = dict(self._layers())
        for name, mask in masks_from_layers(layers).items():
            module = modules[name]
            weight = module.weight
            with torch.no_grad():
                weight.mul_(mask.to(weight))
            parametrize.register_parametrization(module, "weight", PatternMask(mask.to(weight)))
        self.pruned_layers = {name: dict(info) for name, info in layers.items()}

    def layers(self) -> dict:
        """The layers dict of the hard-pruned model (what :func:`~patsparse.pruning.checkpoint.save_pruned`
        stores), each entry with ``keep_ratio`` and ``kind`` (dense / depthwise / grouped)."""
        if self.pruned_layers is None:
            raise SparsifierError("layers: call hard_prune() first")
        modules = dict(self._layers())
        return {name: {**info, "keep_ratio": self.keep_ratios[name], "kind": conv_kind(modules[name])}
                for name, info in self.pruned_layers.items()}

    def squash_mask(self) -> None:
        """Remove the mask parametrizations, leaving plain ``weight`` parameters with the zeros in
        them (the model's state dict then has its original keys)."""
        if self.pruned_layers is None:
            raise SparsifierError("squash_mask: call hard_prune() first")
        for _, module in self._layers():
            if parametrize.is_parametrized(module, "weight"):
                parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)

    def export(self, model: nn.Module, path, *, factory: str | None = None, model_kwargs: dict | None = None,
               input_shape=None, metadata: dict | None = None) -> None:
        """Write a pruned checkpoint of ``model`` (hard-pruned by this sparsifier) to ``path``.

        ``factory`` (``"module.path:function_or_class"``, default the model's class) and
        ``model_kwargs`` rebuild the model; ``input_shape`` (e.g. ``(1, 3, 32, 32)``) lets
        ``patsparse-import`` run without ``--input-shape``. A ``.safetensors`` path writes one
        safetensors file (no pickle), anything else a ``torch.save`` file loadable with
        ``weights_only=True``. See :func:`patsparse.pruning.checkpoint.save_pruned`.
        """
        from .checkpoint import model_reference, save_pruned

        if self.pruned_layers is None:
            raise SparsifierError("export: call hard_prune() first")
        meta = {"method": self.method, "num_patterns": self.patterns, "connectivity_target": self.connectivity,
                "sparsifier": self.options(), **(metadata or {})}
        reference = factory or model_reference(model)
        save_pruned(path, model, reference, self.layers(), meta, model_kwargs=model_kwargs, input_shape=input_shape)

    # ------------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything needed to continue (options, keep ratios, ADMM variables or masks)."""
        layers = None
        if self.pruned_layers is not None:
            layers = {name: {key: (torch.as_tensor(value) if key != "groups" else int(value))
                             for key, value in info.items()} for name, info in self.pruned_layers.items()}
        return {"options": self.options(), "keep_ratios": dict(self.keep_ratios),
                "admm": self.admm.state_dict() if self.admm is not None else None, "layers": layers}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict` onto the model given to :meth:`prepare` (with its plain weights)."""
        if self.model is None:
            raise SparsifierError("load_state_dict: call prepare(model) first")
        if list(state["keep_ratios"]) != self.layer_names:
            raise SparsifierError("load_state_dict: the saved state is for layers "
                                  f"{', '.join(state['keep_ratios'])}, not {', '.join(self.layer_names)}")
        self.keep_ratios = {k: float(v) for k, v in state["keep_ratios"].items()}
        if state["layers"] is not None:
            layers = {name: {key: (value.numpy() if hasattr(value, "numpy") else value) for key, value in info.items()}
                      for name, info in state["layers"].items()}
            self.admm = None
            self._register_masks(layers)
        elif state["admm"] is not None and self.admm is not None:
            self.admm.load_state_dict(state["admm"])


def plain_state_dict(model: nn.Module) -> dict:
    """``model.state_dict()`` with mask parametrizations folded: ``X.weight`` (masked) in place of
    ``X.parametrizations.weight.original`` and no mask buffers, so it loads into an unprepared model."""
    model = _inner(model)
    effective = {}
    for name, module in model.named_modules():
        if parametrize.is_parametrized(module, "weight"):
            prefix = f"{name}." if name else ""
            effective[f"{prefix}parametrizations.weight.original"] = (f"{prefix}weight", module.weight.detach())
    out = {}
    for key, value in model.state_dict().items():
        if key in effective:
            new_key, weight = effective[key]
            out[new_key] = weight.clone()
        elif ".parametrizations.weight." in f".{key}":
            continue  # a mask buffer
        else:
            out[key] = value
    return out
