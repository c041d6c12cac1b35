"""Where the time of each zoo model goes, by layer kind, before and after the lowerings of issue 20
(a benchmark, not a test).

    .venv/bin/python bench/time_by_kind.py                               # the zoo at 8 patterns + 8x, -O
    .venv/bin/python bench/time_by_kind.py --models resnet50 --runs 20 --out /tmp/kinds.md

Each model is projected as bench/peers.py's p8+8x variant (`projected_model`: 8 patterns + 8x
connectivity on the 3x3 layers), imported, and compiled three times with `-O --profile`: "before"
with the lowerings of issue 20 switched off (every convolution through the tap generator,
activations as separate ops: what the compiler did before them; the GEMM and the epilogues are
switched off in process, and so is the max-pooling kernel), "gemm" with the packed GEMM, the fused
epilogues (residual adds included) and the pooling kernel but the pattern layers still on the tap
generator (`--no-channel-tiles`), and "now" as the compiler is.
Each build runs --runs times after warm-up on one thread, in two alternating rounds (the faster
round kept) (`patsparse profile`'s measurement:
lowering/runtime per-layer marks, python/patsparse/runtime/profile.py); layers are grouped by the
kind the profile gives them (a convolution or pooling op with the elementwise ops after it).
The table goes to --out between markers, with the CPU model.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, machine_line, replace_section

ZOO = ["vgg16_cifar", "vgg16", "resnet18", "resnet50", "mobilenet_v2", "yolov8n"]
BUILDS = ("before", "gemm", "now")
BEGIN, END = "<!-- bench/time_by_kind.py: begin -->", "<!-- bench/time_by_kind.py: end -->"


@contextlib.contextmanager
def before_issue_20():
    """The compiler without the packed GEMM, the fused epilogues and the max-pooling kernel (looked
    up at call time)."""
    from patsparse.lowering import conv_codegen, convert_patsparse_to_vector, convert_pooling_to_vector

    saved = (conv_codegen.gemm_applies, convert_patsparse_to_vector.gemm_applies,
             convert_patsparse_to_vector.elementwise_epilogue, convert_pooling_to_vector.match_max_pool)
    conv_codegen.gemm_applies = convert_patsparse_to_vector.gemm_applies = lambda layer: False
    convert_patsparse_to_vector.elementwise_epilogue = lambda value, max_inputs=0: None
    convert_pooling_to_vector.match_max_pool = lambda op: None
    try:
        yield
    finally:
        (conv_codegen.gemm_applies, convert_patsparse_to_vector.gemm_applies,
         convert_patsparse_to_vector.elementwise_epilogue, convert_pooling_to_vector.match_max_pool) = saved


def profile(model_name: str, work: Path, runs: int) -> dict[str, dict]:
    from patsparse.compiler import compile_model
    from patsparse.frontend import import_model
    from patsparse.pipeline import CompileOptions
    from patsparse.pruning.checkpoint import save_pruned
    from patsparse.pruning.models import MODELS
    from patsparse.pruning.projected import projected_model
    from patsparse.runtime.profile import profile_host

    shape = MODELS[model_name][1]
    model, layers = projected_model(model_name, patterns=8, connectivity=8.0, seed=1)
    checkpoint = work / f"{model_name}.pt"
    save_pruned(checkpoint, model, model_name, layers, {"input_shape": list(shape)})
    mlir = import_model(checkpoint, work / f"{model_name}.mlir")
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    libraries = {}
    for build in BUILDS:
        with before_issue_20() if build == "before" else contextlib.nullcontext():
            options = CompileOptions.optimised(profile=True, channel_tiles=build == "now")
            libraries[build] = compile_model(mlir, work / f"{model_name}_{build}.so", options).outputs["library"]
    # Alternating rounds, the faster of two per build: on a shared machine a slow spell then
    # hits both builds, and the better round is the steadier estimate.
    results = {}
    for _ in range(2):
        for build, library in libraries.items():
            measured = profile_host(library, [x], runs, warmup=3, threads=1)
            if build in results and results[build]["wall"] <= measured["wall_median_ms"]:
                continue
            kinds: dict[str, float] = {}
            for layer in measured["layers"]:
                kinds[layer["kind"]] = kinds.get(layer["kind"], 0.0) + layer["ms"]
            results[build] = {"total": measured["total_ms"], "wall": measured["wall_median_ms"], "kinds": kinds}
    for build, result in results.items():
        print(f"{model_name} {build}: {result['wall']:.2f} ms; "
              + ", ".join(f"{k} {v:.2f}" for k, v in sorted(result["kinds"].items(), key=lambda kv: -kv[1])),
              flush=True)
    return results


def table(results: dict[str, dict], runs: int) -> str:
    header = (f"Generated by `.venv/bin/python bench/time_by_kind.py --runs {runs}`. Machine: {machine_line()}; "
              "one thread, 8 patterns + 8x on the 3x3 layers, -O, untuned. ms per run (mean of the per-layer "
              "marks; median whole run in the model's line). before: every convolution on the tap generator, "
              "activations and pooling separate; gemm: + packed GEMM for dense convolutions, fused epilogues "
              "(residual adds too), the max-pooling kernel; now: + channel tiles for pattern convolutions.")
    lines = [BEGIN, "", header, ""]
    for model_name, builds in results.items():
        kinds = sorted(set().union(*(builds[b]["kinds"] for b in BUILDS)),
                       key=lambda k: -builds["before"]["kinds"].get(k, 0.0))
        walls = [builds[b]["wall"] for b in BUILDS]
        lines.append(f"**{model_name}**: " + " -> ".join(f"{w:.1f}" for w in walls)
                     + f" ms ({walls[0] / walls[-1]:.2f}x in all; {walls[1] / walls[2]:.2f}x from the last step)")
        lines.append("")
        lines.append("| kind | " + " | ".join(f"{b} ms | share" for b in BUILDS) + " |")
        lines.append("|---|" + "---|---|" * len(BUILDS))
        for kind in kinds:
            cells = []
            for b in BUILDS:
                value = builds[b]["kinds"].get(kind, 0.0)
                cells.append(f"{value:.2f} | {100 * value / builds[b]['total']:.0f}%")
            lines.append(f"| {kind} | " + " | ".join(cells) + " |")
        lines.append("")
    lines.append(END)
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(ZOO), help=f"comma-separated of {', '.join(ZOO)}")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--out", default=str(REPO / "docs" / "time-by-kind.md"))
    arguments = parser.parse_args()
    unknown = [m for m in arguments.models.split(",") if m not in ZOO]
    if unknown:
        parser.error(f"unknown model {unknown[0]}: expected one of {', '.join(ZOO)}")
    print(machine_line(), flush=True)
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        for model_name in arguments.models.split(","):
            results[model_name] = profile(model_name, Path(scratch), arguments.runs)
    replace_section(Path(arguments.out), BEGIN, END, table(results, arguments.runs),
                    heading="## By layer kind, before and after (bench/time_by_kind.py)\n\n")
    print(f"wrote {arguments.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
