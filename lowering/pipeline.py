"""The compiler's pass pipeline: a linalg-on-tensors model to the LLVM dialect.

    patsparse-detect-patterns              (skipped for a dense build)
    patsparse-reorder-filters              (reorder_filters)
    patsparse-apply-tuning{db}             (tuning_db)
    patsparse-eliminate-redundant-loads    (eliminate_loads)
    convert-patsparse-to-vector{dense-convolutions}   every constant-weight convolution
    convert-linear-to-vector               fully connected layers (nn.Linear)
    schedule_dense_ops                     tile + vectorize the other linalg ops (lowering/dense.py)
    RUNTIME_PIPELINE                       bufferize, out-params, deallocation, to LLVM
                                           (buffers from the runtime's allocator)

The entry function becomes `void forward(float *input, float *output)` (bare pointers,
the result written through an out-parameter), the C ABI the runtime and runner use.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlir import ir, passmanager

from patsparse.lowering.conv_codegen import VECTOR_WIDTHS
from patsparse.lowering.convert_linear_to_vector import ConvertLinearToVectorPass
from patsparse.lowering.convert_patsparse_to_vector import ConvertPatsparseToVectorPass
from patsparse.lowering.dense import RUNTIME_PIPELINE, schedule_dense_ops
from patsparse.passes.apply_tuning import ApplyTuningPass
from patsparse.passes.detect_patterns import DetectPatternsPass
from patsparse.passes.eliminate_redundant_loads import EliminateRedundantLoadsPass
from patsparse.passes.reorder_filters import ReorderFiltersPass

TARGETS = ("host", "aarch64-linux-gnu")



def host_vector_width() -> int:
    """f32 lanes of the widest vector unit this machine has (AVX-512: 16, AVX2: 8)."""
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return 8
    if " avx512f" in flags:
        return 16
    if " avx2" in flags or " avx " in flags:
        return 8
    return 4


@dataclass
class CompileOptions:
    target: str = "host"
    detect_patterns: bool = True   # False: the same compiler, every convolution dense
    vector_width: int | None = None
    accumulators: int = 8
    cpu: str | None = None         # llc -mcpu; default: native (host), cortex-a76 (aarch64)
    rows: int | None = None        # output rows per register block (default 1; automatic, about 4, with eliminate_loads)
    rows_outer: bool = False       # loop order: row blocks outside filters
    reorder_filters: bool = False  # patsparse-reorder-filters
    eliminate_loads: bool = False  # patsparse-eliminate-redundant-loads
    filter_pairs: bool = False     # filter-level load sharing (two filters per work item)
    compact_indices: bool = False  # narrowest integer type for FKW index arrays
    tuning_db: str | None = None   # patsparse-apply-tuning: measured per-layer schedules (patsparse-tune)
    threads: int = 1               # default thread count of the compiled model (changeable at run time)

    @classmethod
    def optimised(cls, **options) -> "CompileOptions":
        """`patsparse-compile -O`: filter reorder, load elimination and compact FKW indices on."""
        return cls(**{"reorder_filters": True, "eliminate_loads": True, "compact_indices": True, **options})

    def problems(self) -> list[str]:
        """What the CLI and the Python API refuse, in the command line's terms (one rule for both)."""
        found = []
        if self.target not in TARGETS:
            found.append(f"unknown target '{self.target}': expected one of {', '.join(TARGETS)}")
        for name in ("accumulators", "rows", "threads"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                found.append(f"--{name} {value}: expected at least 1")
        if self.vector_width is not None and self.vector_width not in VECTOR_WIDTHS:
            found.append(f"--vector-width {self.vector_width}: expected 4, 8 or 16")
        if self.tuning_db and not Path(self.tuning_db).is_file():
            found.append(f"{self.tuning_db}: no such tuning database (patsparse-tune writes one)")
        return found

    def resolved_vector_width(self) -> int:
        if self.vector_width:
            return self.vector_width
        return host_vector_width() if self.target == "host" else 4

    def resolved_cpu(self) -> str:
        return self.cpu or ("native" if self.target == "host" else "cortex-a76")


def optimise_and_lower_patsparse(module: ir.Module, options: CompileOptions) -> None:
    """Tensor-level steps: detect patterns, optimise, generate vector code for every convolution."""
    manager = passmanager.PassManager("builtin.module")
    if options.detect_patterns:
        DetectPatternsPass().add_to(manager)
    if options.reorder_filters:
        ReorderFiltersPass().add_to(manager)
    if options.tuning_db:
        ApplyTuningPass(db=options.tuning_db, target=options.target).add_to(manager)
    if options.eliminate_loads:
        EliminateRedundantLoadsPass(rows=options.rows or 0, vector_width=options.resolved_vector_width(),
                                    accumulators=options.accumulators,
                                    filter_pairs=options.filter_pairs).add_to(manager)
    ConvertPatsparseToVectorPass(vector_width=options.resolved_vector_width(),
                                 accumulators=options.accumulators, rows=options.rows or 1,
                                 compact_indices=options.compact_indices, parallel=True,
                                 rows_outer=options.rows_outer, filter_pairs=options.filter_pairs,
                                 dense_convolutions=True).add_to(manager)
    ConvertLinearToVectorPass(vector_width=options.resolved_vector_width(), parallel=True).add_to(manager)
    manager.run(module.operation)
    schedule_dense_ops(module, options.resolved_vector_width())


def lower_to_llvm_dialect(module: ir.Module) -> None:
    """Bufferize, deallocate and lower to LLVM: the dense schedule's pipeline (lowering/dense.py),
    with buffers from the runtime's allocator."""
    manager = passmanager.PassManager("builtin.module")
    manager.add(RUNTIME_PIPELINE)
    manager.run(module.operation)
