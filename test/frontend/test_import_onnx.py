"""Importing ONNX files: dynamic dims fixed from --input-shape, same linalg shape as FX."""

import re
import warnings

import pytest
import torch
from torch import nn


class SmallOnnxNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.down = nn.Conv2d(8, 8, 3, stride=2, padding=1, bias=False)

    def forward(self, x):
        y = torch.relu(self.conv(x))
        return self.down(y) + 1.0


@pytest.fixture(scope="module")
def dynamic_onnx(tmp_path_factory):
    """An ONNX file whose input is ?x3x?x? (dynamic batch, height, width)."""
    path = tmp_path_factory.mktemp("onnx") / "small.onnx"
    # The TorchScript exporter: the default (dynamo) one needs onnxscript, not installed here.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    torch.onnx.export(
        SmallOnnxNet().eval(), (torch.randn(1, 3, 8, 8),), str(path), dynamo=False,
        input_names=["image"], dynamic_axes={"image": {0: "N", 2: "H", 3: "W"}},
    )
    return path


def test_onnx_with_dynamic_dims_imports_with_fixed_shape(dynamic_onnx, run_import, mlir_parses, tmp_path):
    output = tmp_path / "small.mlir"
    result = run_import(dynamic_onnx, "--input-shape", "2,3,12,12", "-o", output)
    assert result.returncode == 0, result.stderr
    ir = output.read_text()
    assert "func.func @forward(%arg0: tensor<2x3x12x12xf32>) -> tensor<2x8x6x6xf32>" in ir
    assert "?" not in ir.split("{-#")[0], "every shape must be static"
    assert ir.count("linalg.conv_2d_nchw_fchw ") == 2
    assert re.search(r"tensor\.pad %arg0 low\[0, 0, 1, 1\] high\[0, 0, 1, 1\]", ir)
    assert "strides = dense<2>" in ir
    assert "convolutions 2 (2 3x3)" in result.stdout
    mlir_parses(output)


def test_onnx_batch_option_fixes_only_the_batch(dynamic_onnx, run_import, tmp_path):
    output = tmp_path / "batch.mlir"
    result = run_import(dynamic_onnx, "--input-shape", "1,3,8,8", "--batch", "4", "-o", output, "-q")
    assert result.returncode == 0, result.stderr
    assert "func.func @forward(%arg0: tensor<4x3x8x8xf32>) -> tensor<4x8x4x4xf32>" in output.read_text()


class TwoOutputs(nn.Module):
    """Two graph outputs (a detector's boxes and scores, say)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.boxes = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        y = torch.relu(self.conv(x))
        return self.boxes(y), torch.sigmoid(y.mean((2, 3)))


def test_onnx_with_two_outputs_compiles_and_equals_onnxruntime(tmp_path):
    import numpy as np

    import onnxruntime as ort
    from patsparse import runtime
    from patsparse.compiler import compile_model
    from patsparse.frontend import import_model
    from patsparse.pipeline import CompileOptions

    path = tmp_path / "two.onnx"
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    torch.onnx.export(TwoOutputs().eval(), (torch.randn(1, 3, 8, 8),), str(path), dynamo=False,
                      input_names=["image"], output_names=["boxes", "scores"])
    import_model(path, tmp_path / "two.mlir")
    model = runtime.load(compile_model(tmp_path / "two.mlir", tmp_path / "two.so", CompileOptions()).outputs["library"])
    x = np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float32)
    expected = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"image": x})
    actual = model(x)
    assert len(actual) == 2
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-5 * np.abs(e).max())
