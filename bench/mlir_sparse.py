"""The MLIR sparse baseline: each pattern 3x3 layer of VGG-16 (224x224) through upstream MLIR's
`sparse_tensor` dialect, beside PatSparse's code for the same layer.

    .venv/bin/python bench/mlir_sparse.py                       # every 3x3 layer of vgg16 p8+8x
    .venv/bin/python bench/mlir_sparse.py --layers 0,4 --variant p8 --runs 5

Per layer, the same pruned weights (bench/peers.py's, from bench/.cache) are given to MLIR's
sparsifier (`mlir-opt --sparsifier`, vectorised with vl = the host's f32 lanes) in several
formulations, and the best kept:

- im2col matmul, out[F, H*W] = W[F, C*9] x cols[C*9, H*W], the weight sparse-encoded as CSR,
  COO (compressed(nonunique) + singleton), BSR with 1x9 blocks (one block per kept kernel, its
  9 taps dense) or BSR with 4x9 blocks (4 filters' kernels of one channel); the im2col itself is done beforehand in numpy and not timed, which favours MLIR;
- the direct convolution (a linalg.generic over f, c, kh, kw, oh, ow on the zero-padded input),
  the weight encoded (f dense, c compressed, kh, kw dense).

Each one's output is checked against PyTorch's convolution before it is timed (fastest of --runs).
PatSparse's time for the layer: its tuned schedule (from bench/peers.py's tuning database for these
weights in bench/.cache, else tuned here with lowering/tuning.py's `tune_layer`) and the untuned
default, measured in the same run by the tuner's harness (`measure`, fastest of --runs). The table goes between markers in --out.
"""

from __future__ import annotations

import argparse
import ctypes
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, machine_line, measured_peak_gflops, timed_seconds
from peer_zoo import Case, checkpoint

BEGIN, END = "<!-- bench/mlir_sparse.py: begin -->", "<!-- bench/mlir_sparse.py: end -->"
CACHE = REPO / "bench" / ".cache"


def log(message: str) -> None:
    print(f"[mlir_sparse {time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- the sparse formulations ------------------------------------------------------------------

def encoding(levels: str) -> str:
    return f"#sparse_tensor.encoding<{{ map = {levels}, posWidth = 32, crdWidth = 32 }}>"


def csr(weight2d):
    """(levels, [positions, coordinates], values) of a 2-D weight in CSR."""
    rows, cols = np.nonzero(weight2d)
    positions = np.searchsorted(rows, np.arange(weight2d.shape[0] + 1)).astype(np.int32)
    return [positions, cols.astype(np.int32)], weight2d[rows, cols].astype(np.float32)


def im2col(x, kernel: int = 3, pad: int = 1):
    channels, height, width = x.shape
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    cols = np.empty((channels, kernel, kernel, height, width), np.float32)
    for i in range(kernel):
        for j in range(kernel):
            cols[:, i, j] = padded[:, i:i + height, j:j + width]
    return cols.reshape(channels * kernel * kernel, height * width)


class Formulation:
    """One way to give the layer to the sparsifier: MLIR text, the buffers it takes, and its output."""

    def __init__(self, name: str, weight, x):
        self.name = name
        filters, channels = weight.shape[:2]
        height, width = x.shape[1:]
        f, k, p = filters, channels * 9, height * width
        w2 = weight.reshape(f, k)
        if name == "direct (kernel CSR)":
            kernels = np.abs(weight).sum(axis=(2, 3)) != 0
            rows, chans = np.nonzero(kernels)
            positions = np.searchsorted(rows, np.arange(f + 1)).astype(np.int32)
            self.levels, self.values = [positions, chans.astype(np.int32)], weight[rows, chans].reshape(-1)
            self.dense = np.pad(x, ((0, 0), (1, 1), (1, 1)))
            enc = encoding("(f, c, kh, kw) -> (f : dense, c : compressed, kh : dense, kw : dense)")
            wtype = f"tensor<{f}x{channels}x3x3xf32, #W>"
            xtype = f"tensor<{channels}x{height + 2}x{width + 2}xf32>"
            otype = f"tensor<{f}x{height}x{width}xf32>"
            body = f"""
  %r = linalg.generic {{indexing_maps = [affine_map<(f, oh, ow, c, kh, kw) -> (c, oh + kh, ow + kw)>,
                                        affine_map<(f, oh, ow, c, kh, kw) -> (f, c, kh, kw)>,
                                        affine_map<(f, oh, ow, c, kh, kw) -> (f, oh, ow)>],
                       iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]}}
      ins(%x, %w : {xtype}, {wtype}) outs(%out : {otype}) {{
    ^bb0(%a: f32, %b: f32, %o: f32):
      %m = arith.mulf %a, %b : f32
      %s = arith.addf %o, %m : f32
      linalg.yield %s : f32
  }} -> {otype}"""
            self.out_shape = (f, height, width)
        else:
            self.dense = im2col(x)
            if name == "im2col CSR":
                enc = encoding("(i, j) -> (i : dense, j : compressed)")
                self.levels, self.values = csr(w2)
            elif name == "im2col COO":
                enc = encoding("(i, j) -> (i : compressed(nonunique), j : singleton)")
                rows, cols = np.nonzero(w2)
                self.levels = [np.array([0, rows.size], np.int32), np.stack([rows, cols], 1).astype(np.int32)]
                self.values = w2[rows, cols]
            elif name == "im2col BSR 1x9":
                enc = encoding("(i, j) -> (i : dense, j floordiv 9 : compressed, j mod 9 : dense)")
                blocks = np.abs(w2.reshape(f, channels, 9)).sum(axis=2) != 0
                rows, chans = np.nonzero(blocks)
                positions = np.searchsorted(rows, np.arange(f + 1)).astype(np.int32)
                self.levels = [positions, chans.astype(np.int32)]
                self.values = w2.reshape(f, channels, 9)[rows, chans].reshape(-1)
            elif name == "im2col BSR 4x9":  # 4 filters x one kernel per block: fewer, denser blocks
                enc = encoding("(i, j) -> (i floordiv 4 : dense, j floordiv 9 : compressed, i mod 4 : dense, "
                               "j mod 9 : dense)")
                tiles = w2.reshape(f // 4, 4, channels, 9).transpose(0, 2, 1, 3)   # F/4 x C x 4 x 9
                blocks = np.abs(tiles).sum(axis=(2, 3)) != 0
                rows, chans = np.nonzero(blocks)
                positions = np.searchsorted(rows, np.arange(f // 4 + 1)).astype(np.int32)
                self.levels = [positions, chans.astype(np.int32)]
                self.values = tiles[rows, chans].reshape(-1)
            else:
                raise ValueError(name)
            wtype, xtype, otype = f"tensor<{f}x{k}xf32, #W>", f"tensor<{k}x{p}xf32>", f"tensor<{f}x{p}xf32>"
            body = f"""
  %r = linalg.matmul ins(%w, %x : {wtype}, {xtype}) outs(%out : {otype}) -> {otype}"""
            self.out_shape = (f, p)
        self.values = np.ascontiguousarray(self.values, np.float32)
        level_types = [f"tensor<{'x'.join(['?'] + [str(d) for d in a.shape[1:]])}xi32>" for a in self.levels]
        args = ", ".join(f"%l{i}: {t}" for i, t in enumerate(level_types))
        self.text = f"""#W = {enc}
func.func @kernel({args}, %v: tensor<?xf32>, %x: {xtype}, %out: {otype}) -> {otype} attributes {{llvm.emit_c_interface}} {{
  %w = sparse_tensor.assemble ({", ".join(f"%l{i}" for i in range(len(self.levels)))}), %v
      : ({", ".join(level_types)}), tensor<?xf32> to {wtype}{body}
  return %r : {otype}
}}
"""

    def build(self, work: Path, lanes: int):
        """Lower with the sparsifier and JIT it; returns a function of an output buffer."""
        from mlir import execution_engine, ir
        from mlir.runtime import get_ranked_memref_descriptor, make_nd_memref_descriptor

        from patsparse.lowering import toolchain

        source = work / "kernel.mlir"
        source.write_text(self.text)
        lowered = work / "kernel.llvm.mlir"
        options = (f"enable-runtime-library=false vl={lanes} reassociate-fp-reductions=true "
                   "enable-index-optimizations=true")
        done = subprocess.run([str(toolchain.find("mlir-opt")), str(source), f"--sparsifier={options}", "-o",
                               str(lowered)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError("mlir-opt --sparsifier: " + (done.stderr.strip().splitlines() or ["failed"])[0][:200])
        self.context = ir.Context()
        with self.context:
            module = ir.Module.parse(lowered.read_text())
            self.engine = execution_engine.ExecutionEngine(module, opt_level=3,
                                                           shared_libs=[str(toolchain.mlir_runtime_library())])
        inputs = [*self.levels, self.values, self.dense]
        self.keep = inputs
        pointers = [ctypes.pointer(ctypes.pointer(get_ranked_memref_descriptor(a))) for a in inputs]
        result_type = make_nd_memref_descriptor(len(self.out_shape), ctypes.c_float)

        def run(out):
            result = ctypes.pointer(ctypes.pointer(result_type()))
            self.engine.invoke("kernel", result, *pointers, ctypes.pointer(ctypes.pointer(
                get_ranked_memref_descriptor(out))))
            return result
        return run


FORMULATIONS = ["im2col CSR", "im2col BSR 1x9", "im2col BSR 4x9", "im2col COO", "direct (kernel CSR)"]


def fastest_seconds(function, runs: int) -> float:
    """The fastest of `runs` after one warm-up: the tuner's convention (on a shared machine the
    minimum is the steadiest estimate of what code costs), so both sides are timed alike."""
    return float(np.min(timed_seconds(function, runs, warmup=1)))


def mlir_layer(weight, x, reference, runs: int, lanes: int, names: list[str]) -> dict:
    """{formulation: seconds or the reason it has none}."""
    from mlir.runtime import ranked_memref_to_numpy

    found = {}
    for name in names:
        with tempfile.TemporaryDirectory() as scratch:
            try:
                formulation = Formulation(name, weight, x)
                start = time.perf_counter()
                run = formulation.build(Path(scratch), lanes)
                built = time.perf_counter() - start
                out = np.zeros(formulation.out_shape, np.float32)
                result = ranked_memref_to_numpy(run(out)[0]).reshape(reference.shape)
                error = float(np.abs(result - reference).max())
                if error > 1e-4 * max(1.0, float(np.abs(reference).max())):
                    found[name] = f"wrong (max abs error {error:.1e})"
                    continue
                found[name] = fastest_seconds(lambda run=run, out=out: run(out), runs)
                log(f"    {name}: {1e3 * found[name]:.2f} ms (built in {built:.0f} s, error {error:.1e})")
            except Exception as error:  # noqa: BLE001 - a formulation the sparsifier refuses is a row
                found[name] = str(error).splitlines()[0][:160]
                log(f"    {name}: {found[name]}")
    return found


def patsparse_layer(weight, input_shape, runs: int, database: Path | None):
    """(tuned seconds, default seconds, where the schedule came from) of PatSparse's code for the layer:
    the schedule bench/peers.py's tuning found for it (its database), else one tuned here (slow at
    224x224), both measured now by the tuner's own harness (fastest of `runs`)."""
    from patsparse.dialect.conv_layer import ConvLayer
    from patsparse.dialect.fkw import from_dense_weight
    from patsparse.dialect.schedule import Schedule, TuningDatabase
    from patsparse.lowering.tuning import build_candidates, measure, tune_layer
    from patsparse.pipeline import CompileOptions

    options = CompileOptions.optimised()
    out = (1, weight.shape[0], *input_shape[2:])
    # the library inferred from the weights, as patsparse-detect-patterns does: the database keys match
    layer = ConvLayer.from_fkw("conv", from_dense_weight(weight), tuple(input_shape), out, (1, 1),
                               (1, 1, 1, 1), False)
    base = Schedule(vector_width=options.resolved_vector_width(), max_accumulators=options.accumulators, rows=1,
                    eliminate_loads=True, compact_indices=True)
    tuned = TuningDatabase(database).schedule(layer, "host", base) if database else None
    source = f"tuning database {database.parent.name}" if tuned else "tuned here"
    if tuned is None:
        tuned = tune_layer(layer, base, "host", runs=runs).schedule
    with tempfile.TemporaryDirectory() as scratch:
        seconds = measure(layer, build_candidates(layer, [base, tuned], Path(scratch)), 2, runs)
    return seconds[1], seconds[0], source


def layers_of(case: Case, cache: Path):
    """(name, dense OIHW weight, input shape) of each pattern 3x3 convolution."""
    import torch
    from torch import nn

    from patsparse.pruning.checkpoint import load_pruned, read_checkpoint
    from patsparse.pruning.models import input_shape

    path = checkpoint(case, cache)
    model, _ = load_pruned(path)
    stored = read_checkpoint(path)["layers"]
    shapes = {}

    def record(name):
        def hook(module, inputs, output):  # returns None: the output stays
            shapes[name] = tuple(inputs[0].shape)
        return hook

    hooks = [m.register_forward_hook(record(n)) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        model.eval()(torch.zeros(input_shape(case.model)))
    for hook in hooks:
        hook.remove()
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d) and name in stored:
            yield name, module.weight.detach().numpy().copy(), shapes[name]


def table(rows: list[dict], peak: float, argv: list[str], case: Case) -> str:
    from patsparse.pruning.models import input_shape

    lines = [BEGIN, "", "Generated by `.venv/bin/python bench/mlir_sparse.py " + " ".join(argv) + "`.", "",
             (f"Machine: {machine_line()}; measured single-thread f32 FMA peak **{peak:.0f} GFLOP/s** (bench/peak.c, "
             f"same run). {case.model} ({'x'.join(map(str, input_shape(case.model)[1:]))}), {case.variant} weights, one "
             "thread, batch 1. MLIR: `mlir-opt --sparsifier` "
             "(vectorised), fastest of the runs, the best of the formulations below (im2col not timed); PatSparse: "
             "its tuned schedule (and the untuned default), timed the same way. Ratios: MLIR's best / PatSparse tuned."),
             "", "| layer | input | filters | kept kernels | " + " | ".join(f"{n} ms" for n in FORMULATIONS)
             + " | best MLIR ms | PatSparse default ms | PatSparse tuned ms | best MLIR / PatSparse |",
             "|---" * (len(FORMULATIONS) + 8) + "|"]
    for row in rows:
        cells = [f"{1e3 * v:.2f}" if isinstance(v, float) else "n/a" for v in (row["mlir"].get(n) for n in FORMULATIONS)]
        timed = [v for v in row["mlir"].values() if isinstance(v, float)]
        best = min(timed) if timed else None
        lines.append(f"| {row['name']} | {row['input']} | {row['filters']} | {row['kept']:.0%} | " + " | ".join(cells)
                     + (f" | {1e3 * best:.2f}" if best else " | —") + f" | {1e3 * row['default']:.2f} | "
                     f"{1e3 * row['tuned']:.2f} | " + (f"{best / row['tuned']:.1f}x" if best else "—") + " |")
    failures = {(n, v) for row in rows for n, v in row["mlir"].items() if not isinstance(v, float)}
    if failures:
        lines += ["", "Formulations without a time: " + "; ".join(f"{n}: {v}" for n, v in sorted(failures)) + "."]
    return "\n".join([*lines, "", END])


def write(out: Path, section: str) -> None:
    text = out.read_text() if out.exists() else "# Benchmarks\n\n"
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + section + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n## MLIR's sparse_tensor sparsifier on the same layers (bench/mlir_sparse.py)\n\n" \
            + section + "\n"
    temporary = out.with_name(f".{out.name}.tmp")
    temporary.write_text(text)
    temporary.replace(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="bench/mlir_sparse.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="vgg16", help="zoo model (default: vgg16, 3x224x224)")
    parser.add_argument("--variant", default="p8+8x", choices=["p8", "p8+8x"], help="weights (default: p8+8x)")
    parser.add_argument("--layers", default=None, help="comma-separated indices of the 3x3 layers (default: all)")
    parser.add_argument("--formulations", default=",".join(FORMULATIONS),
                        help=f"comma-separated (default: {','.join(FORMULATIONS)})")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per layer and formulation (default: 5)")
    parser.add_argument("--out", default=str(REPO / "docs" / "benchmarks.md"))
    parser.add_argument("--cache", default=str(CACHE))
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.formulations.split(",") if n.strip()]
    if any(n not in FORMULATIONS for n in names):
        parser.error(f"unknown formulation: expected some of {', '.join(FORMULATIONS)}")
    import torch

    from patsparse.pipeline import host_vector_width

    torch.set_num_threads(1)
    lanes = host_vector_width()
    peak = measured_peak_gflops(lanes)
    log(f"{machine_line()}; peak {peak:.0f} GFLOP/s")
    chosen = None if args.layers is None else {int(i) for i in args.layers.split(",")}
    case = Case(args.model, args.variant)
    databases = sorted((Path(args.cache) / case.key).glob("patsparse-tuned-*/tuning.json"),
                       key=lambda p: p.stat().st_mtime)
    database = databases[-1] if databases else None
    log(f"PatSparse schedules: {database or 'none cached (bench/peers.py makes them): tuning each layer here'}")
    rows = []
    rng = np.random.default_rng(0)
    for index, (name, weight, shape) in enumerate(layers_of(case, Path(args.cache))):
        if chosen is not None and index not in chosen:
            continue
        x = rng.standard_normal(shape[1:]).astype(np.float32)
        with torch.no_grad():
            reference = torch.nn.functional.conv2d(torch.from_numpy(x[None]), torch.from_numpy(weight),
                                                   padding=1).numpy()[0]
        kept = float((np.abs(weight).sum(axis=(2, 3)) != 0).mean())
        log(f"layer {index} {name}: {shape[1]}x{shape[2]}x{shape[3]} -> {weight.shape[0]}, {kept:.0%} kernels kept")
        mlir = mlir_layer(weight, x, reference, args.runs, lanes, names)
        tuned, default, source = patsparse_layer(weight, shape, args.runs, database)
        log(f"    patsparse: tuned {1e3 * tuned:.2f} ms ({source}), default {1e3 * default:.2f} ms")
        rows.append({"name": f"{index} ({name})", "input": "x".join(map(str, shape[1:])), "filters": weight.shape[0],
                     "kept": kept, "mlir": mlir, "tuned": tuned, "default": default})
    write(Path(args.out), table(rows, peak, sys.argv[1:] if argv is None else list(argv), case))
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
