"""`import_model`: the Python entry to the front end. Runs torch-mlir in a child process.

Rationale: callers of this API often use the `mlir` (22.1.8) bindings in the same process;
`torch_mlir` loaded next to them has crashed the ExecutionEngine, and torch-mlir can
crash outright on some ONNX models. So nothing here imports torch or torch_mlir: the work
happens in `python -m patsparse.frontend.importer`, and this side keeps the promise that
an output file is either complete or absent (written to a temporary name in the output
directory, renamed at the end, removed on any failure).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .errors import FrontendError
from .shapes import parse_input_shapes
from .sources import FACTORY, classify_source, default_output

PROG = "patsparse-import"
ENTRY_NAME = "forward"


@dataclass
class ImportSummary:
    """What was imported and written."""

    output: Path
    kind: str  # "checkpoint", "onnx" or "factory"
    entry: str  # "@forward(tensor<1x3x32x32xf32>) -> tensor<1x10xf32>"
    input_shape: tuple[int, ...]          # the first input's
    input_shapes: list[tuple[int, ...]]
    convolutions: int
    convolutions_3x3: int
    bn_folded: int
    bn_left: int
    parameters: int
    kernels_3x3: int | None = None  # torch models only
    kernels_3x3_kept: int | None = None
    kernels_3x3_four_weights: int | None = None

    def lines(self) -> list[str]:
        """The short human summary `patsparse-import` prints."""
        lines = [
            f"wrote {self.output}",
            f"  entry        {self.entry}",
            f"  convolutions {self.convolutions} ({self.convolutions_3x3} 3x3)",
            f"  parameters   {self.parameters:,}",
        ]
        lines.insert(3, f"  BatchNorm    {self.bn_folded} folded, {self.bn_left} left")
        if self.kernels_3x3:
            lines.append(
                f"  3x3 kernels  {self.kernels_3x3_kept:,} of {self.kernels_3x3:,} kept, "
                f"{self.kernels_3x3_four_weights:,} with exactly 4 weights"
            )
        return lines


def _shape_tuples(source: str, input_shape) -> list[tuple[int, ...]] | None:
    """One shape per model input: from `"1,3,32,32"`, `"1,3,32,32;1,10"`, `(1, 3, 32, 32)` or
    `[(1, 3, 32, 32), (1, 10)]`."""
    if input_shape is None:
        return None
    if isinstance(input_shape, str):
        return parse_input_shapes(input_shape, file=source)
    shapes = list(input_shape)
    if shapes and all(isinstance(d, int) for d in shapes):
        shapes = [shapes]
    shapes = [tuple(shape) if isinstance(shape, (tuple, list)) else shape for shape in shapes]
    for shape in shapes:
        if (not isinstance(shape, tuple) or not shape
                or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)):
            raise FrontendError(source, f"bad input shape {input_shape!r}: expected positive integers, like "
                                        "(1, 3, 32, 32), or one such tuple per input")
    return shapes or None


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _error_line(stderr: str) -> str | None:
    """The child's `<file>: <expected>` line, without the program prefix."""
    prefix = f"{PROG}: error: "
    for line in reversed(stderr.splitlines()):
        if line.startswith(prefix):
            return line[len(prefix):]
    return None


def _crash_message(returncode: int, stderr: str) -> str:
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    marker = f"{PROG}: stage: "
    stages = [line[len(marker):] for line in stderr.splitlines() if line.startswith(marker)]
    during = f" during {stages[-1]}" if stages else ""
    return f"the importer crashed ({name}){during}; expected a model whose operators torch-mlir supports"


def run_import(
    source: str | os.PathLike,
    output: str | os.PathLike | None = None,
    *,
    input_shape: str | Sequence[int] | None = None,
    batch: int | None = None,
    fold_bn: bool = True,
    elide_weights: bool = False,
    traceback: bool = False,
    timeout: float | None = None,
) -> ImportSummary:
    """Import `source` into linalg-on-tensors text MLIR; return what was written.

    Raises FrontendError (message `<file>: <what was expected>`) on bad input; no output
    file is left behind then. See `import_model` for the arguments.
    """
    source = os.fspath(source)
    kind = classify_source(source)
    shapes = _shape_tuples(source, input_shape)
    if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or batch <= 0):
        raise FrontendError(source, f"bad --batch {batch!r}: expected a positive integer")
    if kind == FACTORY and shapes is None:
        raise FrontendError(source, "a module factory has no input shape; expected --input-shape N,C,H,W")
    output_path = Path(output) if output is not None else default_output(source, kind)
    directory = output_path.parent
    if not directory.is_dir():
        raise FrontendError(str(output_path), f"directory {str(directory)!r} does not exist; expected -o in an existing directory")
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{output_path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise FrontendError(str(output_path), f"cannot write here ({exc.strerror}); expected a writable output directory") from None
    os.close(handle)

    request = {
        "source": source,
        "kind": kind,
        "input_shapes": [list(shape) for shape in shapes] if shapes else None,
        "batch": batch,
        "fold_bn": fold_bn,
        "elide_weights": elide_weights,
        "output_tmp": temporary,
        "func_name": ENTRY_NAME,
        "cwd": os.getcwd(),
        "traceback": traceback,
    }
    try:
        child = subprocess.run(
            [sys.executable, "-m", "patsparse.frontend.importer"],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if traceback and child.stderr:
            sys.stderr.write("".join(line for line in child.stderr.splitlines(True) if not line.startswith(f"{PROG}: error: ")))
        if child.returncode != 0:
            message = _error_line(child.stderr)
            if message is None:
                if child.returncode < 0:
                    raise FrontendError(source, _crash_message(child.returncode, child.stderr))
                last = ([line for line in child.stderr.strip().splitlines() if ": stage: " not in line] or ["no message"])[-1]
                raise FrontendError(source, f"the importer failed (exit {child.returncode}: {last})")
            file, _, expected = message.partition(": ")
            raise FrontendError(file, expected)
        facts = json.loads(child.stdout.strip().splitlines()[-1])
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp made it private
        os.replace(temporary, output_path)
    except subprocess.TimeoutExpired:
        raise FrontendError(source, f"the import took longer than {timeout} s") from None
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    facts["input_shapes"] = [tuple(shape) for shape in facts["input_shapes"]]
    facts["input_shape"] = facts["input_shapes"][0]
    return ImportSummary(output=output_path, **facts)


def import_model(
    source: str | os.PathLike,
    output: str | os.PathLike | None = None,
    *,
    input_shape: str | Sequence[int] | None = None,
    batch: int | None = None,
    fold_bn: bool = True,
    elide_weights: bool = False,
    timeout: float | None = None,
) -> Path:
    """Import a model into a linalg-on-tensors `.mlir` text file; return the file's path.

    `source` is a pruned checkpoint written by `patsparse-prune`, an ONNX file (`*.onnx`),
    or an nn.Module factory `"module.path:factory"` (called with no arguments; the current
    directory is searched first). `input_shape` (`"1,3,32,32"` or a sequence of ints) is
    required for factories and for ONNX files with dynamic dims; checkpoints that record
    their input shape do not need it. `batch` replaces the leading dim. BatchNorm2d is
    folded into the Conv2d before it unless `fold_bn=False`. `elide_weights` leaves the
    weight blobs out (the `dense_resource` names stay; for reading the IR, not compiling).
    `output` defaults to `./<stem>.mlir`. The entry function is `@forward`.

    torch-mlir runs in a child process (`python -m patsparse.frontend.importer`), so this is
    safe to call from a process that uses the `mlir` bindings; this module imports neither
    torch nor torch_mlir. Raises FrontendError on bad input; no file is written then.
    """
    return run_import(
        source,
        output,
        input_shape=input_shape,
        batch=batch,
        fold_bn=fold_bn,
        elide_weights=elide_weights,
        timeout=timeout,
    ).output
