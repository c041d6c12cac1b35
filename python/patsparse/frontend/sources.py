"""What the user asked to import: a checkpoint, an ONNX file, or `module.path:factory`.

Decided without importing torch, so that the command line answers a bad path at once.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import FrontendError

CHECKPOINT = "checkpoint"
ONNX = "onnx"
FACTORY = "factory"

_DOTTED = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
FACTORY_SYNTAX = re.compile(rf"^(?P<module>{_DOTTED}):(?P<factory>{_DOTTED})$")

WHAT_IS_ACCEPTED = (
    "expected a pruned checkpoint from patsparse-prune, an ONNX file (.onnx), "
    "or an nn.Module factory given as module.path:factory"
)


def classify_source(source: str) -> str:
    """Return CHECKPOINT, ONNX or FACTORY for `source`; raise FrontendError if it is none."""
    path = Path(source)
    if path.is_dir():
        raise FrontendError(source, f"is a directory; {WHAT_IS_ACCEPTED}")
    if path.exists():
        if not os.access(path, os.R_OK):
            raise FrontendError(source, "cannot be read (permission denied)")
        return ONNX if path.suffix.lower() == ".onnx" else CHECKPOINT
    if FACTORY_SYNTAX.match(source):
        return FACTORY
    raise FrontendError(source, f"no such file; {WHAT_IS_ACCEPTED}")


def default_output(source: str, kind: str) -> Path:
    """`resnet.pt` -> `./resnet.mlir`; `pkg.models:make_vgg` -> `./make_vgg.mlir`."""
    if kind == FACTORY:
        stem = FACTORY_SYNTAX.match(source)["factory"].rsplit(".", 1)[-1]
    else:
        stem = Path(source).stem
    return Path(f"{stem}.mlir")
