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


def copy_row(b: "ConstantBuilder", source: ir.Value, source_prefix: list, source_start: ir.Value, target: ir.Value,
              target_prefix: list, target_start: ir.Value, length: int, source_step: int,
              vector_type: ir.VectorType) -> None:
    """target[prefix, target_start + i] = source[prefix, source_start + i * source_step], i < length:
    whole vectors where the source is contiguous, scalars for the rest."""
    lanes = vector_type.shape[0]
    vectorized = length - length % lanes if source_step == 1 else 0
    if vectorized:
        loop = scf.ForOp(b.index(0), b.index(vectorized), b.index(lanes))
        with ir.InsertionPoint(loop.body):
            i = loop.induction_variable
            value = vector.LoadOp(vector_type, source, source_prefix + [arith.AddIOp(source_start, i).result]).result
            vector.StoreOp(value, target, target_prefix + [arith.AddIOp(target_start, i).result])
            scf.YieldOp([])
    if vectorized < length:
        loop = scf.ForOp(b.index(vectorized), b.index(length), b.index(1))
        with ir.InsertionPoint(loop.body):
            i = loop.induction_variable
            offset = arith.MulIOp(i, b.index(source_step)).result if source_step != 1 else i
            value = memref.LoadOp(source, source_prefix + [arith.AddIOp(source_start, offset).result]).result
            memref.StoreOp(value, target, target_prefix + [arith.AddIOp(target_start, i).result])
            scf.YieldOp([])


def fill_row(b: "ConstantBuilder", target: ir.Value, target_prefix: list, target_start: ir.Value, length: int,
              vector_type: ir.VectorType) -> None:
    """target[prefix, target_start + i] = 0 for i < length: whole vectors, then scalars."""
    if length <= 0:
        return
    lanes = vector_type.shape[0]
    vectorized = length - length % lanes
    if vectorized:
        zeros = vector.BroadcastOp(vector_type, b.f32(0.0)).result
        loop = scf.ForOp(b.index(0), b.index(vectorized), b.index(lanes))
        with ir.InsertionPoint(loop.body):
            vector.StoreOp(zeros, target, target_prefix + [arith.AddIOp(target_start, loop.induction_variable).result])
            scf.YieldOp([])
    if vectorized < length:
        loop = scf.ForOp(b.index(vectorized), b.index(length), b.index(1))
        with ir.InsertionPoint(loop.body):
            memref.StoreOp(b.f32(0.0), target, target_prefix + [arith.AddIOp(target_start,
                                                                                   loop.induction_variable).result])
            scf.YieldOp([])


PARALLEL_FOR = "patsparse_parallel_for"  # lowering/runtime/patsparse_parallel.c


def declare_parallel_for(module_ip: ir.InsertionPoint, body_type: ir.FunctionType) -> None:
    """`func.func private @patsparse_parallel_for(body, count, a, b, c)`, once per module."""
    block = module_ip.block
    if any(op.operation.name == "func.func" and op.attributes["sym_name"].value == PARALLEL_FOR
           for op in block.operations):
        return
    erased = body_type.inputs[0]
    func.FuncOp(PARALLEL_FOR, ([body_type, ir.IndexType.get(), erased, erased, erased], []), visibility="private")


def reinterpret_buffer(buffer: ir.Value, target: ir.MemRefType) -> ir.Value:
    """The same memory as another static shape (identity layout, offset 0)."""
    shape = list(target.shape)
    strides = [int(np.prod(shape[i + 1:])) for i in range(len(shape))]
    return memref.ReinterpretCastOp(target, buffer, [], [], [], static_offsets=[0], static_sizes=shape,
                                    static_strides=strides).result
