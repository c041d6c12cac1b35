"""A compiled host library exports only its model's C API: every other symbol (the generated
helpers, the weights, the model's copy of the runtime) stays local, and what is exported starts
with the model's name (lowering/symbol_prefix.py). Unprefixed, two models' helpers
(patsparse_conv_0, memrefCopy) were interposed across models loaded in one process (seen in
bench/latency.py: a dense build ran the previously loaded sparse model's convolutions)."""

import subprocess

import numpy as np
from helpers import conv_module, pattern_weight, torch_conv

from patsparse import runtime
from patsparse.compiler import compile_model
from patsparse.lowering.model_api import API_FUNCTIONS
from patsparse.pipeline import CompileOptions


def test_only_the_models_api_is_exported(tmp_path):
    weight = pattern_weight(np.random.default_rng(3), 4, 3, 0.7)
    source = tmp_path / "conv.mlir"
    source.write_text(conv_module((1, 3, 8, 8), weight, None, (1, 1), (1, 1, 1, 1), as_linalg=False))
    library = compile_model(source, tmp_path / "conv.p8.so", CompileOptions()).outputs["library"]
    symbols = subprocess.run(["nm", "-D", "--defined-only", library], capture_output=True, text=True, check=True)
    exported = sorted(line.split()[-1] for line in symbols.stdout.splitlines())
    assert exported == sorted(f"conv_p8_{name}" for name in API_FUNCTIONS)  # the name comes from the file


def test_two_models_with_the_same_layer_names_in_one_process(tmp_path):
    """Both models' convolutions are patsparse_conv_0 inside; each library runs its own."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 3, 8, 8)).astype(np.float32)
    models, weights = [], []
    for name in ("first", "second"):
        weights.append(pattern_weight(rng, 4, 3, 0.7))
        source = tmp_path / f"{name}.mlir"
        source.write_text(conv_module(x.shape, weights[-1], None, (1, 1), (1, 1, 1, 1), as_linalg=False))
        models.append(runtime.load(compile_model(source, tmp_path / f"{name}.so", CompileOptions()).outputs["library"]))
    for model, weight in zip(models, weights):
        np.testing.assert_allclose(model(x), torch_conv(x, weight, None, (1, 1), (1, 1, 1, 1)), rtol=1e-5, atol=1e-5)
