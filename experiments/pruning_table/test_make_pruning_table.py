"""The results table generator states targets honestly (met / missed)."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "make_pruning_table.py"


def load():
    spec = importlib.util.spec_from_file_location("make_pruning_table", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(name, method, acc, k=None, conn=None, compression=1.0):
    epochs = {"dense": 8} if method == "dense" else {"admm": 3, "retrain": 3}
    return {"model": "vgg_small", "run": name, "method": method, "accuracy": acc, "num_patterns": k,
            "connectivity_target": conn, "compression_3x3": compression, "epochs": epochs,
            "total_epochs": sum(epochs.values()), "wall_time_s": 60.0, "command": f"patsparse-prune --out runs/{name}",
            "accuracy_after_hard_prune": None, "pattern_library": [[1, 1, 0, 0, 1, 0, 0, 1, 0]] if k else None}


def test_table_marks_met_and_missed_targets():
    table = load().render({"runs": [
        run("dense", "dense", 92.0),
        run("admm_p8", "admm", 92.05, 8, None, 2.25),
        run("magnitude_p8", "magnitude", 92.10, 8, None, 2.25),
        run("admm_p8_c8", "admm", 91.0, 8, 8.0, 8.0),
        run("magnitude_p8_c8", "magnitude", 90.0, 8, 8.0, 8.0),
    ]})
    lines = table.splitlines()
    row = next(line for line in lines if line.startswith("| admm_p8_c8 |"))
    assert "| 91.00 | -1.00 |" in row and "8.00x" in row and "8 dense (checkpoint) + 3 admm + 3 retrain" in row
    assert any(line.startswith("| 8 patterns alone within 0.1 pp") and "| yes |" in line for line in lines)
    assert any(line.startswith("| ~8x total") and "**missed**" in line for line in lines)
    assert any("admm_p8 vs magnitude_p8" in line and "**missed**" in line for line in lines)
    assert any("admm_p8_c8 vs magnitude_p8_c8" in line and "| yes |" in line for line in lines)
    assert "Targets missed" in table


def test_distilled_runs_are_listed_and_the_best_admm_run_decides_each_target():
    kd = run("admm_p8_kd", "admm", 92.95, 8, None, 2.25)
    kd["config"] = {"distill": 0.7, "distill_temperature": 4.0}
    c8_kd = run("admm_p8_c8_kd", "admm", 91.60, 8, 8.0, 8.0)
    c8_kd["config"] = {"distill": 0.7, "distill_temperature": 4.0}
    table = load().render({"runs": [
        run("dense", "dense", 92.9),
        run("admm_p8", "admm", 92.61, 8, None, 2.25),
        kd,
        run("admm_p8_c8", "admm", 91.31, 8, 8.0, 8.0),
        run("admm_p8_c8_long", "admm", 91.86, 8, 8.0, 8.0),
        c8_kd,
        run("magnitude_p8_c8", "magnitude", 90.0, 8, 8.0, 8.0),
    ]})
    lines = table.splitlines()
    row = next(line for line in lines if line.startswith("| admm_p8_kd |"))
    assert "| admm + KD (alpha 0.7, T 4) |" in row and "| +0.05 |" in row
    assert next(line for line in lines if line.startswith("| admm_p8 |")).split("|")[2].strip() == "admm"
    names = [line.split("|")[1].strip() for line in lines if line.startswith("| admm_") or line.startswith("| mag")]
    assert names.index("admm_p8_kd") < names.index("admm_p8_c8") < names.index("admm_p8_c8_kd")
    patterns = [line for line in lines if line.startswith("| 8 patterns alone")]
    assert len(patterns) == 1 and "best of 2 ADMM runs: admm_p8_kd" in patterns[0] and "| yes |" in patterns[0]
    assert "+0.05 pp; others: admm_p8 -0.29 pp" in patterns[0]
    eight = [line for line in lines if line.startswith("| ~8x total")]
    assert len(eight) == 1 and "best of 3 ADMM runs: admm_p8_c8_long" in eight[0] and "**missed**" in eight[0]
    assert "-1.04 pp; others: admm_p8_c8_kd -1.30 pp, admm_p8_c8 -1.59 pp" in eight[0]
    # The magnitude baseline is compared with the ADMM run of the same budget, as before.
    assert any("admm_p8_c8 vs magnitude_p8_c8" in line for line in lines)


def seeded(name, method, accs, conn=8.0, compression=8.0):
    """One run and its _seedN repeats."""
    return [run(name if s == 0 else f"{name}_seed{s}", method, acc, 8, conn, compression) for s, acc in enumerate(accs)]


def test_seed_repeats_are_judged_on_their_mean_and_summarised():
    module = load()
    runs = [run("dense", "dense", 92.0), run("admm_p8", "admm", 91.95, 8, None, 2.25),
            *seeded("admm_p8_c8_kd_long", "admm", [91.7, 91.4, 91.6]),
            *seeded("magnitude_p8_c8_kd_long", "magnitude", [91.5, 91.29, 91.41])]
    table = module.render({"runs": runs})
    lines = table.splitlines()
    names = [line.split("|")[1].strip() for line in lines if line.startswith("| admm_") or line.startswith("| mag")]
    assert names.index("admm_p8_c8_kd_long") + 1 == names.index("admm_p8_c8_kd_long_seed1")
    eight = next(line for line in lines if line.startswith("| ~8x total"))
    # The mean (91.567, -0.433 pp) decides, not the best seed (91.7).
    assert "| yes |" in eight and "-0.43 pp (mean 91.57 over 3 seeds (91.70, 91.40, 91.60))" in eight
    pair = next(line for line in lines if "admm_p8_c8_kd_long vs magnitude_p8_c8_kd_long" in line)
    assert "| yes |" in pair
    assert "Magnitude minus ADMM is -0.17 +- 0.03 pp" in table and "each: -0.20, -0.11, -0.19 pp" in table
    # -0.167 / 0.0285 = 5.8 standard errors: beyond the t bound for 3 pairs (4.30).
    assert "ADMM is ahead by more than 4.30 standard errors, the 95% two-sided t bound for 3 pairs (3 of 3" in table
    # -0.20, -0.10, -0.10 would be 4.0 standard errors: more than two, but not clear with 3 pairs.
    runs[-2:] = seeded("magnitude_p8_c8_kd_long", "magnitude", [91.5, 91.3, 91.5])[1:]
    assert "ADMM is ahead on the mean and on 3 of 3 seeds, but by less than 4.30" in module.render({"runs": runs})
    runs[-2:] = seeded("magnitude_p8_c8_kd_long", "magnitude", [91.5, 91.29, 91.41])[1:]
    assert "All targets are met on vgg_small." in table
    # Seeds that disagree: level, and a missed target means no net meets them all.
    runs[-1] = run("magnitude_p8_c8_kd_long_seed2", "magnitude", 91.95, 8, 8.0, 8.0)
    table = module.render({"runs": runs})
    assert "Magnitude is ahead on the mean and on 1 of 3 seeds, but by less than 4.30 standard errors" in table
    assert "no single net meets all three" in table
    pair = next(line for line in table.splitlines() if "admm_p8_c8_kd_long vs magnitude_p8_c8_kd_long" in line)
    assert "**missed**" in pair


def test_collect_merges_new_runs_into_the_committed_metrics(tmp_path):
    import json
    module = load()
    committed = tmp_path / "pruning_metrics.json"
    old = [dict(run("dense", "dense", 92.0)), dict(run("admm_p8", "admm", 92.05, 8, None, 2.25))]
    committed.write_text(json.dumps({"runs": old}))
    fresh = run("admm_p8", "admm", 92.40, 8, None, 2.25)
    added = run("admm_p8_seed1", "admm", 92.30, 8, None, 2.25)
    for r in (fresh, added):
        folder = tmp_path / "runs" / "vgg_small" / r["run"]
        folder.mkdir(parents=True)
        (folder / "metrics.json").write_text(json.dumps({k: v for k, v in r.items() if k != "run"}))
    data = module.collect(tmp_path / "runs", committed, plots=tmp_path / "plots")
    accs = {r["run"]: r["accuracy"] for r in data["runs"]}
    # The committed dense run stays, the re-run replaces its record, the new seed is added.
    assert accs == {"dense": 92.0, "admm_p8": 92.40, "admm_p8_seed1": 92.30}
    assert json.loads(committed.read_text()) == data


def test_runs_from_a_second_dense_model_are_measured_against_it():
    module = load()
    runs = [run("dense", "dense", 92.0), run("dense_rerun", "dense", 92.4),
            *seeded("admm_p8_c8_kd_long", "admm", [91.6, 91.5, 91.9]),
            *seeded("magnitude_p8_c8_kd_long", "magnitude", [91.5, 91.4, 91.8])]
    for r in runs:
        if r["method"] != "dense":
            r["dense_accuracy"] = 92.4 if r["run"].endswith("_seed2") else 92.0
    lines = module.render({"runs": runs}).splitlines()
    row = next(line for line in lines if line.startswith("| admm_p8_c8_kd_long_seed2 |"))
    assert "| 91.90 | -0.50 |" in row  # against dense_rerun (92.4), not the dense row (92.0)
    assert "| 92.40 | +0.40 |" in next(line for line in lines if line.startswith("| dense_rerun |"))
    eight = next(line for line in lines if line.startswith("| ~8x total"))
    # Mean gap (-0.4 - 0.5 - 0.5) / 3, not mean accuracy minus 92.0 (-0.33).
    assert "-0.47 pp" in eight and "each against the dense model it started from: -0.40, -0.50, -0.50 pp" in eight
    assert "| yes |" in eight


def test_run_script_rejects_an_unknown_queue_before_it_starts_anything():
    import subprocess
    runner = SCRIPT.parent / "run_pruning_table.sh"
    done = subprocess.run(["sh", str(runner), "zz"], capture_output=True, text=True)
    assert done.returncode == 2
    assert "unknown queue 'zz'" in done.stderr and "a b c" in done.stderr
    assert done.stdout == ""


def test_three_dense_trainings_give_their_spread_and_a_mean_yardstick_beside_the_paired_verdict():
    module = load()
    runs = [run("dense", "dense", 93.0), run("dense_seed1", "dense", 92.8), run("dense_seed2", "dense", 92.9),
            run("admm_p8", "admm", 92.75, 8, None, 2.25)]
    runs[-1]["dense_accuracy"] = 93.0  # started from the first dense run: -0.25 pp from it, -0.15 from the mean
    table = module.render({"runs": runs})
    row = next(line for line in table.splitlines() if line.startswith("| 8 patterns alone within 0.1 pp"))
    assert "**missed**" in row and "-0.25 pp" in row  # the verdict keeps the paired rule
    assert "against the mean of the 3 dense trainings (92.90%): -0.15 pp" in row
    assert ("The 3 dense trainings of vgg_small (dense, dense_seed1, dense_seed2) score 93.00, 92.80, 92.90%: "
            "mean 92.90%, standard deviation 0.10 pp, range 0.20 pp.") in table
    # Two trainings are too few for a spread: neither the sentence nor the second yardstick appears.
    two = module.render({"runs": runs[:2] + runs[3:]})
    assert "The 2 dense trainings" not in two and "against the mean of the" not in two


def test_collect_stops_on_a_corrupt_run_file_naming_it_and_leaves_the_committed_metrics_alone(tmp_path):
    import pytest
    module = load()
    committed = tmp_path / "pruning_metrics.json"
    committed.write_text('{"runs": []}\n')
    bad = tmp_path / "runs" / "vgg_small" / "admm_p8" / "metrics.json"
    bad.parent.mkdir(parents=True)
    bad.write_text("{not json")
    with pytest.raises(SystemExit, match=r"admm_p8/metrics.json: not a patsparse-prune metrics file"):
        module.collect(tmp_path / "runs", committed)
    bad.write_text('{"model": "vgg_small"}')  # valid JSON, but not what a run writes
    with pytest.raises(SystemExit, match="not a patsparse-prune metrics file"):
        module.collect(tmp_path / "runs", committed)
    with pytest.raises(SystemExit, match="no such run folder"):
        module.collect(tmp_path / "missing", committed)
    assert committed.read_text() == '{"runs": []}\n'


def test_collect_copies_the_test_checkpoints_only_when_asked(tmp_path):
    """Regenerating the document leaves test/data/checkpoints alone; --update-test-checkpoints
    (checkpoints=...) copies the named runs' pruned.pt there."""
    import json
    module = load()
    committed = tmp_path / "pruning_metrics.json"
    folder = tmp_path / "runs" / "vgg_small" / "admm_p8_c8_kd"
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps(run("admm_p8_c8_kd", "admm", 92.0, 8, 8.0, 8.0)))
    (folder / "pruned.pt").write_bytes(b"weights")
    module.collect(tmp_path / "runs", committed, plots=tmp_path / "plots")
    assert not (tmp_path / "checkpoints").exists()
    module.collect(tmp_path / "runs", committed, plots=tmp_path / "plots", checkpoints=tmp_path / "checkpoints")
    assert (tmp_path / "checkpoints" / "vgg_small_p8_c8.pt").read_bytes() == b"weights"
    assert module.TEST_CHECKPOINTS == module.REPO / "test" / "data" / "checkpoints"
    assert (module.TEST_CHECKPOINTS / "vgg_small_p8_c8.pt").is_file()
