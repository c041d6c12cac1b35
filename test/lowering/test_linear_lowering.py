"""convert-linear-to-vector end to end: fully connected layers compiled for the host (1 and 2
threads) and for AArch64 under qemu compute what numpy computes, for shapes that exercise the
feature blocks (4, 2, 1 rows), the scalar K tail and batches above 1."""

import numpy as np
import pytest

from patsparse import runtime
from patsparse.compiler import compile_model
from patsparse.pipeline import CompileOptions


def linear_module(x_shape, weight) -> str:
    m, k = x_shape
    n = weight.shape[0]
    values = ", ".join("[" + ", ".join(f"{v:.9e}" for v in row) + "]" for row in weight)
    return f"""
func.func @forward(%x: tensor<{m}x{k}xf32>) -> tensor<{m}x{n}xf32> {{
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<[{values}]> : tensor<{n}x{k}xf32>
  %e = tensor.empty() : tensor<{k}x{n}xf32>
  %t = linalg.transpose ins(%w : tensor<{n}x{k}xf32>) outs(%e : tensor<{k}x{n}xf32>) permutation = [1, 0]
  %e2 = tensor.empty() : tensor<{m}x{n}xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e2 : tensor<{m}x{n}xf32>) -> tensor<{m}x{n}xf32>
  %y = linalg.matmul ins(%x, %t : tensor<{m}x{k}xf32>, tensor<{k}x{n}xf32>) outs(%z : tensor<{m}x{n}xf32>) -> tensor<{m}x{n}xf32>
  return %y : tensor<{m}x{n}xf32>
}}
"""


@pytest.mark.parametrize("m, k, n", [(1, 64, 8), (1, 37, 6), (2, 100, 7), (3, 5, 12), (1, 576, 10)])
def test_linear_matches_numpy(tmp_path, m, k, n):
    rng = np.random.default_rng(k * n + m)
    weight = rng.standard_normal((n, k)).astype(np.float32)
    x = rng.standard_normal((m, k)).astype(np.float32)
    source = tmp_path / "linear.mlir"
    source.write_text(linear_module((m, k), weight))
    artifacts = compile_model(str(source), tmp_path / "linear.so", CompileOptions())
    model = runtime.load(artifacts.outputs["library"])
    expected = x.astype(np.float64) @ weight.T.astype(np.float64)
    for threads in (1, 2):
        model.set_threads(threads)
        np.testing.assert_allclose(model(x), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.qemu
def test_linear_on_aarch64_under_qemu(tmp_path):
    rng = np.random.default_rng(3)
    weight = rng.standard_normal((6, 37)).astype(np.float32)
    x = rng.standard_normal((2, 37)).astype(np.float32)
    source = tmp_path / "linear.mlir"
    source.write_text(linear_module(x.shape, weight))
    artifacts = compile_model(str(source), tmp_path / "linear", CompileOptions(target="aarch64-linux-gnu"))
    output = runtime.run_aarch64(artifacts.outputs["runner"], x)
    np.testing.assert_allclose(output, x.astype(np.float64) @ weight.T, rtol=1e-4, atol=1e-4)
