"""The C API of compiled models (lowering/model_api.py, lowering/runtime/patsparse_context.c)
and what docs/deploying.md shows: per-model symbol prefixes, two and ten models in one
program (host, and one AArch64 static binary under qemu, with and without --whole-archive),
error codes for bad calls, several inputs and outputs, per-layer profiling."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from helpers import conv_module, pattern_weight, torch_conv

from patsparse import runtime
from patsparse.cliutil import ToolError
from patsparse.compiler import compile_model
from patsparse.lowering import toolchain
from patsparse.pipeline import CompileOptions

REPO = Path(__file__).resolve().parents[2]
PAD = (1, 1, 1, 1)


def doc_program() -> str:
    """The C program of docs/deploying.md, as the document shows it."""
    text = (REPO / "docs" / "deploying.md").read_text()
    return re.search(r"```c\n(.*?)```", text, re.S)[1]


class Conv:
    """A one-convolution model with its own weights, and what PyTorch computes for it."""

    def __init__(self, tmp_path: Path, name: str, seed: int, channels: int, filters: int, size: int):
        rng = np.random.default_rng(seed)
        self.name = name
        self.weight = pattern_weight(rng, filters, channels, 0.7)
        self.x = rng.standard_normal((1, channels, size, size)).astype(np.float32)
        self.source = tmp_path / f"{name}.mlir"
        self.source.write_text(conv_module(self.x.shape, self.weight, None, (1, 1), PAD, as_linalg=False))

    def expected(self, x=None) -> np.ndarray:
        return torch_conv(self.x if x is None else x, self.weight, None, (1, 1), PAD)

    def compile(self, out: Path, target: str = "host", **options):
        profile = options.pop("profile", False)
        return compile_model(self.source, out, CompileOptions(target=target, profile=profile, **options),
                             name=self.name)


def run_c(command: list, what: str) -> subprocess.CompletedProcess:
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True)
    assert result.returncode == 0, f"{what}: {result.stdout}{result.stderr}"
    return result


def test_names_default_to_the_output_file_and_bad_names_are_refused(tmp_path):
    model = Conv(tmp_path, "unused", 0, 3, 4, 8)
    artifacts = compile_model(model.source, tmp_path / "16x.p8.so", CompileOptions())
    assert json.loads(Path(artifacts.outputs["metadata"]).read_text())["name"] == "m_16x_p8"
    for bad in ("2fast", "a-b", "int", ""):
        with pytest.raises(ToolError, match="--name"):
            compile_model(model.source, tmp_path / "x.so", CompileOptions(), name=bad)
    assert not (tmp_path / "x.so").exists()


@pytest.mark.qemu
def test_every_global_symbol_of_a_static_library_is_prefixed(tmp_path):
    model = Conv(tmp_path, "classifier", 1, 3, 4, 8)
    artifacts = model.compile(tmp_path / "classifier", "aarch64-linux-gnu", threads=2)
    nm = Path(str(toolchain.find("aarch64-linux-gnu-gcc")).replace("-gcc", "-nm"))
    listing = run_c([nm if nm.exists() else "nm", "-g", "--defined-only", artifacts.outputs["static_library"]], "nm")
    defined = [line.split()[-1] for line in listing.stdout.splitlines() if len(line.split()) == 3]
    assert defined and all(name.startswith("classifier_") for name in defined), \
        [name for name in defined if not name.startswith("classifier_")]
    assert {"classifier_create", "classifier_run", "classifier_destroy", "classifier_forward",
            "classifier_patsparse_parallel_for"} <= set(defined)
    assert not any("profile_mark" in name for name in defined)  # an unprofiled build has no timing code


def test_the_documented_c_program_runs_two_models_on_the_host(tmp_path):
    """docs/deploying.md's program against two host libraries, each equal to PyTorch; the
    context destroyed at the end is refused."""
    classifier, detector = Conv(tmp_path, "classifier", 2, 3, 6, 10), Conv(tmp_path, "detector", 3, 4, 5, 12)
    for model in (classifier, detector):
        model.compile(tmp_path / f"{model.name}.so")
    (tmp_path / "app.c").write_text(doc_program())
    run_c(["gcc", "-O2", "-Wall", "-Werror", tmp_path / "app.c", f"-I{tmp_path}", tmp_path / "classifier.so",
           tmp_path / "detector.so", f"-Wl,-rpath,{tmp_path}", "-o", tmp_path / "app"], "compiling the doc's program")
    classifier.x.tofile(tmp_path / "image.bin")
    detector.x.tofile(tmp_path / "frame.bin")
    result = run_c([tmp_path / "app", tmp_path / "image.bin", tmp_path / "frame.bin", tmp_path / "scores.bin",
                    tmp_path / "map.bin"], "running it")
    assert "run after destroy: not a live context" in result.stdout
    for model, out in ((classifier, "scores.bin"), (detector, "map.bin")):
        expected = model.expected()
        actual = np.fromfile(tmp_path / out, np.float32).reshape(expected.shape)
        np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


@pytest.mark.slow
@pytest.mark.qemu
@pytest.mark.parametrize("whole_archive", [False, True])
def test_two_models_in_one_aarch64_static_binary(tmp_path, whole_archive):
    classifier, detector = Conv(tmp_path, "classifier", 4, 3, 6, 10), Conv(tmp_path, "detector", 5, 4, 5, 12)
    archives = [classifier.compile(tmp_path / "classifier", "aarch64-linux-gnu").outputs["static_library"],
                detector.compile(tmp_path / "detector", "aarch64-linux-gnu").outputs["static_library"]]
    (tmp_path / "app.c").write_text(doc_program())
    libraries = ["-Wl,--whole-archive", *archives, "-Wl,--no-whole-archive"] if whole_archive else archives
    run_c([toolchain.find("aarch64-linux-gnu-gcc"), "-O2", "-Wall", "-Werror", "-static", tmp_path / "app.c",
           f"-I{tmp_path}", *libraries, "-lm", "-pthread", "-o", tmp_path / "app"], "linking two models statically")
    classifier.x.tofile(tmp_path / "image.bin")
    detector.x.tofile(tmp_path / "frame.bin")
    result = run_c([toolchain.find("qemu-aarch64"), tmp_path / "app", tmp_path / "image.bin", tmp_path / "frame.bin",
                    tmp_path / "scores.bin", tmp_path / "map.bin"], "running it under qemu")
    assert "run after destroy" in result.stdout
    for model, out in ((classifier, "scores.bin"), (detector, "map.bin")):
        expected = model.expected()
        actual = np.fromfile(tmp_path / out, np.float32).reshape(expected.shape)
        np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


TEN_MODELS = r"""
#include <stdio.h>
#include <stdlib.h>
%(includes)s

int main(int argc, char **argv) {
  FILE *out = fopen(argv[1], "wb");
%(runs)s
  fclose(out);
  return 0;
}
"""
ONE_RUN = r"""  {
    %(n)s_ctx *ctx = %(n)s_create(NULL);
    float *x = calloc((size_t)%(n)s_input_info(0)->elements, sizeof(float));
    float *y = calloc((size_t)%(n)s_output_info(0)->elements, sizeof(float));
    FILE *in = fopen("%(input)s", "rb");
    if (!ctx || !x || !y || !in || fread(x, sizeof(float), (size_t)%(n)s_input_info(0)->elements, in) == 0) return 1;
    fclose(in);
    const float *inputs[] = {x};
    if (%(n)s_run(ctx, inputs, &y) != PATSPARSE_OK) return 1;
    fwrite(y, sizeof(float), (size_t)%(n)s_output_info(0)->elements, out);
    %(n)s_destroy(ctx);
  }"""


@pytest.mark.slow
def test_ten_models_in_one_host_executable(tmp_path):
    models = [Conv(tmp_path, f"model{i}", 10 + i, 2 + i % 3, 3 + i % 4, 6 + i % 2) for i in range(10)]
    runs = []
    for model in models:
        model.compile(tmp_path / f"{model.name}.so")
        model.x.tofile(tmp_path / f"{model.name}.in")
        runs.append(ONE_RUN % {"n": model.name, "input": tmp_path / f"{model.name}.in"})
    includes = "\n".join(f'#include "{model.name}.h"' for model in models)
    (tmp_path / "ten.c").write_text(TEN_MODELS % {"includes": includes, "runs": "\n".join(runs)})
    run_c(["gcc", "-O2", "-Wall", tmp_path / "ten.c", f"-I{tmp_path}", *[tmp_path / f"{m.name}.so" for m in models],
           f"-Wl,-rpath,{tmp_path}", "-o", tmp_path / "ten"], "linking ten models")
    run_c([tmp_path / "ten", tmp_path / "outputs.bin"], "running them")
    outputs = np.fromfile(tmp_path / "outputs.bin", np.float32)
    offset = 0
    for model in models:
        expected = model.expected()
        np.testing.assert_allclose(outputs[offset:offset + expected.size].reshape(expected.shape), expected,
                                   rtol=1e-5, atol=1e-5 * np.abs(expected).max(), err_msg=model.name)
        offset += expected.size
    assert offset == outputs.size


BAD_CALLS = r"""
#include <stdio.h>
#include "first.h"
#include "second.h"

#define EXPECT(call, code) do { int got = (call); if (got != (code)) { \
    printf("%s returned %d (%s), expected %d\n", #call, got, first_status_text(got), code); return 1; } } while (0)

int main(void) {
  static float x[FIRST_INPUT0_ELEMENTS], y[FIRST_OUTPUT0_ELEMENTS];
  const float *inputs[] = {x}, *null_inputs[] = {NULL};
  float *outputs[] = {y}, *null_outputs[] = {NULL};
  int threads = 0;
  patsparse_options negative = {-1};
  if (first_create(&negative) != NULL) return 1;
  first_ctx *ctx = first_create(NULL);
  second_ctx *other = second_create(NULL);
  EXPECT(first_run(NULL, inputs, outputs), PATSPARSE_ERROR_NULL_POINTER);
  EXPECT(first_run(ctx, NULL, outputs), PATSPARSE_ERROR_NULL_POINTER);
  EXPECT(first_run(ctx, null_inputs, outputs), PATSPARSE_ERROR_NULL_POINTER);
  EXPECT(first_run(ctx, inputs, null_outputs), PATSPARSE_ERROR_NULL_POINTER);
  EXPECT(first_run((first_ctx *)other, inputs, outputs), PATSPARSE_ERROR_INVALID_CONTEXT);
  EXPECT(first_set_threads(ctx, 0), PATSPARSE_ERROR_INVALID_ARGUMENT);
  EXPECT(first_set_threads(ctx, 3), PATSPARSE_OK);
  EXPECT(first_get_threads(ctx, &threads), PATSPARSE_OK);
  if (threads != 3) return 1;
  EXPECT(first_get_threads(ctx, NULL), PATSPARSE_ERROR_NULL_POINTER);
  EXPECT(first_profile_reset(ctx), PATSPARSE_ERROR_NOT_PROFILED);
  if (first_input_info(1) != NULL || first_output_info(-1) != NULL || first_num_inputs() != 1) return 1;
  EXPECT(first_run(ctx, inputs, outputs), PATSPARSE_OK);
  EXPECT(first_release_buffers(ctx), PATSPARSE_OK);
  EXPECT(first_destroy(ctx), PATSPARSE_OK);
  EXPECT(first_run(ctx, inputs, outputs), PATSPARSE_ERROR_INVALID_CONTEXT);
  EXPECT(first_set_threads(ctx, 2), PATSPARSE_ERROR_INVALID_CONTEXT);
  EXPECT(first_destroy(ctx), PATSPARSE_ERROR_INVALID_CONTEXT);
  EXPECT(first_destroy(NULL), PATSPARSE_ERROR_NULL_POINTER);
  EXPECT(second_destroy(other), PATSPARSE_OK);
  printf("ok\n");
  return 0;
}
"""


def test_bad_calls_get_error_codes_not_crashes(tmp_path):
    for index, name in enumerate(("first", "second")):
        Conv(tmp_path, name, 20 + index, 3, 4, 8).compile(tmp_path / f"{name}.so")
    (tmp_path / "bad.c").write_text(BAD_CALLS)
    run_c(["gcc", "-Wall", "-Werror", tmp_path / "bad.c", f"-I{tmp_path}", tmp_path / "first.so",
           tmp_path / "second.so", f"-Wl,-rpath,{tmp_path}", "-o", tmp_path / "bad"], "compiling")
    assert run_c([tmp_path / "bad"], "bad calls").stdout.strip() == "ok"


def test_python_refuses_wrong_inputs_and_a_closed_model(tmp_path):
    model = Conv(tmp_path, "conv", 30, 3, 4, 8)
    compiled = runtime.load(model.compile(tmp_path / "conv.so").outputs["library"], threads=2)
    assert compiled.threads == 2
    np.testing.assert_allclose(compiled(model.x), model.expected(), rtol=1e-5, atol=1e-5)
    for args, message in (((), "0 inputs given: the model takes 1"), ((model.x, model.x), "2 inputs given"),
                          ((model.x.astype(np.float16),), "dtype float16: the model takes float32"),
                          ((model.x.astype(np.float64),), "dtype float64: the model takes float32"),
                          ((model.x[:, :2],), r"shape \[1, 2, 8, 8\]")):
        with pytest.raises(runtime.ModelRuntimeError, match=message):
            compiled(*args)
    with pytest.raises(runtime.ModelRuntimeError, match="compiled without --profile"):
        compiled.profile()
    compiled.close()
    with pytest.raises(runtime.ModelRuntimeError, match="closed"):
        compiled(model.x)


TWO_IN_TWO_OUT = '''
import torch
from torch import nn


class TwoHeads(nn.Module):
    """An image and a feature vector in; class scores and a feature map out."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.side = nn.Linear(5, 8)
        self.head = nn.Conv2d(8, 4, 1)

    def forward(self, image, features):
        x = torch.relu(self.conv(image))
        return x.mean((2, 3)) + self.side(features), self.head(x)
'''


@pytest.mark.slow
@pytest.mark.qemu
def test_a_model_of_two_inputs_and_two_outputs_on_both_targets(tmp_path, monkeypatch):
    import torch

    from patsparse.frontend import run_import

    (tmp_path / "two_heads.py").write_text(TWO_IN_TWO_OUT)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    summary = run_import("two_heads:TwoHeads", tmp_path / "two.mlir", input_shape="1,3,8,8;1,5")
    assert summary.input_shapes == [(1, 3, 8, 8), (1, 5)]
    host = runtime.load(compile_model(tmp_path / "two.mlir", tmp_path / "two.so", CompileOptions.optimised())
                        .outputs["library"])
    phone = compile_model(tmp_path / "two.mlir", tmp_path / "two_arm", CompileOptions(target="aarch64-linux-gnu"))
    assert [t["shape"] for t in host.inputs] == [[1, 3, 8, 8], [1, 5]]
    assert [t["shape"] for t in host.outputs] == [[1, 8], [1, 4, 8, 8]]
    import two_heads

    rng = np.random.default_rng(0)
    image, features = rng.standard_normal((1, 3, 8, 8), np.float32), rng.standard_normal((1, 5), np.float32)
    with torch.no_grad():
        expected = [t.numpy() for t in two_heads.TwoHeads().eval()(torch.from_numpy(image), torch.from_numpy(features))]
    for outputs in (host(image, features), runtime.run_aarch64(phone.outputs["runner"], image, features)):
        assert isinstance(outputs, tuple) and len(outputs) == 2
        for actual, reference in zip(outputs, expected):
            np.testing.assert_allclose(actual, reference, rtol=1e-5, atol=1e-5 * np.abs(reference).max())
    with pytest.raises(runtime.ModelRuntimeError, match="input_1 dtype float64: the model takes float32"):
        host(image, features.astype(np.float64))


@pytest.mark.qemu
def test_the_runner_profiles_every_layer_under_qemu(tmp_path):
    model = Conv(tmp_path, "profiled", 40, 3, 8, 12)
    artifacts = model.compile(tmp_path / "profiled", "aarch64-linux-gnu", profile=True)
    header = Path(artifacts.outputs["header"]).read_text()
    assert "a profiled build: 1 layers" in header
    json_path = tmp_path / "profile.json"
    output = runtime.run_aarch64(artifacts.outputs["runner"], model.x, profile=json_path)
    np.testing.assert_allclose(output, model.expected(), rtol=1e-4, atol=1e-5 * np.abs(model.expected()).max())
    report = json.loads(json_path.read_text())
    assert report["model"] == "profiled" and report["runs"] == 1
    wrong = subprocess.run([toolchain.find("qemu-aarch64"), artifacts.outputs["runner"], tmp_path / "x.bin"],
                           capture_output=True, text=True)
    assert wrong.returncode == 2
    assert "runner: error: 1 file given: expected 1 input file, then 1 output file" in wrong.stderr
    assert [layer["kind"] for layer in report["layers"]] == ["pattern conv"]
    assert report["layers"][0]["flops"] == 2 * 12 * 12 * 4 * int((model.weight != 0).any((2, 3)).sum())
    assert report["layers"][0]["ms"] > 0 and report["total_ms"] == pytest.approx(report["layers"][0]["ms"], rel=1e-3)


@pytest.mark.slow
def test_patsparse_profile_on_vgg16_at_32x32_adds_up_to_the_whole_run(tmp_path):
    """docs/deploying.md's profile: one row per layer, named by module path, and the layers'
    times add up to the time measured around the calls (within 10%)."""
    from patsparse.frontend import import_model
    from patsparse.pruning.checkpoint import save_pruned
    from patsparse.pruning.projected import projected_model

    model, layers = projected_model("vgg16_cifar", 8, 8.0)
    save_pruned(tmp_path / "vgg.pt", model, "vgg16_cifar", layers, {"input_shape": [1, 3, 32, 32]})
    import_model(tmp_path / "vgg.pt", tmp_path / "vgg.mlir")
    compile_model(tmp_path / "vgg.mlir", tmp_path / "vgg.so", CompileOptions.optimised(profile=True))
    result = subprocess.run(["patsparse", "profile", tmp_path / "vgg.so", "--runs", "20",
                             "--json", tmp_path / "vgg.profile.json"], capture_output=True, text=True, env=_tool_env())
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "vgg.profile.json").read_text())
    kinds = [layer["kind"] for layer in report["layers"]]
    assert kinds.count("pattern conv") == 13 and kinds.count("pooling") == 5 and "matmul" in kinds
    assert report["layers"][0]["name"] == "features.0"
    assert abs(report["total_ms"] - report["wall_ms"]) <= 0.1 * report["wall_ms"], report
    assert "layers sum to" in result.stdout and "features.0" in result.stdout


def _tool_env() -> dict:
    """PATH with this Python's bin first, where the console scripts are."""
    import os
    import sys

    return {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}


def test_patsparse_profile_on_the_host_and_its_refusals(tmp_path):
    model = Conv(tmp_path, "small", 41, 3, 8, 12)
    model.compile(tmp_path / "small.so", profile=True)
    sidecar = (tmp_path / "small.json").read_text()
    result = subprocess.run(["patsparse", "profile", tmp_path / "small.so", "--runs", "3", "--json",
                             tmp_path / "small.profile.json"], capture_output=True, text=True, env=_tool_env())
    assert result.returncode == 0, result.stderr
    assert "pattern conv" in result.stdout and "layers sum to" in result.stdout
    assert json.loads((tmp_path / "small.profile.json").read_text())["runs"] == 3
    refused = subprocess.run(["patsparse", "profile", tmp_path / "small.so", "--json", tmp_path / "small.json"],
                             capture_output=True, text=True, env=_tool_env())
    assert refused.returncode == 1 and "the model's own metadata file" in refused.stderr
    assert (tmp_path / "small.json").read_text() == sidecar  # nothing overwritten
    Conv(tmp_path, "plain", 42, 3, 8, 12).compile(tmp_path / "plain.so")
    unprofiled = subprocess.run(["patsparse", "profile", tmp_path / "plain.so"], capture_output=True, text=True,
                                env=_tool_env())
    assert unprofiled.returncode == 1 and "compiled without --profile" in unprofiled.stderr
    assert len(unprofiled.stderr.strip().splitlines()) == 1
