"""`patsparse-tune`: measure schedules per convolution layer and store the best in a tuning database.

    patsparse-tune model.mlir --db model.tuning.json                      # host, measured
    patsparse-tune model.mlir --db model.tuning.json --target aarch64-linux-gnu   # ranked by llvm-mca
    patsparse-compile model.mlir --tuning-db model.tuning.json -o model.so

See lowering/tuning.py for the search and the database format.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from mlir import ir

from patsparse.cliutil import ToolError, read_input, run_main
from patsparse.dialect import make_context
from patsparse.dialect.schedule import Schedule, TuningDatabase, TuningError, code_stats
from patsparse.lowering.tuning import tune_layer
from patsparse.pipeline import TARGETS, CompileOptions, StageFailed, lower_stages, run_stages
from patsparse.safe_parse import guarded_parse

PROG = "patsparse-tune"


def planned_layers(source: str, options: CompileOptions) -> list:
    """(layer, schedule) of every convolution of the model, as `patsparse-compile` with `options`
    will generate it: the compiler's own stages up to the code generation, then the plan of
    convert-patsparse-to-vector (benchmarks compare configurations this way)."""
    text = read_input(source)
    context = make_context()
    with context:
        try:
            module = guarded_parse(text, source, ir.Module.parse)
        except ir.MLIRError as error:
            raise ToolError(f"{source}: not a valid MLIR module ({str(error).splitlines()[0]})") from None
        stages = lower_stages(options)
        names = [stage.name for stage in stages]
        lowering = names.index("convert-patsparse-to-vector")
        try:
            run_stages(module.operation, stages[:lowering], source)
        except StageFailed as failure:
            raise ToolError(f"{source}: {failure}") from None
        return [(layer, schedule) for _, layer, _, _, schedule in stages[lowering].element.planned_layers(module.operation)]


def model_layers(source: str, detect: bool = True, reorder: bool = False):
    """The model's convolution layers as the compiler sees them (after pattern detection and,
    with `reorder`, patsparse-reorder-filters)."""
    return [layer for layer, _ in planned_layers(source, CompileOptions(detect_patterns=detect, reorder_filters=reorder))]


def tune_model(source: str, database_path: str | Path, options: CompileOptions, runs: int = 7,
               log=print, budget: float | None = None, candidates: int | None = None) -> TuningDatabase:
    """Tune every convolution of `source` into the database. With `budget` (seconds), the layers
    with the most vector FMAs go first and tuning stops once the budget is spent (the others keep
    their default schedule); with `candidates`, each layer's grid is thinned to that many."""
    if options.target not in TARGETS:
        raise ToolError(f"unknown target '{options.target}': expected one of {', '.join(TARGETS)}")
    try:
        database = TuningDatabase(database_path)
    except TuningError as error:
        raise ToolError(str(error)) from None
    base = Schedule(vector_width=options.resolved_vector_width(), max_accumulators=options.accumulators,
                    rows=options.rows or 1, eliminate_loads=options.eliminate_loads,
                    compact_indices=options.compact_indices)
    layers = model_layers(source, options.detect_patterns)
    if not layers:
        raise ToolError(f"{source}: no convolution to tune")
    if budget is not None:
        layers = sorted(layers, key=lambda layer: -code_stats(layer, base).vector_fmas)
    unit = "ms" if options.target == "host" else "Mcycles (llvm-mca)"
    log(f"{'layer':<20} {'input':<16} {'F':>5} {'best V/R/rows':>14} {'default':>10} {'best':>10} {'speedup':>8}  [{unit}]")
    began = time.perf_counter()
    for number, layer in enumerate(layers, 1):
        start = time.perf_counter()
        if budget is not None and start - began >= budget:
            log(f"budget of {budget:.0f} s spent: {len(layers) - number + 1} of {len(layers)} layers keep their "
                "default schedule")
            break
        try:
            result = tune_layer(layer, base, options.target, runs=runs, candidates=candidates)
        except TuningError as error:
            raise ToolError(f"{source}: {error}") from None
        database.add(result, layer.name)
        scale = 1e3 if options.target == "host" else 1e-6
        s = result.schedule
        log(f"{layer.name:<20} {'x'.join(map(str, layer.input_shape)):<16} {layer.filters:>5} "
            f"{f'{s.vector_width}/{s.max_accumulators}/{s.rows}':>14} {result.default_seconds * scale:>10.3f} "
            f"{result.seconds * scale:>10.3f} {result.default_seconds / result.seconds:>7.2f}x"
            f"  ({number}/{len(layers)}, {time.perf_counter() - start:.0f} s)")
        database.save()  # after every layer: an interrupted run keeps what it measured
    database.save()  # also when the budget tuned nothing: patsparse-compile --tuning-db takes it
    return database


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Find the fastest schedule (vector width, vectors per row, rows per block) of every "
                    "convolution of a model and store it in a tuning database that patsparse-compile "
                    "--tuning-db reuses. On the host each candidate is compiled and timed; for AArch64 "
                    "candidates are ranked by llvm-mca (-mcpu=cortex-a76) on their inner FMA loop.",
        epilog="""examples:
  patsparse-tune vgg.mlir --db vgg.tuning.json
  patsparse-compile vgg.mlir --tuning-db vgg.tuning.json -o vgg.so
  patsparse-tune vgg.mlir --db vgg.tuning.json --target aarch64-linux-gnu
""")
    parser.add_argument("input", help="model .mlir (linalg on tensors, from patsparse-import)")
    parser.add_argument("--db", required=True, metavar="JSON", help="tuning database to create or extend")
    parser.add_argument("--target", default="host", help=f"one of: {', '.join(TARGETS)} (default: host)")
    parser.add_argument("--dense", action="store_true", help="tune the dense build (no pattern detection)")
    parser.add_argument("--runs", type=int, default=7, help="timed runs per candidate, median (default 7)")
    parser.add_argument("--eliminate-loads", action="store_true", help="tune with load elimination on")
    parser.add_argument("--compact-indices", action="store_true", help="tune with compact FKW indices")
    parser.add_argument("--budget", type=float, metavar="SECONDS",
                        help="stop after this many seconds; the layers with the most work are tuned first")
    parser.add_argument("--candidates", type=int, metavar="N",
                        help="at most N schedules per layer (the default one and an even spread of the grid)")
    return parser


def run(argv=None) -> int:
    args = make_parser().parse_args(argv)
    if args.runs < 1:
        raise ToolError(f"--runs {args.runs}: expected at least 1")
    if args.budget is not None and args.budget <= 0:
        raise ToolError(f"--budget {args.budget:g}: expected a positive number of seconds")
    if args.candidates is not None and args.candidates < 1:
        raise ToolError(f"--candidates {args.candidates}: expected at least 1")
    options = CompileOptions(target=args.target, detect_patterns=not args.dense,
                             eliminate_loads=args.eliminate_loads, compact_indices=args.compact_indices)
    tune_model(args.input, args.db, options, args.runs, budget=args.budget, candidates=args.candidates)
    print(f"wrote {args.db}")
    return 0


def main(argv=None) -> int:
    return run_main(PROG, lambda: run(argv))


if __name__ == "__main__":
    sys.exit(main())
