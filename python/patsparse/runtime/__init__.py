"""Run compiled models: host shared libraries in process, AArch64 runners under qemu.

    model = patsparse.runtime.load("vgg.so")        # shapes from vgg.json beside it
    y = model(x)                                    # numpy in, numpy out
    y = patsparse.runtime.run_aarch64("vgg", x)     # qemu-aarch64 ./vgg in.bin out.bin
"""

from __future__ import annotations

import ctypes
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from patsparse.lowering import toolchain
from patsparse.cliutil import ToolError


class ModelRuntimeError(ToolError):
    """A compiled model that cannot be loaded or run."""


def _metadata(path: Path) -> dict:
    stem = path.with_suffix("") if path.suffix in (".so", ".a") else path
    sidecar = stem.with_name(stem.name + ".json")
    try:
        return json.loads(sidecar.read_text())
    except FileNotFoundError:
        raise ModelRuntimeError(f"{sidecar}: missing; it is written by patsparse-compile beside {path.name}") from None
    except json.JSONDecodeError as error:
        raise ModelRuntimeError(f"{sidecar}: not valid JSON ({error.msg})") from None


def model_metadata(path: str | Path) -> dict:
    """The `.json` patsparse-compile wrote beside a compiled model (target, shapes, options)."""
    return _metadata(Path(path))


def _check_input(x, shape: list[int]) -> np.ndarray:
    """`x` as a C-contiguous float32 array of `shape`. Arrays (anything with a dtype) must be
    float32 already: like onnxruntime, no silent cast of int, bool, complex or float64 data.
    Plain Python sequences of floats are converted."""
    expected = f"a numpy float32 array (or array-like of floats) of shape {list(shape)}"
    try:
        array = np.asarray(x)
    except (TypeError, ValueError, RuntimeError):  # ragged nested lists, a torch tensor that requires grad
        array = np.asarray(None)
    if array.dtype.kind not in "biufc":  # None, strings, objects
        raise ModelRuntimeError(f"input: expected {expected}, got {type(x).__name__}")
    if array.dtype.type is not np.float32 and (hasattr(x, "dtype") or array.dtype.kind != "f"):
        convert = "x.astype(np.float32)" if hasattr(x, "astype") else "np.asarray(x, dtype=np.float32)"
        hint = "" if array.dtype.kind == "c" else f"; convert with {convert}"  # complex: no lossless way
        raise ModelRuntimeError(f"input dtype {array.dtype}: the model takes float32{hint}")
    if list(array.shape) != list(shape):
        raise ModelRuntimeError(f"input shape {list(array.shape)}: expected {expected}")
    return np.ascontiguousarray(array, dtype=np.float32)  # after the check: it makes a 0-d array 1-d


class CompiledModel:
    """A host shared library from patsparse-compile, callable on numpy arrays."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.metadata = _metadata(self.path)
        if self.metadata.get("target") != "host":
            raise ModelRuntimeError(f"{self.path}: compiled for {self.metadata.get('target')}, not the host")
        try:
            self.library = ctypes.CDLL(str(self.path.resolve()))
        except OSError as error:
            raise ModelRuntimeError(f"{self.path}: cannot load: {error}") from None
        self.function = getattr(self.library, self.metadata["entry"])
        self.function.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        self.function.restype = None
        self.input_shape = self.metadata["input_shape"]
        self.output_shape = self.metadata["output_shape"]
        self._set_threads = getattr(self.library, "patsparse_set_threads", None)
        self._get_threads = getattr(self.library, "patsparse_get_threads", None)
        self._release_buffers = getattr(self.library, "patsparse_release_buffers", None)

    @property
    def threads(self) -> int:
        """Threads the model's convolutions use (1 for libraries built before threads existed)."""
        return int(self._get_threads()) if self._get_threads else 1

    def set_threads(self, threads: int) -> None:
        """Split each convolution's filters over `threads` threads; results do not change."""
        if not isinstance(threads, int) or threads < 1:
            raise ModelRuntimeError(f"set_threads({threads!r}): expected a positive integer")
        if self._set_threads is None:
            raise ModelRuntimeError(f"{self.path}: built without the thread runtime; recompile it")
        self._set_threads(threads)

    def release_buffers(self) -> None:
        """Free the activation buffers the model keeps between calls (lowering/runtime/patsparse_alloc.c);
        the next call allocates them again."""
        if self._release_buffers is not None:
            self._release_buffers()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = _check_input(x, self.input_shape)
        output = np.empty(self.output_shape, np.float32)
        self.function(x.ctypes.data, output.ctypes.data)
        return output

    def time(self, x: np.ndarray, runs: int = 30, warmup: int = 3) -> list[float]:
        """Seconds per run, `runs` times after `warmup` runs."""
        x = _check_input(x, self.input_shape)
        output = np.empty(self.output_shape, np.float32)
        for _ in range(warmup):
            self.function(x.ctypes.data, output.ctypes.data)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            self.function(x.ctypes.data, output.ctypes.data)
            times.append(time.perf_counter() - start)
        return times


def load(path: str | Path) -> CompiledModel:
    return CompiledModel(path)


def run_aarch64(runner: str | Path, x: np.ndarray, timeout: float = 600, threads: int | None = None) -> np.ndarray:
    """Run an AArch64 runner from patsparse-compile under qemu-aarch64 on `x` (with `threads`)."""
    runner = Path(runner)
    metadata = _metadata(runner)
    x = _check_input(x, metadata["input_shape"])
    qemu = toolchain.find("qemu-aarch64")
    with tempfile.TemporaryDirectory(prefix="patsparse-qemu-") as scratch:
        input_file, output_file = Path(scratch) / "input.bin", Path(scratch) / "output.bin"
        x.tofile(input_file)
        extra = ["--threads", str(threads)] if threads else []
        result = subprocess.run([str(qemu), str(runner.resolve()), str(input_file), str(output_file), *extra],
                                capture_output=True, text=True, timeout=timeout)
        if result.returncode:
            raise ModelRuntimeError(f"{runner}: exited with {result.returncode} under qemu: {result.stderr.strip()}")
        return np.fromfile(output_file, np.float32).reshape(metadata["output_shape"])
