"""Per-layer times of a model compiled with `--profile`: measured, tabulated, written as JSON.

    patsparse profile vgg.so --runs 50 --json vgg.profile.json       (host)
    patsparse profile vgg --runs 5                                   (AArch64 runner, under qemu)

The layers are those of patsparse-insert-profile-marks (a convolution, matmul or pooling op
with the elementwise ops after it); their times add up to the whole run.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from patsparse.cliutil import ToolError
from patsparse.lowering import toolchain

from . import ModelRuntimeError, _metadata, _tensors, load


def profile_host(path: str | Path, inputs: list[np.ndarray], runs: int, warmup: int, threads: int | None) -> dict:
    """Run a host model `warmup` + `runs` times; the mean ms per layer over the timed runs and
    the mean whole-run time measured around the same calls (like for like: on a busy machine a
    median would hide the slow runs the layer sums include)."""
    model = load(path, threads)
    if not model.layers:
        raise ModelRuntimeError(f"{path}: compiled without --profile; recompile with patsparse-compile --profile")
    for _ in range(warmup):
        model(*inputs)
    model.reset_profile()
    wall = []
    for _ in range(runs):
        start = time.perf_counter()
        model(*inputs)
        wall.append(time.perf_counter() - start)
    summed, counted = model.profile()
    layers = [{"index": i, **layer, "ms": ms / max(counted, 1)} for i, (layer, ms) in enumerate(zip(model.layers, summed))]
    return {"model": model.name, "target": "host", "runs": counted, "threads": model.threads,
            "total_ms": sum(layer["ms"] for layer in layers), "wall_ms": float(np.mean(wall)) * 1e3,
            "wall_median_ms": float(np.median(wall)) * 1e3,
            "layers": layers}


def profile_aarch64(runner: str | Path, inputs: list[np.ndarray], runs: int, warmup: int, threads: int | None,
                    timeout: float = 1800) -> dict:
    """The same through the AArch64 runner under qemu-aarch64 (its --profile writes the JSON)."""
    metadata = _metadata(Path(runner))
    if not metadata.get("layers"):
        raise ModelRuntimeError(f"{runner}: compiled without --profile; recompile with patsparse-compile --profile")
    with tempfile.TemporaryDirectory(prefix="patsparse-profile-") as scratch:
        files = []
        for x, tensor in zip(inputs, _tensors(metadata, "input")):
            files.append(Path(scratch) / f"{tensor['name']}.bin")
            np.ascontiguousarray(x, np.float32).tofile(files[-1])
        files += [Path(scratch) / f"{t['name']}.out.bin" for t in _tensors(metadata, "output")]
        report = Path(scratch) / "profile.json"
        command = [toolchain.find("qemu-aarch64"), Path(runner).resolve(), *files, "--repeat", str(runs),
                   "--warmup", str(warmup), "--profile", report] + (["--threads", str(threads)] if threads else [])
        result = subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=timeout)
        if result.returncode:
            raise ModelRuntimeError(f"{runner}: exited with {result.returncode} under qemu: {result.stderr.strip()}")
        measured = json.loads(report.read_text())
        wall = [float(line.split()[3]) for line in result.stdout.splitlines() if line.startswith("runs ")]
    measured.update(target="aarch64-linux-gnu (qemu)", threads=threads, wall_ms=wall[0] if wall else None)
    return measured


def format_table(profile: dict) -> str:
    """layer, name, kind, shape, ms, share of the total, effective GFLOP/s; then the totals."""
    total = profile["total_ms"] or 1e-12
    rows = [("layer", "name", "kind", "shape", "ms", "share", "GFLOP/s")]
    for layer in profile["layers"]:
        gflops = layer["flops"] / (layer["ms"] * 1e6) if layer["ms"] > 0 and layer["flops"] else 0.0
        rows.append((str(layer["index"]), layer["name"], layer["kind"], layer["shape"], f"{layer['ms']:.4f}",
                     f"{100 * layer['ms'] / total:.1f}%", f"{gflops:.2f}" if gflops else "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    right = {4, 5, 6}
    lines = ["  ".join(cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in rows]
    by_kind: dict[str, float] = {}
    for layer in profile["layers"]:
        by_kind[layer["kind"]] = by_kind.get(layer["kind"], 0.0) + layer["ms"]
    lines.append("by kind: " + ", ".join(f"{kind} {ms:.3f} ms ({100 * ms / total:.0f}%)"
                                         for kind, ms in sorted(by_kind.items(), key=lambda item: -item[1])))
    wall = profile.get("wall_ms")
    lines.append(f"layers sum to {profile['total_ms']:.4f} ms per run ({profile['runs']} runs"
                 + (f", {profile['threads']} threads" if profile.get("threads") else "") + ")"
                 + (f"; the whole run took {wall:.4f} ms (mean"
                    + (f", median {profile['wall_median_ms']:.4f}" if "wall_median_ms" in profile else "") + ")"
                    if wall else ""))
    return "\n".join(lines)


def write_json(profile: dict, path: str | Path) -> None:
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        temporary.write_text(json.dumps(profile, indent=1) + "\n")
        temporary.replace(path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise ToolError(f"cannot write {path}: {error.strerror}") from None
