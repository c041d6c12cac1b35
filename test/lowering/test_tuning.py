"""patsparse-tune and the tuning database: measured on the host, ranked by llvm-mca for AArch64,
applied by patsparse-apply-tuning inside patsparse-compile."""

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
from helpers import conv_module, pattern_weight, torch_conv

from patsparse import runtime
from patsparse.compiler import compile_model
from patsparse.dialect.schedule import MAX_BLOCK_ACCUMULATORS, TUNED_FIELDS, Schedule, TuningDatabase, layer_key
from patsparse.lowering.tuning import candidate_grid, tune_layer
from patsparse.pipeline import CompileOptions
from patsparse.tune import model_layers

SHAPE = (1, 6, 12, 20)


@pytest.fixture(scope="module")
def layer_and_model(tmp_path_factory):
    rng = np.random.default_rng(11)
    weight = pattern_weight(rng, 8, SHAPE[1], 0.5)
    bias = rng.standard_normal(8).astype(np.float32)
    work = tmp_path_factory.mktemp("tuning")
    source = work / "conv.mlir"
    source.write_text(conv_module(SHAPE, weight, bias, (1, 1), (1, 1, 1, 1), as_linalg=True))
    [layer] = model_layers(str(source))  # as the compiler sees it: after pattern detection
    return layer, source, weight, bias


def test_grid_starts_with_the_default_and_fits_the_register_file(layer_and_model):
    layer, *_ = layer_and_model
    base = Schedule(vector_width=16)
    grid = candidate_grid(layer, base, [8, 16])
    assert grid[0] == base and len(grid) == len(set(grid)) > 5
    assert all(s.rows * s.max_accumulators <= MAX_BLOCK_ACCUMULATORS for s in grid[1:])
    assert all(s.rows <= 12 and s.vector_width in (8, 16) for s in grid)


@pytest.mark.slow
def test_host_tuning_round_trips_through_the_database(layer_and_model, tmp_path):
    layer, *_ = layer_and_model
    result = tune_layer(layer, Schedule(vector_width=16), "host", runs=3)
    assert result.schedule in candidate_grid(layer, Schedule(vector_width=16), [8, 16])
    database = TuningDatabase(tmp_path / "db.json")
    database.add(result, layer.name)
    database.save()
    again = TuningDatabase(tmp_path / "db.json")
    # Every tuned field comes back (which candidate wins is the machine's choice); the rest is the base's.
    tuned = {name: getattr(result.schedule, name) for name in TUNED_FIELDS}
    assert again.schedule(layer, "host", Schedule()) == dataclasses.replace(Schedule(), **tuned)
    assert again.schedule(layer, "host", Schedule(eliminate_loads=True)) == dataclasses.replace(
        Schedule(eliminate_loads=True), **tuned)
    assert again.schedule(layer, "aarch64-linux-gnu", Schedule()) is None
    # The same whatever won: every tuned field flipped from the winner's value round-trips too.
    flipped = dataclasses.replace(result.schedule, rows=result.schedule.rows + 1, max_accumulators=3,
                                  rows_outer=not result.schedule.rows_outer,
                                  filter_pairs=not result.schedule.filter_pairs)
    database.add(dataclasses.replace(result, schedule=flipped), layer.name)
    database.save()
    tuned = {name: getattr(flipped, name) for name in TUNED_FIELDS}
    assert TuningDatabase(tmp_path / "db.json").schedule(layer, "host", Schedule()) == dataclasses.replace(
        Schedule(), **tuned)


@pytest.mark.slow
def test_aarch64_candidates_are_ranked_by_llvm_mca(layer_and_model):
    layer, *_ = layer_and_model
    result = tune_layer(layer, Schedule(vector_width=4), "aarch64-linux-gnu")
    assert result.schedule.vector_width == 4
    assert 0 < result.mca_cycles_per_fma < 5
    assert result.key.startswith("aarch64-linux-gnu|")


def test_compile_applies_the_database_and_still_matches_torch(layer_and_model, tmp_path):
    layer, source, weight, bias = layer_and_model
    # A hand-written entry, so the check does not depend on which schedule was fastest today.
    database = tmp_path / "db.json"
    database.write_text(json.dumps({"version": 1, "layers": {layer_key(layer, "host"): {
        "schedule": {"vector_width": 8, "max_accumulators": 2, "rows": 3}}}}))
    # The entry's vector width and 3 x 2 accumulator block in the emitted IR: lowering/tuned-schedule.mlir.
    mlir = compile_model(source, tmp_path / "tuned.mlir", CompileOptions(tuning_db=str(database)), emit="mlir")
    assert mlir.outputs["mlir"]
    library = compile_model(source, tmp_path / "tuned.so", CompileOptions(tuning_db=str(database)))
    x = np.random.default_rng(3).standard_normal(SHAPE).astype(np.float32)
    np.testing.assert_allclose(runtime.load(library.outputs["library"])(x),
                               torch_conv(x, weight, bias, (1, 1), (1, 1, 1, 1)), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_patsparse_tune_writes_one_entry_per_layer(layer_and_model, tmp_path):
    _, source, *_ = layer_and_model
    database = tmp_path / "model.tuning.json"
    run = subprocess.run([sys.executable, "-m", "patsparse.tune", str(source), "--db", str(database), "--runs", "2"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "patsparse_conv_0" in run.stdout and "speedup" in run.stdout
    layers = json.loads(database.read_text())["layers"]
    assert len(layers) == 1 and next(iter(layers.values()))["schedule"]["vector_width"] in (8, 16)


def test_candidates_thin_the_grid_and_keep_the_default(layer_and_model):
    layer, *_ = layer_and_model
    base = Schedule(vector_width=16)
    result = tune_layer(layer, base, runs=1, candidates=3)
    assert result.schedule in candidate_grid(layer, base, [8, 16])


def test_a_spent_budget_leaves_layers_untuned_and_says_so(layer_and_model, tmp_path):
    _, source, *_ = layer_and_model
    database = tmp_path / "budget.json"
    run = subprocess.run([sys.executable, "-m", "patsparse.tune", str(source), "--db", str(database), "--runs", "1",
                          "--budget", "1e-9", "--candidates", "2"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "budget of 0 s spent: 1 of 1 layers keep their default schedule" in run.stdout
    assert json.loads(database.read_text())["layers"] == {}
    bad = subprocess.run([sys.executable, "-m", "patsparse.tune", str(source), "--db", str(database),
                          "--budget", "0"], capture_output=True, text=True)
    assert bad.returncode != 0 and "--budget 0: expected a positive number of seconds" in bad.stderr


@pytest.mark.parametrize("content", ["{not json", '{"version": 7, "layers": {}}', "[]"])
def test_a_bad_database_is_refused_with_its_name(layer_and_model, tmp_path, content):
    _, source, *_ = layer_and_model
    database = tmp_path / "bad.json"
    database.write_text(content)
    run = subprocess.run([sys.executable, "-m", "patsparse.compiler", str(source), "--tuning-db", str(database),
                          "-o", str(tmp_path / "out.so")], capture_output=True, text=True)
    assert run.returncode == 1
    assert f"{database}: not a tuning database" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "out.so").exists()
