"""SiLU-heavy model before/after patsparse-approximate-math (issue 20, item 3): not a test.

    .venv/bin/python bench/vector_math.py [--model yolov8n] [--runs 20] [--scratch DIR]

Projects the model onto 8 patterns at 8x connectivity, imports it, compiles it with
`CompileOptions.optimised()` twice (`approximate_math=False`: upstream's per-element libm `expf`;
`True`: this pass), checks both against PyTorch, and prints the median ms at one thread with the
CPU model. With `--perf`, `perf record` (cpu-clock) gives the share of `expf` in each build.
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

from common import machine_line  # noqa: E402


def perf_share(library: Path, shape, scratch: Path, seconds: float = 4.0) -> str:
    """perf record a loop that runs `library`; the share of samples in expf and in forward."""
    script = scratch / f"{library.stem}_loop.py"
    script.write_text(
        "import numpy as np, time\nfrom patsparse import runtime\n"
        f"m = runtime.load({str(library)!r}); m.set_threads(1)\n"
        f"x = np.random.default_rng(0).standard_normal({tuple(shape)!r}).astype(np.float32)\n"
        f"end = time.time() + {seconds}\nwhile time.time() < end: m(x)\n")
    data = scratch / f"{library.stem}.perf.data"
    record = subprocess.run(["perf", "record", "-e", "cpu-clock", "-o", str(data), "-q", sys.executable, str(script)],
                            capture_output=True, text=True)
    if record.returncode:
        return f"perf record failed: {record.stderr.strip()[-200:]}"
    report = subprocess.run(["perf", "report", "-i", str(data), "--sort", "symbol", "--stdio", "-q"],
                            capture_output=True, text=True).stdout
    lines = [line.strip() for line in report.splitlines() if line.strip()]
    expf = sum(float(line.split("%")[0]) for line in lines if "expf" in line)
    top = "; ".join(lines[:4])
    return f"expf {expf:.1f}% of samples (top: {top})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="yolov8n")
    parser.add_argument("--runs", type=int, default=20)
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
    results = {}
    for approximate in (False, True):
        label = "approximate-math" if approximate else "libm expf (before)"
        library = scratch / f"{args.model}_{'approx' if approximate else 'libm'}.so"
        started = time.time()
        compile_model(str(mlir), library, CompileOptions.optimised(approximate_math=approximate))
        compile_s = time.time() - started
        compiled = runtime.load(library)
        compiled.set_threads(1)
        got = compiled(x)
        error = float(np.abs(got - reference).max())
        times = sorted(compiled.time(x, runs=args.runs))
        median = times[len(times) // 2] * 1e3
        results[approximate] = median
        print(f"{args.model} {label}: median {median:.2f} ms at 1 thread over {args.runs} runs "
              f"(min {times[0] * 1e3:.2f}); max |out - PyTorch| {error:.2e}; compiled in {compile_s:.0f} s", flush=True)
        if args.perf:
            print(f"  perf: {perf_share(library, shape, scratch)}", flush=True)
    print(f"speed-up {results[False] / results[True]:.2f}x", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
