"""`patsparse-insert-profile-marks`: time every layer of the entry function at run time.

Before each layer (a convolution, matmul or pooling op, with the ops that only feed it, such
as its padding) it inserts a call of the runtime's `patsparse_profile_mark(i32)`, which
closes the previous layer's time and opens this one's (lowering/runtime/patsparse_context.c).
Elementwise ops, concatenations and reshapes between two layers count toward the layer
before them, as their epilogue; ops before the first layer are layer 0, "(prologue)". So the
layers' times add up to the whole run.

    %p = tensor.pad %x ...                     func.call @patsparse_profile_mark(%c3) {patsparse.layer = {...}}
    %y = linalg.conv_2d_nchw_fchw ins(%p, ...) %p = tensor.pad %x ...
    %z = linalg.generic (relu) ins(%y)   =>    %y = linalg.conv_2d_nchw_fchw ins(%p, ...)
                                               %z = linalg.generic (relu) ins(%y)

Each mark carries `patsparse.layer = {index, name, kind, shape, flops}`: the name is the
source's (the PyTorch module path or ONNX node name the importer put in the op's location)
or "layer N"; flops count multiply-adds with a non-zero weight twice.

Rationale:
- Marks, not timers around ops: ops on tensors have no order of their own until bufferization,
  but calls with side effects keep theirs, and every op between two marks runs between them.
- Only profiled builds (`patsparse-compile --profile`) run this pass: the others have no
  timing code at all.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
from mlir import ir
from mlir.dialects import arith, func

from patsparse.dialect.ops import PATTERN_CONV2D, PatternConv2dOp
from patsparse.dialect.pass_base import PassFailure, PatsparsePass, option

MARK = "patsparse_profile_mark"
LAYER_ATTRIBUTE = "patsparse.layer"
FREE_OPS = {"arith.constant", "tensor.empty"}


def layer_kind(op: ir.Operation) -> str | None:
    """What the profile calls the layer `op` starts, or None if it starts none."""
    name = op.name
    if name == PATTERN_CONV2D:
        return "pattern conv"
    if name.startswith("linalg.depthwise_conv_"):
        return "depthwise conv"
    if name.startswith("linalg.conv_2d_ngchw"):
        return "grouped conv"
    if name.startswith("linalg.conv_"):
        kernel = list(op.operands[1].type.shape)[-2:]
        return "1x1 conv" if kernel == [1, 1] else f"{kernel[0]}x{kernel[1]} conv"
    if name in ("linalg.matmul", "linalg.batch_matmul", "linalg.matmul_transpose_b"):
        return "matmul"
    if name.startswith("linalg.pooling_"):
        return "pooling"
    return None


def layer_flops(op: ir.Operation) -> float:
    """2 x multiply-adds (with a non-zero weight, for pattern convolutions)."""
    if op.name == PATTERN_CONV2D:
        conv = PatternConv2dOp(op)
        n, _, ho, wo = conv.output_shape
        return float(2 * n * ho * wo * 4 * conv.fkw.num_kernels)
    output = [int(d) for d in op.results[0].type.shape]
    if op.name.startswith(("linalg.conv_", "linalg.depthwise_conv_", "linalg.pooling_")):
        window = [int(d) for d in op.operands[1].type.shape]
        per_output = np.prod(window[-2:]) * (window[1] if op.name.startswith("linalg.conv_2d_nchw") else 1)
        if op.name.startswith("linalg.conv_2d_ngchw"):
            per_output = np.prod(window[-3:])
        return float(2 * np.prod(output) * per_output) if not op.name.startswith("linalg.pooling_") else \
            float(np.prod(output) * per_output)
    if layer_kind(op) == "matmul":
        k = int(op.operands[0].type.shape[-1])
        return float(2 * np.prod(output) * k)
    return 0.0


def source_name(op: ir.Operation) -> str | None:
    """The innermost name in `op`'s location (`loc("features.3.conv")`), if any."""
    found = re.findall(r'loc\("((?:[^"\\]|\\.)*)"(?!:\d)', str(op.location))  # NameLocs, not file:line
    names = [name for name in found if not re.search(r"\.(py|mlir|onnx)$|:\d+", name) and name != "keep_nan"]
    return re.sub(r"[^\w.:/#\[\]-]", "_", names[0])[:80] if names else None


def _shape_text(value_type: ir.Type) -> str:
    shaped = ir.ShapedType(value_type) if isinstance(value_type, ir.RankedTensorType) else None
    return "x".join(map(str, shaped.shape)) if shaped is not None else str(value_type)


def _constant_only(op: ir.Operation, depth: int = 4) -> bool:
    """True if `op` computes from constants only (a bias broadcast into an init tensor)."""
    for operand in op.operands:
        owner = operand.owner
        if not isinstance(owner, (ir.OpView, ir.Operation)):
            return False  # a function argument
        owner = owner.operation
        if owner.name not in FREE_OPS and not (depth and _constant_only(owner, depth - 1)):
            return False
    return True


def _group_start(anchor: ir.Operation, block_ops: list[ir.Operation], positions: dict) -> int:
    """Position of the first op of `anchor`'s group: the anchor and the ops of its block that
    only the group uses and that prepare its operands: its padding, and what it computes from
    constants (the bias broadcast into its init tensor). A ReLU that feeds it stays with the
    layer before, as that layer's epilogue."""
    group = {anchor}
    start = positions[anchor]
    changed = True
    while changed:
        changed = False
        for member in list(group):
            for operand in member.operands:
                owner = operand.owner
                if not isinstance(owner, ir.OpView) and not isinstance(owner, ir.Operation):
                    continue
                owner = owner.operation
                if owner in group or owner not in positions or owner.name in FREE_OPS or layer_kind(owner):
                    continue
                users = {use.owner.operation for result in owner.results for use in result.uses}
                prepares = owner.name == "tensor.pad" or _constant_only(owner)
                if prepares and users and users <= group:
                    group.add(owner)
                    start = min(start, positions[owner])
                    changed = True
    return start


@dataclasses.dataclass
class InsertProfileMarksPass(PatsparsePass):
    """Insert a `patsparse_profile_mark` call before every layer of the entry function (see the
    module docstring)."""

    flag = "patsparse-insert-profile-marks"
    summary = "Time every layer at run time (profiled builds)"
    entry: str = option("forward", "the function whose layers are timed")

    def run(self, module: ir.Operation) -> None:
        body = module.regions[0].blocks[0]
        functions = [op.operation for op in body.operations if op.operation.name == "func.func"]
        function = next((f for f in functions if ir.StringAttr(f.attributes["sym_name"]).value == self.entry), None)
        if function is None:
            raise PassFailure(f"no function @{self.entry} to profile")
        if any(ir.StringAttr(f.attributes["sym_name"]).value == MARK for f in functions):
            raise PassFailure("the module is profiled already")
        block = function.regions[0].blocks[0]
        block_ops = [op.operation for op in block.operations]
        positions = {op: index for index, op in enumerate(block_ops)}
        starts = []  # (position, op that names the layer or None for the prologue)
        for op in block_ops:
            if layer_kind(op):
                starts.append((_group_start(op, block_ops, positions), op))
        work = [op for op in block_ops if op.name not in FREE_OPS and op.name != "func.return"]
        if not starts or (work and positions[work[0]] < starts[0][0]):
            first = positions[work[0]] if work else len(block_ops) - 1
            starts.insert(0, (first, None))
        with ir.InsertionPoint(body), function.location:
            declaration = func.FuncOp(MARK, ([ir.IntegerType.get_signless(32)], []), visibility="private")
        declaration.operation.move_before(function)
        for index, (position, op) in enumerate(starts):
            before = block_ops[position]
            if op is None:
                layer = {"name": "(prologue)", "kind": "other", "shape": "", "flops": 0.0}
            else:
                data = op.operands[0]
                padding = data.owner.operation if isinstance(data.owner, (ir.OpView, ir.Operation)) else None
                if padding is not None and padding.name == "tensor.pad":  # show the layer's input, not its padded copy
                    data = padding.operands[0]
                shape = f"{_shape_text(data.type)} -> {_shape_text(op.results[0].type)}"
                layer = {"name": source_name(op) or f"layer {index}", "kind": layer_kind(op), "shape": shape,
                         "flops": layer_flops(op)}
            with ir.InsertionPoint(before), before.location:
                number = arith.ConstantOp(ir.IntegerType.get_signless(32), index).result
                call = func.CallOp([], ir.FlatSymbolRefAttr.get(MARK), [number])
            call.operation.attributes[LAYER_ATTRIBUTE] = ir.DictAttr.get({
                "index": ir.IntegerAttr.get(ir.IntegerType.get_signless(32), index),
                "name": ir.StringAttr.get(layer["name"]), "kind": ir.StringAttr.get(layer["kind"]),
                "shape": ir.StringAttr.get(layer["shape"]), "flops": ir.FloatAttr.get_f64(layer["flops"])})


def profiled_layers(module: ir.Operation) -> list[dict]:
    """The layers the marks of a profiled module describe, by index."""
    layers = {}

    def visit(op):
        op = op.operation
        if op.name == "func.call" and LAYER_ATTRIBUTE in op.attributes:
            attributes = ir.DictAttr(op.attributes[LAYER_ATTRIBUTE])
            index = ir.IntegerAttr(attributes["index"]).value
            layers[index] = {"name": ir.StringAttr(attributes["name"]).value,
                             "kind": ir.StringAttr(attributes["kind"]).value,
                             "shape": ir.StringAttr(attributes["shape"]).value,
                             "flops": ir.FloatAttr(attributes["flops"]).value}
        return ir.WalkResult.ADVANCE

    module.walk(visit)
    return [layers[index] for index in sorted(layers)]
