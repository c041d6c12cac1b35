"""`patsparse-report`: per-layer table of pattern and dense convolutions."""

from __future__ import annotations

import dataclasses
import json
import sys

import numpy as np
from mlir import ir

from patsparse.dialect.ops import PATTERN_CONV2D, PatternConv2dOp
from patsparse.dialect.pass_base import PassFailure, PatsparsePass, option
from patsparse.dialect.schedule import DENSE_REASON


def layer_rows(module: ir.Operation) -> list[dict]:
    """One dict per convolution, in program order."""
    rows = []

    def visit(op: ir.Operation) -> ir.WalkResult:
        op = op.operation
        if op.name == PATTERN_CONV2D:
            conv = PatternConv2dOp(op)
            n, c, _, _ = conv.input_shape
            c //= conv.groups  # input channels per filter (grouped, depthwise: C / groups)
            _, f, ho, wo = conv.output_shape
            fkw = conv.fkw
            used = np.unique(fkw.kernel_pattern_ids).size
            rows.append(dict(layer=len(rows), op="pattern", shape=f"{f}x{c}x3x3", input=conv.input_shape,
                             output=conv.output_shape, strides=conv.strides, kernels_kept=fkw.num_kernels,
                             kernels_total=f * c, patterns_used=int(used), library_size=fkw.num_patterns,
                             flops_dense=2 * n * f * c * 9 * ho * wo, flops=2 * n * ho * wo * 4 * fkw.num_kernels,
                             status="rewritten"))
        elif op.name.startswith(("linalg.conv_", "linalg.depthwise_conv_")):
            input_type, weight_type, output_type = (v.type for v in (op.operands[0], op.operands[1], op.results[0]))
            output = list(output_type.shape)
            weight = list(weight_type.shape)
            # Weight F x C x KH x KW, depthwise C x KH x KW, grouped G x F/G x C/G x KH x KW.
            macs = int(np.prod(output)) * int(np.prod(weight[2:] if len(weight) == 5 else weight[1:]))
            reason = op.attributes[DENSE_REASON].value if DENSE_REASON in op.attributes else "not examined"
            rows.append(dict(layer=len(rows), op=op.name.removeprefix("linalg."), shape="x".join(map(str, weight)),
                             input=list(input_type.shape), output=output, strides=None,
                             kernels_kept=None, kernels_total=None, patterns_used=None, library_size=None,
                             flops_dense=2 * macs, flops=2 * macs, status=f"dense: {reason}"))
        return ir.WalkResult.ADVANCE

    module.walk(visit)
    return rows


def format_table(rows: list[dict]) -> str:
    header = ["layer", "weight", "input", "kept", "patterns", "MFLOP dense", "MFLOP", "status"]
    lines = [header]
    for row in rows:
        kept = f"{row['kernels_kept']}/{row['kernels_total']}" if row["kernels_kept"] is not None else "-"
        patterns = f"{row['patterns_used']}/{row['library_size']}" if row["patterns_used"] is not None else "-"
        lines.append([str(row["layer"]), row["shape"], "x".join(map(str, row["input"])), kept, patterns,
                      f"{row['flops_dense'] / 1e6:.4g}", f"{row['flops'] / 1e6:.4g}", row["status"]])
    dense = sum(r["flops_dense"] for r in rows)
    sparse = sum(r["flops"] for r in rows)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    text = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)) + "  " + line[-1] for line in lines]
    speedup = f"{dense / sparse:.2f}x fewer" if sparse else "n/a"
    text.append(f"total: {len(rows)} convolutions, {sum(r['op'] == 'pattern' for r in rows)} rewritten, "
                f"{dense / 1e6:.4g} -> {sparse / 1e6:.4g} MFLOP ({speedup})")
    return "\n".join(text)


@dataclasses.dataclass
class ReportPass(PatsparsePass):
    """Print, per convolution, its shape, kernels kept, patterns used, FLOPs before and after,
    and whether it was rewritten into `patsparse.pattern_conv2d` or why it stays dense.

    Reads the IR only; the table goes to stderr (or the `output` file), so stdout stays IR.

    Rationale:
    - FLOPs count multiply and add separately: 2 * N * F * C * 9 * Ho * Wo dense, and
      2 * N * 4 * kept kernels * Ho * Wo for a pattern convolution.
    """

    flag = "patsparse-report"
    summary = "Print a per-layer table: kernels kept, patterns, FLOPs, rewritten or why not"

    output: str = option("-", "where to write the table: '-' for stderr, a path ending in .json for JSON")

    def run(self, module: ir.Operation) -> None:
        rows = layer_rows(module)
        if self.output == "-":
            print(format_table(rows), file=sys.stderr)
            return
        try:
            with open(self.output, "w") as file:
                if self.output.endswith(".json"):
                    json.dump(rows, file, indent=1)
                else:
                    file.write(format_table(rows) + "\n")
        except OSError as error:
            raise PassFailure(f"cannot write {self.output}: {error.strerror}") from None
