"""Fixtures for the front-end tests: run `patsparse-import`, check IR with mlir-opt 22.1.8."""

import subprocess
import sys
from pathlib import Path

import pytest

INPUTS = Path(__file__).parent / "Inputs"
IMPORT_TOOL = Path(sys.executable).parent / "patsparse-import"


@pytest.fixture(scope="session")
def inputs_dir() -> Path:
    return INPUTS


@pytest.fixture(scope="session")
def run_import():
    """Run the console script as a user would, by default from Inputs/ (so `nets:...` imports)."""

    def run(*args, cwd=INPUTS) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(IMPORT_TOOL), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120
        )

    return run


@pytest.fixture(scope="session")
def mlir_parses():
    """Assert that a file parses and verifies with the compiler's MLIR (22.1.8 mlir-opt)."""
    from patsparse.lowering import toolchain

    mlir_opt = str(toolchain.find("mlir-opt"))

    def check(path: Path) -> None:
        result = subprocess.run([mlir_opt, str(path), "-o", "/dev/null"], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr

    return check
