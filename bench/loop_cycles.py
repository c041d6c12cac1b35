"""llvm-mca cycles per vector FMA of each generator's hot loop, on the host CPU and on a
Cortex-A76 (the phone), from the assembly the compiler emits (a static estimate, not a timing).

    .venv/bin/python bench/loop_cycles.py
    .venv/bin/python bench/loop_cycles.py --host-cpu skylake-avx512 --phone-cpu cortex-a55

One representative layer per code path: the packed GEMM on a 1x1 and a 3x3 dense layer
(lowering/conv_gemm.py), a pattern 3x3 layer at 8 patterns + 8x through the tap generator (with
-O's load elimination, 4 rows x 4 vectors; lowering/conv_codegen.py) and through the channel
tiles (the default for stride 1; lowering/conv_channel_tiles.py), and a depthwise pattern layer
(lowering/conv_single_kernel.py). For each target: the layer's functions compiled by llc as the
compiler does (host: AVX-512 with -mcpu of this machine; AArch64: NEON), the basic block with
the most vector FMAs taken as the hot loop, llvm-mca's cycles per iteration of it divided by its
FMAs, beside the floor llvm-mca's model of that CPU gives a loop of 24 independent FMAs and
nothing else (its FMA throughput: 1 cycle for `emeraldrapids` zmm and `cortex-a76`, 0.5 for
`skylake-avx512` and `neoverse-n1`); efficiency = floor / cycles per FMA, so 100% means the loop's
loads, broadcasts and address arithmetic cost nothing beyond the FMA pipes in that model.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_line
from conv_ceiling import random_layer

FMA = {"host": re.compile(r"^\s*vfmadd\w*ps\s"), "aarch64-linux-gnu": re.compile(r"^\s*fmla\s")}


def layers():
    from patsparse.dialect.conv_layer import ConvLayer
    from patsparse.dialect.fkw import from_dense_weight
    from patsparse.pruning.patterns import default_library

    rng = np.random.default_rng(0)
    yield "GEMM 1x1 256->64 @56", ConvLayer.dense("conv", rng.standard_normal((64, 256, 1, 1)).astype(np.float32),
                                                  (1, 256, 56, 56), (1, 64, 56, 56), (1, 1), (0, 0, 0, 0), True), {}
    yield "GEMM 3x3 64->64 @56", ConvLayer.dense("conv", rng.standard_normal((64, 64, 3, 3)).astype(np.float32),
                                                 (1, 64, 56, 56), (1, 64, 56, 56), (1, 1), (1, 1, 1, 1), True), {}
    pattern = random_layer(256, 256, 56, 1, 2.25 / 8)
    yield "pattern 3x3 256->256 @56, 8 patterns + 8x, tap gen.", pattern, \
        {"rows": 4, "max_accumulators": 4, "eliminate_loads": True, "channel_tiles": False}
    yield "pattern 3x3 256->256 @56, 8 patterns + 8x, tiles", pattern, {}
    library = default_library(8)
    weight = rng.standard_normal((144, 1, 3, 3)).astype(np.float32)
    weight *= library[rng.integers(0, 8, (144, 1))].reshape(144, 1, 3, 3)
    yield "depthwise pattern 3x3 144 @56", ConvLayer.from_fkw(
        "conv", from_dense_weight(weight, library, groups=144), (1, 144, 56, 56), (1, 144, 56, 56), (1, 1),
        (1, 1, 1, 1), True, groups=144), {}


def assembly(layer, schedule, work: Path, target: str, cpu: str) -> str:
    from mlir import ir, passmanager

    from patsparse.dialect import make_context
    from patsparse.lowering import targets, tuning
    from patsparse.lowering.to_llvm import TO_LLVM_WITH_RUNTIME

    with make_context(), ir.Location.unknown():
        module = tuning._candidate_module([(layer, schedule)])
        manager = passmanager.PassManager("builtin.module")
        manager.add(TO_LLVM_WITH_RUNTIME)
        manager.run(module.operation)
        targets.write_bytecode(module, work / "layer.mlirbc")
    targets.translate_to_llvm_ir(work / "layer.mlirbc", work / "layer.ll")
    targets.llc(work / "layer.ll", work / "layer.s", target, cpu, "asm")
    return (work / "layer.s").read_text()


def hot_loop(text: str, target: str) -> tuple[str, int]:
    """(instructions, vector FMAs) of the basic block with the most vector FMAs."""
    best, best_count = "", 0
    for block in re.split(r"^\.?LBB\w+:.*$|^\w+:.*$", text, flags=re.MULTILINE):
        comment = "#" if target == "host" else "//"   # AT&T x86 vs AArch64 (where # starts an immediate)
        lines = [line.split(comment)[0].rstrip() for line in block.splitlines()]
        lines = [line for line in lines if line.strip() and not line.strip().startswith(".")]
        count = sum(1 for line in lines if FMA[target].match(line))
        if count > best_count:
            best, best_count = "\n".join(lines) + "\n", count
    return best, best_count


def mca_cycles(loop: str, target: str, cpu: str) -> float:
    from patsparse.lowering import toolchain

    command = [str(toolchain.find("llvm-mca")), f"-mcpu={cpu}", "-iterations=100"]
    if target != "host":
        command.insert(1, "-mtriple=aarch64-linux-gnu")
    run = subprocess.run(command, check=False, input=loop, capture_output=True, text=True)
    match = re.search(r"Total Cycles:\s+(\d+)", run.stdout)
    if not match:
        raise SystemExit(f"llvm-mca failed: {run.stderr.strip()[:300]}")
    return int(match.group(1)) / 100


def fma_floor(target: str, cpu: str) -> float:
    """llvm-mca's cycles per FMA for 24 independent register FMAs on `cpu` (its model's peak)."""
    if target == "host":
        loop = "".join(f"vfmadd231ps %zmm30, %zmm31, %zmm{i}\n" for i in range(24))
    else:
        loop = "".join(f"fmla v{i}.4s, v30.4s, v31.4s\n" for i in range(24))
    return mca_cycles(loop, target, cpu) / 24


def host_cpu() -> str:
    from patsparse.lowering import toolchain

    version = subprocess.run([str(toolchain.find("llc")), "--version"], check=False, capture_output=True, text=True).stdout
    match = re.search(r"Host CPU:\s*(\S+)", version)
    return match.group(1) if match else "native"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host-cpu", default=None, help="llc/llvm-mca -mcpu for the host (default: this machine's)")
    parser.add_argument("--phone-cpu", default="cortex-a76", help="llc/llvm-mca -mcpu for AArch64 (default: cortex-a76)")
    arguments = parser.parse_args()

    from patsparse.dialect.schedule import Schedule
    from patsparse.pipeline import host_vector_width

    cpu = arguments.host_cpu or host_cpu()
    print(f"{machine_line()}; llvm-mca -mcpu={cpu} (host, {host_vector_width()} lanes) and "
          f"-mcpu={arguments.phone_cpu} (AArch64 NEON, 4 lanes)")
    floors = (fma_floor("host", cpu), fma_floor("aarch64-linux-gnu", arguments.phone_cpu))
    print(f"model floors: {floors[0]:.2f} cycles per FMA ({cpu}), {floors[1]:.2f} ({arguments.phone_cpu})")
    print(f"{'loop':<46} {'host FMAs':>9} {'cyc/FMA':>8} {'eff':>5} {'A64 FMAs':>9} {'cyc/FMA':>8} {'eff':>5}")
    for label, layer, fields in layers():
        row = []
        for target, width, target_cpu in (("host", host_vector_width(), cpu), ("aarch64-linux-gnu", 4,
                                                                             arguments.phone_cpu)):
            with tempfile.TemporaryDirectory() as scratch:
                text = assembly(layer, Schedule(vector_width=width, **fields), Path(scratch), target, target_cpu)
            loop, fmas = hot_loop(text, target)
            row += [fmas, mca_cycles(loop, target, target_cpu) / fmas if fmas else float("nan")]
        print(f"{label:<46} {row[0]:>9} {row[1]:>8.3f} {100 * floors[0] / row[1]:4.0f}% {row[2]:>9} {row[3]:>8.3f} "
              f"{100 * floors[1] / row[3]:4.0f}%", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
