"""Pruned (and dense) checkpoints: the file the compiler consumes.

A pruned checkpoint is a ``torch.save`` dict::

    {"format": "patsparse-pruned", "version": 2,
     "model": "vgg_small" or "my_models:TinyNet", "model_kwargs": {...},
     "input_shape": [1, 3, 32, 32] (optional),
     "state_dict": {...},
     "layers": {conv_module_name: {"pattern_library": int8 tensor (K, 9),
                                   "pattern_ids": int32 tensor (O, I / groups), -1 = removed kernel,
                                   "kernel_mask": bool tensor (O, I / groups),
                                   "groups": int (only for grouped / depthwise convs)}},
     "metadata": {"dataset": ..., "num_patterns": K, "accuracy": ..., ...}}

``model`` is a name of :mod:`patsparse.pruning.models` or a ``module.path:factory`` reference
to any function or class that, called with ``model_kwargs``, returns the ``nn.Module``; the
module is imported from ``sys.path``, the current directory, the checkpoint's folder, the
folders in ``$PATSPARSE_MODEL_PATH`` or a ``model_path`` argument. Version 1 files (no
``input_shape``, no ``groups``, zoo names only) still load.

Everything in it is a tensor or a plain Python value, so it loads with
``torch.load(path, weights_only=True)``. The same content can be written as one
``.safetensors`` file (tensors ``state_dict/<key>`` and ``layers/<name>/<field>``, the rest as
JSON in the header's ``patsparse`` metadata): no pickle at all. :func:`load_pruned` reads both
and returns the layers as numpy arrays (library int8, ids int64, mask bool). A dense checkpoint
has the same shape with ``"format": "patsparse-dense"`` and no ``"layers"``. Files are written
atomically (temporary name in the same folder, then rename), so a crash never leaves half a file.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import pickle
import re
import struct
import sys
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
VERSION = 2
READABLE_VERSIONS = (1, 2)
MODEL_PATH_VARIABLE = "PATSPARSE_MODEL_PATH"
SAFETENSORS_SUFFIX = ".safetensors"


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


def model_reference(model: nn.Module) -> str:
    """``"module:Class"`` of a model defined in an importable module (what a checkpoint records).

    A model of :mod:`patsparse.pruning.models` gets its class path too; pass the zoo name to
    :func:`save_pruned` instead to record it by name. Raises :class:`CheckpointError` for a class
    defined in ``__main__`` or inside a function (nothing could import it again).
    """
    model = getattr(model, "module", model)
    cls = type(model)
    if cls.__module__ == "__main__" or "<locals>" in cls.__qualname__:
        raise CheckpointError(f"model class {cls.__qualname__} is defined in {cls.__module__ if cls.__module__ == '__main__' else 'a function'}, "
                              "so a checkpoint cannot rebuild it; expected a class in an importable module, or "
                              "give factory='module.path:function'")
    return f"{cls.__module__}:{cls.__qualname__}"


def _header(fmt: str, model, model_name: str, model_kwargs, input_shape, metadata) -> dict:
    header = {"format": fmt, "version": VERSION, "model": str(model_name), "model_kwargs": _plain(dict(model_kwargs or {})),
              "metadata": _plain(metadata or {})}
    if input_shape is not None:
        header["input_shape"] = [int(d) for d in input_shape]
    return header


def _state_dict(model: nn.Module) -> dict:
    from .sparsifier import plain_state_dict

    return plain_state_dict(model)


def _write(path, content: dict) -> None:
    path = Path(path)
    if path.suffix == SAFETENSORS_SUFFIX:
        atomic_write_bytes(path, _safetensors_bytes(content))
    else:
        atomic_save(content, path)


def atomic_write_bytes(path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, data)


def save_model(path, model: nn.Module, model_name: str, metadata: dict | None = None,
               model_kwargs: dict | None = None, input_shape=None) -> None:
    """Write a dense checkpoint (a trained baseline that pruning can start from)."""
    model = getattr(model, "module", model)
    content = _header(FORMAT_DENSE, model, model_name, model_kwargs, input_shape, metadata)
    content["state_dict"] = _state_dict(model)
    _write(path, content)


def save_pruned(path, model: nn.Module, model_name: str, layers: dict, metadata: dict | None = None,
                model_kwargs: dict | None = None, input_shape=None) -> None:
    """Write a pruned checkpoint: weights, per-layer library / pattern ids / kernel mask, metadata.

    ``model_name`` is a :mod:`patsparse.pruning.models` name or a ``module.path:factory``
    reference (see :func:`model_reference`); a reference is checked first: it must import and
    build a model whose weights fit, else :class:`CheckpointError` and nothing is written.
    ``path`` ending in ``.safetensors`` writes a safetensors file.
    """
    model = getattr(model, "module", model)
    stored_layers = {}
    for name, info in layers.items():
        stored_layers[name] = {
            "pattern_library": torch.as_tensor(np.asarray(info["pattern_library"], dtype=np.int8)),
            "pattern_ids": torch.as_tensor(np.asarray(info["pattern_ids"], dtype=np.int32)),
            "kernel_mask": torch.as_tensor(np.asarray(info["kernel_mask"], dtype=bool)),
        }
        if int(info.get("groups", 1)) != 1:
            stored_layers[name]["groups"] = int(info["groups"])
    content = _header(FORMAT_PRUNED, model, model_name, model_kwargs, input_shape, metadata)
    content["state_dict"] = _state_dict(model)
    content["layers"] = stored_layers
    if model_name not in models.MODELS:
        _build(path, content, what_for="cannot be written")  # the reference must rebuild this model
    _write(path, content)


def _safetensors_bytes(content: dict) -> bytes:
    from safetensors.torch import save

    tensors = {f"state_dict/{k}": v.detach().cpu().contiguous().clone() for k, v in content["state_dict"].items()}
    layers_json = {}
    for name, info in content.get("layers", {}).items():
        layers_json[name] = {"groups": info["groups"]} if "groups" in info else {}
        for field in ("pattern_library", "pattern_ids", "kernel_mask"):
            tensors[f"layers/{name}/{field}"] = info[field].contiguous()
    header = {k: v for k, v in content.items() if k not in ("state_dict", "layers")}
    if "layers" in content:
        header["layers"] = layers_json
    header["state_dict_keys"] = list(content["state_dict"])
    return save(tensors, metadata={"patsparse": json.dumps(header)})


def _read_safetensors(path: Path, raw: bytes) -> dict:
    from safetensors.torch import load

    (size,) = struct.unpack("<Q", raw[:8])
    try:
        meta = json.loads(raw[8:8 + size]).get("__metadata__") or {}
        header = json.loads(meta["patsparse"])
        tensors = load(raw)
    except (ValueError, KeyError, TypeError, RuntimeError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"{path}: a safetensors file, but not one written by patsparse ({reason[:100]})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: a safetensors file whose patsparse metadata is not a JSON object")
    data = dict(header)
    keys = header.pop("state_dict_keys", None) or [k[len("state_dict/"):] for k in tensors if k.startswith("state_dict/")]
    data.pop("state_dict_keys", None)
    try:
        data["state_dict"] = {k: tensors[f"state_dict/{k}"] for k in keys}
        if isinstance(header.get("layers"), dict):
            data["layers"] = {name: {**extra, **{f: tensors[f"layers/{name}/{f}"]
                                                 for f in ("pattern_library", "pattern_ids", "kernel_mask")}}
                              for name, extra in header["layers"].items()}
    except KeyError as err:
        raise CheckpointError(f"{path}: the safetensors file lacks tensor {err.args[0]!r}") from None
    return data


def _is_safetensors(start: bytes, size: int) -> bool:
    """A safetensors file: an 8-byte little-endian header length, then the JSON header."""
    return len(start) > 9 and struct.unpack("<Q", start[:8])[0] < size and start[8:9] == b"{"


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
        # versions; a safetensors file starts with its header's length and "{". Anything else
        # would only get torch.load's long "Weights only load failed".
        with open(path, "rb") as file:
            start = file.read(16)
        if _is_safetensors(start, path.stat().st_size):
            data = _read_safetensors(path, path.read_bytes())
            return _check_structure(path, data, formats, expected)
        if not start.startswith((b"PK", b"\x80")):
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
    return _check_structure(path, data, formats, expected)


def _check_structure(path, data, formats, expected) -> dict:
    if not isinstance(data, dict) or "format" not in data:
        what = "a plain state_dict" if isinstance(data, dict) else f"a {type(data).__name__}"
        raise CheckpointError(f"{path}: holds {what}, not {expected} (no 'format' key)")
    if data["format"] not in formats:
        raise CheckpointError(f"{path}: format is {data['format']!r}; expected {expected}")
    if data.get("version") not in READABLE_VERSIONS:
        raise CheckpointError(f"{path}: version {data.get('version')!r} is not supported "
                              f"(expected {' or '.join(map(str, READABLE_VERSIONS))})")
    for key in ("model", "model_kwargs", "state_dict", "metadata") + (("layers",) if data["format"] == FORMAT_PRUNED else ()):
        if key not in data:
            raise CheckpointError(f"{path}: missing key {key!r} (expected {expected})")
    model = data["model"]
    if not isinstance(model, str) or (model not in models.MODELS and not _REFERENCE.match(model)):
        raise CheckpointError(f"{path}: unknown model {model!r}; expected one of {', '.join(models.MODELS)} "
                              "or a module.path:factory reference")
    return data


_DOTTED = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_REFERENCE = re.compile(rf"^(?P<module>{_DOTTED}):(?P<factory>{_DOTTED})$")


def _first_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    text = f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def model_search_path(path=None, model_path=None) -> list[str]:
    """Folders searched for a checkpoint's model module, after ``sys.path``: ``model_path``
    (a folder or a list), ``$PATSPARSE_MODEL_PATH``, the current directory, the checkpoint's folder."""
    folders = []
    if model_path:
        folders += [str(model_path)] if isinstance(model_path, (str, os.PathLike)) else [str(p) for p in model_path]
    folders += [p for p in os.environ.get(MODEL_PATH_VARIABLE, "").split(os.pathsep) if p]
    folders.append(os.getcwd())
    if path is not None:
        folders.append(str(Path(path).resolve().parent))
    return folders


def resolve_factory(reference: str, search=(), where: str = ""):
    """The callable named by ``"module.path:factory"`` (a function or an ``nn.Module`` class).

    ``search``: extra folders to import the module from. Raises :class:`CheckpointError` with
    one line naming ``where`` (a file, or a command-line option) and the reference.
    """
    prefix = f"{where}: " if where else ""
    match = _REFERENCE.match(reference)
    if not match:
        raise CheckpointError(f"{prefix}model {reference!r}: expected module.path:factory")
    module_name, factory_name = match["module"], match["factory"]
    added = [folder for folder in search if folder not in sys.path]
    sys.path[:0] = added
    try:
        module = importlib.import_module(module_name)
    except Exception as err:  # noqa: BLE001  (a user's module: any error it raises is theirs)
        raise CheckpointError(f"{prefix}model {reference!r}: cannot import module {module_name!r} ({_first_line(err)}); "
                              f"expected it on sys.path, in the current directory, beside the checkpoint, in "
                              f"${MODEL_PATH_VARIABLE} or a --model-path folder") from None
    finally:
        for folder in added:
            if folder in sys.path:
                sys.path.remove(folder)
    factory = module
    for attribute in factory_name.split("."):
        factory = getattr(factory, attribute, None)
        if factory is None:
            raise CheckpointError(f"{prefix}model {reference!r}: module {module_name!r} has no attribute "
                                  f"{factory_name!r}; expected a function or nn.Module class")
    if not callable(factory):
        raise CheckpointError(f"{prefix}model {reference!r}: {factory_name} is not callable; expected a function "
                              "or nn.Module class")
    return factory


def build_model(reference: str, model_kwargs: dict | None = None, search=(), where: str = "") -> nn.Module:
    """Build the model named by a zoo name or a ``module.path:factory`` reference (one-line errors)."""
    prefix = f"{where}: " if where else ""
    kwargs = dict(model_kwargs or {})
    if reference in models.MODELS:
        factory = lambda **kw: models.build(reference, **kw)
    else:
        factory = resolve_factory(reference, search, where)
    try:
        model = factory(**kwargs)
    except Exception as err:  # noqa: BLE001  (the user's factory failed: one line, no traceback)
        args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        raise CheckpointError(f"{prefix}model {reference!r}: calling it({args}) failed ({_first_line(err)}); "
                              "expected a factory that returns an nn.Module") from None
    if not isinstance(model, nn.Module):
        raise CheckpointError(f"{prefix}model {reference!r} returned a {type(model).__name__}; expected an nn.Module")
    return model


def _build(path, data: dict, model_path=None, what_for: str = "") -> nn.Module:
    with torch.random.fork_rng(devices=[]):  # building draws random init weights; leave the RNG alone
        model = build_model(data["model"], data["model_kwargs"], model_search_path(path, model_path), str(path))
    try:
        model.load_state_dict(data["state_dict"])
    except (RuntimeError, TypeError, ValueError, KeyError) as err:
        message = str(err).strip().splitlines()
        detail = next((line.strip() for line in message[1:] if line.strip()), message[0] if message else "")
        if len(detail) > 200:
            detail = detail[:197] + "..."
        what = f" ({what_for})" if what_for else ""
        raise CheckpointError(f"{path}{what}: weights do not fit model {data['model']!r} (another architecture? "
                              f"{detail})") from None
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
            if int(info.get("groups", 1)) != 1:
                layers[name]["groups"] = int(info["groups"])
        except (KeyError, AttributeError, TypeError, ValueError):
            raise CheckpointError(
                f"{path}: layer {name!r} lacks pattern_library / pattern_ids / kernel_mask tensors") from None
    return layers


def _info(path, data: dict) -> dict:
    info = {"model": data["model"], "model_kwargs": data["model_kwargs"], "metadata": data["metadata"],
            "format": data["format"], "version": data["version"], "path": str(path)}
    if data.get("input_shape") is not None:
        info["input_shape"] = tuple(int(d) for d in data["input_shape"])
    elif data["model"] in models.MODELS:
        info["input_shape"] = tuple(models.input_shape(data["model"]))
    if data["format"] == FORMAT_PRUNED:
        info["layers"] = _layers_as_numpy(path, data)
    return info


def load_pruned(path, model_path=None) -> tuple[nn.Module, dict]:
    """Load a pruned checkpoint: ``(model in eval mode, info)``.

    ``info`` holds "model", "model_kwargs", "metadata", "path", "input_shape" (when known) and
    "layers" (numpy arrays). ``model_path``: folder(s) to import a ``module:factory`` model from
    (see :func:`model_search_path`). Raises :class:`CheckpointError` for a missing, corrupt or
    foreign file, a model that cannot be imported or built, or weights that do not fit it.

    >>> model, info = load_pruned("test/data/checkpoints/vgg_small_p8_c8.pt")  # doctest: +SKIP
    """
    data = read_checkpoint(path, (FORMAT_PRUNED,))
    info = _info(path, data)  # checks the layer tensors before building anything
    return _build(path, data, model_path), info


def load_model(path, model_path=None) -> tuple[nn.Module, dict]:
    """Load a dense or pruned checkpoint as a model (e.g. the start of pruning)."""
    data = read_checkpoint(path, (FORMAT_DENSE, FORMAT_PRUNED))
    info = _info(path, data)
    return _build(path, data, model_path), info
