"""Pruned (and dense) checkpoints: the file the compiler consumes.

A pruned checkpoint is a ``torch.save`` dict::

    {"format": "patsparse-pruned", "version": 1,
     "model": "vgg_small", "model_kwargs": {...},
     "state_dict": {...},
     "layers": {conv_module_name: {"pattern_library": int8 tensor (K, 9),
                                   "pattern_ids": int32 tensor (O, I), -1 = removed kernel,
                                   "kernel_mask": bool tensor (O, I)}},
     "metadata": {"dataset": ..., "num_patterns": K, "accuracy": ..., ...}}

Everything in it is a tensor or a plain Python value, so it loads with
``torch.load(path, weights_only=True)``. :func:`load_pruned` returns the layers as numpy
arrays (library int8, ids int64, mask bool). A dense checkpoint has the same shape with
``"format": "patsparse-dense"`` and no ``"layers"``. Files are written atomically
(temporary name in the same folder, then rename), so a crash never leaves half a file.
"""

from __future__ import annotations

import io
import pickle
import re
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from patsparse.dialect.support import atomic_write

from . import models

FORMAT_PRUNED = "patsparse-pruned"
FORMAT_DENSE = "patsparse-dense"
VERSION = 1


class CheckpointError(Exception):
    """A checkpoint is missing, unreadable, or not what was expected (one-line message)."""


def atomic_save(obj, path) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = io.BytesIO()
    torch.save(obj, data)
    atomic_write(path, data.getvalue())


def _plain(value):
    """Metadata as plain Python values (loadable with weights_only=True)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def save_model(path, model: nn.Module, model_name: str, metadata: dict | None = None,
               model_kwargs: dict | None = None) -> None:
    """Write a dense checkpoint (a trained baseline that pruning can start from)."""
    model = getattr(model, "module", model)
    atomic_save({"format": FORMAT_DENSE, "version": VERSION, "model": model_name,
                 "model_kwargs": dict(model_kwargs or {}), "state_dict": model.state_dict(),
                 "metadata": _plain(metadata or {})}, path)


def save_pruned(path, model: nn.Module, model_name: str, layers: dict, metadata: dict | None = None,
                model_kwargs: dict | None = None) -> None:
    """Write a pruned checkpoint: weights, per-layer library / pattern ids / kernel mask, metadata."""
    model = getattr(model, "module", model)
    stored_layers = {}
    for name, info in layers.items():
        stored_layers[name] = {
            "pattern_library": torch.as_tensor(np.asarray(info["pattern_library"], dtype=np.int8)),
            "pattern_ids": torch.as_tensor(np.asarray(info["pattern_ids"], dtype=np.int32)),
            "kernel_mask": torch.as_tensor(np.asarray(info["kernel_mask"], dtype=bool)),
        }
    atomic_save({"format": FORMAT_PRUNED, "version": VERSION, "model": model_name,
                 "model_kwargs": dict(model_kwargs or {}), "state_dict": model.state_dict(),
                 "layers": stored_layers, "metadata": _plain(metadata or {})}, path)


def read_checkpoint(path, formats=(FORMAT_PRUNED,)) -> dict:
    """Load and check the outer structure of a checkpoint; CheckpointError on any problem."""
    path = Path(path)
    expected = " or ".join(f"a {f} checkpoint" for f in formats)
    if path.is_dir():
        raise CheckpointError(f"{path}: is a directory (expected {expected})")
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file (expected {expected})")
    not_torch = CheckpointError(f"{path}: not a PyTorch checkpoint (expected a file written by patsparse-prune / torch.save)")
    try:
        # torch.save writes a zip archive ("PK"), or a pickle (protocol opcode 0x80) in old
        # versions; anything else would only get torch.load's long "Weights only load failed".
        with open(path, "rb") as file:
            if not file.read(2).startswith((b"PK", b"\x80")):
                raise not_torch
        with warnings.catch_warnings():  # pickle protocol warnings: errors stay one line
            warnings.simplefilter("ignore")
            data = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError,
            AttributeError, TypeError) as err:
        unsafe = re.search(r"Unsupported global: GLOBAL (\S+)", str(err))
        if "WeightsUnpickler error" in str(err) and not unsafe:
            raise not_torch from None  # a pickle, but of no tensors (or garbage after 0x80)
        reason = (f"it pickles {unsafe[1]}, refused by weights_only loading: a whole model saved?" if unsafe else
                  str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__)
        if len(reason) > 120:
            reason = reason[:117] + "..."
        raise CheckpointError(f"{path}: cannot read it ({reason}); expected {expected}") from None
    if not isinstance(data, dict) or "format" not in data:
        what = "a plain state_dict" if isinstance(data, dict) else f"a {type(data).__name__}"
        raise CheckpointError(f"{path}: holds {what}, not {expected} (no 'format' key)")
    if data["format"] not in formats:
        raise CheckpointError(f"{path}: format is {data['format']!r}; expected {expected}")
    if data.get("version") != VERSION:
        raise CheckpointError(f"{path}: version {data.get('version')!r} is not supported (expected {VERSION})")
    for key in ("model", "model_kwargs", "state_dict", "metadata") + (("layers",) if data["format"] == FORMAT_PRUNED else ()):
        if key not in data:
            raise CheckpointError(f"{path}: missing key {key!r} (expected {expected})")
    if data["model"] not in models.MODELS:
        raise CheckpointError(f"{path}: unknown model {data['model']!r}; known: {', '.join(models.MODELS)}")
    return data


def _build(path, data: dict) -> nn.Module:
    try:
        model = models.build(data["model"], **data["model_kwargs"])
        model.load_state_dict(data["state_dict"])
    except (RuntimeError, TypeError, ValueError) as err:
        first = str(err).strip().splitlines()[0]
        raise CheckpointError(f"{path}: weights do not fit model {data['model']!r} ({first})") from None
    return model.eval()


def _layers_as_numpy(path, data: dict) -> dict:
    layers = {}
    for name, info in data["layers"].items():
        try:
            layers[name] = {
                "pattern_library": info["pattern_library"].numpy().astype(np.int8),
                "pattern_ids": info["pattern_ids"].numpy().astype(np.int64),
                "kernel_mask": info["kernel_mask"].numpy().astype(bool),
            }
        except (KeyError, AttributeError, TypeError):
            raise CheckpointError(
                f"{path}: layer {name!r} lacks pattern_library / pattern_ids / kernel_mask tensors") from None
    return layers


def load_pruned(path) -> tuple[nn.Module, dict]:
    """Load a pruned checkpoint: ``(model in eval mode, info)``.

    ``info`` holds "model", "model_kwargs", "metadata", "path" and "layers" (numpy arrays).
    Raises :class:`CheckpointError` for a missing, corrupt or foreign file.
    """
    data = read_checkpoint(path, (FORMAT_PRUNED,))
    model = _build(path, data)
    info = {"model": data["model"], "model_kwargs": data["model_kwargs"], "metadata": data["metadata"],
            "layers": _layers_as_numpy(path, data), "path": str(path)}
    return model, info


def load_model(path) -> tuple[nn.Module, dict]:
    """Load a dense or pruned checkpoint as a model (e.g. the start of pruning)."""
    data = read_checkpoint(path, (FORMAT_DENSE, FORMAT_PRUNED))
    model = _build(path, data)
    info = {"model": data["model"], "model_kwargs": data["model_kwargs"], "metadata": data["metadata"],
            "format": data["format"], "path": str(path)}
    if data["format"] == FORMAT_PRUNED:
        info["layers"] = _layers_as_numpy(path, data)
    return model, info
