"""Differential testing of the whole compiler against PyTorch on random CNNs (random_cnn.py).

    python test/fuzz/differential.py --models 2000 --qemu 100 --out docs/results/fuzz
    python test/fuzz/differential.py --repro test/fuzz/repros/repro_1234.py   # one saved failure again

Each batch of random models (one input shape) is imported once through torch-mlir and compiled
in every build mode: `-O`, plain, `--dense` and tuned (a tuning database holding a random valid
schedule per layer, so the tuned code path sees schedules the tuner could pick), each run with
1 and 2 threads on two inputs; optionally the AArch64 build too, run under qemu. Every output is
compared with PyTorch in float64 at a tolerance of 1e-5 of the model's output scale; the
PyTorch float32 result is reported beside it. A failing model is shrunk (nodes removed, outputs
dropped, channels and batch reduced, pruning simplified) while it still fails the same way, and
saved as a Python factory that rebuilds it (`repro_*.py`, importable with
`patsparse-import repro_N:make`).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import random_cnn  # noqa: E402

TOLERANCE = 1e-5   # of the output scale
HOST_MODES = ("O", "plain", "dense", "tuned")
QEMU_MODES = ("O",)


@dataclasses.dataclass
class Finding:
    spec: dict
    mode: str          # "O/threads=2", "aarch64-O", "import", "compile-dense", ...
    kind: str          # "mismatch", "error", "crash"
    detail: str
    error: float = 0.0  # max |compiled - reference| / scale

    def record(self) -> dict:
        return dataclasses.asdict(self)


@contextlib.contextmanager
def _cwd(path: Path):
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def _factory_text(specs: list[dict], weights: Path) -> str:
    return (f"import json, sys\nimport torch\nsys.path.insert(0, {str(HERE)!r})\n"
            f"from random_cnn import Batch\n"
            f"SPECS = json.loads({random_cnn.dumps(specs)!r})\n\n"
            f"def make():\n    model = Batch(SPECS)\n"
            f"    model.load_state_dict(torch.load({str(weights)!r}))\n    return model.eval()\n")


def repro_text(spec: dict, finding: Finding) -> str:
    """A file that rebuilds one failing model: `patsparse-import repro_N:make --input-shape ...`."""
    shape = ",".join(map(str, spec["input"]))
    return (f'"""Differential-fuzzer repro: {finding.kind} in {finding.mode}: {finding.detail[:200]}\n\n'
            f"    patsparse-import {{this file's stem}}:make --input-shape {shape} -o model.mlir\n"
            f'    python test/fuzz/differential.py --repro THIS_FILE\n"""\n\n'
            f"import json, sys\nfrom pathlib import Path\n\n"
            f"sys.path.insert(0, str(Path(__file__).resolve().parents[1]))\n"
            f"from random_cnn import build_pruned  # noqa: E402\n\n"
            f"SPEC = json.loads({json.dumps(spec, sort_keys=True)!r})\nMODE = {finding.mode!r}\n\n\n"
            f"def make():\n    return build_pruned(SPEC)\n")


def _inputs(shape: list[int], seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(np.float32), (3.0 * rng.random(shape) - 1.0).astype(np.float32)]


def _random_tuning_db(source: Path, path: Path, rng: random.Random) -> None:
    """A database with a random valid schedule (from the tuner's own grid) for every layer."""
    from patsparse.dialect.schedule import Schedule, TuningDatabase, TuningResult, layer_key
    from patsparse.pipeline import CompileOptions
    from patsparse.lowering.tuning import candidate_grid
    from patsparse.tune import model_layers

    options = CompileOptions()
    base = Schedule(vector_width=options.resolved_vector_width(), max_accumulators=options.accumulators)
    database = TuningDatabase(path)
    for layer in model_layers(str(source)):
        grid = candidate_grid(layer, base, sorted({4, 8, base.vector_width}))
        database.add(TuningResult(layer_key(layer, "host"), rng.choice(grid), 1.0, 1.0), layer.name)
    database.save()


def _options(mode: str, tuning_db: Path | None = None):
    from patsparse.pipeline import CompileOptions

    if mode == "O":
        return CompileOptions.optimised()
    if mode == "plain":
        return CompileOptions()
    if mode == "dense":
        return CompileOptions(detect_patterns=False)
    if mode == "tuned":
        return CompileOptions.optimised(tuning_db=str(tuning_db))
    raise ValueError(mode)


class Batch:
    """A batch of specs imported once; each check compiles and compares one build mode."""

    def __init__(self, specs: list[dict], work: Path, seed: int = 0):
        self.specs, self.work, self.seed = specs, work, seed
        self.columns = random_cnn.columns(specs)
        self.shape = specs[0]["input"]
        self.model = random_cnn.build_batch(specs)
        self.inputs = _inputs(self.shape, seed)
        with torch.no_grad():
            self.reference = [self.model.double()(torch.from_numpy(x).double()).numpy() for x in self.inputs]
            self.torch32 = [self.model.float()(torch.from_numpy(x)).numpy() for x in self.inputs]
        self.source: Path | None = None

    def scale(self, index: int) -> float:
        column = self.columns[index]
        return max(1e-2, *(float(np.abs(r[:, column]).max(initial=0.0)) for r in self.reference))

    def findings_for(self, outputs: list[np.ndarray], mode: str) -> list[Finding]:
        findings = []
        for index, (spec, column) in enumerate(zip(self.specs, self.columns)):
            scale = self.scale(index)
            worst, worst_torch = 0.0, 0.0
            for output, reference, torch32 in zip(outputs, self.reference, self.torch32):
                got = output[:, column].astype(np.float64)
                if not np.array_equal(np.isnan(got), np.isnan(reference[:, column])):
                    worst = float("inf")
                    continue
                finite = ~np.isnan(got)
                worst = max(worst, float(np.abs(got - reference[:, column])[finite].max(initial=0.0)) / scale)
                worst_torch = max(worst_torch, float(np.abs(torch32[:, column] - reference[:, column]).max()) / scale)
            if worst > TOLERANCE:
                findings.append(Finding(spec, mode, "mismatch",
                                        f"max error {worst:.2e} of scale {scale:.3g} (PyTorch float32: {worst_torch:.2e})",
                                        worst))
        return findings

    def import_(self) -> list[Finding]:
        from patsparse.frontend import import_model
        from patsparse.frontend.errors import FrontendError

        weights = self.work / "batch_weights.pt"
        torch.save(self.model.state_dict(), weights)
        (self.work / "fuzz_batch.py").write_text(_factory_text(self.specs, weights))
        try:
            with _cwd(self.work):
                self.source = import_model("fuzz_batch:make", self.work / "batch.mlir", input_shape=self.shape,
                                           timeout=600)
        except FrontendError as error:
            return [Finding(spec, "import", "error", str(error)) for spec in self.specs]
        return []

    def check_host(self, mode: str, rng: random.Random) -> list[Finding]:
        from patsparse import runtime
        from patsparse.cliutil import ToolError
        from patsparse.compiler import compile_model

        database = self.work / "tuning.json" if mode == "tuned" else None
        try:
            if database is not None:
                database.unlink(missing_ok=True)
                _random_tuning_db(self.source, database, rng)
            artifacts = compile_model(self.source, self.work / f"model_{mode}.so", _options(mode, database))
            model = runtime.load(artifacts.outputs["library"])
        except ToolError as error:
            return [Finding(spec, f"compile-{mode}", "error", str(error)) for spec in self.specs]
        findings = []
        for threads in (1, 2):
            model.set_threads(threads)
            findings += self.findings_for([model(x) for x in self.inputs], f"{mode}/threads={threads}")
        self.host_outputs = getattr(self, "host_outputs", {})
        self.host_outputs[mode] = [model(x) for x in self.inputs]
        return findings

    def check_qemu(self, mode: str) -> list[Finding]:
        from patsparse import runtime
        from patsparse.cliutil import ToolError
        from patsparse.compiler import compile_model

        options = dataclasses.replace(_options(mode), target="aarch64-linux-gnu")
        try:
            artifacts = compile_model(self.source, self.work / f"model_aarch64_{mode}", options)
            findings = []
            for threads in (1, 2):
                outputs = [runtime.run_aarch64(artifacts.outputs["runner"], x, threads=threads) for x in self.inputs]
                findings += self.findings_for(outputs, f"aarch64-{mode}/threads={threads}")
        except ToolError as error:
            return [Finding(spec, f"aarch64-{mode}", "error", str(error)) for spec in self.specs]
        return findings


def check_batch(specs: list[dict], modes=HOST_MODES, qemu_modes=(), seed: int = 0,
                work: Path | None = None) -> list[Finding]:
    """Every finding of one batch of specs (all with the same input shape)."""
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="patsparse-fuzz-") as scratch:
        batch = Batch(specs, Path(work or scratch), seed)
        findings = batch.import_()
        if findings:
            return findings
        for mode in modes:
            findings += batch.check_host(mode, rng)
        for mode in qemu_modes:
            findings += batch.check_qemu(mode)
    if len(specs) > 1 and any(f.kind != "mismatch" for f in findings):
        # An error stops the whole batch: find the models that cause it, one by one.
        failed_modes = {f.mode.split("/")[0] for f in findings if f.kind != "mismatch"}
        findings = [f for f in findings if f.kind == "mismatch" and f.mode.split("/")[0] not in failed_modes]
        for spec in specs:
            findings += [f for f in check_batch([spec], modes, qemu_modes, seed)
                         if f.mode.split("/")[0] in failed_modes or f.mode == "import"]
    return findings


def _log(message: str) -> None:
    print(message, flush=True)


BATCH_TIMEOUT = 1200  # seconds; longer is reported as a hang


def check_batch_in_child(specs: list[dict], modes=HOST_MODES, qemu_modes=(), seed: int = 0) -> list[Finding]:
    """`check_batch` in a child process, so that a compiler that aborts or hangs is a finding of
    the models that make it do so, not the end of the campaign."""
    import subprocess

    request = json.dumps({"specs": specs, "modes": list(modes), "qemu_modes": list(qemu_modes), "seed": seed})
    try:
        child = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker"], input=request,
                               capture_output=True, text=True, timeout=BATCH_TIMEOUT)
    except subprocess.TimeoutExpired:
        kind, detail = "hang", f"no result after {BATCH_TIMEOUT} s"
    else:
        if child.returncode == 0:
            return [Finding(**record) for record in json.loads(child.stdout.splitlines()[-1])]
        kind = "crash"
        tail = "; ".join(child.stderr.strip().splitlines()[-3:])
        detail = f"the check exited with {child.returncode}: {tail[-600:]}"
    if len(specs) > 1:  # which of them?
        found = []
        for spec in specs:
            found += check_batch_in_child([spec], modes, qemu_modes, seed)
        return found
    return [Finding(specs[0], "process", kind, detail)]


def _worker() -> int:
    request = json.loads(sys.stdin.read())
    found = check_batch(request["specs"], tuple(request["modes"]), tuple(request["qemu_modes"]), request["seed"])
    print(json.dumps([f.record() for f in found]))
    return 0


def still_fails(spec: dict, finding: Finding) -> bool:
    mode = finding.mode.split("/")[0]
    if mode in ("import", "process", "harness"):
        modes, qemu = HOST_MODES, QEMU_MODES
    elif mode.startswith("aarch64-"):
        modes, qemu = (), (mode.removeprefix("aarch64-"),)
    else:
        modes, qemu = (mode.removeprefix("compile-"),), ()
    found = check_batch_in_child([spec], modes, qemu)
    return any(f.kind == finding.kind and f.mode.split("/")[0] == finding.mode.split("/")[0] for f in found)


def _simplifications(spec: dict):
    """Smaller variants of `spec`, most reducing first."""
    nodes = spec["nodes"]
    if len(spec["outputs"]) > 1:
        for output in spec["outputs"]:
            yield {**spec, "outputs": [output]}
    if spec.get("linear"):
        yield {**spec, "linear": 0}
    # Drop trailing nodes (the outputs move to the last value left).
    for keep in range(len(nodes) - 1, 0, -1):
        yield {**spec, "nodes": nodes[:keep], "outputs": sorted({min(o, keep) for o in spec["outputs"]})}
    # Bypass one node: its users read its first input instead.
    for index, node in enumerate(nodes):
        source = node["in"] if isinstance(node["in"], int) else node["in"][0]
        remap = lambda v: source if v == index + 1 else (v - 1 if v > index + 1 else v)  # noqa: E731
        rest = []
        for other in nodes[:index] + nodes[index + 1:]:
            other = copy.deepcopy(other)
            other["in"] = remap(other["in"]) if isinstance(other["in"], int) else [remap(v) for v in other["in"]]
            rest.append(other)
        yield {**spec, "nodes": rest, "outputs": sorted({remap(o) for o in spec["outputs"]})}
    if spec["input"][0] > 1:
        yield {**spec, "input": [1, *spec["input"][1:]]}
    for key, value in (("connectivity", None), ("patterns", 1)):
        if spec.get(key) != value:
            yield {**spec, key: value}
    for index, node in enumerate(nodes):
        if node["op"] == "conv":
            for change in ({"bias": False}, {"out": max(1, node["out"] // 2)}, {"stride": 1}, {"dil": 1}):
                changed = {**node, **change}
                if changed != node:
                    yield {**spec, "nodes": nodes[:index] + [changed] + nodes[index + 1:]}


def shrink(spec: dict, finding: Finding, budget: int = 40, log=None) -> dict:
    """A smaller spec that still fails the same way (greedy, at most `budget` compiles)."""
    log = log or _log
    attempts = 0
    progress = True
    while progress and attempts < budget:
        progress = False
        for candidate in _simplifications(spec):
            if attempts >= budget:
                break
            if not random_cnn.is_valid(candidate) or candidate == spec:
                continue
            attempts += 1
            if still_fails(candidate, finding):
                spec, progress = candidate, True
                log(f"  shrunk to {len(spec['nodes'])} nodes")
                break
    return spec


def campaign(models: int, qemu_models: int, batch_size: int, seed: int, out: Path | None, shrink_budget: int,
             log=None, time_limit: float | None = None) -> dict:
    """Run `models` random models (the first `qemu_models` also under qemu); a summary dict."""
    log = log or _log
    rng = random.Random(seed)
    started = time.time()
    totals = {"models": 0, "qemu_models": 0, "comparisons": 0, "mismatches": 0, "errors": 0, "batches": 0,
              "coverage": {}}
    findings: list[Finding] = []
    done_qemu = 0
    # A progress bar on a terminal; one line per batch in a log file.
    from tqdm import tqdm
    bar = tqdm(total=models, unit="model") if sys.stderr.isatty() else None
    while totals["models"] < models:
        if time_limit and time.time() - started > time_limit:
            break
        shape = random_cnn.draw_input_shape(rng)
        count = min(batch_size, models - totals["models"])
        specs = [random_cnn.generate(rng, shape) for _ in range(count)]
        qemu = QEMU_MODES if done_qemu < qemu_models else ()
        batch_seed = rng.randrange(1 << 30)
        found = check_batch_in_child(specs, HOST_MODES, qemu, seed=batch_seed)
        totals["batches"] += 1
        totals["models"] += count
        for spec in specs:
            for feature in features(spec):
                totals["coverage"][feature] = totals["coverage"].get(feature, 0) + 1
        totals["comparisons"] += count * (len(HOST_MODES) * 2 * 2 + len(qemu) * 2 * 2)
        if qemu:
            done_qemu += count
            totals["qemu_models"] += count
        for finding in found:
            totals["mismatches" if finding.kind == "mismatch" else "errors"] += 1
            log(f"finding: {finding.kind} in {finding.mode}: {finding.detail.splitlines()[0][:200]}")
            findings.append(finding)
        if bar is not None:
            bar.update(count)
        else:
            log(f"{totals['models']}/{models} models, {len(findings)} findings, {time.time() - started:.0f} s")
    if bar is not None:
        bar.close()
    totals["seconds"] = round(time.time() - started)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        saved = {}
        for number, finding in enumerate(findings):
            key = (finding.mode.split("/")[0], finding.kind, json.dumps(finding.spec, sort_keys=True))
            if key in saved:
                continue
            small = shrink(finding.spec, finding, shrink_budget, log) if shrink_budget else finding.spec
            path = out / f"repro_{seed}_{number}.py"
            path.write_text(repro_text(small, finding))
            saved[key] = str(path)
        (out / "findings.json").write_text(json.dumps({"totals": totals,
                                                       "findings": [f.record() for f in findings]}, indent=1) + "\n")
    totals["findings"] = findings
    return totals


def features(spec: dict) -> set[str]:
    """What a model exercises, for the coverage column of the results table."""
    found = {f"batch {spec['input'][0]}" if spec["input"][0] > 1 else "batch 1"}
    if spec["input"][2] != spec["input"][3]:
        found.add("non-square input")
    for node in spec["nodes"]:
        op = node["op"]
        if op == "conv":
            k = "x".join(map(str, node["k"]))
            found.add(f"conv {k}")
            if node["groups"] > 1:
                found.add("depthwise conv" if node["groups"] == random_cnn.shapes(spec)[node["in"]][1] else "grouped conv")
            if node["stride"] > 1:
                found.add("stride 2")
            if node["dil"] > 1:
                found.add("dilation 2")
            if node["k"] == [3, 3] and node["groups"] == 1:
                found.add("pattern-pruned 3x3" if spec.get("connectivity") is None else "pattern + connectivity 3x3")
        elif op == "act":
            found.add(f"activation {node['fn']}")
        elif op == "pool":
            found.add(f"{node['kind']} pool {node['k']}x{node['k']}/{node['stride']}")
        elif op in ("bn", "add", "cat"):
            found.add({"bn": "batchnorm", "add": "residual add", "cat": "concat"}[op])
    if len(spec["outputs"]) > 1:
        found.add("a value read again at the end")
    if spec.get("linear"):
        found.add("linear")
    return found


def merged_totals(paths: list[Path]) -> dict:
    """The totals of several campaigns (their findings.json files) as one."""
    merged: dict = {"coverage": {}}
    for path in paths:
        totals = json.loads(Path(path).read_text())["totals"]
        for key, value in totals.items():
            if key == "coverage":
                for feature, count in value.items():
                    merged["coverage"][feature] = merged["coverage"].get(feature, 0) + count
            else:
                merged[key] = merged.get(key, 0) + value
    return merged


def table_text(totals: dict, command: str) -> str:
    """The committed results table of a campaign (docs/results/fuzz.md)."""
    import platform

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    per_model = len(HOST_MODES) * 2 * 2
    lines = [
        "# Differential fuzzing against PyTorch",
        "",
        f"Command: `{command}` (seed and batch size in it; {totals['seconds'] / 3600:.1f} h on {cpu}).",
        "",
        "Every random model (test/fuzz/random_cnn.py) is compiled in every host build mode "
        f"({', '.join(HOST_MODES)}), each run with 1 and 2 threads on two inputs, and compared with PyTorch "
        f"in float64 at {TOLERANCE:g} of the output scale; the first {totals['qemu_models']} also run on AArch64 "
        f"under qemu ({', '.join(QEMU_MODES)}, 1 and 2 threads).",
        "",
        "| | count |", "|---|---|",
        f"| models (host) | {totals['models']} |",
        f"| models (AArch64 under qemu) | {totals['qemu_models']} |",
        f"| batches (one import and one compile per mode each) | {totals['batches']} |",
        f"| comparisons with PyTorch (model x mode x threads x input) | {totals['comparisons']} |",
        f"| per model on the host | {per_model} |",
        f"| **mismatches** | **{totals['mismatches']}** |",
        f"| **errors, crashes, hangs** | **{totals['errors']}** |",
        "",
        "What the models exercised (models that contain each feature):",
        "",
        "| feature | models |", "|---|---|",
    ]
    lines += [f"| {name} | {count} |" for name, count in sorted(totals["coverage"].items())]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Differential fuzzing of patsparse-compile against PyTorch.")
    parser.add_argument("--models", type=int, default=40, help="random models in all (default 40)")
    parser.add_argument("--qemu", type=int, default=0, help="of these, how many also run on AArch64 under qemu")
    parser.add_argument("--batch", type=int, default=8, help="models per import and compile (default 8)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="folder for findings.json and shrunk repro_*.py files")
    parser.add_argument("--shrink-budget", type=int, default=40, help="compiles per shrink (0: no shrinking)")
    parser.add_argument("--hours", type=float, help="stop after this long")
    parser.add_argument("--table", type=Path, help="write the results table (markdown) here")
    parser.add_argument("--table-from", type=Path, nargs="+", metavar="FINDINGS_JSON",
                        help="with --table: write the table of earlier campaigns (their findings.json), summed")
    parser.add_argument("--commands", help="with --table-from: the commands of those campaigns, for the table")
    parser.add_argument("--repro", type=Path, help="run one saved repro_*.py again and print its findings")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # one batch: JSON in, JSON out
    options = parser.parse_args(argv)
    if options.worker:
        return _worker()
    if options.table_from:
        if not options.table:
            parser.error("--table-from needs --table")
        options.table.write_text(table_text(merged_totals(options.table_from), options.commands or "see the notes"))
        return 0
    for name in ("models", "batch"):
        if getattr(options, name) < 1:
            parser.error(f"--{name} {getattr(options, name)}: expected at least 1")
    if options.qemu < 0 or options.shrink_budget < 0:
        parser.error("--qemu and --shrink-budget: expected 0 or more")
    if options.repro:
        if not options.repro.is_file():
            parser.error(f"{options.repro}: no such repro file (the campaign writes repro_*.py into --out)")
        namespace: dict = {}
        exec(compile(options.repro.read_text(), str(options.repro), "exec"), {"__file__": str(options.repro)},
             namespace)
        found = check_batch([namespace["SPEC"]], HOST_MODES, QEMU_MODES)
        for finding in found:
            print(f"{finding.kind} in {finding.mode}: {finding.detail.splitlines()[0]}")
        print(f"{len(found)} findings")
        return 1 if found else 0
    totals = campaign(options.models, options.qemu, options.batch, options.seed, options.out, options.shrink_budget,
                      time_limit=options.hours * 3600 if options.hours else None)
    findings = totals.pop("findings")
    print(json.dumps(totals))
    if options.table:
        command = "python test/fuzz/differential.py " + " ".join(sys.argv[1:] if argv is None else argv)
        options.table.write_text(table_text(totals, command))
    return 1 if findings else 0


if __name__ == "__main__":
    raise SystemExit(main())
