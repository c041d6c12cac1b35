"""ADMM for pattern + connectivity pruning (after PatDNN / Ma et al.).

Problem: minimise the loss f(W) subject to W in S_p (every 3x3 kernel inside one pattern of
a K-pattern library) and W in S_c (at most n_l non-zero kernels in layer l). ADMM splits
it with auxiliary copies Z (pattern constraint) and Y (connectivity constraint) and scaled
duals U and V:

    W-step:  minimise f(W) + rho/2 ||W - Z + U||^2 + rho/2 ||W - Y + V||^2   (SGD/Adam steps)
    Z-step:  Z = proj_{S_p}(W + U)      (per kernel, the library pattern keeping most energy)
    Y-step:  Y = proj_{S_c}(W + V)      (per layer, the n_l kernels of largest L2 norm)
    duals:   U += W - Z,   V += W - Y

The W-step penalty is added to the gradients after ``backward`` (:meth:`AdmmPruner.add_penalty_grad`),
which works the same with DistributedDataParallel (the penalty is identical on every rank).
``rho`` grows geometrically from ``rho`` to ``rho_max`` over the planned Z/Y updates.

Library extraction happens *during* ADMM: the library starts as the ``initial_library``
most frequent natural patterns of the weights; at each Z-step the patterns used by the
fewest kernels (selection on W + U, over all layers) are dropped, following a linear
schedule that reaches K patterns after ``shrink_fraction`` of the updates, so the last
updates already train towards the final K-pattern library.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from . import connectivity as conn
from .patterns import candidate_patterns, pattern_frequencies, project_onto_library, select_patterns
from .project import conv3x3_layers, layer_keep_ratios


class AdmmPruner:
    """ADMM state (Z, U, Y, V per 3x3 layer, the shrinking library, rho) for one model.

    The engine behind :class:`patsparse.pruning.PatternSparsifier` (method "admm"), which is the
    public interface. ``layers`` (``(name, conv)`` pairs) and ``keep_ratios`` (per layer) choose
    the layers and their connectivity; by default every dense 3x3 conv, at the ratios of
    :func:`~patsparse.pruning.project.layer_keep_ratios`.
    """

    def __init__(self, model, num_patterns: int, connectivity: float | None = None, exempt_first: bool = True,
                 initial_library: int = 32, rho: float = 0.05, rho_max: float = 2.0, total_updates: int = 10,
                 shrink_fraction: float = 0.6, allocation: str = "uniform", layers=None,
                 keep_ratios: dict[str, float] | None = None):
        self.num_patterns = int(num_patterns)
        self.connectivity = connectivity
        self.rho0, self.rho_max = float(rho), float(rho_max)
        self.total_updates = max(1, int(total_updates))
        self.shrink_fraction = float(shrink_fraction)
        self.updates_done = 0
        self.rho = self.rho0
        layers = conv3x3_layers(model) if layers is None else list(layers)
        self.names = [name for name, _ in layers]
        ratios = layer_keep_ratios(model, connectivity, exempt_first, allocation) if keep_ratios is None \
            else {name: float(keep_ratios.get(name, 1.0)) for name in self.names}
        self.num_keep = {name: conn.kernels_to_keep(m.weight.shape[0] * m.weight.shape[1], ratios[name])
                         for name, m in layers}
        self.use_connectivity = any(r < 1.0 for r in ratios.values())
        # Initial library: the most frequent natural patterns of the current weights.
        counts = pattern_frequencies([m.weight for _, m in layers])
        used = int((counts > 0).sum())
        size = max(self.num_patterns, min(int(initial_library), used))
        self.initial_library_size = size
        self.library_indices = [int(i) for i in np.argsort(-counts, kind="stable")[:size]]
        self.Z, self.U, self.Y, self.V = {}, {}, {}, {}
        with torch.no_grad():
            for name, module in layers:
                w = module.weight.detach()
                self.Z[name], _ = project_onto_library(w.clone(), self.library)
                self.U[name] = torch.zeros_like(w)
                if self.use_connectivity:
                    self.Y[name], _ = conn.project_connectivity(w.clone(), self.num_keep[name])
                    self.V[name] = torch.zeros_like(w)

    @property
    def library(self) -> np.ndarray:
        """The current library, ``(L, 9)`` int8 (L shrinks to K during ADMM)."""
        return candidate_patterns()[self.library_indices]

    def target_library_size(self, update: int) -> int:
        """Library size after Z-update number ``update`` (0-based)."""
        span = max(1, math.ceil(self.shrink_fraction * self.total_updates))
        progress = min(1.0, (update + 1) / span)
        size = self.initial_library_size - (self.initial_library_size - self.num_patterns) * progress
        return max(self.num_patterns, math.ceil(size - 1e-9))

    def _modules(self, model):
        modules = dict(getattr(model, "module", model).named_modules())
        return {name: modules[name] for name in self.names}

    def penalty(self, model) -> float:
        """rho/2 (||W - Z + U||^2 + ||W - Y + V||^2), for logging."""
        total = 0.0
        for name, module in self._modules(model).items():
            w = module.weight.detach()
            total += float((w - self.Z[name] + self.U[name]).pow(2).sum())
            if self.use_connectivity:
                total += float((w - self.Y[name] + self.V[name]).pow(2).sum())
        return 0.5 * self.rho * total

    @torch.no_grad()
    def add_penalty_grad(self, model) -> None:
        """Add the gradient of the augmented-Lagrangian terms to every 3x3 weight's ``.grad``."""
        for name, module in self._modules(model).items():
            w = module.weight
            g = self.rho * (w - self.Z[name] + self.U[name])
            if self.use_connectivity:
                g += self.rho * (w - self.Y[name] + self.V[name])
            if w.grad is None:
                w.grad = g
            else:
                w.grad.add_(g)

    @torch.no_grad()
    def update(self, model) -> dict:
        """One Z/Y projection + dual update, library shrink, rho step. Returns usage info."""
        modules = self._modules(model)
        # Library shrink: count how many kernels (of W + U) pick each current pattern.
        target = self.target_library_size(self.updates_done)
        if target < len(self.library_indices):
            usage = np.zeros(len(self.library_indices), dtype=np.int64)
            for name, module in modules.items():
                ids = select_patterns(module.weight + self.U[name], self.library)
                usage += np.bincount(ids, minlength=len(usage))
            # Drop the least used; ties drop the later (less frequent at the start) pattern.
            keep = np.argsort(-usage, kind="stable")[:target]
            self.library_indices = [self.library_indices[i] for i in sorted(keep)]
        library = self.library
        for name, module in modules.items():
            w = module.weight
            self.Z[name], _ = project_onto_library(w + self.U[name], library)
            self.U[name] += w - self.Z[name]
            if self.use_connectivity:
                self.Y[name], _ = conn.project_connectivity(w + self.V[name], self.num_keep[name])
                self.V[name] += w - self.Y[name]
        self.updates_done += 1
        steps = self.total_updates
        growth = (self.rho_max / self.rho0) ** (1.0 / max(1, steps - 1)) if self.rho_max > self.rho0 else 1.0
        self.rho = min(self.rho_max, self.rho0 * growth ** self.updates_done)
        return {"library_size": len(self.library_indices), "rho": self.rho}

    @torch.no_grad()
    def residuals(self, model) -> dict:
        """Primal residuals ||W - Z|| / ||W|| and ||W - Y|| / ||W|| over all 3x3 layers."""
        wn = zn = yn = 0.0
        for name, module in self._modules(model).items():
            w = module.weight
            wn += float(w.pow(2).sum())
            zn += float((w - self.Z[name]).pow(2).sum())
            if self.use_connectivity:
                yn += float((w - self.Y[name]).pow(2).sum())
        scale = math.sqrt(wn) or 1.0
        # Distance of W itself to the constraint sets: what hard pruning would remove now.
        pd = cd = 0.0
        library = self.library
        for name, module in self._modules(model).items():
            w = module.weight
            pd += float((w - project_onto_library(w, library)[0]).pow(2).sum())
            if self.use_connectivity:
                cd += float((w - conn.project_connectivity(w, self.num_keep[name])[0]).pow(2).sum())
        return {"pattern_residual": math.sqrt(zn) / scale, "connectivity_residual": math.sqrt(yn) / scale,
                "pattern_distance": math.sqrt(pd) / scale, "connectivity_distance": math.sqrt(cd) / scale}

    def state_dict(self) -> dict:
        return {"library_indices": list(self.library_indices), "updates_done": self.updates_done, "rho": self.rho,
                "Z": dict(self.Z), "U": dict(self.U), "Y": dict(self.Y), "V": dict(self.V),
                "initial_library_size": self.initial_library_size}

    def load_state_dict(self, state: dict) -> None:
        self.library_indices = [int(i) for i in state["library_indices"]]
        self.updates_done = int(state["updates_done"])
        self.rho = float(state["rho"])
        self.initial_library_size = int(state["initial_library_size"])
        for key in ("Z", "U", "Y", "V"):
            setattr(self, key, {k: v.clone() for k, v in state[key].items()})
