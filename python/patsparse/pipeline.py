"""The one pipeline: every tool and the Python API get their passes here.

From `CompileOptions`, `lower_stages` returns the ordered stages that take an imported
linalg-on-tensors model to vector code on tensors, and `to_llvm_stage` the rest:

    patsparse-detect-patterns                     (not for --dense)
    patsparse-reorder-filters                     (reorder_filters, -O)
    patsparse-apply-tuning{db target}             (tuning_db)
    patsparse-eliminate-redundant-loads{...}      (eliminate_loads, -O)
    patsparse-insert-profile-marks                (profile, --profile)
    convert-patsparse-to-vector{...}              every constant-weight convolution
    convert-linear-to-vector{...}                 fully connected layers
    patsparse-schedule-dense{vector-width}        tile + vectorize the other linalg ops
    patsparse-approximate-math                    f32 exp/log/tanh/erf/... as arith polynomials (approximate_math)
    ---- patsparse-compile --emit mlir stops here ----
    <to LLVM>                                     bufferize, out-params, deallocation, LLVM dialect

Both halves are registered as named pipelines, so `patsparse-opt` replays what the compiler
does (after MLIR's sparsifier, registered as one pipeline that mlir-opt and the API both run):

    patsparse-opt model.mlir --pass-pipeline='builtin.module(patsparse-lower{O target=host})'
      == patsparse-compile model.mlir -O --emit mlir
    patsparse-opt model.mlir --pass-pipeline='builtin.module(patsparse-lower{O}, patsparse-to-llvm)'

`run_stages` runs stages one at a time; a stage that fails raises `StageFailed`, whose message
names the stage and the `patsparse-opt` line that reproduces the failure.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from mlir import ir, passmanager

from patsparse.dialect.pass_base import PassOptionError, PatsparsePass, convert_option, format_option
from patsparse.dialect.schedule import VECTOR_WIDTHS
from patsparse.lowering.approximate_math import ApproximateMathPass
from patsparse.lowering.convert_linear_to_vector import ConvertLinearToVectorPass
from patsparse.lowering.convert_patsparse_to_vector import ConvertPatsparseToVectorPass
from patsparse.lowering.convert_pooling_to_vector import ConvertPoolingToVectorPass
from patsparse.lowering.schedule_dense import ScheduleDensePass
from patsparse.lowering.to_llvm import TO_LLVM_WITH_RUNTIME
from patsparse.passes.apply_tuning import ApplyTuningPass
from patsparse.passes.detect_patterns import DetectPatternsPass
from patsparse.passes.eliminate_redundant_loads import EliminateRedundantLoadsPass
from patsparse.passes.expand_to_linalg import ExpandToLinalgPass
from patsparse.passes.insert_profile_marks import InsertProfileMarksPass
from patsparse.passes.reorder_filters import ReorderFiltersPass
from patsparse.passes.report import ReportPass
from patsparse.passes.verify import VerifyPass

TARGETS = ("host", "aarch64-linux-gnu")

# Every patsparse pass, by flag (optimisation passes on tensors, then the conversions).
PASSES: dict[str, type[PatsparsePass]] = {cls.flag: cls for cls in (
    VerifyPass, DetectPatternsPass, ReorderFiltersPass, ApplyTuningPass, EliminateRedundantLoadsPass,
    ExpandToLinalgPass, ReportPass, InsertProfileMarksPass, ConvertPatsparseToVectorPass, ConvertLinearToVectorPass,
    ConvertPoolingToVectorPass, ScheduleDensePass,
    ApproximateMathPass)}


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
    channel_tiles: bool = True     # pattern layers input-stationary (lowering/conv_channel_tiles.py)
    compact_indices: bool = False  # narrowest integer type for FKW index arrays
    tuning_db: str | None = None   # patsparse-apply-tuning: measured per-layer schedules (patsparse-tune)
    threads: int = 1               # default thread count of the compiled model (changeable at run time)
    profile: bool = False          # time every layer at run time (patsparse-insert-profile-marks)
    approximate_math: bool = True  # patsparse-approximate-math (False: upstream's libm calls, for comparison)

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

    # -- as options of the named pipeline `patsparse-lower{...}` -------------------------------

    # option name -> (field, kind); `O` is -O, `dense` is --dense.
    PIPELINE_OPTIONS = {
        "target": ("target", str), "O": (None, bool), "dense": (None, bool), "vector-width": ("vector_width", int),
        "accumulators": ("accumulators", int), "rows": ("rows", int), "rows-outer": ("rows_outer", bool),
        "reorder-filters": ("reorder_filters", bool), "eliminate-loads": ("eliminate_loads", bool),
        "filter-pairs": ("filter_pairs", bool), "channel-tiles": ("channel_tiles", bool), "compact-indices": ("compact_indices", bool),
        "tuning-db": ("tuning_db", str), "threads": ("threads", int), "cpu": ("cpu", str),
        "profile": ("profile", bool), "approximate-math": ("approximate_math", bool),
    }

    @classmethod
    def from_pipeline_options(cls, text: str) -> "CompileOptions":
        """`target=host O tuning-db=db.json` (the options of `patsparse-lower{...}`)."""
        values, optimised = {}, False
        for item in shlex.split(text.replace(",", " ")):
            name, sep, raw = item.partition("=")
            if name not in cls.PIPELINE_OPTIONS:
                raise PassOptionError(f"pipeline 'patsparse-lower' has no option '{name}' "
                                      f"(options: {', '.join(cls.PIPELINE_OPTIONS)})")
            field, kind = cls.PIPELINE_OPTIONS[name]
            value = convert_option("patsparse-lower", name, raw if sep else "true", kind, what="pipeline")
            if name == "O":
                optimised = value
            elif name == "dense":
                values["detect_patterns"] = not value
            else:
                values[field] = value
        options = cls.optimised(**values) if optimised else cls(**values)
        problems = options.problems()
        if problems:
            raise PassOptionError(f"pipeline 'patsparse-lower': {problems[0]}")
        return options

    def pipeline_options(self) -> str:
        """The inverse of `from_pipeline_options`: the options that differ from the defaults."""
        default = CompileOptions()
        parts = []
        for name, (field, _) in self.PIPELINE_OPTIONS.items():
            if field is None:
                continue
            value = getattr(self, field)
            if value != getattr(default, field):
                parts.append(f"{name}={format_option(value)}")
        if not self.detect_patterns:
            parts.append("dense=true")
        return " ".join(parts)


# --- stages --------------------------------------------------------------------------------------

@dataclass
class Stage:
    """One pipeline element: a configured patsparse pass, or upstream pipeline text (with the
    name of the named pipeline it is, so messages and replay lines stay short)."""

    element: PatsparsePass | str
    label: str | None = None

    @property
    def name(self) -> str:
        if self.label:
            return self.label
        return self.element.flag if isinstance(self.element, PatsparsePass) else self.element.split("{")[0]

    def text(self) -> str:
        if self.label:
            return self.label
        if isinstance(self.element, PatsparsePass):
            return self.element.flag + self.element.option_text()
        return self.element

    def add_to(self, manager: passmanager.PassManager) -> None:
        if isinstance(self.element, PatsparsePass):
            self.element.add_to(manager)
        else:
            manager.add(self.element)


def lower_stages(options: CompileOptions) -> list[Stage]:
    """Imported model -> vector code on tensors (what `patsparse-compile --emit mlir` writes)."""
    width = options.resolved_vector_width()
    stages = []
    if options.detect_patterns:
        stages.append(DetectPatternsPass())
    if options.reorder_filters:
        stages.append(ReorderFiltersPass())
    if options.tuning_db:
        stages.append(ApplyTuningPass(db=options.tuning_db, target=options.target))
    if options.eliminate_loads:
        stages.append(EliminateRedundantLoadsPass(rows=options.rows or 0, vector_width=width,
                                                  accumulators=options.accumulators, filter_pairs=options.filter_pairs))
    if options.profile:
        stages.append(InsertProfileMarksPass())
    stages.append(ConvertPatsparseToVectorPass(vector_width=width, accumulators=options.accumulators,
                                               rows=options.rows or 1, compact_indices=options.compact_indices,
                                               parallel=True, rows_outer=options.rows_outer,
                                               filter_pairs=options.filter_pairs, channel_tiles=options.channel_tiles,
                                               dense_convolutions=True))
    stages.append(ConvertLinearToVectorPass(vector_width=width, parallel=True))
    stages.append(ConvertPoolingToVectorPass(vector_width=width, parallel=True))
    stages.append(ScheduleDensePass(vector_width=width))
    if options.approximate_math:
        stages.append(ApproximateMathPass())  # after vectorization: the math ops in their final form
    return [Stage(stage) for stage in stages]


def to_llvm_stage() -> Stage:
    """Bufferize, results as out-parameters, deallocation, to the LLVM dialect; buffers from the
    runtime's allocator (lowering/to_llvm.py)."""
    return Stage(TO_LLVM_WITH_RUNTIME, label="patsparse-to-llvm")


def compile_stages(options: CompileOptions) -> list[Stage]:
    return lower_stages(options) + [to_llvm_stage()]


def pipeline_text(stages: list[Stage]) -> str:
    return "builtin.module(" + ", ".join(stage.text() for stage in stages) + ")"


# Named pipelines `patsparse-opt` expands: name -> (options text -> stages).
def _to_llvm_pipeline(text: str) -> list[Stage]:
    if text.strip():
        raise PassOptionError("pipeline 'patsparse-to-llvm' takes no options")
    return [to_llvm_stage()]


NAMED_PIPELINES = {
    "patsparse-lower": lambda text: lower_stages(CompileOptions.from_pipeline_options(text)),
    "patsparse-to-llvm": _to_llvm_pipeline,
}


# --- running -------------------------------------------------------------------------------------

class StageFailed(Exception):
    """A stage failed. `replay(source)` is the patsparse-opt line that reproduces the failure:
    the stages that ran, the failing one last, on the input they started from."""

    def __init__(self, stage: Stage, error: ir.MLIRError, ran: list[Stage], source: str):
        self.stage, self.error, self.ran = stage, error, ran
        super().__init__(f"stage {stage.name} failed; reproduce it with: {self.replay(source)}")

    def replay(self, source: str) -> str:
        return f"patsparse-opt {shlex.quote(source)} --pass-pipeline={shlex.quote(pipeline_text(self.ran))}"


def run_stages(module: ir.Operation, stages: list[Stage], source: str, done: list[Stage] = ()) -> None:
    """Run `stages` on `module` (parsed from the file `source`), one at a time. `done` are the
    stages that already ran on it (they are part of the replay line of a failure)."""
    ran = list(done)
    for stage in stages:
        manager = passmanager.PassManager("builtin.module", context=module.context)
        stage.add_to(manager)
        ran.append(stage)
        try:
            manager.run(module.operation)
        except ir.MLIRError as error:
            raise StageFailed(stage, error, ran, source) from None


__all__ = ["TARGETS", "PASSES", "CompileOptions", "Stage", "StageFailed", "lower_stages", "to_llvm_stage",
           "compile_stages", "pipeline_text", "run_stages", "host_vector_width"]
