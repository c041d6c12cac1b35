"""Step 1 of the dense schedule (lowering/dense.py): rewrites on tensors into forms the linalg
vectorizer takes. Pooling windows become reducing generics over an expanded view, a matmul with
a transposed constant weight reads the weight in place, a constant pad becomes fill + copy, and
a `tensor.empty` with several users is cloned per user (see dense.py for why each)."""

from __future__ import annotations

import math

from mlir import ir

from patsparse.dialect.ir_utils import int_array, ops_in, producer

_POOLING_BODIES = {"linalg.pooling_nchw_max": "arith.maximumf", "linalg.pooling_nchw_sum": "arith.addf"}


def tensor_shape(value: ir.Value) -> list[int] | None:
    shaped = value.type
    if not isinstance(shaped, ir.RankedTensorType) or not shaped.has_static_shape:
        return None
    return list(shaped.shape)


def is_f32_tensor(value: ir.Value) -> bool:
    shaped = value.type
    return (isinstance(shaped, ir.RankedTensorType) and shaped.has_static_shape
            and str(shaped.element_type) == "f32")


def tensor_type_text(shape: list[int]) -> str:
    return "tensor<" + "x".join(str(s) for s in shape) + ("x" if shape else "") + "f32>"


def splice(template: str, anchor: ir.Operation, operands: list[ir.Value]) -> list[ir.Value]:
    """Insert the body of the one function in `template` before `anchor`.

    The function's arguments become `operands`; returns the values its `func.return` returned.
    Writing rewrites as MLIR text keeps them readable next to the IR they produce.
    """
    snippet = ir.Module.parse(template)
    function = snippet.body.operations[0].operation
    block = function.regions[0].blocks[0]
    for argument, operand in zip(block.arguments, operands):
        argument.replace_all_uses_with(operand)
    body = list(block.operations)
    terminator = body[-1].operation
    results = list(terminator.operands)
    for op in body[:-1]:
        op.operation.move_before(anchor)
    return results


def replace(op: ir.Operation, values: list[ir.Value]) -> None:
    for result, value in zip(op.results, values):
        result.replace_all_uses_with(value)
    op.erase()


def rewrite_pooling(op: ir.Operation) -> bool:
    """`pooling_nchw_{max,sum}` -> expand_shape + one reducing `linalg.generic` per window block."""
    if len(op.operands) != 3 or not all(is_f32_tensor(v) for v in op.operands):
        return False
    source, window, init = op.operands
    n, c, h, w = tensor_shape(source)
    kh, kw = tensor_shape(window)
    _, _, oh, ow = tensor_shape(init)
    strides = int_array(op.attributes["strides"] if "strides" in op.attributes else None, None) or [1, 1]
    dilations = int_array(op.attributes["dilations"] if "dilations" in op.attributes else None, None) or [1, 1]
    if dilations != [1, 1]:
        return False
    sh, sw = strides
    # Window row a of output row i reads input row sh*i + a = sh*(i + qa) + ra.
    hq, wq = oh + (kh - 1) // sh, ow + (kw - 1) // sw
    if sh * hq > h or sw * wq > w:
        return False
    body = _POOLING_BODIES[op.name]
    lines = [f"func.func @pool(%x: {tensor_type_text([n, c, h, w])}, %init: {tensor_type_text([n, c, oh, ow])})"
             f" -> {tensor_type_text([n, c, oh, ow])} {{"]
    lines.append(f"  %s = tensor.extract_slice %x[0, 0, 0, 0] [{n}, {c}, {sh * hq}, {sw * wq}] [1, 1, 1, 1]"
                 f" : {tensor_type_text([n, c, h, w])} to {tensor_type_text([n, c, sh * hq, sw * wq])}")
    expanded = [n, c, hq, sh, wq, sw]
    lines.append(f"  %e = tensor.expand_shape %s [[0], [1], [2, 3], [4, 5]] output_shape {expanded}"
                 f" : {tensor_type_text([n, c, sh * hq, sw * wq])} into {tensor_type_text(expanded)}")
    accumulator = "%init"
    index = 0
    for qa in range(math.ceil(kh / sh)):
        rows = min(sh, kh - sh * qa)
        for qb in range(math.ceil(kw / sw)):
            cols = min(sw, kw - sw * qb)
            block = [n, c, oh, rows, ow, cols]
            lines.append(f"  %b{index} = tensor.extract_slice %e[0, 0, {qa}, 0, {qb}, 0] {block}"
                         f" [1, 1, 1, 1, 1, 1] : {tensor_type_text(expanded)} to {tensor_type_text(block)}")
            lines.append(
                f"  %r{index} = linalg.generic {{indexing_maps = ["
                f"affine_map<(n, c, i, j, a, b) -> (n, c, i, a, j, b)>, "
                f"affine_map<(n, c, i, j, a, b) -> (n, c, i, j)>], iterator_types = "
                f"[\"parallel\", \"parallel\", \"parallel\", \"parallel\", \"reduction\", \"reduction\"]}}"
                f" ins(%b{index} : {tensor_type_text(block)}) outs({accumulator} : {tensor_type_text([n, c, oh, ow])}) {{\n"
                f"  ^bb0(%in: f32, %out: f32):\n"
                f"    %v = {body} %in, %out : f32\n"
                f"    linalg.yield %v : f32\n"
                f"  }} -> {tensor_type_text([n, c, oh, ow])}")
            accumulator = f"%r{index}"
            index += 1
    lines.append(f"  func.return {accumulator} : {tensor_type_text([n, c, oh, ow])}")
    lines.append("}")
    replace(op, splice("\n".join(lines), op, [source, init]))
    return True


def is_default_matmul(op: ir.Operation) -> bool:
    if "indexing_maps" not in op.attributes:
        return True
    default = ir.ArrayAttr.get([ir.AffineMapAttr.get(m) for m in _default_matmul_maps()])
    return str(op.attributes["indexing_maps"]) == str(default)


def _default_matmul_maps() -> list[ir.AffineMap]:
    d = [ir.AffineDimExpr.get(i) for i in range(3)]
    return [ir.AffineMap.get(3, 0, [d[0], d[2]]), ir.AffineMap.get(3, 0, [d[2], d[1]]),
            ir.AffineMap.get(3, 0, [d[0], d[1]])]


def rewrite_matmul_transposed_rhs(op: ir.Operation) -> bool:
    """`matmul(x, transpose(W, [1, 0]))` -> one generic reading W as `(m, n, k) -> (n, k)`."""
    if len(op.operands) != 3 or not all(is_f32_tensor(v) for v in op.operands):
        return False
    if not is_default_matmul(op) or "cast" in op.attributes:
        return False
    lhs, rhs, init = op.operands
    transpose = producer(rhs)
    if transpose is None or transpose.name != "linalg.transpose":
        return False
    if int_array(transpose.attributes["permutation"] if "permutation" in transpose.attributes else None, None) != [1, 0]:
        return False
    weight = transpose.operands[0]
    m, k = tensor_shape(lhs)
    n, _ = tensor_shape(weight)
    template = (
        f"func.func @matmul(%x: {tensor_type_text([m, k])}, %w: {tensor_type_text([n, k])}, %init: {tensor_type_text([m, n])})"
        f" -> {tensor_type_text([m, n])} {{\n"
        f"  %r = linalg.generic {{indexing_maps = [affine_map<(m, n, k) -> (m, k)>, "
        f"affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>], "
        f"iterator_types = [\"parallel\", \"parallel\", \"reduction\"]}}"
        f" ins(%x, %w : {tensor_type_text([m, k])}, {tensor_type_text([n, k])}) outs(%init : {tensor_type_text([m, n])}) {{\n"
        f"  ^bb0(%a: f32, %b: f32, %acc: f32):\n"
        f"    %p = arith.mulf %a, %b : f32\n"
        f"    %s = arith.addf %acc, %p : f32\n"
        f"    linalg.yield %s : f32\n"
        f"  }} -> {tensor_type_text([m, n])}\n"
        f"  func.return %r : {tensor_type_text([m, n])}\n}}")
    replace(op, splice(template, op, [lhs, weight, init]))
    if not list(transpose.results[0].uses):
        transpose.erase()
    return True


def _feeds_convolution(value: ir.Value) -> bool:
    for use in value.uses:
        name = use.owner.operation.name if hasattr(use.owner, "operation") else use.owner.name
        if "conv" in name or name.startswith("patsparse."):
            return True
    return False


def rewrite_pad(op: ir.Operation) -> bool:
    """`tensor.pad` by a constant -> fill of the padded shape + `linalg.copy` into its interior."""
    source = op.operands[0]
    if len(op.operands) != 1 or not is_f32_tensor(source) or not is_f32_tensor(op.results[0]):
        return False
    if _feeds_convolution(op.results[0]):
        return False  # the convolution's code generator matches the pad itself
    low, high = int_array(op.attributes["static_low"], None), int_array(op.attributes["static_high"], None)
    if low is None or high is None or any(v < 0 for v in low + high):
        return False
    body = op.regions[0].blocks[0]
    terminator = list(body.operations)[-1].operation
    pad_value = terminator.operands[0]
    pad_owner = producer(pad_value)
    if pad_owner is None or pad_owner.name != "arith.constant" or pad_owner.parent == op:
        return False
    shape, padded = tensor_shape(source), tensor_shape(op.results[0])
    offsets = ", ".join(str(v) for v in low)
    sizes = ", ".join(str(v) for v in shape)
    ones = ", ".join("1" for _ in shape)
    template = (
        f"func.func @pad(%x: {tensor_type_text(shape)}, %v: f32) -> {tensor_type_text(padded)} {{\n"
        f"  %e = tensor.empty() : {tensor_type_text(padded)}\n"
        f"  %f = linalg.fill ins(%v : f32) outs(%e : {tensor_type_text(padded)}) -> {tensor_type_text(padded)}\n"
        f"  %s = tensor.extract_slice %f[{offsets}] [{sizes}] [{ones}] : {tensor_type_text(padded)} to {tensor_type_text(shape)}\n"
        f"  %c = linalg.copy ins(%x : {tensor_type_text(shape)}) outs(%s : {tensor_type_text(shape)}) -> {tensor_type_text(shape)}\n"
        f"  %r = tensor.insert_slice %c into %f[{offsets}] [{sizes}] [{ones}] : {tensor_type_text(shape)} into {tensor_type_text(padded)}\n"
        f"  func.return %r : {tensor_type_text(padded)}\n}}")
    replace(op, splice(template, op, [source, pad_value]))
    return True


def split_shared_empties(function: ir.Operation) -> None:
    for op in ops_in(function):
        if op.name != "tensor.empty" or op.operands:
            continue
        uses = [(use.owner, use.operand_number) for use in op.results[0].uses]
        for owner, number in uses[1:]:
            clone = op.clone(ir.InsertionPoint(op))
            owner = owner.operation if hasattr(owner, "operation") else owner
            owner.operands[number] = clone.results[0]
