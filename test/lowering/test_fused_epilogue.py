"""Activations fused into the convolutions' stores (lowering/epilogue.py), through the real
torch-mlir importer: every torch.nn activation a CNN uses after a 1x1 and a 3x3 convolution (both
packed GEMMs), and a result that also feeds a residual add, against PyTorch on the
host and under qemu."""

import textwrap

import numpy as np
import pytest
import torch
from mlir import ir, passmanager

from patsparse import runtime
from patsparse.compiler import compile_model
from patsparse.dialect import make_context
from patsparse.frontend import import_model
from patsparse.lowering.convert_patsparse_to_vector import ConvertPatsparseToVectorPass
from patsparse.pipeline import CompileOptions

NETS = textwrap.dedent('''
    import torch
    from torch import nn

    ACTIVATIONS = [nn.SiLU, nn.ReLU6, nn.Hardswish, nn.GELU, nn.Sigmoid, nn.Tanh,
                   lambda: nn.LeakyReLU(0.1), lambda: nn.GELU(approximate="tanh"), nn.Hardsigmoid, nn.ELU]

    class Residual(nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.conv = nn.Conv2d(channels, channels, 1)
            self.act = nn.SiLU()
            self.project = nn.Conv2d(channels, channels, 1)

        def forward(self, x):
            y = self.conv(x)
            return self.project(self.act(y)) + y   # y escapes (the add reads it): its SiLU stays

    class Activations(nn.Module):
        def __init__(self):
            super().__init__()
            layers, channels = [], 3
            for index, make in enumerate(ACTIVATIONS):
                kernel = 1 if index % 2 == 0 else 3
                layers += [nn.Conv2d(channels, 12, kernel, padding=kernel // 2), make()]
                channels = 12
            self.body = nn.Sequential(*layers, Residual(12))

        def forward(self, x):
            return self.body(x)

    def make():
        torch.manual_seed(0)
        return Activations().eval()
''')


@pytest.fixture(scope="module")
def activations(tmp_path_factory):
    work = tmp_path_factory.mktemp("epilogue")
    (work / "actnets.py").write_text(NETS)
    import os
    import sys
    previous = os.getcwd()
    os.chdir(work)
    sys.path.insert(0, str(work))
    try:
        import actnets
        model = actnets.make()
        mlir = import_model("actnets:make", work / "act.mlir", input_shape=(1, 3, 9, 13))
    finally:
        os.chdir(previous)
        sys.path.remove(str(work))
    x = torch.randn(1, 3, 9, 13, generator=torch.Generator().manual_seed(1)) * 3
    with torch.no_grad():
        expected = model(x).numpy()
    return work, mlir, x.numpy(), expected


def test_every_activation_is_fused_but_the_escaping_one(activations):
    _, mlir, _, _ = activations
    with make_context(), ir.Location.unknown():
        module = ir.Module.parse(mlir.read_text())
        manager = passmanager.PassManager("builtin.module")
        lowering = ConvertPatsparseToVectorPass(dense_convolutions=True)
        lowering.add_to(manager)
        manager.run(module.operation)
        forward = next(op for op in module.body.operations if "sym_name" in op.attributes
                       and op.attributes["sym_name"].value == "forward")
        left = [op.name for op in forward.regions[0].blocks[0].operations if op.name == "linalg.generic"]
    # 10 activations fused (after 10 GEMMs: the 3x3 layers are dense); the residual's add fused into
    # the projection (it reads y, from before, as a second tensor); y's SiLU (two generics), whose
    # input escapes to that add, stays.
    assert lowering.statistics["fused_epilogues"] == 11, lowering.statistics
    assert len(left) == 2


@pytest.mark.parametrize("options", [CompileOptions.optimised(threads=2), CompileOptions(detect_patterns=False)],
                         ids=["O", "dense"])
def test_fused_activations_match_torch(activations, options):
    work, mlir, x, expected = activations
    library = runtime.load(compile_model(mlir, work / f"act_{options.detect_patterns}.so", options)
                           .outputs["library"])
    np.testing.assert_allclose(library(x), expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


@pytest.mark.qemu
def test_fused_activations_under_qemu_match_torch(activations):
    work, mlir, x, expected = activations
    artifacts = compile_model(mlir, work / "act", CompileOptions.optimised(target="aarch64-linux-gnu"))
    np.testing.assert_allclose(runtime.run_aarch64(artifacts.outputs["runner"], x), expected, rtol=1e-4,
                               atol=1e-5 * np.abs(expected).max())
