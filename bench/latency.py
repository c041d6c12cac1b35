"""Latency of PatSparse (tuned, untuned, dense) vs PyTorch eager vs ONNX Runtime, in one run.

    .venv/bin/pip install -e ".[bench]"      # onnxruntime
    .venv/bin/python bench/latency.py                        # every model below, 30 runs
    .venv/bin/python bench/latency.py --models small --runs 50

Models: "small" = the pruned Fashion-MNIST checkpoints (test/data/checkpoints, 1x28x28);
vgg16_cifar (3x32x32), vgg16 and resnet18 (3x224x224), each with weights projected onto 8
patterns (patsparse-prune project), pattern-only (2.25x on the 3x3 layers) and with 8x total
3x3 compression. One thread everywhere, batch 1, median over --runs after warm-up; ratios
against PatSparse tuned (patsparse-tune, then -O --tuning-db); effective GFLOP/s = 2 x MACs with a non-zero weight / time, beside
this machine's single-thread f32 FMA peak measured in the same run (bench/peak.c).
The table goes between the markers in --out; text outside them is kept. A benchmark, not
a test: the machine is shared and timings are noisy.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, count_macs, machine_line, measured_peak_gflops, median_ms, onnxruntime_session, replace_section

SMALL = ["vgg_small_p8", "vgg_small_p8_c8", "resnet_small_p8", "resnet_small_p8_c8"]
LARGE = ["vgg16_cifar", "vgg16", "resnet18"]
ENGINES = ["patsparse tuned", "patsparse sparse", "patsparse dense", "pytorch eager", "onnxruntime"]
BEGIN, END = "<!-- bench/latency.py: begin -->", "<!-- bench/latency.py: end -->"


def cases(selection: list[str]):
    """(label, model name or checkpoint, connectivity) for each benchmarked model."""
    for name in selection:
        if name == "small":
            for checkpoint in SMALL:
                yield checkpoint, REPO / "test" / "data" / "checkpoints" / f"{checkpoint}.pt", None
        else:
            yield f"{name} p8", name, None
            yield f"{name} p8+8x", name, 8.0


def checkpoint_for(source, connectivity, scratch: Path, label: str) -> Path:
    if isinstance(source, Path):
        return source
    from patsparse.pruning.checkpoint import save_pruned
    from patsparse.pruning.models import input_shape
    from patsparse.pruning.projected import projected_model

    model, layers = projected_model(source, 8, connectivity)
    path = scratch / (label.replace(" ", "_").replace("+", "_") + ".pt")
    save_pruned(path, model, source, layers, {"input_shape": list(input_shape(source))})
    return path


def measure(label, checkpoint: Path, scratch: Path, runs: int) -> dict:
    import torch

    from patsparse import runtime
    from patsparse.compiler import compile_model
    from patsparse.frontend import import_model
    from patsparse.pipeline import CompileOptions
    from patsparse.pruning.checkpoint import load_pruned
    from patsparse.pruning.project import compression_report
    from patsparse.tune import tune_model

    stem = scratch / checkpoint.stem
    model, _ = load_pruned(checkpoint)
    mlir = import_model(checkpoint, stem.with_suffix(".mlir"))
    sparse = runtime.load(compile_model(mlir, Path(f"{stem}_s.so"), CompileOptions()).outputs["library"])
    optimised = CompileOptions(reorder_filters=True, eliminate_loads=True, compact_indices=True,
                               tuning_db=str(stem) + ".tuning.json")
    tune_model(str(mlir), optimised.tuning_db, optimised, runs=5, log=lambda line: None)
    tuned = runtime.load(compile_model(mlir, Path(f"{stem}_t.so"), optimised).outputs["library"])
    dense = runtime.load(compile_model(mlir, Path(f"{stem}_d.so"), CompileOptions(detect_patterns=False))
                         .outputs["library"])
    x = np.random.default_rng(0).standard_normal(sparse.input_shape).astype(np.float32)
    xt = torch.from_numpy(x)
    ort = onnxruntime_session(model, xt, Path(f"{stem}.onnx"))
    with torch.no_grad():
        reference = model(xt).numpy()
        times = {
            "patsparse tuned": median_ms(lambda: tuned(x), runs),
            "patsparse sparse": median_ms(lambda: sparse(x), runs),
            "patsparse dense": median_ms(lambda: dense(x), runs),
            "pytorch eager": median_ms(lambda: model(xt), runs),
            "onnxruntime": median_ms(lambda: ort(x), runs),
        }
    error = max(float(np.abs(engine(x) - reference).max()) for engine in (tuned, sparse, dense))
    dense_macs, nonzero_macs = count_macs(model, xt)
    row = {"label": label, "input": "x".join(map(str, sparse.input_shape[1:])),
           "compression": compression_report(model)["compression"], "error": error, "times": times,
           "dense_gmacs": dense_macs / 1e9, "nonzero_gmacs": nonzero_macs / 1e9}
    print(label, {k: round(v, 3) for k, v in times.items()}, flush=True)
    return row


def table(rows: list[dict], peak: float, runs: int, argv: list[str]) -> str:
    lines = [BEGIN, "",
             "Generated by `" + " ".join([".venv/bin/python bench/latency.py", *argv]) + "`.",
             "",
             (f"Machine: {machine_line()}; measured single-thread f32 FMA peak **{peak:.0f} GFLOP/s** "
             f"(bench/peak.c, same run). One thread per engine, batch 1, median of {runs} runs after warm-up. "
             "Engines: *patsparse tuned* = `patsparse-compile -O --tuning-db` after `patsparse-tune` (filter "
             "reorder, load elimination, compact FKW, measured per-layer schedules); *patsparse sparse* = the "
             "untuned default; *patsparse dense* = the same compiler without pattern detection. Ratios: the "
             "engine's latency over PatSparse tuned (above 1: PatSparse tuned is faster). Effective GFLOP/s: "
             "2 x MACs with a non-zero weight / PatSparse tuned time."), "",
             "| model | input | 3x3 compr. | GMAC dense / non-zero | max abs err | "
             + " | ".join(f"{e} ms" for e in ENGINES) + " | "
             + " | ".join(f"{e} / tuned" for e in ENGINES[1:]) + " | tuned eff. GFLOP/s | % of peak |",
             "|---" * (5 + 2 * len(ENGINES) - 1 + 2) + "|"]
    for row in rows:
        times = row["times"]
        base = times["patsparse tuned"]
        gflops = 2 * row["nonzero_gmacs"] / (base / 1e3)
        lines.append(
            f"| {row['label']} | {row['input']} | {row['compression']:.2f}x | "
            f"{row['dense_gmacs']:.3f} / {row['nonzero_gmacs']:.3f} | {row['error']:.1e} | "
            + " | ".join(f"{times[e]:.3f}" for e in ENGINES) + " | "
            + " | ".join(f"{times[e] / base:.2f}x" for e in ENGINES[1:])
            + f" | {gflops:.1f} | {100 * gflops / peak:.0f}% |")
    lines += ["", END]
    return "\n".join(lines)


def write(out: Path, section: str) -> None:
    replace_section(out, BEGIN, END, section)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="small," + ",".join(LARGE),
                        help=f"comma-separated: small, {', '.join(LARGE)} (default: all)")
    parser.add_argument("--runs", type=int, default=30, help="timed runs per engine (default: 30)")
    parser.add_argument("--out", default=str(REPO / "docs" / "benchmarks.md"))
    args = parser.parse_args()
    selection = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in selection if m not in ["small", *LARGE]]
    if unknown:
        parser.error(f"unknown model {unknown[0]!r}: expected small, {', '.join(LARGE)}")
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    from patsparse.pipeline import host_vector_width

    torch.set_num_threads(1)
    peak = measured_peak_gflops(host_vector_width())
    print(f"peak {peak:.1f} GFLOP/s", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        for label, source, connectivity in cases(selection):
            checkpoint = checkpoint_for(source, connectivity, scratch, label)
            rows.append(measure(label, checkpoint, scratch, args.runs))
    write(Path(args.out), table(rows, peak, args.runs, sys.argv[1:]))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
