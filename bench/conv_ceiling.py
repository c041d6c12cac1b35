"""How far one pattern convolution is from the machine's peak, and how much of the gap is memory.

    .venv/bin/python bench/conv_ceiling.py                        # VGG-16's 256x56x56 -> 256 layer
    .venv/bin/python bench/conv_ceiling.py --channels 64 --size 224 --filters 64 --runs 30

A random layer with the 8 default patterns and about 8x total compression (every kernel keeps 4 taps; 2.25/8
of the kernels are kept) is compiled with each schedule below and timed two ways:

- real: the kernels read their own input channels, as in a model;
- in-core ceiling: the same code, but every kernel reads input channel 0, so every input load
  hits L1. Its result is meaningless; its time is what the generated instructions cost when
  memory costs nothing. real / ceiling is the share of the time the memory hierarchy adds.

Effective GFLOP/s = 2 x MACs with a non-zero weight / time, beside the single-thread f32 FMA peak
measured in the same run (bench/peak.c). One thread, the fastest of --runs calls.
"""

from __future__ import annotations

import argparse
import ctypes
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_line, measured_peak_gflops

# (label, schedule fields): the 56-wide outputs fit 4 zmm vectors (8 lanes wasted) or 7 ymm.
SCHEDULES = [
    ("zmm, 3 rows x 4 vectors", {"vector_width": 16, "rows": 3, "max_accumulators": 4}),
    ("zmm, 4 rows x 4 vectors", {"vector_width": 16, "rows": 4, "max_accumulators": 4}),
    ("zmm, 4 rows x 4 vectors, rows outer", {"vector_width": 16, "rows": 4, "max_accumulators": 4, "rows_outer": True}),
    ("ymm, 2 rows x 7 vectors", {"vector_width": 8, "rows": 2, "max_accumulators": 7}),
    ("ymm, 3 rows x 7 vectors", {"vector_width": 8, "rows": 3, "max_accumulators": 7}),
]
# The input-stationary generator (lowering/conv_channel_tiles.py); the rows above are the tap generator.
CHANNEL_TILES = [("channel tiles, zmm", {"vector_width": 16}), ("channel tiles, ymm", {"vector_width": 8})]


def random_layer(channels: int, filters: int, size: int, stride: int, keep: float, seed: int = 0):
    from patsparse.dialect.conv_layer import ConvLayer
    from patsparse.dialect.fkw import from_dense_weight
    from patsparse.pruning.patterns import default_library

    rng = np.random.default_rng(seed)
    library = default_library(8)  # PatDNN's 8 patterns, shaped like the paper's Gaussian ones
    weight = rng.standard_normal((filters, channels, 3, 3)).astype(np.float32)
    weight *= library[rng.integers(0, len(library), (filters, channels))].reshape(filters, channels, 3, 3)
    weight[rng.random((filters, channels)) >= keep] = 0.0
    out = (size + 2 - 3) // stride + 1
    return ConvLayer.from_fkw("conv", from_dense_weight(weight, library), (1, channels, size, size),
                              (1, filters, out, out), (stride, stride), (1, 1, 1, 1), True)


def positive(text: str) -> int:
    value = int(text) if text.lstrip("-").isdigit() else 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive integer")
    return value


def share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a share in (0, 1]")
    return value


def fastest_ms(function, arguments, runs: int) -> float:
    function(*arguments)
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        function(*arguments)
        best = min(best, time.perf_counter() - start)
    return 1e3 * best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--channels", type=positive, default=256)
    parser.add_argument("--filters", type=positive, default=256)
    parser.add_argument("--size", type=positive, default=56, help="input height and width (at least 2)")
    parser.add_argument("--stride", type=positive, default=1)
    parser.add_argument("--keep", type=share, default=2.25 / 8, help="share of kernels kept (default: 8x total)")
    parser.add_argument("--runs", type=positive, default=20)
    args = parser.parse_args()
    if args.size < 2:
        parser.error("--size: expected at least 2 (a 3x3 kernel with padding 1)")

    from patsparse.dialect.schedule import Schedule
    from patsparse.lowering.tuning import TUNING_PREFIX, build_candidates

    layer = random_layer(args.channels, args.filters, args.size, args.stride, args.keep)
    ceiling = dataclasses.replace(layer, kernel_channels=np.zeros_like(layer.kernel_channels), name="ceiling")
    variants = []
    rows = [(label, {**fields, "channel_tiles": False}) for label, fields in SCHEDULES] + \
        [(label, {**fields, "channel_tiles": True}) for label, fields in CHANNEL_TILES]
    for _, fields in rows:
        schedule = Schedule(eliminate_loads=True, compact_indices=True, **fields)
        variants += [(layer, schedule), (ceiling, schedule)]
    with tempfile.TemporaryDirectory() as scratch:
        library = ctypes.CDLL(str(build_candidates(variants, None, Path(scratch))))  # one thread: no context
        rng = np.random.default_rng(0)
        x = rng.standard_normal(layer.input_shape).astype(np.float32)
        bias = rng.standard_normal(layer.filters).astype(np.float32)
        out = np.zeros((1, layer.filters, *layer.output_hw), np.float32)
        pointer = ctypes.POINTER(ctypes.c_float)
        arguments = [a.ctypes.data_as(pointer) for a in (x, bias, out)]
        times = [fastest_ms(getattr(library, f"{TUNING_PREFIX}candidate_{i}"), arguments, args.runs)
                 for i in range(len(variants))]
    peak = measured_peak_gflops(16)
    macs = layer.weights.size * layer.output_hw[0] * layer.output_hw[1]

    def gflops(ms: float) -> str:
        value = 2 * macs / ms / 1e6
        return f"{value:.1f} ({value / peak:.0%})"

    print(f"{machine_line()}; measured f32 FMA peak {peak:.0f} GFLOP/s (1 thread)")
    print(f"layer {args.channels}x{args.size}x{args.size} -> {args.filters}, stride {args.stride}, "
          f"{layer.num_kernels} kernels ({macs / 1e9:.3f} GMAC); fastest of {args.runs} calls, 1 thread\n")
    print("| schedule | real ms | real GFLOP/s (% peak) | in-core ceiling ms | ceiling GFLOP/s (% peak) "
          "| real / ceiling |")
    print("|---|---|---|---|---|---|")
    for index, (label, _) in enumerate(rows):
        real, core = times[2 * index], times[2 * index + 1]
        print(f"| {label} | {real:.3f} | {gflops(real)} | {core:.3f} | {gflops(core)} | {real / core:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
