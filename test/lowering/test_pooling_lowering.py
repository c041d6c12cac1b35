"""Max pooling through convert-pooling-to-vector (lowering/convert_pooling_to_vector.py), imported
by the real torch-mlir importer from nn.MaxPool2d and compared with PyTorch: windows 2x2 to 5x5,
strides 1 to 3, padding, ceil_mode, non-square inputs, all-negative inputs (the -inf padding),
batches, threads, every vector width, and AArch64 under qemu."""

import textwrap

import numpy as np
import pytest
import torch

from patsparse import runtime
from patsparse.compiler import compile_model
from patsparse.pipeline import CompileOptions

from helpers import import_net

NET = textwrap.dedent('''
    from torch import nn

    def make():
        return nn.Sequential(nn.MaxPool2d({kernel!r}, {stride!r}, {padding!r}, ceil_mode={ceil_mode!r})).eval()
''')


CASES = [  # kernel, stride, padding, ceil_mode, input shape
    ((3, 3), 2, 1, False, (1, 5, 17, 17)),     # ResNet's stem pool, odd size
    ((2, 2), 2, 0, False, (2, 3, 8, 13)),      # VGG's, batch 2, non-square
    ((5, 5), 1, 2, False, (1, 7, 10, 10)),     # YOLOv8n's SPPF
    ((3, 3), 1, 1, False, (1, 4, 1, 20)),      # one row
    ((3, 3), 2, 0, True, (1, 3, 12, 9)),       # ceil_mode: the last window runs into the padding
    ((3, 2), (3, 1), (1, 0), False, (1, 2, 11, 7)),
]


def imported(tmp_path, kernel, stride, padding, ceil_mode, shape):
    """(the PyTorch model, its torch-mlir import) of one nn.MaxPool2d."""
    return import_net(tmp_path, "poolnet", NET.format(kernel=kernel, stride=stride, padding=padding,
                                                       ceil_mode=ceil_mode), "make", shape, tmp_path / "pool.mlir")


@pytest.mark.parametrize("kernel,stride,padding,ceil_mode,shape", CASES)
@pytest.mark.parametrize("lanes,threads", [(16, 1), (4, 2)])
def test_max_pool_matches_torch(tmp_path, kernel, stride, padding, ceil_mode, shape, lanes, threads):
    model, mlir = imported(tmp_path, kernel, stride, padding, ceil_mode, shape)
    library = compile_model(mlir, tmp_path / "pool.so", CompileOptions(vector_width=lanes)).outputs["library"]
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32) - 5.0   # all negative
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(runtime.load(library, threads=threads)(x), expected)


def test_max_pool_is_one_load_and_max_per_window_tap(tmp_path):
    from mlir import ir, passmanager

    from patsparse.dialect import make_context
    from patsparse.lowering.convert_pooling_to_vector import ConvertPoolingToVectorPass

    _, mlir = imported(tmp_path, 3, 2, 1, False, (1, 2, 9, 9))
    with make_context():
        module = ir.Module.parse(mlir.read_text())
        manager = passmanager.PassManager("builtin.module")
        ConvertPoolingToVectorPass(vector_width=16).add_to(manager)
        manager.run(module.operation)
        text = str(module)
    assert "linalg.pooling_nchw_max" not in text and "tensor.pad" not in text
    assert text.count("arith.maximumf") == 9           # the 5 output columns fit one vector of 16
    assert "call @patsparse_pool_0_tensor" in text


@pytest.mark.qemu
def test_aarch64_max_pool_under_qemu_matches_torch(tmp_path):
    model, mlir = imported(tmp_path, 3, 2, 1, False, (1, 3, 13, 11))
    runner = compile_model(mlir, tmp_path / "pool", CompileOptions(target="aarch64-linux-gnu")).outputs["runner"]
    x = np.random.default_rng(1).standard_normal((1, 3, 13, 11)).astype(np.float32) - 5.0
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(runtime.run_aarch64(runner, x), expected)
