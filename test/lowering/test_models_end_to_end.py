"""Whole models, imported and compiled for the host and AArch64, against PyTorch.

The pruned Fashion-MNIST checkpoint (trained), and VGG-16 and ResNet-18 at 32x32 with weights
projected onto 8 patterns and 8x connectivity (patsparse.pruning.projected: BatchNorm
statistics re-estimated so activations keep their scale, and outputs depend on the input).
Host and qemu outputs must equal PyTorch's at rtol 1e-4, atol 1e-5.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from patsparse import runtime
from patsparse.compiler import compile_model
from patsparse.frontend import import_model
from patsparse.pipeline import CompileOptions
from patsparse.pruning.checkpoint import load_pruned, save_pruned
from patsparse.pruning.models import input_shape
from patsparse.pruning.project import compression_report
from patsparse.pruning.projected import projected_model

REPO = Path(__file__).resolve().parents[2]
MODELS = ["vgg_small_p8_c8", "vgg16_cifar", "resnet18_cifar"]
# Every test compiles (or shares the compile of) a whole model for the host and AArch64.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=MODELS)
def compiled(request, tmp_path_factory):
    name = request.param
    work = tmp_path_factory.mktemp(name)
    if name == "vgg_small_p8_c8":
        checkpoint = REPO / "test" / "data" / "checkpoints" / f"{name}.pt"
    else:
        model, layers = projected_model(name, patterns=8, connectivity=8.0, seed=1)
        checkpoint = work / f"{name}.pt"
        save_pruned(checkpoint, model, name, layers, {"input_shape": list(input_shape(name))})
    model, _ = load_pruned(checkpoint)
    source = import_model(checkpoint, work / f"{name}.mlir")
    # The host build with every optimisation (-O), the AArch64 one with the defaults.
    host = compile_model(source, work / f"{name}.so", CompileOptions.optimised())
    phone = compile_model(source, work / f"{name}_aarch64", CompileOptions(target="aarch64-linux-gnu"))
    return model, host, phone


def inputs(shape, count=2):
    generator = np.random.default_rng(7)
    return [generator.standard_normal(shape).astype(np.float32) for _ in range(count)]


def reference(model, x):
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def test_host_matches_pytorch(compiled):
    model, host, _ = compiled
    library = runtime.load(host.outputs["library"])
    outputs = []
    for x in inputs(library.input_shape):
        expected = reference(model, x)
        np.testing.assert_allclose(library(x), expected, rtol=1e-4, atol=1e-5)
        outputs.append(expected)
    # The outputs depend on the input: a model stuck at its last bias would pass the above.
    assert np.abs(outputs[0] - outputs[1]).max() > 1e-2


@pytest.mark.qemu
def test_aarch64_under_qemu_matches_pytorch(compiled):
    model, _, phone = compiled
    x = inputs(phone.metadata["input_shape"], 1)[0]
    np.testing.assert_allclose(runtime.run_aarch64(phone.outputs["runner"], x), reference(model, x),
                               rtol=1e-4, atol=1e-5)


@pytest.mark.qemu
def test_every_thread_count_gives_identical_results(compiled):
    """Each filter is computed whole by one thread, so results are bit-identical."""
    _, host, phone = compiled
    library = runtime.load(host.outputs["library"])
    x = inputs(library.input_shape, 1)[0]
    assert library.threads == 1
    single = library(x)
    for threads in (2, 3):
        library.set_threads(threads)
        assert library.threads == threads
        np.testing.assert_array_equal(library(x), single)
    library.set_threads(1)
    np.testing.assert_array_equal(runtime.run_aarch64(phone.outputs["runner"], x, threads=2),
                                  runtime.run_aarch64(phone.outputs["runner"], x, threads=1))


def test_weight_bytes_shrink_by_the_compression(compiled):
    """Values: exactly the 3x3 zeros are gone. Indices (compact FKW channel, segment and order
    arrays, -O): at most half the kept values' bytes on top."""
    model, host, _ = compiled
    report = compression_report(model)
    before, after = host.metadata["weight_bytes_before"], host.metadata["weight_bytes_compiled"]
    assert before["float"] - after["float"] == 4 * (report["dense_weights"] - report["nonzero_weights"])
    assert after["index"] <= 0.5 * 4 * report["nonzero_weights"]
    assert report["compression"] > 7.5


def test_large_constants_travel_as_binary(tmp_path):
    """Big constants leave the IR as bytes (lowering/external_weights.py) and come back in one
    section of the object; the object still defines every symbol the code uses."""
    checkpoint = REPO / "test" / "data" / "checkpoints" / "vgg_small_p8_c8.pt"
    source = import_model(checkpoint, tmp_path / "model.mlir")
    artifacts = compile_model(source, tmp_path / "model.o", CompileOptions(), emit="obj")
    sections = subprocess.run(["objdump", "-h", artifacts.outputs["obj"]], capture_output=True, text=True,
                              check=True).stdout
    row = next(line.split() for line in sections.splitlines() if ".rodata.patsparse_weights" in line)
    fkw_values = 4 * compression_report(load_pruned(checkpoint)[0])["nonzero_weights"]
    assert int(row[2], 16) >= fkw_values
    undefined = subprocess.run(["nm", "--undefined-only", artifacts.outputs["obj"]], capture_output=True,
                               text=True, check=True).stdout.split()
    # Only the runtime's entry points (lowering/runtime) are left for the link.
    assert not [symbol for symbol in undefined if ("patsparse" in symbol or "constant" in symbol)
                and symbol != "patsparse_parallel_for"]
