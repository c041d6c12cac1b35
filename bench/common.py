"""What the benchmarks share: timing, the machine's measured f32 peak, MAC counts, engines."""

from __future__ import annotations

import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent


def timed_seconds(function, runs: int, warmup: int = 3) -> list[float]:
    """Seconds of each of `runs` calls of `function`, after `warmup` calls."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times


def median_ms(function, runs: int, warmup: int = 3) -> float:
    return 1e3 * float(np.median(timed_seconds(function, runs, warmup)))


def replace_section(out: Path, begin: str, end: str, section: str, heading: str = "") -> None:
    """Put `section` (which starts with `begin` and ends with `end`) in place of the text between
    those markers in `out`, or append it under `heading`; text outside the markers is kept.
    Written under a temporary name, then renamed."""
    text = out.read_text() if out.exists() else "# Benchmarks\n\n"
    if begin in text and end in text:
        text = text[:text.index(begin)] + section + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + heading + section + "\n"
    temporary = out.with_name(f".{out.name}.tmp")
    temporary.write_text(text)
    temporary.replace(out)


def measured_peak_gflops(vector_width: int, repeats: int = 3) -> float:
    """Single-thread f32 FMA peak of this machine: bench/peak.c, best of `repeats`."""
    with tempfile.TemporaryDirectory() as scratch:
        binary = Path(scratch) / "peak"
        subprocess.run(["gcc", "-O3", "-march=native", "-ffp-contract=fast", f"-DW={vector_width}", "-DACC=16",
                        str(BENCH / "peak.c"), "-o", str(binary)], check=True)
        runs = [float(subprocess.run([str(binary), "30000000"], capture_output=True, text=True,
                                     check=True).stdout.split()[0]) for _ in range(repeats)]
    return max(runs)


def measured_bandwidth_gbs(megabytes: int = 512, repeats: int = 3) -> float:
    """Single-thread memory read bandwidth: a dot product of two float32 arrays too large for any
    cache (numpy's BLAS sdot streams both), best of `repeats`, in GB/s."""
    count = megabytes * (1 << 20) // 8
    a = np.ones(count, np.float32)
    b = np.ones(count, np.float32)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        np.dot(a, b)
        best = min(best, time.perf_counter() - start)
    return (a.nbytes + b.nbytes) / best / 1e9


def linear_weight_bytes(model) -> int:
    """Bytes of the fully connected weights: at batch 1 each is read once per inference."""
    from torch import nn

    return sum(4 * m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear))


def machine_line() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        model = platform.processor() or platform.machine()
    return f"{model}, {os.cpu_count()} cores (shared)"


def count_macs(model, x) -> tuple[int, int]:
    """(dense MACs, MACs with a non-zero weight) of the convolutions and linears for input `x`."""
    import torch
    from torch import nn

    totals = [0, 0]

    def hook(module, inputs, output):
        weight = module.weight.detach()
        if isinstance(module, nn.Conv2d):
            pixels = output.shape[0] * output.shape[2] * output.shape[3]
            totals[0] += pixels * weight.numel()
            totals[1] += pixels * int((weight != 0).sum())
        else:
            rows = output.numel() // output.shape[-1]
            totals[0] += rows * weight.numel()
            totals[1] += rows * int((weight != 0).sum())

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(x)
    for handle in handles:
        handle.remove()
    return totals[0], totals[1]


def onnxruntime_session(model, x, path: Path, threads: int = 1):
    """An ONNX Runtime session of `model` with `threads` threads (TorchScript exporter)."""
    import onnxruntime
    import torch

    torch.onnx.export(model, (x,), str(path), dynamo=False)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda array: session.run(None, {name: array})[0]
