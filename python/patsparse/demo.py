"""The README's main command (`make demo`).

Today: builds a small pattern convolution from a pattern-pruned weight with the
Python builder, checks it with `patsparse-opt --patsparse-verify`, and round-trips
it through the pip-installed `mlir-opt` with the IRDL dialect file.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from mlir import ir
from mlir.dialects import func

from patsparse import toolchain
from patsparse.cliutil import ToolError, run_main
from patsparse.dialect import IRDL_FILE, from_dense_weight, make_context, pattern_conv2d


def small_pattern_module(seed: int = 0) -> str:
    """A 8->8 channel 3x3 convolution with 4 patterns and half of its kernels removed."""
    rng = np.random.default_rng(seed)
    library = np.array([[0, 1, 0, 1, 1, 0, 0, 0, 1], [0, 1, 0, 0, 1, 1, 1, 0, 0],
                        [1, 0, 0, 1, 1, 0, 0, 1, 0], [0, 0, 1, 0, 1, 1, 0, 1, 0]], np.int8)
    pattern_ids = rng.integers(0, len(library), size=(8, 8))
    kept = rng.random((8, 8)) < 0.5
    weight = (rng.normal(size=(8, 8, 9)) * library[pattern_ids] * kept[..., None]).astype(np.float32)
    fkw = from_dense_weight(weight.reshape(8, 8, 3, 3), library)
    with make_context(), ir.Location.unknown():
        module = ir.Module.create()
        with ir.InsertionPoint(module.body):
            f32 = ir.F32Type.get()

            @func.FuncOp.from_py_func(ir.RankedTensorType.get([1, 8, 16, 16], f32),
                                      ir.RankedTensorType.get([8], f32), name="forward")
            def forward(x, bias):
                return pattern_conv2d(x, fkw, bias=bias, padding=(1, 1, 1, 1))
        return str(module)


def run() -> int:
    print("PatSparse demo: build, verify and round-trip a pattern convolution\n")
    text = small_pattern_module()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "demo.mlir"
        path.write_text(text)
        bin_dir = Path(sys.executable).parent
        steps = [
            ("patsparse-opt --patsparse-verify", [str(bin_dir / "patsparse-opt"), str(path), "--patsparse-verify"]),
            ("mlir-opt --irdl-file=dialect/patsparse.irdl.mlir",
             [str(toolchain.find("mlir-opt")), f"--irdl-file={IRDL_FILE}", str(path)]),
        ]
        for title, command in steps:
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode:
                raise ToolError(f"{title} failed:\n{result.stderr}")
            print(f"== {title}: OK")
            print("\n".join(line[:160] + (" ..." if len(line) > 160 else "") for line in result.stdout.splitlines()))
            print()
    return 0


def main() -> int:
    return run_main("patsparse-demo", run)


if __name__ == "__main__":
    sys.exit(main())
