"""The packed GEMM's hot loop stays FMA-bound in llvm-mca's model of a two-FMA-pipe CPU, on both
targets (bench/loop_cycles.py; a static property of the emitted assembly, not a timing): 8 x 3
register tiles with AVX-512 and NEON, so one loaded input vector feeds 8 FMAs."""

import sys
import tempfile
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import loop_cycles  # noqa: E402


@pytest.mark.parametrize("target,cpu,lanes,fmas,least", [("host", "skylake-avx512", 16, 24, 0.9),
                                                         ("aarch64-linux-gnu", "neoverse-n1", 4, 24, 0.6)])
def test_gemm_hot_loop_is_fma_bound(target, cpu, lanes, fmas, least):
    from patsparse.dialect.schedule import Schedule

    label, layer, fields = next(loop_cycles.layers())
    assert label.startswith("GEMM 1x1")
    with tempfile.TemporaryDirectory() as scratch:
        text = loop_cycles.assembly(layer, Schedule(vector_width=lanes, **fields), Path(scratch), target, cpu)
    loop, count = loop_cycles.hot_loop(text, target)
    assert count == fmas  # MR x NR FMAs per channel
    efficiency = loop_cycles.fma_floor(target, cpu) / (loop_cycles.mca_cycles(loop, target, cpu) / count)
    assert efficiency >= least, loop
