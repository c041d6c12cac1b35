"""Helpers shared by the pytest files: random pattern-pruned weights, a one-convolution module
built with the patsparse Python API, and PyTorch's answer for it.

Importable as `helpers` from any test: pyproject.toml's `[tool.pytest.ini_options]` puts
test/ on sys.path (`pythonpath = ["test"]`)."""

import numpy as np
import torch
from mlir import ir, passmanager
from mlir.dialects import arith, func

from patsparse.dialect import from_dense_weight, make_context, pattern_conv2d
from patsparse.passes.expand_to_linalg import ExpandToLinalgPass

# Five patterns that keep the centre tap and three others.
LIBRARY = np.array([[0, 1, 0, 1, 1, 0, 0, 1, 0], [1, 1, 0, 0, 1, 0, 0, 0, 1], [0, 0, 1, 0, 1, 1, 0, 1, 0],
                    [0, 1, 0, 0, 1, 1, 0, 0, 1], [1, 0, 0, 1, 1, 0, 1, 0, 0]], np.int8)


def pattern_weight(rng, filters, channels, keep, zero_filter=False):
    """OIHW float32 weight: each kernel kept with probability `keep`, in a random LIBRARY pattern
    (`zero_filter`: filter 0 keeps nothing)."""
    ids = rng.integers(0, len(LIBRARY), size=(filters, channels))
    kept = rng.random((filters, channels)) < keep
    if zero_filter:
        kept[0] = False
    mask = LIBRARY[ids] * kept[..., None]
    return (rng.standard_normal((filters, channels, 9)) * mask).astype(np.float32).reshape(filters, channels, 3, 3)


def conv_module(input_shape, weight, bias, strides, padding, as_linalg: bool, groups: int = 1) -> str:
    """func @forward(%x) = pattern_conv2d with constant bias; or its dense linalg expansion
    (`groups` > 1: a grouped op, `weight` F x C/groups x 3 x 3, expanded to what torch-mlir emits)."""
    with make_context(), ir.Location.unknown():
        module = ir.Module.create()
        f32 = ir.F32Type.get()
        fkw = from_dense_weight(weight, LIBRARY, groups=groups)
        with ir.InsertionPoint(module.body):
            @func.FuncOp.from_py_func(ir.RankedTensorType.get(list(input_shape), f32), name="forward")
            def forward(x):
                bias_value = None
                if bias is not None:
                    bias_value = arith.constant(ir.RankedTensorType.get([len(bias)], f32),
                                                ir.DenseElementsAttr.get(bias.astype(np.float32)))
                return pattern_conv2d(x, fkw, bias=bias_value, strides=strides, padding=padding, groups=groups)
        if as_linalg:
            manager = passmanager.PassManager("builtin.module")
            ExpandToLinalgPass().add_to(manager)
            manager.run(module.operation)
        return str(module)


def torch_conv(x, weight, bias, strides, padding, groups: int = 1):
    """torch.nn.functional.conv2d of x with explicit (top, left, bottom, right) zero padding."""
    top, left, bottom, right = padding
    padded = torch.nn.functional.pad(torch.from_numpy(x), (left, right, top, bottom))
    result = torch.nn.functional.conv2d(padded, torch.from_numpy(weight),
                                        None if bias is None else torch.from_numpy(bias), stride=strides,
                                        groups=groups)
    return result.numpy()


def import_net(work, module_name: str, source: str, factory: str, input_shape, output=None):
    """(the PyTorch model, its torch-mlir import) of `module_name:factory` written from `source`
    into `work`: the importer's child process imports the factory from the current directory."""
    import os
    import sys

    from patsparse.frontend import import_model

    (work / f"{module_name}.py").write_text(source)
    previous = os.getcwd()
    os.chdir(work)
    sys.path.insert(0, str(work))
    try:
        module = __import__(module_name)
        model = getattr(module, factory)()
        return model, import_model(f"{module_name}:{factory}", output or work / f"{module_name}.mlir",
                                   input_shape=input_shape)
    finally:
        os.chdir(previous)
        sys.path.remove(str(work))
        sys.modules.pop(module_name, None)
