"""Run a module on the host with MLIR's ExecutionEngine, through upstream passes only.

This is the reference path: patsparse ops are expanded back to dense linalg
(`patsparse-expand-to-linalg`), bufferized, lowered to plain loops and JIT-compiled.
It is slow by design and simple enough to trust; tests compare it with PyTorch, and
every faster path with it.

Do not use it in a process that has imported `torch_mlir` (see DESIGN.md).
"""

from __future__ import annotations

import ctypes

import numpy as np
from mlir import execution_engine, ir, passmanager
from mlir.runtime import np_to_memref

from patsparse import toolchain
from patsparse.dialect import make_context
from patsparse.passes.expand_to_linalg import ExpandToLinalgPass

# linalg-on-tensors -> LLVM dialect, with naive loops. Function boundaries use identity
# layouts so that numpy arrays can be passed as memref descriptors.
REFERENCE_PIPELINE = ",".join([
    "one-shot-bufferize{bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map}",
    "func.func(convert-linalg-to-loops)",
    "expand-strided-metadata", "lower-affine", "convert-scf-to-cf", "finalize-memref-to-llvm",
    "convert-arith-to-llvm", "convert-math-to-llvm", "convert-func-to-llvm", "convert-cf-to-llvm",
    "convert-index-to-llvm", "reconcile-unrealized-casts",
])


class JitError(RuntimeError):
    pass


class HostJit:
    """`HostJit(module_text)(x)`: the module's entry function as a numpy callable."""

    def __init__(self, module_text: str, entry: str = "forward", opt_level: int = 2):
        self.context = make_context()
        with self.context:
            module = ir.Module.parse(module_text)
            function = next((op for op in module.body.operations
                             if op.operation.name == "func.func" and op.attributes["sym_name"].value == entry), None)
            if function is None:
                raise JitError(f"no function @{entry} in the module")
            function_type = ir.FunctionType(ir.TypeAttr(function.attributes["function_type"]).value)
            if len(function_type.results) != 1:
                raise JitError(f"@{entry} must return exactly one tensor, it returns {len(function_type.results)}")
            self.input_types = [ir.RankedTensorType(t) for t in function_type.inputs]
            self.result_type = ir.RankedTensorType(function_type.results[0])
            function.attributes["llvm.emit_c_interface"] = ir.UnitAttr.get()
            manager = passmanager.PassManager("builtin.module")
            ExpandToLinalgPass().add_to(manager)
            manager.add(REFERENCE_PIPELINE)
            manager.run(module.operation)
            self.module = module
            self.engine = execution_engine.ExecutionEngine(
                module, opt_level=opt_level, shared_libs=[str(toolchain.mlir_runtime_library())])
        self.entry = entry

    def __call__(self, *inputs: np.ndarray) -> np.ndarray:
        if len(inputs) != len(self.input_types):
            raise JitError(f"@{self.entry} takes {len(self.input_types)} inputs, got {len(inputs)}")
        arrays = []
        for index, (array, expected) in enumerate(zip(inputs, self.input_types)):
            array = np.ascontiguousarray(array, dtype=np.float32)
            if list(array.shape) != list(expected.shape):
                raise JitError(f"input {index}: expected shape {list(expected.shape)}, got {list(array.shape)}")
            arrays.append(array)
        result = np_to_memref.make_nd_memref_descriptor(self.result_type.rank, ctypes.c_float)()
        arguments = [ctypes.pointer(ctypes.pointer(result))]
        descriptors = [np_to_memref.get_ranked_memref_descriptor(a) for a in arrays]
        arguments += [ctypes.pointer(ctypes.pointer(d)) for d in descriptors]
        self.engine.invoke(self.entry, *arguments)
        return np_to_memref.ranked_memref_to_numpy(ctypes.pointer(result)).copy()
