"""Tile and vectorize the dense rest of an imported model with upstream MLIR.

A model imported by torch-mlir is, besides its convolutions, a handful of dense
linalg-on-tensors ops: elementwise `linalg.generic` (ReLU, residual add, bias add, the divide
of an average pool), `linalg.fill`, `linalg.broadcast`, `linalg.transpose`, `linalg.copy`,
`linalg.pooling_nchw_max` / `linalg.pooling_nchw_sum`, reductions (adaptive average pool),
`linalg.matmul` (nn.Linear, with the weight transposed by a `linalg.transpose`), reshapes and
`tensor.pad`. `convert-linalg-to-loops` turns all of them into scalar loops.
`schedule_dense_ops` rewrites them, in place and still on tensors, into tiled `scf.for` nests
whose bodies are `vector` ops; `TO_LLVM` then bufferizes and lowers to the LLVM dialect.

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
3. `TO_LLVM` (text for `PassManager.parse`): one-shot bufferization with identity layouts
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
  there, and tiles become in-place subviews with no copies (no copy per tile).
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

from patsparse.dialect.ir_utils import ops_in
from patsparse.dialect.schedule import DENSE_REASON

from .boolean_storage import widen_boolean_tensors
from .dense_rewrites import (
    _POOLING_BODIES,
    is_f32_tensor,
    rewrite_matmul_transposed_rhs,
    rewrite_pad,
    rewrite_pooling,
    split_shared_empties,
    tensor_shape,
    tensor_type_text,
)

SCHEDULE_ATTR = "patsparse.dense_schedule"
RESERVED_FUNCTION_PREFIX = "patsparse_"

# Vectors per tile: enough to hide latencies and amortise loop overhead, few enough that
# the unrolled vector code stays small.
VECTORS_PER_TILE = 4


# Ops the transform script generalizes, tiles and vectorizes (after the Python rewrites).
_SCHEDULED_OPS = {
    "linalg.generic", "linalg.fill", "linalg.broadcast", "linalg.transpose", "linalg.copy",
    "linalg.matmul", "linalg.map", "linalg.reduce", "linalg.elementwise",
    "linalg.add", "linalg.sub", "linalg.mul", "linalg.div", "linalg.max", "linalg.min",
    "linalg.exp", "linalg.negf",
}


class ScheduleError(RuntimeError):
    pass


# --- small IR helpers -------------------------------------------------------------------------

def _scheduled_functions(module) -> list[ir.Operation]:
    functions = []
    for op in module.operation.regions[0].blocks[0].operations:
        op = op.operation
        if op.name != "func.func" or len(op.regions[0].blocks) == 0:
            continue
        if ir.StringAttr(op.attributes["sym_name"]).value.startswith(RESERVED_FUNCTION_PREFIX):
            continue
        functions.append(op)
    return functions


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
        shape = tensor_shape(operand) if isinstance(operand.type, ir.ShapedType) else []
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
    if not all(is_f32_tensor(v) or str(v.type) == "f32" for v in op.operands):
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
    return DENSE_REASON in op.attributes


def _tag_named_ops(function: ir.Operation) -> None:
    """Mark the dense linalg ops of `function` for generalization."""
    for op in ops_in(function):
        if op.name not in _SCHEDULED_OPS or _skip(op):
            continue
        if op.parent.name != "func.func" or len(op.results) != 1 or not is_f32_tensor(op.results[0]):
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
    for op in ops_in(function):
        if not _is_contraction(op) or _skip(op) or op.parent.name != "func.func":
            continue
        for value in list(op.operands)[:-1]:
            shape = tensor_shape(value)
            if shape is None:
                continue
            text = (f"func.func @pin(%v: {tensor_type_text(shape)}) {{\n"
                    f"  %c0 = arith.constant 0 : index\n"
                    f"  %e = tensor.extract %v[{', '.join(['%c0'] * len(shape))}] : {tensor_type_text(shape)}\n"
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
    tensors; lower it with `TO_LLVM`. `vector_width` is the number of f32 lanes of the
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
            for op in ops_in(function):
                if _skip(op):
                    continue
                if op.name in _POOLING_BODIES:
                    rewrite_pooling(op)
                elif op.name == "tensor.pad":
                    rewrite_pad(op)
            split_shared_empties(function)
            for op in ops_in(function):
                if op.name == "linalg.matmul" and not _skip(op):
                    rewrite_matmul_transposed_rhs(op)
            _tag_named_ops(function)
        _run_script(module, _generalize_script())
        for function in functions:
            if fuse and not any(_skip(op) for op in ops_in(function)):
                _fuse_elementwise(function)
        _run_script(module, _generalize_script())
        schedules = []
        for function in functions:
            for op in ops_in(function):
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
            for op in ops_in(function):
                if SCHEDULE_ATTR in op.attributes:
                    del op.attributes[SCHEDULE_ATTR]
