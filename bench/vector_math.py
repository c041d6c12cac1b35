"""SiLU-heavy model before/after patsparse-approximate-math (issue 20, item 3): not a test.

    .venv/bin/python bench/vector_math.py [--model yolov8n] [--runs 30] [--scratch DIR] [--perf]

Projects the model onto 8 patterns at 8x connectivity, imports it, compiles it with
`CompileOptions.optimised()` twice (`approximate_math=False`: upstream's per-element libm `expf`;
`True`: this pass; kept in --scratch and reused unless --rebuild), checks both against PyTorch,
and prints, with the CPU model, the median time per inference at one thread over interleaved
runs (the thread's CPU time and the wall time). With `--perf`, `perf record -e cpu-clock` gives
the share of samples in `expf` for each build (samples by shared object and symbol).
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from common import machine_line


def perf_share(library: Path, shape, scratch: Path, seconds: float = 4.0) -> str:
    """perf record a loop that runs `library`; the share of samples in expf."""
    script = scratch / f"{library.stem}_loop.py"
    script.write_text(
        "import numpy as np, time\nfrom patsparse import runtime\n"
        f"m = runtime.load({str(library)!r}); m.set_threads(1)\n"
        f"x = np.random.default_rng(0).standard_normal({tuple(shape)!r}).astype(np.float32)\n"
        f"end = time.time() + {seconds}\nwhile time.time() < end: m(x)\n")
    data = scratch / f"{library.stem}.perf.data"
    record = subprocess.run(["perf", "record", "-e", "cpu-clock", "-o", str(data), "-q", sys.executable, str(script)],
                            capture_output=True, text=True, check=False)
    if record.returncode:
        return f"perf record failed: {record.stderr.strip()[-200:]}"

    def report(key: str) -> list[tuple[float, str]]:
        text = subprocess.run(["perf", "report", "-i", str(data), "--sort", key, "--stdio", "-q"],
                              capture_output=True, text=True, check=False).stdout
        rows = [line.split(None, 1) for line in text.splitlines() if "%" in line]
        return [(float(row[0].rstrip("%")), row[1].strip()) for row in rows if len(row) == 2]

    expf = sum(share for share, symbol in report("symbol") if "expf" in symbol)
    model = sum(share for share, dso in report("dso") if dso.startswith((library.stem, "libm.so")))
    return (f"expf {expf:.1f}% of all samples, {100 * expf / model if model else 0:.1f}% of the model's "
            f"(its .so and libm: {model:.1f}% of all)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="yolov8n")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--rebuild", action="store_true", help="compile again even if the scratch folder has the builds")
    parser.add_argument("--scratch", type=Path)
    parser.add_argument("--perf", action="store_true")
    args = parser.parse_args()

    import torch

    from patsparse import runtime
    from patsparse.compiler import compile_model
    from patsparse.frontend import import_model
    from patsparse.pipeline import CompileOptions
    from patsparse.pruning.checkpoint import load_pruned, save_pruned
    from patsparse.pruning.models import input_shape
    from patsparse.pruning.projected import projected_model

    torch.set_num_threads(1)
    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="vector_math_"))
    scratch.mkdir(parents=True, exist_ok=True)
    print(f"CPU: {machine_line()}", flush=True)
    checkpoint = scratch / f"{args.model}.pt"
    mlir = scratch / f"{args.model}.mlir"
    if not checkpoint.exists():
        model, layers = projected_model(args.model, 8, 8.0)
        save_pruned(checkpoint, model, args.model, layers, {"input_shape": list(input_shape(args.model))})
    model, _ = load_pruned(checkpoint)
    if not mlir.exists():
        import_model(checkpoint, mlir)
    shape = tuple(input_shape(args.model))
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    with torch.no_grad():
        reference = model(torch.from_numpy(x)).numpy()
    models = {}
    for approximate in (False, True):
        label = "approximate-math" if approximate else "libm expf (before)"
        library = scratch / f"{args.model}_{'approx' if approximate else 'libm'}.so"
        if not library.exists() or args.rebuild:
            started = time.time()
            compile_model(str(mlir), library, CompileOptions.optimised(approximate_math=approximate))
            print(f"{label}: compiled in {time.time() - started:.0f} s", flush=True)
        compiled = runtime.load(library)
        compiled.set_threads(1)
        print(f"{label}: max |out - PyTorch| {float(np.abs(compiled(x) - reference).max()):.2e}", flush=True)
        models[label] = compiled
    # Interleaved rounds, CPU time of the calling thread beside wall time: on a shared machine the
    # wall time includes waiting for a core, the thread's CPU time does not.
    samples = {label: [] for label in models}
    for _ in range(args.runs):
        for label, compiled in models.items():
            cpu, wall = time.thread_time(), time.perf_counter()
            compiled(x)
            samples[label].append((time.thread_time() - cpu, time.perf_counter() - wall))
    medians = {}
    for label, values in samples.items():
        cpu = sorted(v[0] for v in values)
        wall = sorted(v[1] for v in values)
        medians[label] = cpu[len(cpu) // 2]
        print(f"{args.model} {label}: 1 thread, {len(values)} runs: CPU time median {cpu[len(cpu) // 2] * 1e3:.2f} ms "
              f"(min {cpu[0] * 1e3:.2f}); wall median {wall[len(wall) // 2] * 1e3:.2f} ms (min {wall[0] * 1e3:.2f})", flush=True)
    before, after = medians.values()
    print(f"speed-up (CPU time medians) {before / after:.2f}x", flush=True)
    if args.perf:
        for label, compiled in models.items():
            library = scratch / f"{args.model}_{'approx' if label.startswith('approx') else 'libm'}.so"
            print(f"perf, {label}: {perf_share(library, shape, scratch)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
