"""CMakeLists.txt builds the runtime for the host and, with cmake/aarch64-linux-gnu.cmake, for
AArch64, plus a compiled model's static runner, which computes what patsparse-compile's does."""

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from helpers import conv_module, pattern_weight, torch_conv

from patsparse import runtime
from patsparse.compiler import compile_model
from patsparse.pipeline import CompileOptions

REPO = Path(__file__).resolve().parents[2]


def cmake(build: Path, *options: str) -> None:
    for command in (["cmake", "-S", str(REPO), "-B", str(build), *options], ["cmake", "--build", str(build)]):
        result = subprocess.run(command, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def architecture(path: Path) -> str:
    return subprocess.run(["objdump", "-f", str(path)], capture_output=True, text=True, check=True).stdout


def test_host_runtime_library(tmp_path):
    cmake(tmp_path / "build")
    library = tmp_path / "build" / "libpatsparse_runtime.a"
    assert "x86-64" in architecture(library)
    symbols = subprocess.run(["nm", "--defined-only", str(library)], capture_output=True, text=True).stdout
    assert {"model_memrefCopy", "model_patsparse_parallel_for", "model_create", "model_run"} <= {
        line.split()[-1] for line in symbols.splitlines() if len(line.split()) == 3}


@pytest.mark.slow
@pytest.mark.qemu
def test_aarch64_runtime_and_model_runner_under_qemu(tmp_path):
    rng = np.random.default_rng(5)
    weight = pattern_weight(rng, 6, 3, 0.7)
    x = rng.standard_normal((1, 3, 10, 12)).astype(np.float32)
    source = tmp_path / "conv.mlir"
    source.write_text(conv_module(x.shape, weight, None, (1, 1), (1, 1, 1, 1), as_linalg=False))
    compile_model(source, tmp_path / "conv", CompileOptions(target="aarch64-linux-gnu"))
    build = tmp_path / "build-arm"
    cmake(build, f"-DCMAKE_TOOLCHAIN_FILE={REPO / 'cmake' / 'aarch64-linux-gnu.cmake'}",
          f"-DPATSPARSE_MODEL={tmp_path / 'conv'}")
    assert "aarch64" in architecture(build / "libpatsparse_runtime.a")
    runner = build / "conv_runner"
    shutil.copy(tmp_path / "conv.json", runner.with_name("conv_runner.json"))  # shapes for run_aarch64
    np.testing.assert_allclose(runtime.run_aarch64(runner, x, threads=2),
                               torch_conv(x, weight, None, (1, 1), (1, 1, 1, 1)), rtol=1e-4, atol=1e-5)
