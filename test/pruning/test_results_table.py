"""The results table generator states targets honestly (met / missed)."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "results" / "make_pruning_table.py"


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
