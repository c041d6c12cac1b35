"""A seeded 20-second slice of the text front-door fuzzer (fuzz_text.py; the committed
10-minute run is in docs/results/text-fuzz.md): no crash, no Python traceback."""

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris")  # a Linux x86-64 wheel only (pyproject.toml, dev extras)
HARNESS = Path(__file__).with_name("fuzz_text.py")


@pytest.mark.slow
def test_twenty_seconds_of_text_fuzzing_find_no_crash(tmp_path):
    run = subprocess.run([sys.executable, str(HARNESS), "--work", str(tmp_path), "-seed=1",
                          "-max_total_time=20"], check=False, capture_output=True, text=True, timeout=300)
    log = run.stdout + run.stderr
    crashes = [p.name for p in tmp_path.iterdir() if p.name.startswith(("crash-", "timeout-", "oom-"))]
    assert run.returncode == 0 and not crashes, log[-4000:]
    assert "Done" in log and "Traceback" not in log, log[-4000:]
