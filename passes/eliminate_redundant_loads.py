"""`patsparse-eliminate-redundant-loads`: schedule pattern convolutions so a kernel's taps share loads."""

from __future__ import annotations

import dataclasses
import sys

from mlir import ir

from patsparse.dialect.conv_layer import ConvLayer
from patsparse.dialect.ir_utils import ops_where
from patsparse.dialect.ops import PATTERN_CONV2D, PatternConv2dOp
from patsparse.dialect.pass_base import PassFailure, PatsparsePass, option
from patsparse.dialect.schedule import SCHEDULE, Schedule, code_stats, vector_width_problem


@dataclasses.dataclass
class EliminateRedundantLoadsPass(PatsparsePass):
    """Mark every `patsparse.pattern_conv2d` so its lowering computes `rows` output rows per
    register block and loads each input vector a kernel needs once (PatDNN's kernel-level
    load redundancy elimination):

    ```mlir
    %y = "patsparse.pattern_conv2d"(%x) {...}
    // becomes
    %y = "patsparse.pattern_conv2d"(%x) {..., patsparse.schedule = {eliminate_loads = true, rows = 4 : i64}}
    ```

    Output row y reads input rows y*s + dr for the pattern's taps (dr, dc); rows y and y+1 of
    one block read input row y+1 through different taps, so with 4 rows a cross-shaped pattern
    needs 13 input vectors instead of 16. `convert-patsparse-to-vector` emits one `vector.load`
    per distinct (input row, tap column, vector) of a kernel. The pass prints (with `report`)
    and records input vector loads per vector FMA before and after, per layer and in total.

    Rationale: LLVM's CSE already merges loads of identical addresses inside one unrolled
    body, so the effect at run time comes from the row blocking that creates the shared
    addresses; doing the elimination in the IR makes the count a property of the generated
    code that tests can check, and keeps it independent of the backend. A `rows` already set
    on an op (by the tuner) is kept; otherwise `rows` is capped so that rows x R accumulators
    fit the register file (R: vectors per row for the layer's width). `rows=0` (the default)
    chooses about 4, preferring a divisor of the output height up to 8 (a 7x7 output gets one
    block of 7 rows, not 4 + 3).

    Filter level (`filter-pairs=true`): the op also gets `filter_pairs = true` (even filter
    counts only) and the lowering computes two filters per work item, each paired with the
    filter sharing the most (channel, pattern) kernels with it; a kernel both have loads its
    input vectors once for the FMAs of both (weights interleaved per tap). Two filters'
    accumulators share the registers, so the automatic `rows` is about half. A tuned
    `filter_pairs` on the op is kept.
    """

    flag = "patsparse-eliminate-redundant-loads"
    summary = "Share input loads between the taps and output rows of each pattern kernel (and between filters)"

    rows: int = option(0, "output rows per register block (the loads they share are eliminated); 0: about 4, "
                          "preferring a divisor of the output height")
    filter_pairs: bool = option(False, "also filter level: compute filters in pairs, the kernels both filters "
                                       "of a pair have (same channel and pattern) loading their inputs once")
    report: bool = option(False, "print loads per FMA before and after, per layer, to stderr")
    vector_width: int = option(16, "f32 lanes the lowering will use (as convert-patsparse-to-vector's)")
    accumulators: int = option(8, "vectors per row the lowering will use (as convert-patsparse-to-vector's)")

    def run(self, module: ir.Operation) -> None:
        if self.rows < 0:
            raise PassFailure(f"rows={self.rows}: expected 0 (automatic) or more")
        if self.accumulators < 1:
            raise PassFailure(f"accumulators={self.accumulators}: expected at least 1")
        if vector_width_problem(self.vector_width):
            raise PassFailure(vector_width_problem(self.vector_width))
        ops = ops_where(module, lambda op: op.name == PATTERN_CONV2D)
        before = after = fmas_before = fmas_after = 0
        for number, op in enumerate(ops):
            conv = PatternConv2dOp(op)
            layer = ConvLayer.from_fkw(f"layer{number}", conv.fkw, conv.input_shape, conv.output_shape, conv.strides,
                                       conv.padding, conv.bias is not None)
            existing = op.attributes[SCHEDULE] if SCHEDULE in op.attributes else None
            try:
                old = Schedule(vector_width=self.vector_width,
                               max_accumulators=self.accumulators).with_attribute(existing)
            except ValueError as error:
                raise PassFailure(str(error), op.location) from None
            entries = {entry.name: entry.attr for entry in ir.DictAttr(existing)} if existing is not None else {}
            # A tuned choice of filter pairs is kept; pairs need an even number of filters.
            if "filter_pairs" not in entries and self.filter_pairs and layer.filters % 2 == 0:
                old = dataclasses.replace(old, filter_pairs=True)
                entries["filter_pairs"] = ir.BoolAttr.get(True)
            # A tuned rows count is kept; the default is capped where rows x R would spill registers.
            if "rows" in entries:
                rows = old.rows
            elif self.rows:
                rows = old.rows_that_fit(layer.output_hw[1], self.rows)
            else:
                rows = old.automatic_rows(layer.output_hw)
            new = dataclasses.replace(old, rows=rows, eliminate_loads=True)
            entries["rows"] = ir.IntegerAttr.get(ir.IntegerType.get_signless(64), rows)
            entries["eliminate_loads"] = ir.BoolAttr.get(True)
            op.attributes[SCHEDULE] = ir.DictAttr.get(entries)
            # Before: the schedule without elimination, one row per block, one filter per item
            # (the base lowering).
            base = code_stats(layer, dataclasses.replace(old, rows=1, eliminate_loads=False, filter_pairs=False))
            stats = code_stats(layer, new)
            before += base.vector_loads
            fmas_before += base.vector_fmas
            after += stats.vector_loads
            fmas_after += stats.vector_fmas
            if self.report:
                print(f"{self.flag}: layer {number}: loads per FMA {base.loads_per_fma:.3f} -> "
                      f"{stats.loads_per_fma:.3f} (rows {rows}{', filter pairs' if new.filter_pairs else ''})",
                      file=sys.stderr)
        ratio_before = before / fmas_before if fmas_before else 0.0
        ratio_after = after / fmas_after if fmas_after else 0.0
        if self.report and ops:
            print(f"{self.flag}: total: loads per FMA {ratio_before:.3f} -> {ratio_after:.3f}, "
                  f"{before} -> {after} vector loads", file=sys.stderr)
        self.statistics = {"layers": len(ops), "loads_before": before, "loads_after": after,
                           "loads_per_fma_before": ratio_before, "loads_per_fma_after": ratio_after}
