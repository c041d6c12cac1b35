"""Boolean tensors are stored as i8: MLIR 22's memref-to-LLVM lowering aborts (an assertion)
on a scalar store of i1, which is what a mask computed once and read by several ops becomes
(`n = x != x` shared by three `torch.where`s: elementwise fusion leaves a producer with several
users alone, and the naive loops store it element by element).

    %m = linalg.generic ins(%x : tensor<4xf32>) outs(%e : tensor<4xi1>) {... linalg.yield %b : i1}
    %y = linalg.generic ins(%m, %x : tensor<4xi1>, tensor<4xf32>) ... {^bb0(%in: i1, ...): ...}

becomes

    %m = linalg.generic ins(%x) outs(%e8 : tensor<4xi8>) {... %w = arith.extui %b : i1 to i8; linalg.yield %w}
    %y = linalg.generic ins(%m, %x : tensor<4xi8>, ...) {^bb0(%in8: i8, ...): %in = arith.trunci %in8 : i8 to i1 ...}

Only masks all of whose users are the inputs of `linalg.generic` ops are widened; any other use
(rare: a mask returned or reshaped) keeps the mask as it is.
"""

from __future__ import annotations

from mlir import ir
from mlir.dialects import arith, tensor


def _is_boolean_tensor(value: ir.Value) -> bool:
    shaped = value.type
    return (isinstance(shaped, ir.RankedTensorType) and shaped.rank > 0
            and isinstance(shaped.element_type, ir.IntegerType) and ir.IntegerType(shaped.element_type).width == 1)


def _narrow_at_block_start(argument: ir.BlockArgument, i8: ir.Type, i1: ir.Type) -> None:
    """`argument` becomes i8; its users read `trunci(argument)` instead."""
    block = argument.owner
    argument.set_type(i8)
    uses = [(use.owner, use.operand_number) for use in argument.uses]
    with ir.InsertionPoint.at_block_begin(block), ir.Location.unknown():
        narrow = arith.TruncIOp(i1, argument).result
    for owner, number in uses:
        owner.operands[number] = narrow


def widen_boolean_tensors(function: ir.Operation) -> int:
    """Store every widenable i1 tensor of `function`'s body as i8; returns how many were widened."""
    i1, i8 = ir.IntegerType.get_signless(1), ir.IntegerType.get_signless(8)
    widened = 0
    for op in list(function.regions[0].blocks[0].operations):
        op = op.operation
        if op.name != "linalg.generic" or len(op.results) != 1 or not _is_boolean_tensor(op.results[0]):
            continue
        result = op.results[0]
        users = [(use.owner.operation if hasattr(use.owner, "operation") else use.owner, use.operand_number)
                 for use in result.uses]
        if not users or any(user.name != "linalg.generic" or number >= _input_count(user) for user, number in users):
            continue
        shape = list(ir.RankedTensorType(result.type).shape)
        wide_type = ir.RankedTensorType.get(shape, i8)
        with ir.InsertionPoint(op), op.location:
            op.operands[len(op.operands) - 1] = tensor.EmptyOp(shape, i8).result
        body = op.regions[0].blocks[0]
        out_argument = body.arguments[len(body.arguments) - 1]
        if list(out_argument.uses):
            _narrow_at_block_start(out_argument, i8, i1)
        else:
            out_argument.set_type(i8)
        terminator = list(body.operations)[-1].operation
        with ir.InsertionPoint(terminator), op.location:
            terminator.operands[0] = arith.ExtUIOp(i8, terminator.operands[0]).result
        result.set_type(wide_type)
        for user, number in users:
            _narrow_at_block_start(user.regions[0].blocks[0].arguments[number], i8, i1)
        widened += 1
    return widened


def _input_count(generic: ir.Operation) -> int:
    segments = ir.DenseI32ArrayAttr(generic.attributes["operandSegmentSizes"])
    return segments[0]
