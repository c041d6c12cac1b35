"""Residual adds fused into the convolutions' stores (lowering/epilogue.py with another tensor;
the packed GEMM and the channel tiles load it beside their stores), through the real torch-mlir
importer: a 1x1 block, a 3x3 pattern block, and a torchvision-style downsample whose shortcut
convolution comes after the main branch in program order (the add then fuses into the shortcut),
against PyTorch on the host (1 and 2 threads) and under qemu."""

import textwrap

import numpy as np
import pytest
import torch
from mlir import ir, passmanager

from patsparse import runtime
from patsparse.compiler import compile_model
from patsparse.dialect import make_context
from patsparse.lowering.convert_patsparse_to_vector import ConvertPatsparseToVectorPass
from patsparse.passes.detect_patterns import DetectPatternsPass
from patsparse.pipeline import CompileOptions

from helpers import import_net

NET = textwrap.dedent('''
    import torch
    from torch import nn

    # Five 4-tap patterns (centre and three others), as pattern pruning leaves them.
    PATTERNS = torch.tensor([[0, 1, 0, 1, 1, 0, 0, 1, 0], [1, 1, 0, 0, 1, 0, 0, 0, 1], [0, 0, 1, 0, 1, 1, 0, 1, 0],
                             [0, 1, 0, 0, 1, 1, 0, 0, 1], [1, 0, 0, 1, 1, 0, 1, 0, 0]], dtype=torch.float32)

    def pattern_pruned(conv, generator):
        ids = torch.randint(0, len(PATTERNS), conv.weight.shape[:2], generator=generator)
        with torch.no_grad():
            conv.weight *= PATTERNS[ids].reshape(conv.weight.shape)
        return conv

    class Residuals(nn.Module):
        def __init__(self):
            super().__init__()
            g = torch.Generator().manual_seed(0)
            self.stem = nn.Conv2d(3, 16, 3, padding=1)
            self.point = nn.Conv2d(16, 16, 1)                                   # GEMM + x
            self.pattern = pattern_pruned(nn.Conv2d(16, 16, 3, padding=1), g)   # channel tiles + x
            self.main = pattern_pruned(nn.Conv2d(16, 32, 3, stride=2, padding=1), g)
            self.shortcut = nn.Conv2d(16, 32, 1, stride=2)                      # after main: the add fuses here

        def forward(self, x):
            x = torch.relu(self.stem(x))
            x = torch.relu(self.point(x) + x)
            x = torch.relu(self.pattern(x) + x)
            y = self.main(x)
            return torch.relu(y + self.shortcut(x))

    def make():
        torch.manual_seed(0)
        return Residuals().eval()
''')


@pytest.fixture(scope="module")
def residuals(tmp_path_factory):
    work = tmp_path_factory.mktemp("residual")
    model, mlir = import_net(work, "resnets", NET, "make", (1, 3, 12, 14), work / "residual.mlir")
    x = torch.randn(1, 3, 12, 14, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = model(x).numpy()
    return work, mlir, x.numpy(), expected


def test_every_residual_add_is_fused(residuals):
    _, mlir, _, _ = residuals
    with make_context():
        module = ir.Module.parse(mlir.read_text())
        manager = passmanager.PassManager("builtin.module")
        DetectPatternsPass().add_to(manager)
        lowering = ConvertPatsparseToVectorPass(vector_width=16, dense_convolutions=True)
        lowering.add_to(manager)
        manager.run(module.operation)
        forward = next(op for op in module.body.operations if op.attributes["sym_name"].value == "forward")
        text = str(forward)
    # Five convolutions: the stem's ReLU and the three adds (with their ReLUs) fused; main's result
    # is the shortcut's residual input, so main keeps no epilogue.
    assert lowering.statistics["fused_relus"] == 1 and lowering.statistics["fused_epilogues"] == 3, lowering.statistics
    assert "linalg.generic" not in text
    assert text.count("call @patsparse_conv_") == 5


@pytest.mark.parametrize("threads", [1, 2])
def test_fused_residuals_match_torch(residuals, threads):
    work, mlir, x, expected = residuals
    library = compile_model(mlir, work / f"residual{threads}.so", CompileOptions.optimised()).outputs["library"]
    actual = runtime.load(library, threads=threads)(x)
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


@pytest.mark.qemu
def test_fused_residuals_under_qemu_match_torch(residuals):
    work, mlir, x, expected = residuals
    runner = compile_model(mlir, work / "residual_a64", CompileOptions(target="aarch64-linux-gnu")).outputs["runner"]
    np.testing.assert_allclose(runtime.run_aarch64(runner, x), expected, rtol=1e-4,
                               atol=1e-4 * np.abs(expected).max())
