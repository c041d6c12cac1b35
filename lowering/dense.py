"""Tile and vectorize the dense rest of an imported model with upstream MLIR.

A model imported by torch-mlir is, besides its convolutions, a handful of dense
linalg-on-tensors ops: elementwise `linalg.generic` (ReLU, residual add, bias add, the divide
of an average pool), `linalg.fill`, `linalg.broadcast`, `linalg.transpose`, `linalg.copy`,
`linalg.pooling_nchw_max` / `linalg.pooling_nchw_sum`, reductions (adaptive average pool),
`linalg.matmul` (nn.Linear, with the weight transposed by a `linalg.transpose`), reshapes and
`tensor.pad`. `convert-linalg-to-loops` turns all of them into scalar loops.
`schedule_dense_ops` rewrites them, in place and still on tensors, into tiled `scf.for` nests
whose bodies are `vector` ops; `DENSE_PIPELINE` then bufferizes and lowers to the LLVM dialect.

```mlir
%r = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", ...]}
       ins(%x : tensor<1x16x32x32xf32>) outs(%e : tensor<1x16x32x32xf32>) {
     ^bb0(%in: f32, %out: f32):
       %p = arith.cmpf ugt, %in, %zero : f32
       %s = arith.select %p, %in, %zero : f32
       linalg.yield %s : f32 }
```

becomes (vector width 16)

```mlir
%flat = tensor.collapse_shape %x [[0, 1, 2, 3]] : tensor<1x16x32x32xf32> into tensor<16384xf32>
%r = scf.for %i = %c0 to %c16384 step %c64 iter_args(%acc = ...) -> (tensor<16384xf32>) {
  %v = vector.transfer_read %flat[%i], %pad {in_bounds = [true]} : tensor<16384xf32>, vector<64xf32>
  %p = arith.cmpf ugt, %v, %zeros : vector<64xf32>
  %s = arith.select %p, %v, %zeros : vector<64xi1>, vector<64xf32>
  %w = vector.transfer_write %s, %acc[%i] {in_bounds = [true]} : vector<64xf32>, tensor<16384xf32>
  scf.yield %w : tensor<16384xf32> }
```

How, in three steps:

1. *Python rewrites on tensors* into forms the linalg vectorizer takes:
   - `pooling_nchw_{max,sum}` (window K, stride S, dilation 1) becomes `tensor.expand_shape`
     of the input into `N x C x Hq x S x Wq x S` and, per block of the window, a
     `linalg.generic` reducing over the in-block offsets. Its input map
     `(n, c, i, j, a, b) -> (n, c, i + qa, a, j + qb, b)` with the block offsets `qa, qb` folded
     into a static `tensor.extract_slice` is a projected permutation, so it vectorizes
     (the named op and its generic form do not: their input map `S*i + a` is not one, and
     `transform.structured.decompose` gives one-element vectors for strided windows).
     2x2/2 is one generic, 3x3/2 four.
   - `linalg.matmul(x, linalg.transpose(W))` becomes one `linalg.generic` reading `W` in place
     (`(m, n, k) -> (n, k)`), so no transposed copy of the weight is made at run time.
   - `tensor.pad` with a constant value, unless it feeds a convolution, becomes `linalg.fill`
     of the padded shape and a `linalg.copy` of the source into its interior
     (`tensor.extract_slice` / `tensor.insert_slice`), which bufferize in place.
   - A `tensor.empty` with several users is cloned per user, so that one-shot bufferization
     does not see a write to a buffer that another op still reads (the cause of a copy per tile).
2. *Transform dialect, driven from Python*: every other dense linalg op is generalized and
   fused with upstream `linalg-fuse-elementwise-ops` (bias add + ReLU + max pool become one
   loop nest; the inputs of matmuls are pinned so the flattening reshape stays out of them), then
   (elementwise ops with identity maps) flattened to 1-D with
   `transform.structured.flatten_elementwise`, tiled with `transform.structured.tile_using_for`
   by sizes that divide the loop ranges (innermost loops first, about 4 vectors per tile), and
   vectorized with `transform.structured.vectorize`; each op inside `transform.alternatives`, so
   an op the vectorizer refuses is left exactly as it was. Then vector lowering patterns
   (multi-reduction, contraction, transfer permutations, transposes as shuffles), canonicalization
   and CSE run on the scheduled functions.
3. `DENSE_PIPELINE` (text for `PassManager.parse`): one-shot bufferization with identity layouts
   at function boundaries, results as out-parameters (the entry becomes
   `void forward(float *input, float *output)` with the bare-pointer convention), the buffer
   deallocation pipeline, `convert-linalg-to-loops` for what was left (convolutions, ops marked
   `patsparse.dense_reason`, anything unschedulable), vector to SCF and LLVM, and the usual
   conversions.

Left untouched: `linalg.conv_*` and `linalg.depthwise_conv_*`, any op carrying
`patsparse.dense_reason`, every `func.func` whose name starts with `patsparse_` (and calls
to them, with the `bufferization.to_buffer` / `to_tensor` around them), and non-f32 ops.

Rationale:
- Schedule on tensors, before bufferization: `decompose`-style rewrites and tiling compose
  there, and tiles become in-place subviews with no copies (DESIGN.md's pitfalls).
- Tile sizes divide the shapes, so every tile is full and vectorizes without masks.
  When a range has no good divisor (a prime), a smaller one is taken: vectors get short,
  never wrong.
- The vector width is a parameter (16 for AVX-512, 4 for NEON): it sets the tile's element
  budget and the flattening granule; the LLVM back end splits or combines vectors to the
  target's registers.
"""

from __future__ import annotations

import dataclasses
import math

from mlir import ir

from .boolean_storage import widen_boolean_tensors

SCHEDULE_ATTR = "patsparse.dense_schedule"
DENSE_REASON_ATTR = "patsparse.dense_reason"
RESERVED_FUNCTION_PREFIX = "patsparse_"

# Vectors per tile: enough to hide latencies and amortise loop overhead, few enough that
# the unrolled vector code stays small.
VECTORS_PER_TILE = 4

DENSE_PIPELINE = ",".join([
    "func.func(canonicalize)",
    "eliminate-empty-tensors",
    "one-shot-bufferize{bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map}",
    "buffer-results-to-out-params{hoist-static-allocs modify-public-functions}",
    "canonicalize",
    "buffer-deallocation-pipeline",
    "func.func(convert-linalg-to-loops)",
    "func.func(convert-vector-to-scf{full-unroll target-rank=1})",
    "canonicalize", "cse",
    "expand-strided-metadata", "lower-affine",
    # math ops with an LLVM intrinsic become it; the others (erf of GELU) become libm calls,
    # element by element, before the vector ops are lowered.
    "convert-math-to-llvm", "convert-math-to-libm",
    "convert-vector-to-llvm{reassociate-fp-reductions vector-transpose-lowering=shuffle1d}",
    "convert-scf-to-cf", "finalize-memref-to-llvm",
    "convert-arith-to-llvm", "convert-ub-to-llvm",
    "convert-func-to-llvm{use-bare-ptr-memref-call-conv=true}",
    "convert-cf-to-llvm", "convert-index-to-llvm", "reconcile-unrealized-casts",
])
# The same, for code linked with the PatSparse runtime: buffers come from its allocator
# (lowering/runtime/patsparse_alloc.c), which reuses large blocks across inferences.
RUNTIME_PIPELINE = DENSE_PIPELINE.replace("finalize-memref-to-llvm", "finalize-memref-to-llvm{use-generic-functions}")

# Ops the transform script generalizes, tiles and vectorizes (after the Python rewrites).
_SCHEDULED_OPS = {
    "linalg.generic", "linalg.fill", "linalg.broadcast", "linalg.transpose", "linalg.copy",
    "linalg.matmul", "linalg.map", "linalg.reduce", "linalg.elementwise",
    "linalg.add", "linalg.sub", "linalg.mul", "linalg.div", "linalg.max", "linalg.min",
    "linalg.exp", "linalg.negf",
}
_POOLING_BODIES = {"linalg.pooling_nchw_max": "arith.maximumf", "linalg.pooling_nchw_sum": "arith.addf"}


class ScheduleError(RuntimeError):
    pass


# --- small IR helpers -------------------------------------------------------------------------

def _owner_op(value: ir.Value) -> ir.Operation | None:
    owner = value.owner
    if isinstance(owner, ir.Block):
        return None
    return owner.operation if hasattr(owner, "operation") else owner


def _tensor_shape(value: ir.Value) -> list[int] | None:
    shaped = value.type
    if not isinstance(shaped, ir.RankedTensorType) or not shaped.has_static_shape:
        return None
    return list(shaped.shape)


def _is_f32_tensor(value: ir.Value) -> bool:
    shaped = value.type
    return (isinstance(shaped, ir.RankedTensorType) and shaped.has_static_shape
            and str(shaped.element_type) == "f32")


def _type_text(shape: list[int]) -> str:
    return "tensor<" + "x".join(str(s) for s in shape) + ("x" if shape else "") + "f32>"


def _dense_i64(op: ir.Operation, name: str) -> list[int] | None:
    if name not in op.attributes:
        return None
    attribute = op.attributes[name]
    try:
        return [int(v) for v in ir.DenseIntElementsAttr(attribute)]
    except (ValueError, TypeError):
        return None


def _scheduled_functions(module: ir.Module) -> list[ir.Operation]:
    functions = []
    for op in module.body.operations:
        op = op.operation
        if op.name != "func.func" or len(op.regions[0].blocks) == 0:
            continue
        if ir.StringAttr(op.attributes["sym_name"]).value.startswith(RESERVED_FUNCTION_PREFIX):
            continue
        functions.append(op)
    return functions


def _ops_in(function: ir.Operation) -> list[ir.Operation]:
    """Every op nested in `function`, in pre-order (a snapshot, safe to rewrite while iterating)."""
    ops: list[ir.Operation] = []

    def visit(op: ir.Operation) -> ir.WalkResult:
        ops.append(op)
        return ir.WalkResult.ADVANCE

    function.walk(visit, ir.WalkOrder.PRE_ORDER)
    return ops[1:]


def _splice(template: str, anchor: ir.Operation, operands: list[ir.Value]) -> list[ir.Value]:
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


def _replace(op: ir.Operation, values: list[ir.Value]) -> None:
    for result, value in zip(op.results, values):
        result.replace_all_uses_with(value)
    op.erase()


# --- step 1: rewrites into vectorizable forms ---------------------------------------------------

def _rewrite_pooling(op: ir.Operation) -> bool:
    """`pooling_nchw_{max,sum}` -> expand_shape + one reducing `linalg.generic` per window block."""
    if len(op.operands) != 3 or not all(_is_f32_tensor(v) for v in op.operands):
        return False
    source, window, init = op.operands
    n, c, h, w = _tensor_shape(source)
    kh, kw = _tensor_shape(window)
    _, _, oh, ow = _tensor_shape(init)
    strides = _dense_i64(op, "strides") or [1, 1]
    dilations = _dense_i64(op, "dilations") or [1, 1]
    if dilations != [1, 1]:
        return False
    sh, sw = strides
    # Window row a of output row i reads input row sh*i + a = sh*(i + qa) + ra.
    hq, wq = oh + (kh - 1) // sh, ow + (kw - 1) // sw
    if sh * hq > h or sw * wq > w:
        return False
    body = _POOLING_BODIES[op.name]
    lines = [f"func.func @pool(%x: {_type_text([n, c, h, w])}, %init: {_type_text([n, c, oh, ow])})"
             f" -> {_type_text([n, c, oh, ow])} {{"]
    lines.append(f"  %s = tensor.extract_slice %x[0, 0, 0, 0] [{n}, {c}, {sh * hq}, {sw * wq}] [1, 1, 1, 1]"
                 f" : {_type_text([n, c, h, w])} to {_type_text([n, c, sh * hq, sw * wq])}")
    expanded = [n, c, hq, sh, wq, sw]
    lines.append(f"  %e = tensor.expand_shape %s [[0], [1], [2, 3], [4, 5]] output_shape {expanded}"
                 f" : {_type_text([n, c, sh * hq, sw * wq])} into {_type_text(expanded)}")
    accumulator = "%init"
    index = 0
    for qa in range(math.ceil(kh / sh)):
        rows = min(sh, kh - sh * qa)
        for qb in range(math.ceil(kw / sw)):
            cols = min(sw, kw - sw * qb)
            block = [n, c, oh, rows, ow, cols]
            lines.append(f"  %b{index} = tensor.extract_slice %e[0, 0, {qa}, 0, {qb}, 0] {block}"
                         f" [1, 1, 1, 1, 1, 1] : {_type_text(expanded)} to {_type_text(block)}")
            lines.append(
                f"  %r{index} = linalg.generic {{indexing_maps = ["
                f"affine_map<(n, c, i, j, a, b) -> (n, c, i, a, j, b)>, "
                f"affine_map<(n, c, i, j, a, b) -> (n, c, i, j)>], iterator_types = "
                f"[\"parallel\", \"parallel\", \"parallel\", \"parallel\", \"reduction\", \"reduction\"]}}"
                f" ins(%b{index} : {_type_text(block)}) outs({accumulator} : {_type_text([n, c, oh, ow])}) {{\n"
                f"  ^bb0(%in: f32, %out: f32):\n"
                f"    %v = {body} %in, %out : f32\n"
                f"    linalg.yield %v : f32\n"
                f"  }} -> {_type_text([n, c, oh, ow])}")
            accumulator = f"%r{index}"
            index += 1
    lines.append(f"  func.return {accumulator} : {_type_text([n, c, oh, ow])}")
    lines.append("}")
    _replace(op, _splice("\n".join(lines), op, [source, init]))
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


def _rewrite_matmul_transposed_rhs(op: ir.Operation) -> bool:
    """`matmul(x, transpose(W, [1, 0]))` -> one generic reading W as `(m, n, k) -> (n, k)`."""
    if len(op.operands) != 3 or not all(_is_f32_tensor(v) for v in op.operands):
        return False
    if not is_default_matmul(op) or "cast" in op.attributes:
        return False
    lhs, rhs, init = op.operands
    transpose = _owner_op(rhs)
    if transpose is None or transpose.name != "linalg.transpose":
        return False
    if _dense_array(transpose, "permutation") != [1, 0]:
        return False
    weight = transpose.operands[0]
    m, k = _tensor_shape(lhs)
    n, _ = _tensor_shape(weight)
    template = (
        f"func.func @matmul(%x: {_type_text([m, k])}, %w: {_type_text([n, k])}, %init: {_type_text([m, n])})"
        f" -> {_type_text([m, n])} {{\n"
        f"  %r = linalg.generic {{indexing_maps = [affine_map<(m, n, k) -> (m, k)>, "
        f"affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>], "
        f"iterator_types = [\"parallel\", \"parallel\", \"reduction\"]}}"
        f" ins(%x, %w : {_type_text([m, k])}, {_type_text([n, k])}) outs(%init : {_type_text([m, n])}) {{\n"
        f"  ^bb0(%a: f32, %b: f32, %acc: f32):\n"
        f"    %p = arith.mulf %a, %b : f32\n"
        f"    %s = arith.addf %acc, %p : f32\n"
        f"    linalg.yield %s : f32\n"
        f"  }} -> {_type_text([m, n])}\n"
        f"  func.return %r : {_type_text([m, n])}\n}}")
    _replace(op, _splice(template, op, [lhs, weight, init]))
    if not list(transpose.results[0].uses):
        transpose.erase()
    return True


def _dense_array(op: ir.Operation, name: str) -> list[int] | None:
    if name not in op.attributes:
        return None
    try:
        return list(ir.DenseI64ArrayAttr(op.attributes[name]))
    except (ValueError, TypeError):
        return None


def _feeds_convolution(value: ir.Value) -> bool:
    for use in value.uses:
        name = use.owner.operation.name if hasattr(use.owner, "operation") else use.owner.name
        if "conv" in name or name.startswith("patsparse."):
            return True
    return False


def _rewrite_pad(op: ir.Operation) -> bool:
    """`tensor.pad` by a constant -> fill of the padded shape + `linalg.copy` into its interior."""
    source = op.operands[0]
    if len(op.operands) != 1 or not _is_f32_tensor(source) or not _is_f32_tensor(op.results[0]):
        return False
    if _feeds_convolution(op.results[0]):
        return False  # the convolution's code generator matches the pad itself
    low, high = _dense_array(op, "static_low"), _dense_array(op, "static_high")
    if low is None or high is None or any(v < 0 for v in low + high):
        return False
    body = op.regions[0].blocks[0]
    terminator = list(body.operations)[-1].operation
    pad_value = terminator.operands[0]
    pad_owner = _owner_op(pad_value)
    if pad_owner is None or pad_owner.name != "arith.constant" or pad_owner.parent == op:
        return False
    shape, padded = _tensor_shape(source), _tensor_shape(op.results[0])
    offsets = ", ".join(str(v) for v in low)
    sizes = ", ".join(str(v) for v in shape)
    ones = ", ".join("1" for _ in shape)
    template = (
        f"func.func @pad(%x: {_type_text(shape)}, %v: f32) -> {_type_text(padded)} {{\n"
        f"  %e = tensor.empty() : {_type_text(padded)}\n"
        f"  %f = linalg.fill ins(%v : f32) outs(%e : {_type_text(padded)}) -> {_type_text(padded)}\n"
        f"  %s = tensor.extract_slice %f[{offsets}] [{sizes}] [{ones}] : {_type_text(padded)} to {_type_text(shape)}\n"
        f"  %c = linalg.copy ins(%x : {_type_text(shape)}) outs(%s : {_type_text(shape)}) -> {_type_text(shape)}\n"
        f"  %r = tensor.insert_slice %c into %f[{offsets}] [{sizes}] [{ones}] : {_type_text(shape)} into {_type_text(padded)}\n"
        f"  func.return %r : {_type_text(padded)}\n}}")
    _replace(op, _splice(template, op, [source, pad_value]))
    return True


def _split_shared_empties(function: ir.Operation) -> None:
    for op in _ops_in(function):
        if op.name != "tensor.empty" or op.operands:
            continue
        uses = [(use.owner, use.operand_number) for use in op.results[0].uses]
        for owner, number in uses[1:]:
            clone = op.clone(ir.InsertionPoint(op))
            owner = owner.operation if hasattr(owner, "operation") else owner
            owner.operands[number] = clone.results[0]


# --- step 2: tile sizes ------------------------------------------------------------------------

@dataclasses.dataclass
class OpSchedule:
    """How one (generalized) linalg op is tiled and vectorized."""
    flatten: bool                 # flatten_elementwise first (all maps identity, all parallel)
    tile_sizes: list[int]         # per loop; 0 = not tiled (whole range in one vector)
    innermost_reduction: bool = False  # each tile reduces to one element


def _divisor_at_most(extent: int, limit: int) -> int:
    for d in range(min(extent, max(limit, 1)), 0, -1):
        if extent % d == 0:
            return d
    return 1


def _loop_ranges(op: ir.Operation) -> list[int] | None:
    maps = [ir.AffineMapAttr(a).value for a in ir.ArrayAttr(op.attributes["indexing_maps"])]
    ranges: dict[int, int] = {}
    for operand, affine_map in zip(op.operands, maps):
        shape = _tensor_shape(operand) if isinstance(operand.type, ir.ShapedType) else []
        if shape is None:
            return None
        for position, expression in enumerate(affine_map.results):
            if isinstance(expression, ir.AffineDimExpr):
                ranges[ir.AffineDimExpr(expression).position] = shape[position]
    count = maps[0].n_dims
    if sorted(ranges) != list(range(count)):
        return None
    return [ranges[i] for i in range(count)]


def plan_schedule(op: ir.Operation, vector_width: int) -> OpSchedule | None:
    """Tile sizes for a generic op: the innermost loops fill a tile of ~VECTORS_PER_TILE vectors."""
    if not all(_is_f32_tensor(v) or str(v.type) == "f32" for v in op.operands):
        return None
    ranges = _loop_ranges(op)
    if ranges is None:
        return None
    iterators = [str(a) for a in ir.ArrayAttr(op.attributes["iterator_types"])]
    all_parallel = all("parallel" in t for t in iterators)
    maps = [ir.AffineMapAttr(a).value for a in ir.ArrayAttr(op.attributes["indexing_maps"])]
    # Identity maps everywhere, except scalar operands (`linalg.fill`'s `() -> ()`).
    identity_map = str(ir.AffineMap.get_identity(len(ranges)))
    identity = all(str(m) == identity_map or len(m.results) == 0 for m in maps)
    budget = VECTORS_PER_TILE * vector_width
    if all_parallel and identity and len(ranges) > 1:
        total = math.prod(ranges)
        granule = vector_width if total % vector_width == 0 else 1
        size = granule * _divisor_at_most(total // granule, budget // granule)
        return OpSchedule(flatten=True, tile_sizes=[size if size < total else 0])
    sizes = [1] * len(ranges)
    product = 1
    for loop in reversed(range(len(ranges))):
        extent = ranges[loop]
        # The innermost loop in whole vectors where the range allows it.
        granule = vector_width if loop == len(ranges) - 1 and extent % vector_width == 0 else 1
        size = granule * _divisor_at_most(extent // granule, budget // product // granule)
        sizes[loop] = size
        product *= size
        if size < extent:
            break
    tile_sizes = [0 if s == r else s for s, r in zip(sizes, ranges)]
    # A tile that is one output element reduces horizontally; a tile with several outputs
    # reduces elementwise across vectors of outputs (pooling windows).
    one_output = all(size == 1 for size, kind in zip(sizes, iterators) if "parallel" in kind)
    return OpSchedule(flatten=False, tile_sizes=tile_sizes, innermost_reduction=one_output)


# --- the transform script ----------------------------------------------------------------------

_VECTOR_PATTERNS = """
      transform.apply_patterns to %f {
        transform.apply_patterns.vector.lower_contraction lowering_strategy = "outerproduct"
        transform.apply_patterns.vector.transfer_permutation_patterns
        transform.apply_patterns.vector.lower_transpose lowering_strategy = "shuffle_1d"
        transform.apply_patterns.vector.cast_away_vector_leading_one_dim
        transform.apply_patterns.canonicalization
      } : !transform.any_op
      transform.apply_cse to %f : !transform.any_op"""


def _generalize_script() -> str:
    return f"""
module attributes {{transform.with_named_sequence}} {{
  transform.named_sequence @__transform_main(%root: !transform.any_op {{transform.readonly}}) {{
    %ops = transform.structured.match attributes{{{SCHEDULE_ATTR}}} in %root : (!transform.any_op) -> !transform.any_op
    %generic = transform.structured.generalize %ops : (!transform.any_op) -> !transform.any_op
    transform.annotate %generic "{SCHEDULE_ATTR}" : !transform.any_op
    transform.yield
  }}
}}"""


def _op_script(index: int, schedule: OpSchedule, vector_width: int) -> str:
    match = f'transform.structured.match attributes{{{SCHEDULE_ATTR} = {index} : i64}}'
    lines = [f"    %op{index} = {match} in %root : (!transform.any_op) -> !transform.any_op",
             f"    %func{index} = transform.get_parent_op %op{index} {{isolated_from_above}}"
             f" : (!transform.any_op) -> !transform.any_op",
             f"    transform.alternatives %func{index} : !transform.any_op {{",
             "    ^bb0(%scope: !transform.any_op):",
             f"      %t0 = {match} in %scope : (!transform.any_op) -> !transform.any_op"]
    target = "%t0"
    if schedule.flatten:
        lines.append(f"      %t1 = transform.structured.flatten_elementwise {target}"
                     " : (!transform.any_op) -> !transform.any_op")
        target = "%t1"
    loops = sum(1 for s in schedule.tile_sizes if s)
    if loops:
        results = ", ".join(["!transform.any_op"] * (loops + 1))
        lines.append(f"      %tiled, %loops:{loops} = transform.structured.tile_using_for {target}"
                     f" tile_sizes {schedule.tile_sizes} : (!transform.any_op) -> ({results})"
                     if loops > 1 else
                     f"      %tiled, %loop = transform.structured.tile_using_for {target}"
                     f" tile_sizes {schedule.tile_sizes} : (!transform.any_op) -> ({results})")
        target = "%tiled"
    lines.append(f"      transform.structured.vectorize {target} : !transform.any_op")
    # Reductions over the innermost loop become horizontal vector reductions; over outer
    # loops, elementwise ops between vectors.
    strategy = "innerreduction" if schedule.innermost_reduction else "innerparallel"
    region = ("%loops#0" if loops > 1 else "%loop") if loops else "%scope"
    lines.append(f"      transform.apply_patterns to {region} {{\n"
                 f"        transform.apply_patterns.vector.lower_multi_reduction lowering_strategy = \"{strategy}\"\n"
                 f"      }} : !transform.any_op")
    lines += ["    }, {", "    ^bb0(%scope: !transform.any_op):", "    }"]
    return "\n".join(lines)


def _schedule_script(schedules: list[OpSchedule], vector_width: int) -> str:
    body = "\n".join(_op_script(i, s, vector_width) for i, s in enumerate(schedules))
    return f"""
module attributes {{transform.with_named_sequence}} {{
  transform.named_sequence @__transform_main(%root: !transform.any_op {{transform.readonly}}) {{
{body}
    %funcs = transform.structured.match ops{{["func.func"]}} attributes{{{SCHEDULE_ATTR}_function}} in %root
      : (!transform.any_op) -> !transform.any_op
    transform.foreach %funcs : !transform.any_op {{
    ^bb0(%f: !transform.any_op):{_VECTOR_PATTERNS}
    }}
    transform.yield
  }}
}}"""


def _run_script(module: ir.Module, script: str) -> None:
    from mlir.dialects.transform import interpreter

    transform_module = ir.Module.parse(script)
    entry = transform_module.body.operations[0]
    interpreter.apply_named_sequence(module.operation, entry, transform_module)


def _skip(op: ir.Operation) -> bool:
    return DENSE_REASON_ATTR in op.attributes


def _tag_named_ops(function: ir.Operation) -> None:
    """Mark the dense linalg ops of `function` for generalization."""
    for op in _ops_in(function):
        if op.name not in _SCHEDULED_OPS or _skip(op):
            continue
        if op.parent.name != "func.func" or len(op.results) != 1 or not _is_f32_tensor(op.results[0]):
            continue
        op.attributes[SCHEDULE_ATTR] = ir.UnitAttr.get()


def _is_contraction(op: ir.Operation) -> bool:
    return op.name == "linalg.matmul" or (
        op.name == "linalg.generic" and "reduction" in str(op.attributes["iterator_types"])
        and len(op.operands) == 3)


def _pin_contraction_operands(function: ir.Operation) -> list[ir.Operation]:
    """Give each input of a matmul-like op a second, side-effecting user for the duration of
    fusion. Upstream fusion only fuses a producer with one user: so the flattening reshape is not
    pushed into the matmul (which would split its reduction loop into short vectors) and a ReLU
    is not recomputed for every output feature."""
    pins = []
    for op in _ops_in(function):
        if not _is_contraction(op) or _skip(op) or op.parent.name != "func.func":
            continue
        for value in list(op.operands)[:-1]:
            shape = _tensor_shape(value)
            if shape is None:
                continue
            text = (f"func.func @pin(%v: {_type_text(shape)}) {{\n"
                    f"  %c0 = arith.constant 0 : index\n"
                    f"  %e = tensor.extract %v[{', '.join(['%c0'] * len(shape))}] : {_type_text(shape)}\n"
                    f"  vector.print %e : f32\n  func.return\n}}")
            snippet = ir.Module.parse(text)
            block = snippet.body.operations[0].operation.regions[0].blocks[0]
            block.arguments[0].replace_all_uses_with(value)
            body = [o.operation for o in block.operations][:-1]
            for inner in body:
                inner.move_before(op)
            pins.append(body[1:])  # the index constant may get shared by fusion; left to DCE
    return pins


def _unpin(pins: list[list[ir.Operation]]) -> None:
    for body in pins:
        for inner in reversed(body):
            inner.erase()


def _fuse_elementwise(function: ir.Operation) -> None:
    """Upstream elementwise fusion (through reshapes), so that chains such as residual add +
    ReLU, or ReLU + max pooling, read and write memory once."""
    from mlir import passmanager

    pins = _pin_contraction_operands(function)
    manager = passmanager.PassManager.parse("func.func(linalg-fuse-elementwise-ops)")
    manager.run(function)
    _unpin(pins)
    passmanager.PassManager.parse("func.func(canonicalize,cse)").run(function)


def schedule_dense_ops(module: ir.Module, vector_width: int, *, fuse: bool = True) -> None:
    """Tile and vectorize, in place, the dense non-convolution linalg ops of `module`.

    `module` is linalg-on-tensors (as imported, possibly with patsparse ops or calls to
    `patsparse_*` functions). Afterwards its scheduled ops are `scf.for` nests of vector ops on
    tensors; lower it with `DENSE_PIPELINE`. `vector_width` is the number of f32 lanes of the
    target's vector registers (16 for AVX-512, 8 for AVX2, 4 for NEON). `fuse` runs upstream
    elementwise fusion first (skipped in functions that hold `patsparse.dense_reason` ops, which
    fusion could merge away).
    """
    if vector_width < 1:
        raise ScheduleError(f"vector_width must be positive, got {vector_width}")
    with module.context, ir.Location.unknown():
        functions = _scheduled_functions(module)
        for function in functions:
            function.attributes[SCHEDULE_ATTR + "_function"] = ir.UnitAttr.get()
            widen_boolean_tensors(function)
            for op in _ops_in(function):
                if _skip(op):
                    continue
                if op.name in _POOLING_BODIES:
                    _rewrite_pooling(op)
                elif op.name == "tensor.pad":
                    _rewrite_pad(op)
            _split_shared_empties(function)
            for op in _ops_in(function):
                if op.name == "linalg.matmul" and not _skip(op):
                    _rewrite_matmul_transposed_rhs(op)
            _tag_named_ops(function)
        _run_script(module, _generalize_script())
        for function in functions:
            if fuse and not any(_skip(op) for op in _ops_in(function)):
                _fuse_elementwise(function)
        _run_script(module, _generalize_script())
        schedules = []
        for function in functions:
            for op in _ops_in(function):
                if op.name != "linalg.generic" or op.parent.name != "func.func" or _skip(op):
                    continue
                schedule = plan_schedule(op, vector_width)
                if schedule is None:
                    if SCHEDULE_ATTR in op.attributes:
                        del op.attributes[SCHEDULE_ATTR]
                    continue
                op.attributes[SCHEDULE_ATTR] = ir.IntegerAttr.get(ir.IntegerType.get_signless(64), len(schedules))
                schedules.append(schedule)
        _run_script(module, _schedule_script(schedules, vector_width))
        for function in _scheduled_functions(module):
            if SCHEDULE_ATTR + "_function" in function.attributes:
                del function.attributes[SCHEDULE_ATTR + "_function"]
            for op in _ops_in(function):
                if SCHEDULE_ATTR in op.attributes:
                    del op.attributes[SCHEDULE_ATTR]


# --- running a scheduled module (tests, measurements) ------------------------------------------

class DenseJit:
    """`DenseJit(module_text, vector_width)(x)`: schedule, lower with DENSE_PIPELINE, JIT, call.

    The entry must take one f32 tensor and return one; after `DENSE_PIPELINE` it is
    `void entry(float *input, float *output)`, called here through ctypes.
    `schedule=False` lowers the same way without `schedule_dense_ops` (the naive baseline).
    """

    def __init__(self, module_text: str, vector_width: int, *, entry: str = "forward",
                 schedule: bool = True, fuse: bool = True, opt_level: int = 3):
        import ctypes

        from mlir import execution_engine, passmanager

        from patsparse import toolchain
        from patsparse.dialect import make_context

        self.context = make_context()
        with self.context:
            module = ir.Module.parse(module_text)
            function = next((op.operation for op in module.body.operations
                             if op.operation.name == "func.func"
                             and ir.StringAttr(op.operation.attributes["sym_name"]).value == entry), None)
            if function is None:
                raise ScheduleError(f"no function @{entry} in the module")
            function_type = ir.FunctionType(ir.TypeAttr(function.attributes["function_type"]).value)
            if len(function_type.inputs) != 1 or len(function_type.results) != 1:
                raise ScheduleError(f"@{entry} must take one tensor and return one")
            self.input_shape = list(ir.RankedTensorType(function_type.inputs[0]).shape)
            self.output_shape = list(ir.RankedTensorType(function_type.results[0]).shape)
            if schedule:
                schedule_dense_ops(module, vector_width, fuse=fuse)
            self.scheduled_text = str(module)
            passmanager.PassManager.parse(f"builtin.module({DENSE_PIPELINE})").run(module.operation)
            self.engine = execution_engine.ExecutionEngine(
                module, opt_level=opt_level, shared_libs=[str(toolchain.mlir_runtime_library())])
        # `raw_lookup` gives the ExecutionEngine's packed wrapper `_mlir_<entry>(void **args)`,
        # whose args[i] points at argument i: here the two bare data pointers.
        address = self.engine.raw_lookup(entry)
        self._function = ctypes.CFUNCTYPE(None, ctypes.POINTER(ctypes.c_void_p))(address)

    def __call__(self, array, out=None):
        import numpy as np

        array = np.ascontiguousarray(array, dtype=np.float32)
        if list(array.shape) != self.input_shape:
            raise ScheduleError(f"expected input shape {self.input_shape}, got {list(array.shape)}")
        if out is None:
            out = np.empty(self.output_shape, dtype=np.float32)
        import ctypes

        pointers = [ctypes.c_void_p(array.ctypes.data), ctypes.c_void_p(out.ctypes.data)]
        packed = (ctypes.c_void_p * 2)(*[ctypes.cast(ctypes.pointer(p), ctypes.c_void_p) for p in pointers])
        self._function(packed)
        return out


# --- measurement: `python -m patsparse.lowering.dense` ----------------------------------------

def _benchmark_module(channels: int, size: int, features: int, seed: int = 0) -> str:
    """A dense rest at realistic sizes: bias broadcast + residual add, ReLU, max pool 2x2/2,
    zero pad + max pool 3x3/2 pad 1, average pool 2x2 (sum and divide), flatten and a Linear
    layer with bias, as torch-mlir writes them."""
    import numpy as np

    rng = np.random.default_rng(seed)
    c, h = channels, size
    h2, h4, h8 = h // 2, h // 4, h // 8
    flat = c * h8 * h8

    def blob(array: np.ndarray) -> str:
        return "0x04000000" + array.astype("<f4").tobytes().hex().upper()

    t = _type_text
    generic4 = '{indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}'
    return f"""
#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#id2 = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d1)>
module {{
  func.func @forward(%x: {t([1, c, h, h])}) -> {t([1, features])} {{
    %zero = arith.constant 0.0 : f32
    %ninf = arith.constant 0xFF800000 : f32
    %four = arith.constant 4.0 : f32
    %bias = arith.constant dense_resource<bias> : {t([c])}
    %w = arith.constant dense_resource<weight> : {t([features, flat])}
    %fcb = arith.constant dense_resource<fc_bias> : {t([features])}
    %e0 = tensor.empty() : {t([1, c, h, h])}
    %b = linalg.broadcast ins(%bias : {t([c])}) outs(%e0 : {t([1, c, h, h])}) dimensions = [0, 2, 3]
    %e1 = tensor.empty() : {t([1, c, h, h])}
    %sum = linalg.generic {{indexing_maps = [#id4, #id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}}
        ins(%x, %b : {t([1, c, h, h])}, {t([1, c, h, h])}) outs(%e1 : {t([1, c, h, h])}) {{
    ^bb0(%in: f32, %in2: f32, %out: f32):
      %a = arith.addf %in, %in2 : f32
      linalg.yield %a : f32
    }} -> {t([1, c, h, h])}
    %relu = linalg.generic {generic4} ins(%sum : {t([1, c, h, h])}) outs(%e1 : {t([1, c, h, h])}) {{
    ^bb0(%in: f32, %out: f32):
      %p = arith.cmpf ugt, %in, %zero : f32
      %s = arith.select %p, %in, %zero : f32
      linalg.yield %s : f32
    }} -> {t([1, c, h, h])}
    %e2 = tensor.empty() : {t([1, c, h2, h2])}
    %f2 = linalg.fill ins(%ninf : f32) outs(%e2 : {t([1, c, h2, h2])}) -> {t([1, c, h2, h2])}
    %k2 = tensor.empty() : tensor<2x2xf32>
    %p2 = linalg.pooling_nchw_max {{dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>}}
        ins(%relu, %k2 : {t([1, c, h, h])}, tensor<2x2xf32>) outs(%f2 : {t([1, c, h2, h2])}) -> {t([1, c, h2, h2])}
    %padded = tensor.pad %p2 low[0, 0, 1, 1] high[0, 0, 1, 1] {{
    ^bb0(%i0: index, %i1: index, %i2: index, %i3: index):
      tensor.yield %ninf : f32
    }} : {t([1, c, h2, h2])} to {t([1, c, h2 + 2, h2 + 2])}
    %e3 = tensor.empty() : {t([1, c, h4, h4])}
    %f3 = linalg.fill ins(%ninf : f32) outs(%e3 : {t([1, c, h4, h4])}) -> {t([1, c, h4, h4])}
    %k3 = tensor.empty() : tensor<3x3xf32>
    %p3 = linalg.pooling_nchw_max {{dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>}}
        ins(%padded, %k3 : {t([1, c, h2 + 2, h2 + 2])}, tensor<3x3xf32>) outs(%f3 : {t([1, c, h4, h4])}) -> {t([1, c, h4, h4])}
    %e4 = tensor.empty() : {t([1, c, h8, h8])}
    %f4 = linalg.fill ins(%zero : f32) outs(%e4 : {t([1, c, h8, h8])}) -> {t([1, c, h8, h8])}
    %p4 = linalg.pooling_nchw_sum {{dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>}}
        ins(%p3, %k2 : {t([1, c, h4, h4])}, tensor<2x2xf32>) outs(%f4 : {t([1, c, h8, h8])}) -> {t([1, c, h8, h8])}
    %avg = linalg.generic {generic4} ins(%p4 : {t([1, c, h8, h8])}) outs(%e4 : {t([1, c, h8, h8])}) {{
    ^bb0(%in: f32, %out: f32):
      %d = arith.divf %in, %four : f32
      linalg.yield %d : f32
    }} -> {t([1, c, h8, h8])}
    %flat = tensor.collapse_shape %avg [[0], [1, 2, 3]] : {t([1, c, h8, h8])} into {t([1, flat])}
    %et = tensor.empty() : {t([flat, features])}
    %wt = linalg.transpose ins(%w : {t([features, flat])}) outs(%et : {t([flat, features])}) permutation = [1, 0]
    %e5 = tensor.empty() : {t([1, features])}
    %f5 = linalg.fill ins(%zero : f32) outs(%e5 : {t([1, features])}) -> {t([1, features])}
    %mm = linalg.matmul ins(%flat, %wt : {t([1, flat])}, {t([flat, features])}) outs(%f5 : {t([1, features])}) -> {t([1, features])}
    %y = linalg.generic {{indexing_maps = [#id2, #row, #id2], iterator_types = ["parallel", "parallel"]}}
        ins(%mm, %fcb : {t([1, features])}, {t([features])}) outs(%e5 : {t([1, features])}) {{
    ^bb0(%in: f32, %in2: f32, %out: f32):
      %a = arith.addf %in, %in2 : f32
      linalg.yield %a : f32
    }} -> {t([1, features])}
    return %y : {t([1, features])}
  }}
}}
{{-#
  dialect_resources: {{
    builtin: {{
      bias: "{blob(rng.standard_normal(c))}",
      weight: "{blob(rng.standard_normal((features, flat)) * 0.01)}",
      fc_bias: "{blob(rng.standard_normal(features))}"
    }}
  }}
#-}}
"""


def _time_call(function, argument, repeats: int) -> float:
    import time

    function(argument)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function(argument)
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    import argparse

    import numpy as np

    parser = argparse.ArgumentParser(
        prog="python -m patsparse.lowering.dense",
        description="Time a model's dense rest (no convolutions) lowered naively and scheduled.")
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--size", type=int, default=112, help="input height and width (multiple of 8)")
    parser.add_argument("--features", type=int, default=1000, help="Linear output features")
    parser.add_argument("--vector-width", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--check", action="store_true", help="also compare each scheduled op alone")
    options = parser.parse_args(argv)
    text = _benchmark_module(options.channels, options.size, options.features)
    x = np.random.default_rng(1).standard_normal((1, options.channels, options.size, options.size)).astype(np.float32)
    naive = DenseJit(text, options.vector_width, schedule=False)
    unfused = DenseJit(text, options.vector_width, fuse=False)
    scheduled = DenseJit(text, options.vector_width)
    expected = naive(x)
    scale = max(1e-30, float(np.max(np.abs(expected))))
    error = max(float(np.max(np.abs(expected - jit(x)))) / scale for jit in (unfused, scheduled))
    naive_s = _time_call(naive, x, options.repeats)
    unfused_s = _time_call(unfused, x, max(options.repeats, 20))
    scheduled_s = _time_call(scheduled, x, max(options.repeats, 20))
    print(f"dense rest of 1x{options.channels}x{options.size}x{options.size} -> Linear "
          f"{options.channels * (options.size // 8) ** 2}x{options.features}, vector width {options.vector_width}"
          f" (best of {options.repeats}+ runs)")
    print(f"  naive (convert-linalg-to-loops)      {naive_s * 1e3:9.3f} ms")
    print(f"  tiled + vectorized, no fusion        {unfused_s * 1e3:9.3f} ms   {naive_s / unfused_s:6.1f}x")
    print(f"  fused + tiled + vectorized (default) {scheduled_s * 1e3:9.3f} ms   {naive_s / scheduled_s:6.1f}x")
    print(f"  max relative difference to naive     {error:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
