"""The contract between the passes and the code generator: the discardable attributes the
passes set, the `Schedule` a convolution is generated with (set per op as `patsparse.schedule`),
its cost model (loads and FMAs, computed without building IR) and the tuning database format.

The verifier checks every `patsparse.schedule` attribute against `Schedule.FIELDS`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from mlir import ir

from .conv_layer import ConvLayer, pair_filters
from .support import atomic_write

# Discardable attributes (on patsparse.pattern_conv2d and linalg convolutions).
SCHEDULE = "patsparse.schedule"            # a dictionary of Schedule fields: overrides the pass defaults
DENSE_REASON = "patsparse.dense_reason"    # why a convolution stays dense (patsparse-detect-patterns)
FILTER_GROUPS = "patsparse.filter_groups"  # filter positions with the same work (patsparse-reorder-filters)

# f32 lanes the generator emits code for: AVX-512, AVX2 and NEON registers.
VECTOR_WIDTHS = (4, 8, 16)


def vector_width_problem(width) -> str | None:
    """The message for a vector width the generator cannot use, else None (one rule for every tool)."""
    if width not in VECTOR_WIDTHS:
        return f"vector-width={width}: expected {', '.join(map(str, VECTOR_WIDTHS[:-1]))} or {VECTOR_WIDTHS[-1]}"
    return None


# Accumulators one register block may hold: 32 vector registers on AVX-512 and AArch64 NEON,
# a few left for the loaded inputs and broadcast weights.
MAX_BLOCK_ACCUMULATORS = 32 - 6


@dataclass(frozen=True)
class Schedule:
    """How the generated loops are shaped: set per layer by the optimisation passes and the tuner
    (the `patsparse.schedule` attribute of a pattern_conv2d overrides the pass defaults)."""

    vector_width: int = 16         # f32 lanes: 16 for AVX-512, 8 for AVX2, 4 for NEON
    max_accumulators: int = 8      # vectors along one output row kept in registers
    rows: int = 1                  # output rows computed together (register blocking in y)
    eliminate_loads: bool = False  # one load per distinct (input row, tap column, vector) of a kernel
    compact_indices: bool = False  # FKW index arrays in the narrowest unsigned integer type
    parallel: bool = False         # filter positions split over threads (lowering/runtime/patsparse_parallel.c)
    rows_outer: bool = False       # loop order: output tiles (row block x x-block) outside filters
    filter_pairs: bool = False     # two filters per work item; kernels they share load their inputs once
    channel_tiles: bool = True     # pattern layers input-stationary (lowering/conv_channel_tiles.py)

    FIELDS = ("vector_width", "max_accumulators", "rows", "eliminate_loads", "compact_indices", "parallel",
              "rows_outer", "filter_pairs", "channel_tiles")

    def __post_init__(self):
        problem = vector_width_problem(self.vector_width)
        if problem:
            raise ValueError(problem)

    @property
    def filters_per_item(self) -> int:
        return 2 if self.filter_pairs else 1

    def blocking(self, out_width: int) -> tuple[int, int]:
        """(accumulators R, number of x-blocks), with the least padding waste."""
        vectors = -(-out_width // self.vector_width)
        blocks = -(-vectors // self.max_accumulators)
        return -(-vectors // blocks), blocks

    def rows_that_fit(self, out_width: int, wanted: int) -> int:
        """At most `wanted` rows per block, fewer where filters x rows x R would spill registers."""
        return max(1, min(wanted, MAX_BLOCK_ACCUMULATORS // (self.filters_per_item * self.blocking(out_width)[0])))

    def fits_registers(self, output_hw: tuple[int, int]) -> bool:
        """Whether filters x rows x R accumulators stay within the register file."""
        rows = max(1, min(self.rows, output_hw[0]))
        return self.filters_per_item * rows * self.blocking(output_hw[1])[0] <= MAX_BLOCK_ACCUMULATORS

    def automatic_rows(self, output_hw: tuple[int, int], wanted: int = 4) -> int:
        """About `wanted` rows per block, within the registers, preferring a divisor of the output
        height up to twice `wanted`: the rows left over form a shorter block with less reuse
        (7x7 outputs: one block of 7 rather than 4 + 3)."""
        out_h, out_w = output_hw
        registers = MAX_BLOCK_ACCUMULATORS // (self.filters_per_item * self.blocking(out_w)[0])
        fit = self.rows_that_fit(out_w, wanted)
        limit = max(1, min(registers, 2 * wanted, out_h))
        divisor = max(d for d in range(1, limit + 1) if out_h % d == 0)
        return divisor if 2 * divisor >= fit else fit

    def with_attribute(self, attribute: ir.Attribute | None) -> "Schedule":
        """This schedule with the entries of a `patsparse.schedule` dictionary attribute applied."""
        if attribute is None:
            return self
        changes = {}
        for entry in ir.DictAttr(attribute):
            name, value = entry.name, entry.attr
            if name not in self.FIELDS:
                raise ValueError(f"patsparse.schedule: unknown entry '{name}' (expected {', '.join(self.FIELDS)})")
            if isinstance(value, ir.BoolAttr):
                changes[name] = bool(value.value)
            else:
                changes[name] = int(ir.IntegerAttr(value).value)
        return dataclasses.replace(self, **changes)

    def attribute(self, *names: str) -> ir.DictAttr:
        """The `patsparse.schedule` attribute holding `names` (default: every field)."""
        entries = {}
        for name in names or self.FIELDS:
            value = getattr(self, name)
            entries[name] = ir.BoolAttr.get(value) if isinstance(value, bool) else \
                ir.IntegerAttr.get(ir.IntegerType.get_signless(64), value)
        return ir.DictAttr.get(entries)


@dataclass
class CodeStats:
    """What one generated layer executes per output row block, summed over its kernels."""

    vector_loads: int = 0  # input vector loads in kernel bodies
    vector_fmas: int = 0

    @property
    def loads_per_fma(self) -> float:
        return self.vector_loads / self.vector_fmas if self.vector_fmas else 0.0


def load_key(t: int, tap: tuple[int, int], i: int, j: int, stride_h: int, eliminate_loads: bool) -> tuple:
    """Which load a (tap t, output row i, vector j) FMA reads: with load elimination, taps of
    different rows that read the same input row (dr + i*stride) and column share one load."""
    dr, dc = tap
    return (i * stride_h + dr, dc, j) if eliminate_loads else (t, i, j)


def code_stats(layer: "ConvLayer", schedule: Schedule) -> CodeStats:
    """Vector loads and FMAs the generated kernel bodies execute for one image (no IR built)."""
    out_h, out_w = layer.output_hw
    accumulators, blocks = schedule.blocking(out_w)
    rows = max(1, min(schedule.rows, out_h))
    main_rows = out_h - out_h % rows
    pairs = pair_filters(layer) if schedule.filter_pairs else None
    if pairs is None:
        kernels = np.diff(layer.segments, axis=1).sum(axis=0) if layer.segments.size else np.zeros(len(layer.patterns))
        kinds = [(kernels, 1)]
    else:  # a shared kernel's loads feed the FMAs of both filters
        kinds = [(pairs.own_kernels, 1), (pairs.shared_kernels, 2)]
    stats = CodeStats()
    for block_rows, repeats in ((rows, main_rows // rows), (out_h - main_rows, int(main_rows < out_h))):
        for q, taps in enumerate(layer.patterns):
            keys = {load_key(t, tap, i, j, layer.strides[0], schedule.eliminate_loads)
                    for t, tap in enumerate(taps) for i in range(block_rows) for j in range(accumulators)}
            for kernels, filters in kinds:
                runs = repeats * blocks * int(kernels[q])
                stats.vector_loads += len(keys) * runs
                stats.vector_fmas += filters * len(taps) * block_rows * accumulators * runs
    return stats



# --- the tuning database (patsparse-tune writes it, patsparse-apply-tuning reads it) -------------

DATABASE_VERSION = 1
TUNED_FIELDS = ("vector_width", "max_accumulators", "rows", "rows_outer", "filter_pairs", "channel_tiles")
BOOLEAN_FIELDS = ("rows_outer", "filter_pairs", "channel_tiles")


class TuningError(RuntimeError):
    pass


def layer_key(layer: ConvLayer, target: str) -> str:
    """Target, shapes, strides, padding and pattern mix: what the best schedule depends on."""
    kernels = np.diff(layer.segments, axis=1).sum(axis=0).tolist() if layer.segments.size else []
    mix = hashlib.sha1(json.dumps([layer.patterns, kernels, layer.filters]).encode()).hexdigest()[:12]
    shape = "x".join(map(str, layer.input_shape))
    return (f"{target}|in={shape}|f={layer.filters}|k={layer.kernel_hw[0]}x{layer.kernel_hw[1]}"
            f"|s={layer.strides[0]}x{layer.strides[1]}|p={','.join(map(str, layer.padding))}|mix={mix}")


@dataclasses.dataclass
class TuningResult:
    key: str
    schedule: Schedule
    seconds: float
    default_seconds: float
    mca_cycles_per_fma: float | None = None

    def record(self) -> dict:
        fields = {name: getattr(self.schedule, name) for name in TUNED_FIELDS}
        return {"schedule": fields, "seconds": self.seconds, "default_seconds": self.default_seconds,
                "speedup": self.default_seconds / self.seconds if self.seconds else None,
                "mca_cycles_per_fma": self.mca_cycles_per_fma}


class TuningDatabase:
    """JSON file: {"version": 1, "layers": {key: record}}; written atomically."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.layers: dict[str, dict] = {}
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text())
                if data.get("version") != DATABASE_VERSION or not isinstance(data.get("layers"), dict):
                    raise ValueError("version")
            except (ValueError, AttributeError, OSError):
                raise TuningError(f"{self.path}: not a tuning database (expected JSON with version "
                                  f"{DATABASE_VERSION} and a 'layers' object, as patsparse-tune writes)") from None
            self.layers = data["layers"]

    def schedule(self, layer: ConvLayer, target: str, base: Schedule) -> Schedule | None:
        record = self.layers.get(layer_key(layer, target))
        if record is None:
            return None
        try:
            fields = {name: (bool if name in BOOLEAN_FIELDS else int)(record["schedule"][name])
                      for name in TUNED_FIELDS if name in record["schedule"]}
        except (KeyError, TypeError, ValueError):
            raise TuningError(f"{self.path}: entry {layer_key(layer, target)!r} has no valid schedule") from None
        try:
            return dataclasses.replace(base, **fields)
        except ValueError as error:  # a width the generator cannot use
            raise TuningError(f"{self.path}: entry {layer_key(layer, target)!r}: {error}") from None

    def add(self, result: TuningResult, layer_name: str = "") -> None:
        self.layers[result.key] = dict(result.record(), layer=layer_name)

    def save(self) -> None:
        atomic_write(self.path, json.dumps({"version": DATABASE_VERSION, "layers": self.layers}, indent=1) + "\n")
