"""Run a module in process with MLIR's ExecutionEngine: tests and measurements.

    Jit(text)(x)                                   the reference: patsparse ops expanded back to
                                                   dense linalg, naive loops (slow, simple to trust)
    Jit(text, schedule=True, vector_width=16)(x)   the dense rest tiled and vectorized
                                                   (patsparse-schedule-dense, then
                                                   patsparse-approximate-math), as compiled models run it

Both lower with the pipeline's own stages (patsparse.pipeline) and upstream `TO_LLVM`; the
entry becomes `void entry(float *in0, ..., float *out)` (bare pointers, result as the last
argument), called through ctypes. Do not use it in a process that has imported `torch_mlir`
(its bundled MLIR crashed the ExecutionEngine).
"""

from __future__ import annotations

import ctypes

import numpy as np
from mlir import execution_engine, ir

from patsparse.dialect import make_context
from patsparse.dialect.ir_utils import entry_types
from patsparse.lowering import toolchain
from patsparse.lowering.approximate_math import ApproximateMathPass
from patsparse.lowering.schedule_dense import ScheduleDensePass
from patsparse.lowering.to_llvm import TO_LLVM
from patsparse.passes.expand_to_linalg import ExpandToLinalgPass
from patsparse.pipeline import Stage, run_stages


class JitError(RuntimeError):
    pass


class Jit:
    def __init__(self, module_text: str, *, schedule: bool = False, vector_width: int = 16, fuse: bool = True,
                 entry: str = "forward", opt_level: int = 3):
        self.context = make_context()
        self.entry = entry
        with self.context:
            module = ir.Module.parse(module_text)
            try:
                inputs, results = entry_types(module.operation, entry)
            except ValueError as error:
                raise JitError(str(error)) from None
            if len(results) != 1:
                raise JitError(f"@{entry} must return exactly one tensor, it returns {len(results)}")
            self.input_shapes = [list(t.shape) for t in inputs]
            self.output_shape = list(results[0].shape)
            first = ScheduleDensePass(vector_width=vector_width, fuse=fuse) if schedule else ExpandToLinalgPass()
            stages = [Stage(first), Stage(ApproximateMathPass())] if schedule else [Stage(first)]
            run_stages(module.operation, stages, "<jit>")
            self.scheduled_text = str(module)
            run_stages(module.operation, [Stage(TO_LLVM)], "<jit>")
            self.engine = execution_engine.ExecutionEngine(
                module, opt_level=opt_level, shared_libs=[str(toolchain.mlir_runtime_library())])
        # `raw_lookup` gives the ExecutionEngine's packed wrapper `_mlir_<entry>(void **args)`,
        # whose args[i] points at argument i: here the bare data pointers.
        self._function = ctypes.CFUNCTYPE(None, ctypes.POINTER(ctypes.c_void_p))(self.engine.raw_lookup(entry))

    @property
    def input_shape(self) -> list[int]:
        return self.input_shapes[0]

    def __call__(self, *inputs: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        if len(inputs) != len(self.input_shapes):
            raise JitError(f"@{self.entry} takes {len(self.input_shapes)} inputs, got {len(inputs)}")
        arrays = []
        for index, (array, shape) in enumerate(zip(inputs, self.input_shapes)):
            array = np.ascontiguousarray(array, dtype=np.float32)
            if list(array.shape) != shape:
                raise JitError(f"input {index}: expected shape {shape}, got {list(array.shape)}")
            arrays.append(array)
        if out is None:
            out = np.empty(self.output_shape, dtype=np.float32)
        pointers = [ctypes.c_void_p(a.ctypes.data) for a in arrays] + [ctypes.c_void_p(out.ctypes.data)]
        packed = (ctypes.c_void_p * len(pointers))(*[ctypes.cast(ctypes.pointer(p), ctypes.c_void_p)
                                                     for p in pointers])
        self._function(packed)
        return out
