"""Per-layer auto-tuning: candidate schedules compiled together, measured on the host, ranked for
AArch64 with llvm-mca, and kept in a tuning database that patsparse-compile reuses.

For one layer, every candidate `Schedule` becomes a function of one shared library (built by
the compiler's own path: the same passes, `llc -O3`, the same runtime), so one compile serves
the whole search. Each candidate's output is checked against the first before it is timed:
a schedule that computes something else is an error, never a winner.

The search is exhaustive over a small grid (vector width, vectors per row, rows per block)
limited by the register file: the paper used a genetic algorithm over a larger space; here the
grid is small enough to measure all of it, which is the stronger guarantee of beating the
defaults (the default schedule is always a candidate).

The database is JSON, keyed by target, layer shape, strides, padding and pattern mix (the
library and the number of kernels per pattern), so a model compiled again, or another model
with the same layer, gets the measured schedule.
"""

from __future__ import annotations

import ctypes
import dataclasses
import re
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from mlir import ir, passmanager
from mlir.dialects import func

from patsparse.dialect import make_context
from patsparse.dialect.conv_layer import ConvLayer
from patsparse.dialect.schedule import (
    MAX_BLOCK_ACCUMULATORS,
    Schedule,
    TuningError,
    TuningResult,
    code_stats,
    layer_key,
)

from . import targets, toolchain
from .conv_channel_tiles import channel_tiles_apply, kernel_loop_fmas
from .conv_codegen import build_conv_function
from .conv_gemm import gemm_applies
from .model_api import tables_source
from .symbol_prefix import prefix_symbols
from .to_llvm import TO_LLVM_WITH_RUNTIME

TUNING_PREFIX = "tuning_"

LARGE_INPUT_BYTES = 256 * 1024


def candidate_grid(layer: ConvLayer, base: Schedule, widths: list[int]) -> list[Schedule]:
    """The grid: vector widths x vectors per row x rows per block (x loop order for large
    inputs) x one or two filters per work item (filter pairs, for an even number of
    filters), within the register file; `base` (the untuned schedule) first. A packed-GEMM layer
    (lowering/conv_gemm.py) has its tile from the vector width, so only the widths differ; so has a
    channel-tile layer (lowering/conv_channel_tiles.py), whose widths come first, then the tap
    generator's grid."""
    out_h, out_w = layer.output_hw
    grid = [base]
    if gemm_applies(layer):
        return grid + [dataclasses.replace(base, vector_width=w) for w in widths if w != base.vector_width]
    if channel_tiles_apply(layer, base):
        grid += [dataclasses.replace(base, vector_width=w) for w in widths
                 if w != base.vector_width and channel_tiles_apply(layer, dataclasses.replace(base, vector_width=w))]
        base = dataclasses.replace(base, channel_tiles=False)
    # The loop order only matters once one image's input no longer fits in the L2 cache.
    batch, channels, height, width = layer.input_shape
    orders = (False, True) if channels * height * width * 4 > LARGE_INPUT_BYTES else (base.rows_outer,)
    pairings = (False, True) if layer.filters % 2 == 0 else (False,)
    for width in widths:
        vectors = -(-out_w // width)
        for accumulators in sorted({a for a in (1, 2, 3, 4, 6, 8) if a <= vectors} | {min(vectors, 8)}):
            # Divisors of the height leave no rows over (a leftover row runs alone, at a
            # fraction of the block's reuse): 7 and 14 matter for 7x7 and 14x14 outputs.
            row_options = sorted({1, 2, 4, 8} | {d for d in range(1, min(out_h, 16) + 1) if out_h % d == 0})
            for rows in row_options:
                for rows_outer in orders:
                    for pairs in pairings:
                        if rows > out_h or (1 + pairs) * rows * accumulators > MAX_BLOCK_ACCUMULATORS:
                            continue
                        schedule = dataclasses.replace(base, vector_width=width, max_accumulators=accumulators,
                                                       rows=rows, rows_outer=rows_outer, filter_pairs=pairs)
                        if schedule not in grid:
                            grid.append(schedule)
    return grid


def _candidate_module(variants: list[tuple[ConvLayer, Schedule]]) -> ir.Module:
    """Function `candidate_<i>(input, [bias,] output)` per (layer, schedule) (bare pointers, C ABI).
    The layers must agree in shapes; they may differ in filter order (reordering)."""
    module = ir.Module.create()
    f32 = ir.F32Type.get()
    layer = variants[0][0]
    batch = layer.input_shape[0]
    out_h, out_w = layer.output_hw
    types = [ir.MemRefType.get(list(layer.input_shape), f32)]
    if layer.has_bias:
        types.append(ir.MemRefType.get([layer.filters], f32))
    types.append(ir.MemRefType.get([batch, layer.filters, out_h, out_w], f32))
    for index, (variant, schedule) in enumerate(variants):
        name = f"{variant.name}_{index}"
        build_conv_function(dataclasses.replace(variant, name=name), schedule, ir.InsertionPoint(module.body))
        with ir.InsertionPoint(module.body):
            wrapper = func.FuncOp(f"candidate_{index}", (types, []))
        with ir.InsertionPoint(wrapper.add_entry_block()):
            func.CallOp([], ir.FlatSymbolRefAttr.get(name), list(wrapper.arguments))
            func.ReturnOp([])
    return module


def build_candidates(layer: ConvLayer | list[tuple[ConvLayer, Schedule]], schedules: list[Schedule] | None,
                     work: Path, target: str = "host", cpu: str | None = None) -> Path:
    """A host shared library exporting `candidate_<i>` (target "host"), or an AArch64 assembly
    file of them (for llvm-mca). Candidates are `layer` with each of `schedules`, or the given
    (layer, schedule) pairs."""
    variants = layer if schedules is None else [(layer, schedule) for schedule in schedules]
    with make_context(), ir.Location.unknown():
        module = _candidate_module(variants)
        manager = passmanager.PassManager("builtin.module")
        manager.add(TO_LLVM_WITH_RUNTIME)
        manager.run(module.operation)
        if target != "host":
            targets.write_bytecode(module, work / "candidates.mlirbc")
            targets.translate_to_llvm_ir(work / "candidates.mlirbc", work / "candidates.ll")
            targets.llc(work / "candidates.ll", work / "candidates.s", target, cpu or "cortex-a76", "asm")
            return work / "candidates.s"
        prefix_symbols(module, TUNING_PREFIX)
        objects = targets.objects_from_llvm_dialect(module, work, "host", cpu or "native")
    library = work / "candidates.so"
    candidates = tuple(f"candidate_{i}" for i in range(len(variants)))
    targets.link_host_shared(objects, library, targets.RuntimeBuild(TUNING_PREFIX, tables_source("", [], [], [])),
                             extra_exports=candidates + ("patsparse_make_current",))
    return library


def measure(layer: ConvLayer, library: Path, count: int, runs: int = 7, seed: int = 0,
            threads: int = 1) -> list[float]:
    """Seconds of each candidate on random input, the fastest of `runs` (on a shared machine the
    minimum is the steadiest estimate of what the code costs); outputs must agree with candidate 0."""
    lib = ctypes.CDLL(str(library))
    # The candidates run in a context of their library's runtime, on its pool of `threads`.
    lib.tuning_create.restype = ctypes.c_void_p
    lib.tuning_create.argtypes = [ctypes.c_void_p]
    context = lib.tuning_create(None)
    lib.tuning_set_threads(ctypes.c_void_p(context), threads)
    lib.tuning_patsparse_make_current(ctypes.c_void_p(context))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(layer.input_shape).astype(np.float32)
    bias = rng.standard_normal(layer.filters).astype(np.float32)
    out_h, out_w = layer.output_hw
    outputs = [np.zeros((layer.input_shape[0], layer.filters, out_h, out_w), np.float32) for _ in range(2)]
    pointer = ctypes.POINTER(ctypes.c_float)

    def args(out):
        arrays = [x] + ([bias] if layer.has_bias else []) + [out]
        return [a.ctypes.data_as(pointer) for a in arrays]

    try:
        times = []
        for index in range(count):
            function = getattr(lib, f"{TUNING_PREFIX}candidate_{index}")
            out = outputs[0 if index == 0 else 1]
            call_args = args(out)
            function(*call_args)
            if index and not np.allclose(out, outputs[0], rtol=1e-4, atol=1e-5):
                raise TuningError(f"{layer.name}: candidate {index} computes a different result than the default")
            samples = []
            for _ in range(runs):
                start = time.perf_counter()
                function(*call_args)
                samples.append(time.perf_counter() - start)
            times.append(float(np.min(samples)))
    finally:
        lib.tuning_patsparse_make_current(None)
        lib.tuning_destroy(ctypes.c_void_p(context))
    return times


def mca_cycles(assembly: str, count: int, cpu: str = "cortex-a76") -> list[float | None]:
    """llvm-mca's cycles per iteration of each candidate's innermost FMA loop (AArch64).

    The kernel loop of a candidate is the basic block of its function with the most `fmla`
    instructions; llvm-mca simulates that block alone, as a loop.
    """
    results: list[float | None] = []
    for index in range(count):
        body = _hottest_block(assembly, f"candidate_{index}")
        if body is None:
            results.append(None)
            continue
        run = subprocess.run([str(toolchain.find("llvm-mca")), "-mtriple=aarch64-linux-gnu", f"-mcpu={cpu}",
                              "-iterations=100"], input=body, capture_output=True, text=True)
        match = re.search(r"Total Cycles:\s+(\d+)", run.stdout)
        results.append(int(match.group(1)) / 100 if match else None)
    return results


def _hottest_block(assembly: str, wrapper: str) -> str | None:
    """The instructions of the block with the most fmla in the code the wrapper calls."""
    # The wrapper calls (or has inlined) the layer function `<layer>_<index>`, which calls
    # `<layer>_<index>_body`; search all three.
    index = wrapper.rsplit("_", 1)[1]
    names = [wrapper] + re.findall(rf"^(\w+_{index}(?:_body)?):", assembly, re.MULTILINE)
    best, best_count = None, 0
    for name in names:
        match = re.search(rf"^{re.escape(name)}:(.*?)(?=^\s*\.size\s+{re.escape(name)},|\Z)", assembly, re.DOTALL | re.MULTILINE)
        if not match:
            continue
        for block in re.split(r"^\.LBB\w+:.*$", match.group(1), flags=re.MULTILINE):
            lines = [line.strip() for line in block.splitlines()
                     if line.strip() and not line.strip().startswith((".", "//", "#")) and ":" not in line.split()[0]]
            fmla = sum(1 for line in lines if line.startswith("fmla"))
            if fmla > best_count:
                best, best_count = "\n".join(lines) + "\n", fmla
    return best


def tune_layer(layer: ConvLayer, base: Schedule, target: str = "host", widths: list[int] | None = None,
               runs: int = 7, candidates: int | None = None) -> TuningResult:
    """The fastest candidate: measured on the host for "host", ranked by llvm-mca for AArch64.
    With `candidates`, at most that many: the default and an even spread of the rest of the grid."""
    if widths is None:
        widths = [base.vector_width] if target != "host" else sorted({8, base.vector_width})
    grid = candidate_grid(layer, base, widths)
    if candidates is not None and len(grid) > candidates:
        rest = grid[1:]
        grid = [grid[0]] + [rest[round(i * (len(rest) - 1) / max(candidates - 2, 1))] for i in range(candidates - 1)]
        grid = list(dict.fromkeys(grid))
    if target != "host":
        # llvm-mca ranks one loop body per candidate; a pair's shared and own kernel loops cost
        # differently per FMA, so pairs are chosen by measurement on the host only.
        grid = [schedule for schedule in grid if not schedule.filter_pairs]
    key = layer_key(layer, target)
    with tempfile.TemporaryDirectory(prefix="patsparse-tune-") as scratch:
        work = Path(scratch)
        if target == "host":
            seconds = measure(layer, build_candidates(layer, grid, work), len(grid), runs)
            best = int(np.argmin(seconds))
            return TuningResult(key, grid[best], seconds[best], seconds[0])
        assembly = build_candidates(layer, grid, work, target).read_text()
    cycles = mca_cycles(assembly, len(grid))
    # Cycles per FMA of the kernel loop, times the FMAs the schedule runs: an estimate of time.
    estimates, iteration_fmas = [], []
    for schedule, cycle in zip(grid, cycles):
        if channel_tiles_apply(layer, schedule):  # one kernel per iteration, over every tile
            fmas_per_iteration, fmas = kernel_loop_fmas(layer, schedule.vector_width)
        else:
            fmas_per_iteration = 4 * schedule.rows * schedule.blocking(layer.output_hw[1])[0]
            fmas = code_stats(layer, schedule).vector_fmas
        iteration_fmas.append(fmas_per_iteration)
        estimates.append(None if cycle is None else cycle / fmas_per_iteration * fmas)
    valid = [i for i, e in enumerate(estimates) if e is not None]
    if not valid:
        raise TuningError(f"{layer.name}: llvm-mca found no kernel loop to rank")
    best = min(valid, key=lambda i: estimates[i])
    per_fma = cycles[best] / iteration_fmas[best]
    return TuningResult(key, grid[best], estimates[best], estimates[0] or estimates[best], per_fma)


