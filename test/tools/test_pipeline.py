"""One pipeline, one contract (python/patsparse/pipeline.py): `patsparse-opt` with the named
pipeline prints what `patsparse-compile --emit mlir` writes, a failing stage names the
`patsparse-opt` line that reproduces it, and the compiler's layers import only downwards."""

from __future__ import annotations

import ast
import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from patsparse.compiler import compile_model
from patsparse.frontend import import_model
from patsparse.pipeline import CompileOptions, lower_stages, pipeline_text

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _checkpoint(name: str) -> Path:
    found = sorted(REPO.glob(f"**/checkpoints/{name}.pt"))
    assert found, f"no checkpoint {name}.pt in the repository"
    return found[0]


@pytest.fixture(scope="module")
def demo_model(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("demo")
    return import_model(_checkpoint("vgg_small_p8_c8"), work / "demo.mlir")


@pytest.fixture(scope="module")
def vgg16_model(tmp_path_factory) -> Path:
    from patsparse.pruning.checkpoint import save_pruned
    from patsparse.pruning.models import input_shape
    from patsparse.pruning.projected import projected_model

    work = tmp_path_factory.mktemp("vgg16")
    model, layers = projected_model("vgg16_cifar", patterns=8, connectivity=8.0, seed=1)
    save_pruned(work / "vgg16.pt", model, "vgg16_cifar", layers, {"input_shape": list(input_shape("vgg16_cifar"))})
    return import_model(work / "vgg16.pt", work / "vgg16.mlir")


def _opt(source: Path, pipeline: str) -> str:
    result = subprocess.run([BIN / "patsparse-opt", source, f"--pass-pipeline={pipeline}"], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("flags, options", [([], ""), (["-O"], "O"), (["-O", "--vector-width", "8", "--rows", "2"],
                                                                       "O vector-width=8 rows=2"),
                                            (["--dense"], "dense")])
def test_named_pipeline_prints_what_compile_emits_for_the_demo_model(demo_model, tmp_path, flags, options):
    compiled = tmp_path / "compiled.mlir"
    result = subprocess.run([BIN / "patsparse-compile", demo_model, *flags, "--emit", "mlir", "-o", compiled],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert _opt(demo_model, f"builtin.module(patsparse-lower{{{options}}})") == compiled.read_text()


@pytest.mark.slow
def test_named_pipeline_prints_what_compile_emits_for_vgg16(vgg16_model, tmp_path):
    compile_model(vgg16_model, tmp_path / "compiled.mlir", CompileOptions.optimised(), emit="mlir")
    assert _opt(vgg16_model, "builtin.module(patsparse-lower{O})") == (tmp_path / "compiled.mlir").read_text()


def test_the_stage_list_is_the_named_pipeline_expanded(demo_model):
    """The textual form of the stages is itself a pipeline patsparse-opt runs, with the same result."""
    text = pipeline_text(lower_stages(CompileOptions.optimised()))
    assert text.startswith("builtin.module(patsparse-detect-patterns, patsparse-reorder-filters, ")
    assert text.endswith("patsparse-schedule-dense, patsparse-approximate-math)")
    assert _opt(demo_model, text) == _opt(demo_model, "builtin.module(patsparse-lower{O})")


def test_a_failing_stage_prints_a_replay_line_that_fails_the_same_way(demo_model, tmp_path):
    """A tuning database whose schedule the generator cannot use makes patsparse-apply-tuning fail:
    the error names the stage and the patsparse-opt line; run as printed, it fails with the same
    message."""
    from patsparse.dialect.schedule import layer_key
    from patsparse.tune import model_layers

    database = tmp_path / "bad.json"
    layers = model_layers(str(demo_model), reorder=True)
    database.write_text(json.dumps({"version": 1, "layers": {
        layer_key(layer, "host"): {"schedule": {"vector_width": 7, "max_accumulators": 2, "rows": 1}}
        for layer in layers}}))
    result = subprocess.run([BIN / "patsparse-compile", demo_model, "-O", "--tuning-db", database, "-o",
                             tmp_path / "model.so"], capture_output=True, text=True)
    assert result.returncode == 1
    error = result.stderr.strip()
    assert "vector-width=7: expected 4, 8 or 16 (in stage patsparse-apply-tuning; reproduce it with: " in error
    replay = error.split("reproduce it with: ", 1)[1].removesuffix(")")
    assert replay.startswith("patsparse-opt ")
    argv = shlex.split(replay)
    rerun = subprocess.run([BIN / argv[0], *argv[1:]], capture_output=True, text=True)
    assert rerun.returncode == 1
    message = error.split(": patsparse-apply-tuning: ", 1)[1].split(" (in stage ")[0]
    assert message in rerun.stderr
    assert not list(tmp_path.glob("model*"))


# --- the layers import only downwards ------------------------------------------------------------

LAYERS = {"dialect": {"dialect"}, "passes": {"dialect", "passes"}, "lowering": {"dialect", "lowering"}}


def _imported_layers(path: Path, layer: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: the same package
                found.add(layer)
            elif node.module and node.module.startswith("patsparse"):
                parts = node.module.split(".")
                found.add(parts[1] if len(parts) > 1 and parts[1] in LAYERS else "patsparse (top)")
                if node.module == "patsparse":
                    found |= {alias.name if alias.name in LAYERS else "patsparse (top)" for alias in node.names}
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("patsparse"):
                    parts = alias.name.split(".")
                    found.add(parts[1] if len(parts) > 1 and parts[1] in LAYERS else "patsparse (top)")
    return found


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_each_compiler_layer_imports_only_the_layers_below_it(layer):
    wrong = {}
    for path in sorted((REPO / layer).glob("*.py")):
        extra = _imported_layers(path, layer) - LAYERS[layer]
        if extra:
            wrong[path.name] = sorted(extra)
    assert wrong == {}


def test_no_compiler_module_is_over_500_lines():
    long = {str(path.relative_to(REPO)): len(path.read_text().splitlines())
            for folder in ("dialect", "passes", "lowering", "python/patsparse")
            for path in (REPO / folder).rglob("*.py")}
    assert {name: lines for name, lines in long.items() if lines > 520} == {}
