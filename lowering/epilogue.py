"""Elementwise epilogues fused into a convolution's store loop.

torch-mlir writes an activation after a convolution as elementwise `linalg.generic`s on the
convolution's result: SiLU is two of them (a sigmoid, then a multiply of the result by it),
ReLU6 a clamp, hard-swish a few more:

```mlir
%y = linalg.conv_2d_nchw_fchw ... -> tensor<1x16x160x160xf32>
%s = linalg.generic {identity maps} ins(%y) outs(%e) {           // sigmoid
  ^bb0(%in: f32, %out: f32):
    %n = arith.negf %in : f32
    %x = math.exp %n : f32
    %d = arith.addf %x, %one : f32
    %r = arith.divf %one, %d : f32
    linalg.yield %r : f32 }
%z = linalg.generic {identity maps} ins(%y, %s) outs(%e) {       // y * sigmoid(y)
  ^bb0(%a: f32, %b: f32, %out: f32):
    %m = arith.mulf %a, %b : f32
    linalg.yield %m : f32 }
```

`elementwise_epilogue(%y)` finds such a cluster: generics with identity maps on the
convolution's shape whose inputs are all the convolution's result or earlier members, whose
bodies are f32 `arith`/`math` ops on those inputs and scalar constants, and whose values do not
escape except the last one's. The code generators then apply the cluster to each accumulator
vector before it is stored (`Epilogue.apply`: each scalar op re-created on vectors), the
cluster's last result is replaced by the convolution's and the generics are erased. So the
activation costs no pass over memory and no buffer; `patsparse-approximate-math` later turns
its vector `math.exp` into polynomials like any other.

Rationale: a whole activation between two convolutions costs a read and a write of the
activation tensor (and, before bufferization reuse, an allocation): at YOLOv8n's and
MobileNetV2's early layers that is more time than the convolution's arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlir import ir
from mlir.dialects import arith, memref, vector

from patsparse.dialect.ir_utils import producer

# Scalar ops whose vector form is the same op on vectors of the same element types.
ELEMENTWISE = frozenset({
    "arith.addf", "arith.subf", "arith.mulf", "arith.divf", "arith.negf", "arith.maximumf", "arith.minimumf",
    "arith.maxnumf", "arith.minnumf", "arith.cmpf", "arith.select", "arith.constant",
    "math.exp", "math.tanh", "math.erf", "math.log", "math.log1p", "math.expm1", "math.absf", "math.sqrt",
    "math.rsqrt", "math.fpowi", "arith.truncf", "arith.extf", "linalg.yield"})


def _operation(op) -> ir.Operation:
    return op.operation if hasattr(op, "operation") else op


@dataclass
class Epilogue:
    """A cluster of elementwise generics applied to a convolution's result, in program order."""

    source: ir.Value
    generics: list[ir.Operation]
    inputs: tuple = ()         # other tensors the cluster reads elementwise (a residual add's), defined before

    @property
    def result(self) -> ir.Value:
        return self.generics[-1].results[0]

    @property
    def body_ops(self) -> int:
        return sum(len(list(g.regions[0].blocks[0].operations)) - 1 for g in self.generics)

    def apply(self, value: ir.Value, vector_type: ir.VectorType, inputs: list[ir.Value] = ()) -> ir.Value:
        """The cluster on one vector of the convolution's result (and `inputs`: the vectors of
        `self.inputs` at the same positions), at the current insertion point. Values that depend
        on no input (constants, a constant's `truncf`) stay scalar and are broadcast where a
        vector op takes them."""
        lanes = vector_type.shape
        vectors = {self.source: value, **dict(zip(self.inputs, inputs))}  # per element: vectors
        for generic in self.generics:
            block = generic.regions[0].blocks[0]
            scalars = _scalar_inputs(generic)
            uniform: dict = {}           # the same for every element: scalars
            varying: dict = {}
            for position, (arg, operand) in enumerate(zip(list(block.arguments)[:-1], generic.operands)):
                if position in scalars:
                    uniform[arg] = arith.ConstantOp(vector_type.element_type, scalars[position]).result
                else:
                    varying[arg] = vectors[operand]

            def as_vector(operand, varying=varying, uniform=uniform):
                if operand in varying:
                    return varying[operand]
                return vector.BroadcastOp(ir.VectorType.get(lanes, operand.type), uniform[operand]).result

            for op in block.operations:
                op = _operation(op)
                if op.name == "linalg.yield":
                    vectors[generic.results[0]] = as_vector(op.operands[0])
                    break
                for operand in op.operands:
                    if operand not in varying and operand not in uniform:  # a constant from outside the body
                        uniform[operand] = _clone_constant(operand.owner)
                attributes = {name: op.attributes[name] for name in _attribute_names(op)}
                if all(operand in uniform for operand in op.operands):
                    created = ir.Operation.create(op.name, results=[r.type for r in op.results],
                                                  operands=[uniform[o] for o in op.operands], attributes=attributes)
                    uniform[op.results[0]] = created.results[0]
                    continue
                created = ir.Operation.create(op.name, results=[ir.VectorType.get(lanes, r.type) for r in op.results],
                                              operands=[as_vector(o) for o in op.operands], attributes=attributes)
                varying[op.results[0]] = created.results[0]
        return vectors[self.generics[-1].results[0]]

    def erase(self) -> None:
        for generic in reversed(self.generics):
            generic.erase()


def _attribute_names(op: ir.Operation) -> list[str]:
    return [op.attributes[i].name for i in range(len(op.attributes))]


def _clone_constant(op) -> ir.Value:
    op = _operation(op)
    return ir.Operation.create("arith.constant", results=[op.results[0].type],
                               attributes={"value": op.attributes["value"]}).results[0]


def scalar_tensor_constant(value: ir.Value) -> float | None:
    """The number in a constant `tensor<f32>` (torch-mlir's form of a clamp's bounds), else None."""
    op = value.owner
    op = _operation(op) if not isinstance(op, ir.Block) else None
    if op is None or op.name != "arith.constant" or not isinstance(value.type, ir.RankedTensorType) \
            or value.type.rank != 0 or not isinstance(value.type.element_type, ir.F32Type):
        return None
    return ir.FloatAttr(ir.DenseElementsAttr(op.attributes["value"]).get_splat_value()).value


def _scalar_inputs(op: ir.Operation) -> dict[int, float]:
    """Inputs read through the map `(d...) -> ()` that are constant numbers, by position."""
    maps = [ir.AffineMapAttr(m).value for m in ir.ArrayAttr(op.attributes["indexing_maps"])]
    found = {}
    for position, (operand, map_) in enumerate(zip(list(op.operands)[:-1], maps)):
        if len(map_.results) == 0 and scalar_tensor_constant(operand) is not None:
            found[position] = scalar_tensor_constant(operand)
    return found


def _eligible(op: ir.Operation, shape_type: ir.Type) -> bool:
    """An elementwise generic on `shape_type` with identity maps (or constant numbers read as
    `tensor<f32>`) and an f32 arith/math body."""
    if op.name != "linalg.generic" or len(op.results) != 1 or op.results[0].type != shape_type:
        return False
    rank = len(shape_type.shape)
    identity = str(ir.AffineMap.get_identity(rank))
    maps = [str(ir.AffineMapAttr(m).value) for m in ir.ArrayAttr(op.attributes["indexing_maps"])]
    scalars = _scalar_inputs(op)
    if len(maps) != len(op.operands) or maps[-1] != identity or \
            any(m != identity and i not in scalars for i, m in enumerate(maps[:-1])):
        return False
    if any("parallel" not in str(t) for t in ir.ArrayAttr(op.attributes["iterator_types"])):
        return False
    block = op.regions[0].blocks[0]
    arguments = list(block.arguments)
    inside = set(arguments[:-1])
    for body_op in block.operations:
        body_op = _operation(body_op)
        if body_op.name not in ELEMENTWISE:
            return False
        for operand in body_op.operands:
            if operand in inside:
                continue
            if operand == arguments[-1]:
                return False  # reads the output: not a pure function of the inputs
            constant = producer(operand, "arith.constant")
            if constant is None or not isinstance(constant.attributes["value"], (ir.FloatAttr, ir.IntegerAttr)):
                return False  # a scalar constant from outside the body, or nothing
        for result in body_op.results:
            if not isinstance(result.type, (ir.F16Type, ir.F32Type, ir.F64Type, ir.IntegerType)):
                return False
            inside.add(result)
    return True


def elementwise_epilogue(value: ir.Value, max_inputs: int = 0) -> Epilogue | None:
    """The largest cluster of elementwise generics after `value` (a convolution's result) that
    the convolution's store loop can compute instead: every use of `value` and of each member's
    result but the last is a member; None if there is none. With `max_inputs`, members may also
    read up to that many other tensors of the same type defined before the convolution (a
    residual add: the generator then loads them beside its stores)."""
    owner = _operation(value.owner)
    block = owner.block
    before = {argument for argument in block.arguments}
    for op in block.operations:
        op = _operation(op)
        if op == owner:
            break
        before.update(op.results)
    known = {value}
    members: list[ir.Operation] = []
    inputs: list[ir.Value] = []
    started = False
    for op in block.operations:
        op = _operation(op)
        if not started:
            started = op == owner
            continue
        if not any(operand in known for operand in op.operands):
            continue
        if not _eligible(op, value.type):
            break
        scalars = _scalar_inputs(op)
        others = [operand for i, operand in enumerate(list(op.operands)[:-1]) if i not in scalars
                  and operand not in known and operand not in inputs]
        if any(o not in before or o.type != value.type for o in others) or len(inputs) + len(others) > max_inputs:
            break
        inputs += others
        members.append(op)
        known.add(op.results[0])
        if len(members) == 8:
            break
    # The longest prefix whose values (but the last) are used only inside it.
    while members:
        inner = {value} | {m.results[0] for m in members[:-1]}
        member_set = members
        if all(_operation(use.owner) in member_set for v in inner for use in v.uses):
            read = {operand for m in members for operand in m.operands}
            return Epilogue(value, members, tuple(i for i in inputs if i in read))
        members = members[:-1]
    return None


def store_finisher(epilogue: Epilogue | None, relu: bool, inputs: list[ir.Value], b):
    """What a generator's store loop applies to each value before it is stored at a flat index of
    the output: the fused ReLU or epilogue, the epilogue's other tensors (`inputs`, flat buffers
    shaped like the output) loaded at the same index (masked like the store, or one element for a
    one-lane vector). `finish(value, vector_type, index, mask=None)`."""
    def finish(value: ir.Value, vector_type: ir.VectorType, index: ir.Value, mask: ir.Value | None = None):
        if epilogue is None:
            if not relu:
                return value
            return arith.MaximumFOp(value, vector.BroadcastOp(vector_type, b.f32(0.0)).result).result
        loaded = []
        for buffer in inputs:
            if vector_type.shape[0] == 1:
                scalar = memref.LoadOp(buffer, [index]).result
                loaded.append(vector.BroadcastOp(vector_type, scalar).result)
            elif mask is None:
                loaded.append(vector.LoadOp(vector_type, buffer, [index]).result)
            else:
                zeros = vector.BroadcastOp(vector_type, b.f32(0.0)).result
                loaded.append(vector.MaskedLoadOp(vector_type, buffer, [index], mask, zeros).result)
        return epilogue.apply(value, vector_type, loaded)
    return finish
