"""PatSparse beside the engines a user would deploy a CNN with instead, on a model zoo, at 1 and 2 threads.

    bench/setup_peers.sh                                  # the engines (pyproject extras `peers`, litert-torch venv)
    .venv/bin/python bench/peers.py --quick               # a small subset, a few minutes once converted
    .venv/bin/python bench/peers.py --check               # the whole zoo: convert (cached) and check outputs, no timing
    .venv/bin/python bench/peers.py --budget 2            # then the timed run, from the cache
    .venv/bin/python bench/peers.py --models resnet18 --variants dense,p8+8x --engines onnxruntime,ncnn,"patsparse tuned"

Zoo (--models): vgg16_cifar (3x32x32), vgg16, resnet18, resnet50, mobilenet_v2 (3x224x224),
yolov8n (3x320x320); also vgg_small and resnet_small (1x28x28) for trying the script. Variants
(--variants): dense (random weights, BatchNorm calibrated on noise), p8 (3x3 weights projected
onto 8 patterns) and p8+8x (8 patterns and 8x fewer 3x3 weights, whole kernels removed): the
same seeded weights for every engine, written once to bench/.cache/.

Engines (--engines, comma-separated names): patsparse tuned (patsparse-tune --budget 120
--candidates 16 --runs 3, then -O --tuning-db), patsparse sparse (the default CompileOptions()), patsparse dense (no pattern
detection), pytorch eager, torch.compile, onnxruntime, litert xnnpack, executorch xnnpack,
ncnn, mnn, iree llvm-cpu. An engine that is not installed, cannot convert a model or crashes
gets a row saying why; the run goes on.

Method: conversions run first, one child process per model variant, cached in bench/.cache/<model>-<variant>/
<engine>-<version>/. Then one worker process per model variant and thread count (libgomp
runs 25-45x slower when one process changes its thread count) loads every engine, checks its
output against PyTorch's (max abs error within --tolerance x the largest output magnitude; a
wrong engine is reported wrong and not timed), warms each up, and times them in interleaved
rounds: batch 1, fp32, median latency. The machine's CPU, single-thread FMA peak (bench/peak.c)
and memory bandwidth are measured in the same run. The tables and the chart go to --out
(between markers; text outside them is kept) and --chart. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO
from peer_engines import BY_NAME, ENGINES, EngineError
from peer_zoo import TINY, VARIANTS, ZOO, Case, cases

CACHE = REPO / "bench" / ".cache"
QUICK = {"models": ["vgg16_cifar"], "variants": ["dense", "p8+8x"], "runs": 10}


def log(message: str) -> None:
    print(f"[peers {time.strftime('%H:%M:%S')}] {message}", flush=True)


def engine_dir(engine, case: Case, cache: Path, versions: dict) -> Path:
    return cache / case.key / f"{engine.name.replace(' ', '-').replace('.', '_')}-{versions[engine.name]}"


# -- conversion (one child process per case) ----------------------------------------------------------

@contextlib.contextmanager
def quiet(log_path: Path):
    """Send what converters print (warnings, progress bars, C++ logs) to a log file, not the terminal."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log_path, "a") as log_file, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        os.dup2(log_file.fileno(), 1)
        os.dup2(log_file.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def convert_case(args) -> int:
    """In a child process (a converter that aborts takes only it down): convert one case for every
    engine named; JSON records on stdout, converters' own output to bench/.cache/convert.log."""
    from peer_zoo import checkpoint

    model_name, variant = args.convert_case.split(":")
    case, cache, versions = Case(model_name, variant), Path(args.cache), json.loads(args.versions)
    records = os.fdopen(os.dup(1), "w", buffering=1)
    with quiet(cache / "convert.log"):
        checkpoint(case, cache)
    for name in args.engines.split(","):
        engine = BY_NAME[name]
        work = engine_dir(engine, case, cache, versions)
        work.mkdir(parents=True, exist_ok=True)
        failed = work / "FAILED"
        if failed.exists():
            if not args.retry:  # a conversion that failed before fails again: skip it (--retry)
                continue
            failed.unlink()
        print("@peers " + json.dumps({"engine": name, "event": "converting"}), file=records)
        start = time.perf_counter()
        try:
            with quiet(cache / "convert.log"):
                engine.convert(case, work, cache)
        except Exception as error:  # noqa: BLE001 - a converter's failure is its row, not the run's end
            reason = str(error) if isinstance(error, EngineError) else \
                f"{type(error).__name__}: {(str(error).strip().splitlines() or [''])[0][:160]}"
            failed.write_text(reason + "\n")
            print("@peers " + json.dumps({"engine": name, "status": "failed", "reason": reason}), file=records)
            continue
        print("@peers " + json.dumps({"engine": name, "status": "converted", "seconds": time.perf_counter() - start}),
              file=records)
    return 0


def convert_all(selected: list[Case], engines: list, cache: Path, versions: dict, missing: dict,
                retry: bool = False) -> dict:
    """Convert every case for every engine, one child process per case; {(case label, engine name):
    reason} for every pair that has no artefact to run."""
    failures = {}
    for case in selected:
        names = [e.name for e in engines if e.name not in missing and not e.applies(case)]
        log(f"{case.label}: weights and conversions")
        first = True
        while names:
            command = [sys.executable, __file__, "--convert-case", f"{case.model}:{case.variant}", "--engines",
                       ",".join(names), "--cache", str(cache), "--versions", json.dumps(versions)]
            current = None
            with subprocess.Popen(command + (["--retry"] if retry and first else []), stdout=subprocess.PIPE,
                                  text=True) as process:
                for line in process.stdout:
                    if not line.startswith("@peers "):
                        continue
                    record = json.loads(line[len("@peers "):])
                    current = record["engine"] if record.get("event") == "converting" else None
                    if record.get("status") == "failed":
                        log(f"{case.label}: {record['engine']}: cannot convert: {record['reason']}")
                    elif record.get("status") == "converted" and record["seconds"] > 1:
                        log(f"{case.label}: {record['engine']}: converted in {record['seconds']:.0f} s")
            first = False
            if process.returncode == 0:
                break
            if current is None:  # before any converter: the weights
                for name in names:
                    failures[case.label, name] = f"making the weights failed (exit {process.returncode})"
                break
            reason = f"crashed the converter's process (exit {process.returncode})"
            log(f"{case.label}: {current}: {reason}; again without it")
            (engine_dir(BY_NAME[current], case, cache, versions) / "FAILED").write_text(reason + "\n")
        for name in names:
            failed = engine_dir(BY_NAME[name], case, cache, versions) / "FAILED"
            if (case.label, name) not in failures and failed.exists():
                failures[case.label, name] = failed.read_text().strip()
    return failures


# -- measurement (one worker process per case and thread count) -----------------------------

def emit(record: dict) -> None:
    print("@peers " + json.dumps(record), flush=True)


def check_output(output, reference, tolerance: float) -> dict:
    """{"status": "ok" or "wrong", "error", "relative", "reason"}: `output` against PyTorch's, the
    max abs error allowed being `tolerance` x the largest |reference| (NaN is wrong)."""
    import numpy as np

    output = np.asarray(output, np.float32)
    if output.size != reference.size:
        return {"status": "wrong", "reason": f"output shape {list(output.shape)}, PyTorch's {list(reference.shape)}"}
    error = float(np.abs(output.reshape(reference.shape) - reference).max())
    relative = error / max(float(np.abs(reference).max()), 1e-30)
    if not relative <= tolerance:
        return {"status": "wrong", "error": error, "relative": relative,
                "reason": f"max abs error {error:.2g} = {relative:.1e} of the output scale"}
    return {"status": "ok", "error": error, "relative": relative}


def worker(args) -> int:
    """Load, check and time every engine of one case at one thread count; JSON records on stdout."""
    import numpy as np
    import torch
    from peer_zoo import load_model

    torch.set_num_threads(args.threads)
    model_name, variant = args.worker.split(":")
    case = Case(model_name, variant)
    cache = Path(args.cache)
    versions = json.loads(args.versions)
    model, x, reference = load_model(case, cache)
    scale = float(np.abs(reference).max())
    runnable = {}
    for name in args.engines.split(","):
        engine = BY_NAME[name]
        emit({"engine": name, "event": "loading"})
        try:
            run = engine.load(case, engine_dir(engine, case, cache, versions), args.threads, model, cache)
            output = run(x)
        except Exception as error:  # noqa: BLE001 - an engine's failure is its row, not the run's end
            emit({"engine": name, "status": "failed", "reason": f"run: {str(error).splitlines()[0][:160]}"})
            continue
        verdict = check_output(output, reference, args.tolerance)
        if verdict["status"] != "ok":
            emit({"engine": name, **verdict})
            continue
        runnable[name] = run
        emit({"engine": name, "event": "checked", "error": verdict["error"], "relative": verdict["relative"]})
    samples = {name: [] for name in runnable}
    planned = {}
    for name, run in runnable.items():  # warm-up, and a first time that fits the runs into --budget
        emit({"engine": name, "event": "timing"})
        for _ in range(args.warmup):
            run(x)
        start = time.perf_counter()
        run(x)
        first = time.perf_counter() - start
        planned[name] = max(args.min_runs, min(args.runs, int(args.budget / max(first, 1e-6))))
    rounds = max(1, min(args.rounds, min(planned.values(), default=1)))
    names = list(runnable)
    for index in range(rounds):
        for name in names[index % len(names):] + names[:index % len(names)]:  # rotate the order per round
            run = runnable[name]
            emit({"engine": name, "event": "timing"})  # a crash from here on is this engine's
            for _ in range(-(-planned[name] // rounds)):
                start = time.perf_counter()
                run(x)
                samples[name].append(time.perf_counter() - start)
    for name, times in samples.items():
        emit({"engine": name, "status": "ok", "ms": 1e3 * float(np.median(times)), "runs": len(times),
              "scale": scale})
    return 0


def measure_case(case: Case, threads: int, names: list[str], args, versions: dict, log_file) -> dict:
    """{engine: record} from worker processes; an engine that kills its worker is recorded and
    the worker is started again without it."""
    records = {}
    remaining = list(names)
    environment = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
                       OPENBLAS_NUM_THREADS=str(threads), TORCHINDUCTOR_CACHE_DIR=str(Path(args.cache) / "inductor"))
    while remaining:
        command = [sys.executable, __file__, "--worker", f"{case.model}:{case.variant}", "--threads", str(threads),
                   "--engines", ",".join(remaining), "--cache", args.cache, "--versions", json.dumps(versions),
                   "--runs", str(args.runs), "--rounds", str(args.rounds), "--budget", str(args.budget),
                   "--min-runs", str(args.min_runs), "--warmup", str(args.warmup), "--tolerance", str(args.tolerance)]
        current = None
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log_file, text=True, env=environment) as process:
            watchdog = threading.Timer(args.worker_timeout, process.kill)  # a hung engine must not hang the run
            watchdog.start()
            for line in process.stdout:
                if not line.startswith("@peers "):
                    continue
                record = json.loads(line[len("@peers "):])
                if record.get("event") in ("loading", "timing"):
                    current = record["engine"]
                elif "status" in record:
                    records.setdefault(record["engine"], {}).update(record)
                    current = None
                elif record.get("event") == "checked":
                    records[record["engine"]] = dict(record)
            watchdog.cancel()
        remaining = [name for name in remaining if records.get(name, {}).get("status") is None]
        if process.returncode == 0 or not remaining:
            break
        if current is None and not records:  # it died before loading any engine: nobody to blame, nothing to retry
            for name in remaining:
                records[name] = {"status": "failed", "reason": f"the worker failed or hung (exit {process.returncode}; "
                                                               f"see {Path(args.cache) / 'workers.log'})"}
            break
        culprit = current or remaining[0]
        records[culprit] = {"status": "failed", "reason": f"crashed or hung its process (exit {process.returncode}; "
                                                          f"--worker-timeout {args.worker_timeout:.0f} s)"}
        log(f"{case.label} @{threads}: {culprit} crashed its process (exit {process.returncode}); again without it")
        remaining = [name for name in remaining if name != culprit and records.get(name, {}).get("status") is None]
    return records


# -- driver ---------------------------------------------------------------------------------

def split(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench/peers.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help=f"a small subset: {','.join(QUICK['models'])}, variants {','.join(QUICK['variants'])}, "
                             f"{QUICK['runs']} runs (overrides --models, --variants, --runs)")
    parser.add_argument("--models", default=",".join(ZOO), help=f"comma-separated (default: {','.join(ZOO)})")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated (default: {','.join(VARIANTS)})")
    parser.add_argument("--engines", default=",".join(e.name for e in ENGINES),
                        help="comma-separated engine names (default: all)")
    parser.add_argument("--threads", default="1,2", help="thread counts, each in its own processes (default: 1,2)")
    parser.add_argument("--runs", type=int, default=30, help="timed runs per engine at most (default: 30)")
    parser.add_argument("--budget", type=float, default=3.0,
                        help="seconds of timed runs per engine and case, which caps --runs for slow models (default: 3)")
    parser.add_argument("--min-runs", type=int, default=5, help="timed runs per engine at least (default: 5)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds the runs are split into (default: 5)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs per engine first (default: 3)")
    parser.add_argument("--tolerance", type=float, default=1e-3,
                        help="max abs error allowed, as a fraction of the largest |output| (default: 1e-3)")
    parser.add_argument("--retry", action="store_true",
                        help="convert again what failed to convert before (failures are cached like artefacts)")
    parser.add_argument("--worker-timeout", type=float, default=1800,
                        help="seconds one worker (a model variant at one thread count) may take (default: 1800)")
    parser.add_argument("--check", action="store_true", help="convert and check outputs only; no timing, no report")
    parser.add_argument("--out", default=str(REPO / "docs" / "benchmarks.md"), help="markdown file to update")
    parser.add_argument("--chart", default=str(REPO / "docs" / "peers.png"), help="PNG chart to write")
    parser.add_argument("--results", default=None, help="also write the raw results as JSON here")
    parser.add_argument("--cache", default=str(CACHE), help="conversion cache (default: bench/.cache)")
    parser.add_argument("--report-from", metavar="RESULTS.json",
                        help="write --out and --chart from the results of an earlier run (--results); run nothing")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--convert-case", help=argparse.SUPPRESS)
    parser.add_argument("--versions", help=argparse.SUPPRESS)
    return parser


def main(argv=None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    if args.worker:
        args.threads = int(args.threads)
        return worker(args)
    if args.convert_case:
        return convert_case(args)
    if args.report_from:
        from peers_report import write_report

        try:
            results = json.loads(Path(args.report_from).read_text())
        except (OSError, json.JSONDecodeError) as error:
            parser.error(f"--report-from {args.report_from}: cannot read it ({error})")
        write_report(results, Path(args.out), Path(args.chart))
        log(f"wrote {args.out} and {args.chart} from {args.report_from}")
        return 0
    if args.quick:
        args.models, args.variants, args.runs = ",".join(QUICK["models"]), ",".join(QUICK["variants"]), QUICK["runs"]
    models, variants, names = split(args.models), split(args.variants), split(args.engines)
    for value, known, what in ((models, ZOO + TINY, "model"), (variants, list(VARIANTS), "variant"),
                               (names, list(BY_NAME), "engine")):
        unknown = [v for v in value if v not in known]
        if unknown:
            parser.error(f"unknown {what} {unknown[0]!r}: expected one of {', '.join(known)}")
    try:
        thread_counts = [int(t) for t in split(args.threads)]
    except ValueError:
        parser.error(f"--threads {args.threads}: expected comma-separated positive integers")
    if not thread_counts or min(thread_counts) < 1 or args.runs < 1 or args.rounds < 1 or args.min_runs < 1:
        parser.error("--threads, --runs, --rounds and --min-runs must be positive")
    started = time.perf_counter()
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    engines = [BY_NAME[name] for name in names]
    missing = {e.name: e.missing() for e in engines if e.missing()}
    versions = {e.name: e.version() for e in engines if e.name not in missing}
    for engine in engines:
        log(f"engine {engine.name}: " + (f"unavailable: {missing[engine.name]}" if engine.name in missing
                                          else f"version {versions[engine.name]}"))
    selected = cases(models, variants)
    measured_machine = None
    if not args.check:
        from peers_report import machine

        measured_machine = machine()
        log(f"machine: {measured_machine['cpu']}; single-thread FMA peak {measured_machine['peak_gflops']:.0f} "
            f"GFLOP/s; memory bandwidth {measured_machine['bandwidth_gbs']:.0f} GB/s")
    convert_failures = convert_all(selected, engines, cache, versions, missing, args.retry)
    log(f"conversions done in {time.perf_counter() - started:.0f} s")
    results = {"argv": sys.argv[1:] if argv is None else list(argv), "versions": versions, "threads": {},
               "machine": measured_machine,
               "engines": names, "cases": [c.label for c in selected]}
    with open(cache / "workers.log", "a") as log_file:
        for threads in (thread_counts if not args.check else thread_counts[:1]):
            table = results["threads"][str(threads)] = {}
            for case in selected:
                row = table[case.label] = {}
                runnable = []
                for engine in engines:
                    failure = convert_failures.get((case.label, engine.name))
                    if engine.name in missing:
                        row[engine.name] = {"status": "unavailable", "reason": missing[engine.name]}
                    elif engine.applies(case):
                        row[engine.name] = {"status": "n/a", "reason": engine.applies(case)}
                    elif failure:
                        row[engine.name] = {"status": "failed", "reason": f"convert: {failure}"}
                    else:
                        runnable.append(engine.name)
                if args.check:
                    args.runs, args.rounds, args.budget, args.min_runs, args.warmup = 1, 1, 0.0, 1, 0
                row.update(measure_case(case, threads, runnable, args, versions, log_file) if runnable else {})
                summary = ", ".join(f"{name} {record['ms']:.2f}" if record.get("status") == "ok" and not args.check
                                    else f"{name} {record.get('status')}" for name, record in row.items()
                                    if record.get("status") != "n/a")
                log(f"{case.label} @{threads} thread{'s' if threads > 1 else ''}: {summary}")
    results["seconds"] = time.perf_counter() - started
    if args.results:
        Path(args.results).write_text(json.dumps(results, indent=1))
    if args.check:
        bad = [(case, name, rec.get("reason")) for table in results["threads"].values() for case, row in table.items()
               for name, rec in row.items() if rec.get("status") in ("wrong", "failed")]
        for case, name, reason in bad:
            log(f"{case}: {name}: {reason}")
        return 1 if bad else 0
    from peers_report import write_report

    write_report(results, Path(args.out), Path(args.chart))
    log(f"wrote {args.out} and {args.chart} ({results['seconds'] / 60:.1f} min in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
