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


def sidecar_path(path: Path) -> Path:
    """The `.json` patsparse-compile writes beside OUT.so / OUT.a / OUT."""
    stem = path.with_suffix("") if path.suffix in (".so", ".a") else path
    return stem.with_name(stem.name + ".json")


def _metadata(path: Path) -> dict:
    sidecar = sidecar_path(path)
    try:
        return json.loads(sidecar.read_text())
    except FileNotFoundError:
        raise ModelRuntimeError(f"{sidecar}: missing; it is written by patsparse-compile beside {path.name}") from None
    except json.JSONDecodeError as error:
        raise ModelRuntimeError(f"{sidecar}: not valid JSON ({error.msg})") from None


def model_metadata(path: str | Path) -> dict:
    """The `.json` patsparse-compile wrote beside a compiled model (target, shapes, options)."""
    return _metadata(Path(path))


def _check_input(x, shape: list[int], what: str = "input") -> np.ndarray:
    """`x` as a C-contiguous float32 array of `shape`. Arrays (anything with a dtype) must be
    float32 already: like onnxruntime, no silent cast of int, bool, complex, float16 or float64
    data. Plain Python sequences of floats are converted."""
    expected = f"a numpy float32 array (or array-like of floats) of shape {list(shape)}"
    try:
        array = np.asarray(x)
    except (TypeError, ValueError, RuntimeError):  # ragged nested lists, a torch tensor that requires grad
        array = np.asarray(None)
    if array.dtype.kind not in "biufc":  # None, strings, objects
        raise ModelRuntimeError(f"{what}: expected {expected}, got {type(x).__name__}")
    if array.dtype.type is not np.float32 and (hasattr(x, "dtype") or array.dtype.kind != "f"):
        convert = "x.astype(np.float32)" if hasattr(x, "astype") else "np.asarray(x, dtype=np.float32)"
        hint = "" if array.dtype.kind == "c" else f"; convert with {convert}"  # complex: no lossless way
        raise ModelRuntimeError(f"{what} dtype {array.dtype}: the model takes float32{hint}")
    if list(array.shape) != list(shape):
        raise ModelRuntimeError(f"{what} shape {list(array.shape)}: expected {expected}")
    return np.ascontiguousarray(array, dtype=np.float32)  # after the check: it makes a 0-d array 1-d


class _Options(ctypes.Structure):
    _fields_ = [("threads", ctypes.c_int)]


def _tensors(metadata: dict, role: str) -> list[dict]:
    """Inputs or outputs from a model's .json (older files have one `input_shape`/`output_shape`)."""
    if role + "s" in metadata:
        return metadata[role + "s"]
    return [{"name": role, "shape": metadata[f"{role}_shape"], "dtype": "float32"}]


class CompiledModel:
    """A host shared library from patsparse-compile, callable on numpy arrays.

    It holds one context of the model's C API (NAME_create): its own thread pool and buffers,
    so two CompiledModels (of one library or of two) never share state. Calls may come from
    several Python threads at once (the C API allows it; see docs/deploying.md).

        model = patsparse.runtime.load("vgg.so")
        scores = model(image)                  # one input, one output: an array
        boxes, classes = detector(image)       # several outputs: a tuple
    """

    def __init__(self, path: str | Path, threads: int | None = None):
        self.path = Path(path)
        self.metadata = _metadata(self.path)
        if self.metadata.get("target") != "host":
            raise ModelRuntimeError(f"{self.path}: compiled for {self.metadata.get('target')}, not the host")
        if "name" not in self.metadata:
            raise ModelRuntimeError(f"{self.path}: built by an older patsparse-compile (no C API); recompile it")
        try:
            self.library = ctypes.CDLL(str(self.path.resolve()))
        except OSError as error:
            raise ModelRuntimeError(f"{self.path}: cannot load: {error}") from None
        self.name = self.metadata["name"]
        self._api = {function: getattr(self.library, f"{self.name}_{function}") for function in
                     ("create", "destroy", "run", "set_threads", "get_threads", "release_buffers", "profile",
                      "profile_reset", "num_layers", "status_text")}
        self._api["create"].restype = ctypes.c_void_p
        self._api["create"].argtypes = [ctypes.POINTER(_Options)]
        for function in ("destroy", "release_buffers", "profile_reset"):
            self._api[function].argtypes = [ctypes.c_void_p]
        self._api["run"].argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        self._api["set_threads"].argtypes = [ctypes.c_void_p, ctypes.c_int]
        self._api["get_threads"].argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)]
        self._api["profile"].argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int64)]
        self._api["status_text"].restype = ctypes.c_char_p
        self.inputs, self.outputs = _tensors(self.metadata, "input"), _tensors(self.metadata, "output")
        self.input_shape, self.output_shape = self.inputs[0]["shape"], self.outputs[0]["shape"]
        self.layers = self.metadata.get("layers", [])
        if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool) or threads < 1):
            raise ModelRuntimeError(f"threads={threads!r}: expected a positive integer")
        self._context = self._api["create"](ctypes.byref(_Options(threads or 0)))
        if not self._context:
            raise ModelRuntimeError(f"{self.path}: cannot create a context (out of memory)")

    def _check(self, status: int, what: str) -> None:
        if status:
            raise ModelRuntimeError(f"{self.path}: {what}: {self._api['status_text'](status).decode()}")

    def close(self) -> None:
        """Destroy the context (its threads and buffers); the model cannot be called after."""
        if getattr(self, "_context", None):
            self._api["destroy"](self._context)
            self._context = None

    def __del__(self):
        self.close()

    def _live(self) -> ctypes.c_void_p:
        if not self._context:
            raise ModelRuntimeError(f"{self.path}: the model was closed")
        return self._context

    @property
    def threads(self) -> int:
        """Threads the model's convolutions use."""
        threads = ctypes.c_int()
        self._check(self._api["get_threads"](self._live(), ctypes.byref(threads)), "get_threads")
        return threads.value

    def set_threads(self, threads: int) -> None:
        """Split each convolution's filters over `threads` threads; results do not change."""
        if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
            raise ModelRuntimeError(f"set_threads({threads!r}): expected a positive integer")
        self._check(self._api["set_threads"](self._live(), threads), "set_threads")

    def release_buffers(self) -> None:
        """Free the activation buffers the model keeps between calls (lowering/runtime/patsparse_alloc.c);
        the next call allocates them again."""
        self._check(self._api["release_buffers"](self._live()), "release_buffers")

    def _arguments(self, arrays: tuple) -> tuple[list[np.ndarray], list[np.ndarray], ctypes.Array, ctypes.Array]:
        if len(arrays) != len(self.inputs):
            names = ", ".join(f"{t['name']} {list(t['shape'])}" for t in self.inputs)
            raise ModelRuntimeError(f"{len(arrays)} input{'s' if len(arrays) != 1 else ''} given: the model takes "
                                    f"{len(self.inputs)} ({names})")
        inputs = [_check_input(x, t["shape"], t["name"] if len(self.inputs) > 1 else "input")
                  for x, t in zip(arrays, self.inputs)]
        outputs = [np.empty(t["shape"], np.float32) for t in self.outputs]
        input_pointers = (ctypes.c_void_p * len(inputs))(*[x.ctypes.data for x in inputs])
        output_pointers = (ctypes.c_void_p * len(outputs))(*[y.ctypes.data for y in outputs])
        return inputs, outputs, input_pointers, output_pointers

    def __call__(self, *arrays):
        """The outputs for `arrays` (one per input): an array, or a tuple for several outputs."""
        inputs, outputs, input_pointers, output_pointers = self._arguments(arrays)
        self._check(self._api["run"](self._live(), input_pointers, output_pointers), "run")
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    def time(self, *arrays, runs: int = 30, warmup: int = 3) -> list[float]:
        """Seconds per run, `runs` times after `warmup` runs."""
        inputs, outputs, input_pointers, output_pointers = self._arguments(arrays)
        run, context = self._api["run"], self._live()
        for _ in range(warmup):
            run(context, input_pointers, output_pointers)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            self._check(run(context, input_pointers, output_pointers), "run")
            times.append(time.perf_counter() - start)
        return times

    def profile(self) -> tuple[list[float], int]:
        """Milliseconds per layer (summed over the runs since creation or the last reset) and the
        number of runs; a model compiled with --profile only."""
        if not self.layers:
            raise ModelRuntimeError(f"{self.path}: compiled without --profile; recompile with it")
        times = np.zeros(len(self.layers), np.float64)
        runs = ctypes.c_int64()
        self._check(self._api["profile"](self._live(), times.ctypes.data, ctypes.byref(runs)), "profile")
        return [float(t) for t in times], runs.value

    def reset_profile(self) -> None:
        if self.layers:
            self._check(self._api["profile_reset"](self._live()), "profile_reset")


def load(path: str | Path, threads: int | None = None) -> CompiledModel:
    return CompiledModel(path, threads)


def run_aarch64(runner: str | Path, *inputs: np.ndarray, timeout: float = 600, threads: int | None = None,
                profile: str | Path | None = None):
    """Run an AArch64 runner from patsparse-compile under qemu-aarch64 on `inputs` (one array per
    model input; with `threads`; `profile`: write the per-layer JSON there, a --profile build).
    Returns the output array, or a tuple of them for several outputs."""
    runner = Path(runner)
    metadata = _metadata(runner)
    expected_inputs, expected_outputs = _tensors(metadata, "input"), _tensors(metadata, "output")
    if len(inputs) != len(expected_inputs):
        raise ModelRuntimeError(f"{len(inputs)} inputs given: {runner} takes {len(expected_inputs)}")
    arrays = [_check_input(x, t["shape"], t["name"] if len(inputs) > 1 else "input")
              for x, t in zip(inputs, expected_inputs)]
    qemu = toolchain.find("qemu-aarch64")
    with tempfile.TemporaryDirectory(prefix="patsparse-qemu-") as scratch:
        input_files = [Path(scratch) / f"{t['name']}.bin" for t in expected_inputs]
        output_files = [Path(scratch) / f"{t['name']}.bin" for t in expected_outputs]
        for x, file in zip(arrays, input_files):
            x.tofile(file)
        extra = (["--threads", str(threads)] if threads else []) + (["--profile", str(profile)] if profile else [])
        result = subprocess.run([str(qemu), str(runner.resolve()), *map(str, input_files), *map(str, output_files),
                                 *extra], capture_output=True, text=True, timeout=timeout)
        if result.returncode:
            raise ModelRuntimeError(f"{runner}: exited with {result.returncode} under qemu: {result.stderr.strip()}")
        outputs = [np.fromfile(file, np.float32).reshape(t["shape"]) for file, t in zip(output_files, expected_outputs)]
        return outputs[0] if len(outputs) == 1 else tuple(outputs)
