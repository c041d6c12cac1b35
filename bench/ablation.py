"""Ablation of the compiler optimisations (issue 6), per layer and per model, 1 thread then 2.

    .venv/bin/pip install -e ".[bench]"                    # onnxruntime
    .venv/bin/python bench/ablation.py                      # vgg16 and resnet18 at 224x224
    .venv/bin/python bench/ablation.py --models vgg16_cifar --runs 10

Each model's weights are projected onto 8 patterns with 8x total 3x3 compression
(patsparse-prune project). Configurations, cumulative:

    base        the untuned lowering (one row per block, i32 FKW indices, model order)
    +reorder    patsparse-reorder-filters
    +loads      patsparse-eliminate-redundant-loads (4 rows per block)
    +compact    compact FKW indices (i8/i16)
    +tuning     patsparse-tune's measured schedule per layer (patsparse-apply-tuning)

Per layer: each configuration's convolution alone (lowering/tuning.py builds them as functions
of one library, checked against each other); per model: the whole compiled model; both at 1 and
2 threads, beside the fastest dense engines (PyTorch eager and ONNX Runtime on the same weights)
and this machine's f32 FMA peak for 1 and 2 threads, measured in the same run (bench/peak.c).
Effective GFLOP/s = 2 x MACs with a non-zero weight / time. Writes docs/ablation.md and
docs/ablation.png. A benchmark, not a test: shared machine, noisy timings.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    REPO,
    count_macs,
    linear_weight_bytes,
    machine_line,
    measured_bandwidth_gbs,
    measured_peak_gflops,
    median_ms,
    onnxruntime_session,
)

CONFIGS = ["base", "+reorder", "+loads", "+compact", "+tuning"]
MODELS = ["vgg16", "resnet18", "vgg16_cifar", "resnet18_cifar"]
THREADS = (1, 2)
NOTES = "<!-- notes: kept when bench/ablation.py rewrites this file -->"


def compile_options(config: str, tuning_db: str | None):
    from patsparse.pipeline import CompileOptions

    level = CONFIGS.index(config)
    return CompileOptions(reorder_filters=level >= 1, eliminate_loads=level >= 2, compact_indices=level >= 3,
                          tuning_db=tuning_db if level >= 4 else None)


def storage_bytes(layers) -> dict:
    """Bytes of the pattern layers' weights: dense, CSR (f32 values, i32 column indices and row
    pointers over the F x C*9 matrix), FKW with i32 indices, FKW compact (what -O stores)."""
    from patsparse.lowering.emit_helpers import index_bits

    totals = {"dense": 0, "csr": 0, "fkw_i32": 0, "fkw_compact": 0}
    for layer in layers:
        if layer.kernel_hw != (3, 3) or len(layer.patterns[0]) != 4:
            continue
        channels = layer.input_shape[1]
        values = 4 * layer.weights.size
        totals["dense"] += 4 * layer.filters * channels * 9
        totals["csr"] += values + 4 * layer.weights.size + 4 * (layer.filters + 1)
        index_counts = [(layer.kernel_channels.size, channels - 1), (layer.segments.size, layer.num_kernels),
                        (layer.filter_order.size, layer.filters - 1)]
        totals["fkw_i32"] += values + sum(4 * count for count, _ in index_counts)
        totals["fkw_compact"] += values + sum(count * index_bits(largest, True) // 8
                                              for count, largest in index_counts)
    return totals


def peak_for_threads(vector_width: int, threads: int) -> float:
    if threads == 1:
        return measured_peak_gflops(vector_width)
    with ThreadPoolExecutor(threads) as pool:  # independent processes, one per core
        return sum(pool.map(lambda _: measured_peak_gflops(vector_width), range(threads)))


def bench_model(name: str, runs: int, scratch: Path, log) -> dict:
    import torch

    from patsparse import runtime
    from patsparse.compiler import compile_model
    from patsparse.frontend import import_model
    from patsparse.lowering.tuning import build_candidates, measure
    from patsparse.pruning.checkpoint import save_pruned
    from patsparse.pruning.models import input_shape
    from patsparse.pruning.projected import projected_model
    from patsparse.tune import planned_layers, tune_model

    model, layers_info = projected_model(name, 8, 8.0)
    checkpoint = scratch / f"{name}.pt"
    save_pruned(checkpoint, model, name, layers_info, {"input_shape": list(input_shape(name))})
    mlir = str(import_model(checkpoint, scratch / f"{name}.mlir"))
    log(f"{name}: imported; tuning")
    database = scratch / f"{name}.tuning.json"
    tune_model(mlir, database, compile_options("+compact", None), runs=5, log=lambda line: log("  " + line))

    # Each configuration's (layer, schedule) as the compiler plans them (patsparse.tune.planned_layers).
    plans = [planned_layers(mlir, compile_options(config, str(database))) for config in CONFIGS]
    plain = [layer for layer, _ in plans[0]]
    layer_rows = []
    for number, layer in enumerate(plain):
        variants = [plan[number] for plan in plans]
        work = scratch / layer.name
        work.mkdir()
        times = {}
        for threads in THREADS:
            parallel = [(lay, dataclasses.replace(s, parallel=True)) for lay, s in variants]
            (work / f"t{threads}").mkdir()
            library = build_candidates(parallel, None, work / f"t{threads}")
            times[threads] = measure(layer, library, len(variants), runs=max(5, runs // 3), threads=threads)
        macs = layer.weights.size * layer.output_hw[0] * layer.output_hw[1]  # one MAC per stored weight and pixel
        pattern = layer.kernel_hw == (3, 3) and layer.taps_per_kernel == 4
        layer_rows.append({"layer": layer.name, "input": "x".join(map(str, layer.input_shape[1:])),
                           "filters": layer.filters, "gmacs": macs / 1e9, "times": times, "pattern": pattern,
                           "kernel": "x".join(map(str, layer.kernel_hw))})
        log(f"  {layer.name}: " + ", ".join(f"{c} {times[1][i] * 1e3:.3f}" for i, c in enumerate(CONFIGS)) + " ms")

    storage = storage_bytes(plain)
    x = np.random.default_rng(0).standard_normal(input_shape(name)).astype(np.float32)
    xt = torch.from_numpy(x)
    with torch.no_grad():
        reference = model(xt).numpy()
    whole = {config: {} for config in CONFIGS}
    for config in CONFIGS:
        library = runtime.load(compile_model(mlir, scratch / f"{name}_{config[1:] or 'base'}.so",
                                             compile_options(config, str(database))).outputs["library"])
        error = float(np.abs(library(x) - reference).max())
        for threads in THREADS:
            library.set_threads(threads)
            whole[config][threads] = median_ms(lambda library=library: library(x), runs)
        log(f"  {config}: " + ", ".join(f"{t} thr {whole[config][t]:.2f} ms" for t in THREADS) + f", err {error:.1e}")
    ort = {}
    eager = {}
    for threads in THREADS:
        torch.set_num_threads(threads)
        run_ort = onnxruntime_session(model, xt, scratch / f"{name}_{threads}.onnx", threads=threads)
        with torch.no_grad():
            eager[threads] = median_ms(lambda: model(xt), runs)
        ort[threads] = median_ms(lambda run_ort=run_ort: run_ort(x), runs)
    torch.set_num_threads(1)
    dense_macs, nonzero_macs = count_macs(model, xt)
    return {"name": name, "layers": layer_rows, "whole": whole, "ort": ort, "eager": eager, "storage": storage,
            "dense_gmacs": dense_macs / 1e9, "nonzero_gmacs": nonzero_macs / 1e9,
            "linear_bytes": linear_weight_bytes(model)}


def plot(results: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(len(results), 2, figsize=(15, 4.2 * len(results)), squeeze=False,
                                gridspec_kw={"width_ratios": [3, 1]})
    colours = plt.cm.viridis(np.linspace(0.1, 0.9, len(CONFIGS)))
    for row, result in zip(axes, results):
        layers = result["layers"]
        positions = np.arange(len(layers))
        width = 0.8 / len(CONFIGS)
        for index, config in enumerate(CONFIGS):
            row[0].bar(positions + index * width, [lay["times"][1][index] * 1e3 for lay in layers], width,
                       label=config, color=colours[index])
        row[0].set_xticks(positions + 0.4 - width / 2, [lay["layer"].replace("patsparse_conv_", "conv")
                                                         for lay in layers], rotation=60, fontsize=7)
        row[0].set_ylabel("ms (1 thread)")
        row[0].set_title(f"{result['name']}: convolutions per layer (3x3 pattern layers; ResNet also its dense stem and 1x1 shortcuts)")
        row[0].legend(fontsize=7)
        labels = CONFIGS + ["onnxruntime", "pytorch"]
        for threads, offset in zip(THREADS, (-0.2, 0.2)):
            values = [result["whole"][c][threads] for c in CONFIGS] + [result["ort"][threads], result["eager"][threads]]
            row[1].barh(np.arange(len(labels)) + offset, values, 0.4, label=f"{threads} thread(s)")
        row[1].set_yticks(np.arange(len(labels)), labels, fontsize=7)
        row[1].invert_yaxis()
        row[1].set_xlabel("ms, whole model")
        row[1].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def report(results: list[dict], peaks: dict, runs: int, argv: list[str]) -> str:
    lines = ["# Ablation of the compiler optimisations", "",
             "Generated by `" + " ".join([".venv/bin/python bench/ablation.py", *argv]) + "`.", "",
             f"Machine: {machine_line()}. Measured f32 FMA peak (bench/peak.c, same run): "
             + ", ".join(f"**{peaks[t]:.0f} GFLOP/s** with {t} thread(s)" for t in THREADS)
             + f"; memory read bandwidth {peaks['bandwidth']:.1f} GB/s (one thread, numpy sdot over 512 MB)"
             + f". Batch 1, median of {runs} runs (whole models) after warm-up. Weights: 8 patterns, 8x total "
             "3x3 compression (patsparse-prune project). Configurations are cumulative; see bench/ablation.py. "
             "Effective GFLOP/s = 2 x MACs with a non-zero weight / time.", "",
             "![ablation](ablation.png)", ""]
    for result in results:
        lines += [f"## {result['name']}", "", "Whole model (ms):", "",
                  "| threads | " + " | ".join(CONFIGS) + " | onnxruntime | pytorch eager | best dense / +tuning |"
                  " +tuning eff. GFLOP/s |", "|---" * (len(CONFIGS) + 5) + "|"]
        for threads in THREADS:
            best = result["whole"]["+tuning"][threads]
            dense = min(result["ort"][threads], result["eager"][threads])
            gflops = 2 * result["nonzero_gmacs"] / (best / 1e3)
            lines.append(f"| {threads} | " + " | ".join(f"{result['whole'][c][threads]:.2f}" for c in CONFIGS)
                         + f" | {result['ort'][threads]:.2f} | {result['eager'][threads]:.2f} | {dense / best:.2f}x"
                         f" | {gflops:.1f} ({100 * gflops / peaks[threads]:.0f}% of peak) |")
        # The 4x target against a floor: every non-zero MAC of the convolutions at the measured
        # FMA peak, plus the linear weights (read once per image at batch 1) at the measured
        # single-thread bandwidth (a second thread does not add bandwidth here).
        linear_gmacs = result["linear_bytes"] / 4 / 1e9
        floors = {t: 2 * (result["nonzero_gmacs"] - linear_gmacs) / peaks[t] * 1e3
                  + result["linear_bytes"] / peaks["bandwidth"] / 1e6 for t in THREADS}
        needed = {t: min(result["ort"][t], result["eager"][t]) / 4 for t in THREADS}
        lines += ["", "The 4x target against a floor (convolutions' non-zero MACs at 100% of the measured peak, "
                  f"{result['linear_bytes'] / 1e6:.0f} MB of linear weights at the measured "
                  f"{peaks['bandwidth']:.1f} GB/s): " + "; ".join(
                      f"{t} thread(s): floor {floors[t]:.1f} ms, 4x needs {needed[t]:.1f} ms, +tuning "
                      f"{result['whole']['+tuning'][t]:.1f} ms" for t in THREADS) + "."]
        lines += ["", ("Convolutions, per layer, 1 thread (ms; effective GFLOP/s and % of the 1-thread peak "
                  "for +tuning; last column: +tuning at 2 threads). Dense layers (ResNet-18's 7x7 stem and 1x1 "
                  "shortcuts) are marked; the target row sums the pattern 3x3 layers only:"), "",
                  "| layer | input | filters | GMAC | " + " | ".join(CONFIGS) + " | +tuning GFLOP/s | % peak | "
                  "2 threads ms |", "|---" * (len(CONFIGS) + 7) + "|"]
        for layer in result["layers"]:
            t1 = layer["times"][1]
            gflops = 2 * layer["gmacs"] / t1[-1]
            label = layer["layer"] if layer.get("pattern", True) else f"{layer['layer']} (dense {layer['kernel']})"
            lines.append(f"| {label} | {layer['input']} | {layer['filters']} | {layer['gmacs']:.3f} | "
                         + " | ".join(f"{t * 1e3:.3f}" for t in t1)
                         + f" | {gflops:.1f} | {100 * gflops / peaks[1]:.0f}% | {layer['times'][2][-1] * 1e3:.3f} |")
        groups = [("all pattern 3x3 layers", [r for r in result["layers"] if r.get("pattern", True)])]
        if len(groups[0][1]) < len(result["layers"]):
            groups.append(("all convolutions", result["layers"]))
        for label, rows in groups:
            total = [sum(r["times"][1][i] for r in rows) for i in range(len(CONFIGS))]
            total_2 = sum(r["times"][2][-1] for r in rows)
            gmacs = sum(r["gmacs"] for r in rows)
            gflops = 2 * gmacs / total[-1]
            lines.append(f"| **{label}** | | | {gmacs:.3f} | " + " | ".join(f"{t * 1e3:.3f}" for t in total)
                         + f" | {gflops:.1f} | **{100 * gflops / peaks[1]:.0f}%** | {total_2 * 1e3:.3f} |")
        storage = result["storage"]
        lines += ["", "Weights of the pattern layers (MB): "
                  + ", ".join(f"{label} {storage[key] / 1e6:.2f}" for key, label in
                              (("dense", "dense"), ("csr", "CSR"), ("fkw_i32", "FKW with i32 indices"),
                               ("fkw_compact", "FKW compact (-O)")))
                  + f"; compact FKW is {storage['dense'] / storage['fkw_compact']:.1f}x smaller than dense and "
                  f"{storage['csr'] / storage['fkw_compact']:.1f}x smaller than CSR.", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="vgg16,resnet18", help=f"comma-separated, from {', '.join(MODELS)}")
    parser.add_argument("--runs", type=int, default=30, help="timed runs per whole model and engine (default 30)")
    parser.add_argument("--out", default=str(REPO / "docs" / "ablation.md"))
    args = parser.parse_args()
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in names if m not in MODELS]
    if unknown:
        parser.error(f"unknown model {unknown[0]!r}: expected one of {', '.join(MODELS)}")
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    from patsparse.pipeline import host_vector_width

    torch.set_num_threads(1)
    peaks = {threads: peak_for_threads(host_vector_width(), threads) for threads in THREADS}
    peaks["bandwidth"] = measured_bandwidth_gbs()
    print("peak GFLOP/s", {t: round(p, 1) for t, p in peaks.items()}, flush=True)
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for name in names:
            work = Path(scratch) / name
            work.mkdir()
            results.append(bench_model(name, args.runs, work, lambda line: print(line, flush=True)))
    out = Path(args.out)
    plot(results, out.with_suffix(".png"))
    text = report(results, peaks, args.runs, sys.argv[1:])
    if out.exists() and NOTES in out.read_text():  # hand-written reading notes survive a rerun
        text += "\n" + out.read_text()[out.read_text().index(NOTES):].rstrip("\n")
    temporary = out.with_name(f".{out.name}.tmp")
    temporary.write_text(text + "\n")
    temporary.replace(out)
    print(f"wrote {out} and {out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
