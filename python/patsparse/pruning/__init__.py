"""Pattern-based pruning in PyTorch (pattern library extraction, ADMM, retraining, export).

Public entry points (imported lazily, so ``patsparse.pruning.patterns`` needs numpy only):

- :class:`PatternSparsifier` -- prune any model in your own training loop (``prepare``,
  ``penalty_loss`` / ``add_penalty_grad``, ``step``, ``hard_prune``, ``squash_mask``, ``export``).
- :func:`project_onto_patterns` -- project a model's 3x3 convs onto K patterns (+ connectivity).
- :mod:`patsparse.pruning.models` -- ``build(name)``, ``MODELS``, ``input_shape(name)``.
- :mod:`patsparse.pruning.checkpoint` -- ``save_pruned``, ``load_pruned``, ``CheckpointError``.
- ``patsparse-prune`` -- the command line (:mod:`patsparse.pruning.cli`).

See docs/pruning.md.
"""

_LAZY = {
    "PatternSparsifier": ("sparsifier", "PatternSparsifier"),
    "SparsifierError": ("sparsifier", "SparsifierError"),
    "ImageFolder": ("datasets", "ImageFolder"),
    "load_model": ("checkpoint", "load_model"),
    "project_onto_patterns": ("project", "project_onto_patterns"),
    "compression_report": ("project", "compression_report"),
    "conv3x3_layers": ("project", "conv3x3_layers"),
    "save_pruned": ("checkpoint", "save_pruned"),
    "load_pruned": ("checkpoint", "load_pruned"),
    "CheckpointError": ("checkpoint", "CheckpointError"),
    "verify_pruned": ("verify", "verify_pruned"),
}

__all__ = sorted(_LAZY)  # noqa: PLE0605


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module_name, attr = _LAZY[name]
        return getattr(importlib.import_module(f"{__name__}.{module_name}"), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
