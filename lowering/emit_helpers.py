"""Small builders the code generators share (convolutions, linear layers): constants created
once per function, constant arrays as private globals, row copies and fills with whole vectors,
the thread runtime's entry point, and buffer reinterpretation."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from mlir import ir
from mlir.dialects import arith, func, memref, scf, vector


@dataclass
class ConstantBuilder:
    """Constants created once at the entry of the function (so they dominate every use)."""

    entry: ir.Block
    cache: dict = field(default_factory=dict)

    def index(self, value: int) -> ir.Value:
        key = ("index", value)
        if key not in self.cache:
            with ir.InsertionPoint.at_block_begin(self.entry):
                self.cache[key] = arith.ConstantOp.create_index(value).result
        return self.cache[key]

    def f32(self, value: float) -> ir.Value:
        key = ("f32", value)
        if key not in self.cache:
            with ir.InsertionPoint.at_block_begin(self.entry):
                self.cache[key] = arith.ConstantOp(ir.F32Type.get(), value).result
        return self.cache[key]


def index_bits(largest: int, compact: bool) -> int:
    """32, or with `compact` the narrowest of 8/16/32 bits holding 0..largest (read unsigned)."""
    if not compact:
        return 32
    return 8 if largest < 1 << 8 else 16 if largest < 1 << 16 else 32


def index_element_type(largest: int, compact: bool) -> ir.IntegerType:
    return ir.IntegerType.get_signless(index_bits(largest, compact))


def constant_global(name: str, array: np.ndarray, element: ir.Type) -> tuple[str, ir.MemRefType]:
    dtype = {8: np.uint8, 16: np.uint16, 32: np.int32}[element.width] if isinstance(element, ir.IntegerType) \
        else np.float32
    size = max(int(array.size), 1)  # an empty global is not allowed; pad with one zero
    data = np.zeros(size, dtype)
    data[:array.size] = array.reshape(-1)
    if dtype in (np.uint8, np.uint16):
        data = data.view({np.uint8: np.int8, np.uint16: np.int16}[dtype])
    memref_type = ir.MemRefType.get([size], element)
    memref.GlobalOp(name, ir.TypeAttr.get(memref_type), sym_visibility="private",
                    initial_value=ir.DenseElementsAttr.get(data, type=ir.RankedTensorType.get([size], element)),
                    constant=True,
                    alignment=64)
    return name, memref_type


def _constant_mask(lanes: int, count: int) -> ir.Value:
    """vector<lanes x i1> with the first `count` lanes on."""
    return vector.ConstantMaskOp(ir.VectorType.get([lanes], ir.IntegerType.get_signless(1)), [count]).result


def _shifted(b: ConstantBuilder, start: ir.Value, offset) -> ir.Value:
    if isinstance(offset, int):
        return start if offset == 0 else arith.AddIOp(start, b.index(offset)).result
    return arith.AddIOp(start, offset).result


def copy_row(b: ConstantBuilder, source: ir.Value, source_prefix: list, source_start: ir.Value, target: ir.Value,
              target_prefix: list, target_start: ir.Value, length: int, source_step: int,
              vector_type: ir.VectorType) -> None:
    """target[prefix, target_start + i] = source[prefix, source_start + i * source_step], i < length:
    whole vectors where the source is contiguous, the rest with one masked load and store; with
    step 2, pairs of vectors de-interleaved by a shuffle; scalars for other steps.

    Masked lanes touch no memory, and no vector reads past source element
    source_start + (length - 1) * source_step, so rows at the end of a buffer are safe."""
    lanes = vector_type.shape[0]
    if length <= 0:
        return
    if source_step == 1:
        vectorized = length - length % lanes
        if vectorized:
            loop = scf.ForOp(b.index(0), b.index(vectorized), b.index(lanes))
            with ir.InsertionPoint(loop.body):
                i = loop.induction_variable
                value = vector.LoadOp(vector_type, source, source_prefix + [_shifted(b, source_start, i)]).result
                vector.StoreOp(value, target, target_prefix + [_shifted(b, target_start, i)])
                scf.YieldOp([])
        if vectorized < length:
            mask = _constant_mask(lanes, length - vectorized)
            zeros = vector.BroadcastOp(vector_type, b.f32(0.0)).result
            value = vector.MaskedLoadOp(vector_type, source, source_prefix + [_shifted(b, source_start, vectorized)],
                                        mask, zeros).result
            vector.MaskedStoreOp(target, target_prefix + [_shifted(b, target_start, vectorized)], mask, value)
        return
    if source_step == 2:
        # Output vector i takes source elements 2i .. 2i + 2 lanes - 2 (even lanes of two loads);
        # whole pairs while their last element (2i + 2 lanes - 1) is still inside the row.
        vectorized = (length - 1) // lanes * lanes
        evens = list(range(0, 2 * lanes, 2))
        if vectorized:
            loop = scf.ForOp(b.index(0), b.index(vectorized), b.index(lanes))
            with ir.InsertionPoint(loop.body):
                i = loop.induction_variable
                first = _shifted(b, source_start, arith.MulIOp(i, b.index(2)).result)
                low = vector.LoadOp(vector_type, source, source_prefix + [first]).result
                high = vector.LoadOp(vector_type, source, source_prefix + [_shifted(b, first, lanes)]).result
                vector.StoreOp(vector.ShuffleOp(low, high, evens).result, target,
                               target_prefix + [_shifted(b, target_start, i)])
                scf.YieldOp([])
        rest = length - vectorized
        needed = 2 * rest - 1  # source elements the rest spans
        zeros = vector.BroadcastOp(vector_type, b.f32(0.0)).result
        first = _shifted(b, source_start, 2 * vectorized)
        low = vector.MaskedLoadOp(vector_type, source, source_prefix + [first], _constant_mask(lanes, min(lanes, needed)),
                                  zeros).result
        high = zeros if needed <= lanes else vector.MaskedLoadOp(
            vector_type, source, source_prefix + [_shifted(b, first, lanes)], _constant_mask(lanes, needed - lanes),
            zeros).result
        vector.MaskedStoreOp(target, target_prefix + [_shifted(b, target_start, vectorized)],
                             _constant_mask(lanes, rest), vector.ShuffleOp(low, high, evens).result)
        return
    loop = scf.ForOp(b.index(0), b.index(length), b.index(1))
    with ir.InsertionPoint(loop.body):
        i = loop.induction_variable
        offset = arith.MulIOp(i, b.index(source_step)).result
        value = memref.LoadOp(source, source_prefix + [arith.AddIOp(source_start, offset).result]).result
        memref.StoreOp(value, target, target_prefix + [arith.AddIOp(target_start, i).result])
        scf.YieldOp([])


def copy_span(b: ConstantBuilder, source: ir.Value, source_start: ir.Value, target: ir.Value,
              target_start: ir.Value, length: ir.Value, vector_type: ir.VectorType, masked: bool,
              finish=None) -> None:
    """target[target_start + i] = finish(source[source_start + i]) for i < length (a run-time
    value; 1-d buffers): whole vectors, then the rest with one masked load and store (`masked`,
    where masks are cheap: AVX-512, AVX2) or element by element as one-lane vectors (NEON, which
    has no masked memory ops). `finish(value, vector_type, target index, mask)`: e.g. a fused
    epilogue (lowering/epilogue.py: store_finisher); None copies."""
    lanes = vector_type.shape[0]
    whole = arith.SubIOp(length, arith.RemUIOp(length, b.index(lanes)).result).result
    loop = scf.ForOp(b.index(0), whole, b.index(lanes))
    with ir.InsertionPoint(loop.body):
        i = loop.induction_variable
        value = vector.LoadOp(vector_type, source, [arith.AddIOp(source_start, i).result]).result
        index = arith.AddIOp(target_start, i).result
        vector.StoreOp(finish(value, vector_type, index) if finish else value, target, [index])
        scf.YieldOp([])
    if masked:
        rest = arith.CmpIOp(arith.CmpIPredicate.ult, whole, length).result
        branch = scf.IfOp(rest, [], has_else=False)
        with ir.InsertionPoint(branch.then_block):
            mask_type = ir.VectorType.get([lanes], ir.IntegerType.get_signless(1))
            mask = vector.CreateMaskOp(mask_type, [arith.SubIOp(length, whole).result]).result
            zeros = vector.BroadcastOp(vector_type, b.f32(0.0)).result
            value = vector.MaskedLoadOp(vector_type, source, [arith.AddIOp(source_start, whole).result], mask,
                                        zeros).result
            index = arith.AddIOp(target_start, whole).result
            vector.MaskedStoreOp(target, [index], mask, finish(value, vector_type, index, mask) if finish else value)
            scf.YieldOp([])
        return
    loop = scf.ForOp(whole, length, b.index(1))
    with ir.InsertionPoint(loop.body):
        i = loop.induction_variable
        value = memref.LoadOp(source, [arith.AddIOp(source_start, i).result]).result
        index = arith.AddIOp(target_start, i).result
        if finish:
            one = ir.VectorType.get([1], vector_type.element_type)
            value = vector.ExtractOp(finish(vector.BroadcastOp(one, value).result, one, index), [], [0]).result
        memref.StoreOp(value, target, [index])
        scf.YieldOp([])


def fill_row(b: ConstantBuilder, target: ir.Value, target_prefix: list, target_start: ir.Value, length: int,
              vector_type: ir.VectorType) -> None:
    """target[prefix, target_start + i] = 0 for i < length: whole vectors, then one masked store."""
    if length <= 0:
        return
    lanes = vector_type.shape[0]
    vectorized = length - length % lanes
    zeros = vector.BroadcastOp(vector_type, b.f32(0.0)).result
    if vectorized:
        loop = scf.ForOp(b.index(0), b.index(vectorized), b.index(lanes))
        with ir.InsertionPoint(loop.body):
            vector.StoreOp(zeros, target, target_prefix + [arith.AddIOp(target_start, loop.induction_variable).result])
            scf.YieldOp([])
    if vectorized < length:
        vector.MaskedStoreOp(target, target_prefix + [_shifted(b, target_start, vectorized)],
                             _constant_mask(lanes, length - vectorized), zeros)


def functions_named(module_body: ir.Block, prefix: str) -> int:
    """How many `func.func`s of the module are named `prefix...` (new ones are numbered after them)."""
    return sum(1 for op in module_body.operations if op.operation.name == "func.func"
               and op.attributes["sym_name"].value.startswith(prefix))


@dataclass
class LayerSignature:
    """The types of a generated convolution's two functions: `@<name>(input, [bias,] inputs..., output)`,
    where `inputs` are the tensors its fused epilogue reads (a residual add's), and its work-item body
    `(input, bias, output, inputs..., begin, end)` on type-erased buffers."""

    bias_type: ir.MemRefType
    inputs: int
    body_type: ir.FunctionType

    @classmethod
    def of(cls, layer) -> LayerSignature:
        f32 = ir.F32Type.get()
        inputs = len(layer.epilogue.inputs) if layer.epilogue is not None else 0
        erased = ir.MemRefType.get([1], f32)
        return cls(ir.MemRefType.get([layer.filters if layer.has_bias else 1], f32), inputs,
                   ir.FunctionType.get([erased] * (3 + inputs) + [ir.IndexType.get()] * 2, []))

    def arguments(self, layer, input_type: ir.MemRefType, output_type: ir.MemRefType) -> list[ir.MemRefType]:
        return [input_type] + ([self.bias_type] if layer.has_bias else []) + [output_type] * (self.inputs + 1)


PARALLEL_FOR = "patsparse_parallel_for"  # lowering/runtime/patsparse_parallel.c
PARALLEL_FOR4 = "patsparse_parallel_for4"  # the same for bodies of four buffers


def parallel_for_name(body_type: ir.FunctionType) -> str:
    """The runtime entry for a body of three or four buffers (then begin, end)."""
    return PARALLEL_FOR4 if len(body_type.inputs) == 6 else PARALLEL_FOR


def declare_parallel_for(module_ip: ir.InsertionPoint, body_type: ir.FunctionType) -> None:
    """`func.func private @patsparse_parallel_for(body, count, a, b, c)` (or `..._for4` with a
    fourth buffer `d`, for `body_type`), once per module."""
    block = module_ip.block
    name = parallel_for_name(body_type)
    if any(op.operation.name == "func.func" and op.attributes["sym_name"].value == name
           for op in block.operations):
        return
    erased = body_type.inputs[0]
    buffers = len(body_type.inputs) - 2
    func.FuncOp(name, ([body_type, ir.IndexType.get()] + [erased] * buffers, []), visibility="private")


def run_work_items(body: str, body_type: ir.FunctionType, count: ir.Value, pointers: list[ir.Value], zero: ir.Value,
                   parallel: bool) -> None:
    """Work items [0, count) of the generated function `body`(pointers..., begin, end): split over
    the runtime's threads (patsparse_parallel_for) or called directly."""
    if parallel:
        body_pointer = func.ConstantOp(body_type, ir.FlatSymbolRefAttr.get(body)).result
        func.CallOp([], ir.FlatSymbolRefAttr.get(parallel_for_name(body_type)), [body_pointer, count] + pointers)
    else:
        func.CallOp([], ir.FlatSymbolRefAttr.get(body), pointers + [zero, count])


def reinterpret_buffer(buffer: ir.Value, target: ir.MemRefType) -> ir.Value:
    """The same memory as another static shape (identity layout, offset 0)."""
    shape = list(target.shape)
    strides = [int(np.prod(shape[i + 1:])) for i in range(len(shape))]
    return memref.ReinterpretCastOp(target, buffer, [], [], [], static_offsets=[0], static_sizes=shape,
                                    static_strides=strides).result
