"""bench/peers.py's engine and correctness path on a tiny net, so the benchmark cannot rot unseen.
It times nothing: `--check` converts, runs once and compares with PyTorch. ONNX Runtime (the
`bench` extras, installed by scripts/setup.sh) must work; the peers extras (bench/setup_peers.sh)
are used when installed and skipped with a reason otherwise."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

from peer_engines import BY_NAME
from peers import check_output

REQUIRED = ["onnxruntime", "pytorch eager", "patsparse sparse"]
OPTIONAL = ["litert xnnpack", "executorch xnnpack", "ncnn", "mnn", "iree llvm-cpu"]  # torch.compile: too slow here


def test_check_output_tells_right_from_wrong():
    reference = np.linspace(-4, 4, 24, dtype=np.float32).reshape(2, 12)
    assert check_output(reference + 1e-4, reference, 1e-3)["status"] == "ok"
    assert check_output(reference + 1e-2, reference, 1e-3)["status"] == "wrong"
    assert check_output(reference.reshape(1, 24), reference, 1e-3)["status"] == "ok"   # same values, batch dim
    assert check_output(reference[:1], reference, 1e-3)["status"] == "wrong"
    assert check_output(np.full_like(reference, np.nan), reference, 1e-3)["status"] == "wrong"


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    """peers.py --check on vgg_small p8 with every required and installed optional engine."""
    work = tmp_path_factory.mktemp("peers")
    engines = REQUIRED + [name for name in OPTIONAL if BY_NAME[name].missing() is None]
    done = subprocess.run([sys.executable, str(BENCH / "peers.py"), "--check", "--models", "vgg_small",
                           "--variants", "p8", "--threads", "1", "--engines", ",".join(engines),
                           "--cache", str(work / "cache"), "--results", str(work / "results.json")],
                          check=False, capture_output=True, text=True, timeout=1200)
    assert (work / "results.json").exists(), done.stdout[-2000:] + done.stderr[-2000:]
    row = json.loads((work / "results.json").read_text())["threads"]["1"]["vgg_small p8"]
    return row, done


@pytest.mark.slow
@pytest.mark.parametrize("engine", REQUIRED + OPTIONAL)
def test_engine_matches_pytorch(checked, engine):
    row, done = checked
    if engine in OPTIONAL and BY_NAME[engine].missing():
        pytest.skip(f"{engine}: {BY_NAME[engine].missing()}")
    record = row.get(engine)
    assert record is not None, f"{engine}: no result\n{done.stdout[-2000:]}"
    assert record["status"] == "ok", f"{engine}: {record.get('status')}: {record.get('reason')}"
    assert record["relative"] <= 1e-3
