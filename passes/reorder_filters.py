"""`patsparse-reorder-filters`: PatDNN's filter kernel reorder on the FKW positions."""

from __future__ import annotations

import dataclasses

import numpy as np
from mlir import ir

from patsparse.dialect.fkw import FKW, TAPS_PER_PATTERN
from patsparse.dialect.ir_utils import ops_where
from patsparse.dialect.ops import PATTERN_CONV2D, PatternConv2dOp, pattern_conv2d
from patsparse.dialect.pass_base import PassFailure, PatsparsePass, option
from patsparse.dialect.schedule import FILTER_GROUPS

MODES = ("work", "none")


def filter_keys(fkw: FKW) -> list[tuple[int, tuple[int, ...]]]:
    """Per position: (kept kernels, kernels per pattern id), the work and mix of its filter."""
    offsets = np.asarray(fkw.filter_offsets, np.int64)
    pattern_ids = np.asarray(fkw.kernel_pattern_ids, np.int64)
    keys = []
    for position in range(fkw.num_filters):
        ids = pattern_ids[offsets[position]:offsets[position + 1]]
        keys.append((int(ids.size), tuple(np.bincount(ids, minlength=fkw.num_patterns).tolist())))
    return keys


def count_groups(keys: list) -> int:
    """Runs of consecutive positions with the same key."""
    return sum(1 for position, key in enumerate(keys) if position == 0 or key != keys[position - 1])


def work_order(keys: list[tuple[int, tuple[int, ...]]]) -> list[int]:
    """Positions sorted by kept kernels, then pattern mix, both descending; stable."""
    return sorted(range(len(keys)), key=lambda p: (-keys[p][0], tuple(-c for c in keys[p][1])))


def imbalance(work: list[int] | np.ndarray, threads: int) -> float:
    """max / mean of the work of `threads` threads that take positions round-robin
    (position p runs on thread p mod threads); 1.0 is perfect balance."""
    loads = np.zeros(threads, np.int64)
    np.add.at(loads, np.arange(len(work)) % threads, np.asarray(work, np.int64))
    total = int(loads.sum())
    return float(loads.max()) * threads / total if total else 1.0


def permute_filters(fkw: FKW, permutation: list[int] | np.ndarray) -> FKW:
    """The same convolution with new position i holding old position permutation[i]: the
    filter's CSR row (channels, pattern ids, weights) moves with it, and filter_order is
    composed, so every filter still writes its own output channel."""
    permutation = np.asarray(permutation, np.int64)
    offsets = np.asarray(fkw.filter_offsets, np.int64)
    counts = np.diff(offsets)[permutation]
    kernels = (np.concatenate([np.arange(offsets[p], offsets[p + 1]) for p in permutation])
               if permutation.size else np.zeros(0, np.int64))
    weights = np.asarray(fkw.weights).reshape(-1, TAPS_PER_PATTERN)
    return FKW(pattern_library=fkw.pattern_library,
               filter_order=np.asarray(fkw.filter_order)[permutation],
               filter_offsets=np.concatenate([[0], np.cumsum(counts)]),
               kernel_channels=np.asarray(fkw.kernel_channels)[kernels],
               kernel_pattern_ids=np.asarray(fkw.kernel_pattern_ids)[kernels],
               weights=weights[kernels].reshape(-1))


@dataclasses.dataclass
class ReorderFiltersPass(PatsparsePass):
    """Reorder the filters of every `patsparse.pattern_conv2d` so that filters with the same
    work sit next to each other (PatDNN's filter kernel reorder).

    Positions are sorted, stably, by kept kernels (most first), then by pattern mix (the
    number of kernels of each pattern id, compared as a tuple, larger first). A run of
    consecutive positions with the same count and mix is a group; each op gets the number
    of groups as `patsparse.filter_groups`. The CSR rows move with their filters and
    `filter_order` is composed, so the op computes exactly what it computed before:

    ```mlir
    // filter 0 keeps 1 kernel, filter 1 keeps 2
    %y = "patsparse.pattern_conv2d"(%x) {filter_order = dense<[0, 1]>, filter_offsets = dense<[0, 1, 3]>,
           kernel_channels = dense<[1, 0, 1]>, kernel_pattern_ids = dense<[0, 1, 1]>, weights = dense<[a0..a3, b0..b3, c0..c3]>, ...}
    ```

    becomes

    ```mlir
    %y = "patsparse.pattern_conv2d"(%x) {filter_order = dense<[1, 0]>, filter_offsets = dense<[0, 2, 3]>,
           kernel_channels = dense<[0, 1, 1]>, kernel_pattern_ids = dense<[1, 1, 0]>, weights = dense<[b0..b3, c0..c3, a0..a3]>,
           patsparse.filter_groups = 2 : i64, ...}
    ```

    Statistics (`self.statistics`, and with `report` one line per layer on stderr): filters,
    groups before and after, and the load imbalance of `threads` threads, max / mean of
    their kept kernels when position p runs on thread p mod `threads`.

    Precondition: the ops are valid (checked before the pass runs). The pattern library
    and the kernel order inside each filter are not changed.

    Rationale:
    - Sorting by work puts filters with equal loop trip counts together, so threads that run
      one group's filters side by side do the same work, and code specialised per group
      (same count, same pattern mix) can be shared. Round-robin is the thread mapping that
      fits this order: cutting the sorted order into contiguous chunks instead would give
      the first thread the heaviest filters (the worst balance any order can have).
    - The lowering reads `filter_order`, so reordering needs no change elsewhere.
    - `mode=none` keeps the order (for ablations) but still records groups and statistics.
    """

    flag = "patsparse-reorder-filters"
    summary = "Sort filters of pattern convolutions by work and pattern mix (filter kernel reorder)"

    mode: str = option("work", "'work': sort by kept kernels, then pattern mix; 'none': keep the order")
    threads: int = option(4, "threads for the load-imbalance statistic (position p on thread p mod threads)")
    report: bool = option(False, "print one line per layer to stderr: groups and imbalance before and after")

    def run(self, module: ir.Operation) -> None:
        if self.mode not in MODES:
            raise PassFailure(f"mode: expected one of {', '.join(MODES)}, got '{self.mode}'")
        if self.threads < 1:
            raise PassFailure(f"threads: expected a positive number, got {self.threads}")
        ops = ops_where(module, lambda op: op.name == PATTERN_CONV2D)
        layers = [self._reorder(layer, op) for layer, op in enumerate(ops)]
        self.statistics = {
            "layers": len(layers),
            "reordered": sum(row["reordered"] for row in layers),
            "groups_before": sum(row["groups_before"] for row in layers),
            "groups_after": sum(row["groups_after"] for row in layers),
            "per_layer": layers,
        }

    def _reorder(self, layer: int, operation: ir.Operation) -> dict:
        conv = PatternConv2dOp(operation)
        fkw = conv.fkw
        keys = filter_keys(fkw)
        permutation = work_order(keys) if self.mode == "work" else list(range(len(keys)))
        reordered = permutation != sorted(permutation)
        if reordered:
            operation = self._rebuild(conv, permute_filters(fkw, permutation))
        groups_after = count_groups([keys[p] for p in permutation])
        operation.attributes[FILTER_GROUPS] = ir.IntegerAttr.get(ir.IntegerType.get_signless(64), groups_after)
        row = dict(layer=layer, filters=len(keys), reordered=reordered,
                   groups_before=count_groups(keys), groups_after=groups_after,
                   imbalance_before=imbalance([k[0] for k in keys], self.threads),
                   imbalance_after=imbalance([keys[p][0] for p in permutation], self.threads))
        if self.report:
            self.log(f"layer {layer}: {row['filters']} filters, {row['groups_before']} groups before -> "
                     f"{row['groups_after']} after, imbalance ({self.threads} threads) "
                     f"{row['imbalance_before']:.2f} -> {row['imbalance_after']:.2f}")
        return row

    @staticmethod
    def _rebuild(conv: PatternConv2dOp, fkw: FKW) -> ir.Operation:
        """A new op with the permuted FKW (same operands, strides, padding, other attributes)."""
        old = conv.operation
        with ir.InsertionPoint(old), old.location:
            result = pattern_conv2d(conv.input, fkw, bias=conv.bias, strides=conv.strides, padding=conv.padding)
        new = result.owner.operation
        for name in old.attributes:
            if name not in new.attributes:
                new.attributes[name] = old.attributes[name]
        old.results[0].replace_all_uses_with(result)
        old.erase()
        return new
