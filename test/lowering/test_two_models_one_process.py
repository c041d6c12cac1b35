"""A compiled host library exports only its entry: every model's generated helpers
(patsparse_conv_0, its weight globals, memrefCopy) have the same names, and exported they
were interposed across models loaded in one process (seen in bench/latency.py: a dense build
ran the previously loaded sparse model's convolutions)."""

import subprocess

import numpy as np
from helpers import conv_module, pattern_weight

from patsparse.compiler import compile_model
from patsparse.pipeline import CompileOptions


def test_only_the_entry_and_the_runtime_controls_are_exported(tmp_path):
    weight = pattern_weight(np.random.default_rng(3), 4, 3, 0.7)
    source = tmp_path / "conv.mlir"
    source.write_text(conv_module((1, 3, 8, 8), weight, None, (1, 1), (1, 1, 1, 1), as_linalg=False))
    library = compile_model(source, tmp_path / "conv.so", CompileOptions()).outputs["library"]
    symbols = subprocess.run(["nm", "-D", "--defined-only", library], capture_output=True, text=True, check=True)
    exported = sorted(line.split()[-1] for line in symbols.stdout.splitlines())
    assert exported == ["forward", "patsparse_get_threads", "patsparse_release_buffers", "patsparse_set_threads"]
