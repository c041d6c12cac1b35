"""`convert-linear-to-vector`: fully connected layers (`nn.Linear`) to threaded vector code.

torch-mlir imports `nn.Linear` as a matmul with the transposed constant weight:

```mlir
%t = linalg.transpose ins(%W : tensor<NxKxf32>) outs(%e : tensor<KxNxf32>) permutation = [1, 0]
%z = linalg.fill ins(%zero : f32) outs(%e2 : tensor<MxNxf32>) -> tensor<MxNxf32>
%y = linalg.matmul ins(%x, %t : tensor<MxKxf32>, tensor<KxNxf32>) outs(%z : tensor<MxNxf32>) -> tensor<MxNxf32>
```

becomes a call of a generated function that reads `W` row by row, as stored, through a
tensor-level wrapper (`replace_with_call` in convert_patsparse_to_vector.py says why):

```mlir
%y = call @patsparse_linear_0_tensor(%x) : (tensor<MxKxf32>) -> tensor<MxNxf32>
func.func private @patsparse_linear_0_tensor(%x: tensor<MxKxf32>) -> tensor<MxNxf32> {
  %xm = bufferization.to_buffer %x read_only : tensor<MxKxf32> to memref<MxKxf32>
  %ym = memref.alloc() {alignment = 64 : i64} : memref<MxNxf32>
  call @patsparse_linear_0(%xm, %ym) : (memref<MxKxf32>, memref<MxNxf32>) -> ()
  %y = bufferization.to_tensor %ym restrict writable : memref<MxNxf32> to tensor<MxNxf32>
  return %y : tensor<MxNxf32>
}
```

A work item is a block of ROWS output features; for each image it keeps ROWS x UNROLL vector
accumulators in registers along the whole of K (one FMA per loaded weight vector, the input
vector shared by the ROWS features) and reduces them horizontally once at the end. Work items
run through `patsparse_parallel_for`, as the convolutions do.

Rationale: at batch 1 a linear layer is a matrix-vector product that streams its weight from
memory once (VGG-16's first one is 411 MB). The generic schedule of lowering/dense.py tiles K
and reduces every tile horizontally into memory, which runs at about half the memory
bandwidth; this code runs at the bandwidth, and threads where there is more of it.
Matmuls that do not match (no constant transposed weight, a non-zero init) stay for the
generic schedule.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from mlir import ir
from mlir.dialects import arith, func, memref, scf, vector

from patsparse.dialect.ir_utils import constant_array, ops_where, producer, scalar_constant
from patsparse.dialect.pass_base import PassFailure, PatsparsePass, option
from patsparse.dialect.schedule import vector_width_problem

from .convert_patsparse_to_vector import replace_with_call
from .dense_rewrites import is_default_matmul
from .emit_helpers import (
    PARALLEL_FOR,
    ConstantBuilder,
    constant_global,
    declare_parallel_for,
    functions_named,
    reinterpret_buffer,
)

FUNCTION_PREFIX = "patsparse_linear_"
UNROLL = 2  # vectors along K per feature per step: ROWS x UNROLL independent accumulators


@dataclasses.dataclass
class LinearLayer:
    name: str
    batch: int        # M
    inputs: int       # K
    weight: np.ndarray  # N x K, as nn.Linear stores it

    @property
    def outputs(self) -> int:
        return int(self.weight.shape[0])

    @property
    def rows(self) -> int:
        """Output features per work item: 4 where N allows (the input vector serves 4 FMAs)."""
        return next(r for r in (4, 2, 1) if self.outputs % r == 0)


def match_linear(op: ir.Operation) -> tuple[ir.Value, np.ndarray] | None:
    """(input, weight N x K) of `matmul(x, transpose(W_constant)) + zero init`, else None."""
    if op.name != "linalg.matmul" or len(op.operands) != 3 or "cast" in op.attributes:
        return None
    if not is_default_matmul(op):  # only the (m, k) x (k, n) form
        return None
    lhs, rhs, init = op.operands
    if any(str(v.type.element_type) != "f32" for v in (lhs, rhs, init)):
        return None
    transpose = producer(rhs, "linalg.transpose")
    fill = producer(init, "linalg.fill")
    if transpose is None or fill is None or scalar_constant(fill.operands[0]) != 0.0:
        return None
    if list(ir.DenseI64ArrayAttr(transpose.attributes["permutation"])) != [1, 0]:
        return None
    weight = constant_array(transpose.operands[0])
    if weight is None or weight.ndim != 2 or not ir.RankedTensorType(lhs.type).has_static_shape:
        return None
    return lhs, np.ascontiguousarray(weight, np.float32)


def build_linear_function(layer: LinearLayer, vector_width: int, parallel: bool,
                          module_ip: ir.InsertionPoint) -> None:
    """Emit `layer.name(x: memref<MxKxf32>, out: memref<MxNxf32>)`, its body and its weight global."""
    f32, index = ir.F32Type.get(), ir.IndexType.get()
    m_count, k_count, n_count, rows = layer.batch, layer.inputs, layer.outputs, layer.rows
    lanes = vector_width
    step = lanes * UNROLL
    k_main = k_count - k_count % step
    vector_type = ir.VectorType.get([lanes], f32)
    erased = ir.MemRefType.get([1], f32)
    body_type = ir.FunctionType.get([erased, erased, erased, index, index], [])
    with module_ip:
        weights_name, weights_type = constant_global(f"{layer.name}_weights", layer.weight.reshape(-1), f32)
        function = func.FuncOp(layer.name, ([ir.MemRefType.get([m_count, k_count], f32),
                                             ir.MemRefType.get([m_count, n_count], f32)], []), visibility="private")
        body_function = func.FuncOp(f"{layer.name}_body", body_type, visibility="private")
        if parallel:
            declare_parallel_for(module_ip, body_type)

    entry = function.add_entry_block()
    b = ConstantBuilder(entry)
    with ir.InsertionPoint(entry):
        x_pointer, out_pointer = (reinterpret_buffer(argument, erased) for argument in entry.arguments)
        count = b.index(n_count // rows)
        if parallel:
            body_pointer = func.ConstantOp(body_type, ir.FlatSymbolRefAttr.get(f"{layer.name}_body")).result
            func.CallOp([], ir.FlatSymbolRefAttr.get(PARALLEL_FOR), [body_pointer, count, x_pointer, x_pointer,
                                                                    out_pointer])
        else:
            func.CallOp([], ir.FlatSymbolRefAttr.get(f"{layer.name}_body"),
                        [x_pointer, x_pointer, out_pointer, b.index(0), count])
        func.ReturnOp([])

    entry = body_function.add_entry_block()
    b = ConstantBuilder(entry)
    with ir.InsertionPoint(entry):
        x = reinterpret_buffer(entry.arguments[0], ir.MemRefType.get([m_count * k_count], f32))
        out = reinterpret_buffer(entry.arguments[2], ir.MemRefType.get([m_count * n_count], f32))
        weights = memref.GetGlobalOp(weights_type, weights_name).result
        zeros = vector.BroadcastOp(vector_type, b.f32(0.0)).result
        item_loop = scf.ForOp(entry.arguments[3], entry.arguments[4], b.index(1))
        with ir.InsertionPoint(item_loop.body):
            first_row = arith.MulIOp(item_loop.induction_variable, b.index(rows)).result
            row_bases = [arith.MulIOp(arith.AddIOp(first_row, b.index(r)).result, b.index(k_count)).result
                         for r in range(rows)]
            image_loop = scf.ForOp(b.index(0), b.index(m_count), b.index(1))
            with ir.InsertionPoint(image_loop.body):
                m = image_loop.induction_variable
                x_base = arith.MulIOp(m, b.index(k_count)).result
                sums = [b.f32(0.0)] * rows
                if k_main:
                    k_loop = scf.ForOp(b.index(0), b.index(k_main), b.index(step), [zeros] * (rows * UNROLL))
                    with ir.InsertionPoint(k_loop.body):
                        k = k_loop.induction_variable
                        accs = list(k_loop.inner_iter_args)
                        for u in range(UNROLL):
                            column = arith.AddIOp(k, b.index(u * lanes)).result
                            x_vector = vector.LoadOp(vector_type, x, [arith.AddIOp(x_base, column).result]).result
                            for r in range(rows):
                                w_vector = vector.LoadOp(vector_type, weights,
                                                         [arith.AddIOp(row_bases[r], column).result]).result
                                accs[r * UNROLL + u] = vector.FMAOp(w_vector, x_vector, accs[r * UNROLL + u]).result
                        scf.YieldOp(accs)
                    for r in range(rows):
                        total = k_loop.results[r * UNROLL]
                        for u in range(1, UNROLL):
                            total = arith.AddFOp(total, k_loop.results[r * UNROLL + u]).result
                        sums[r] = vector.ReductionOp(f32, vector.CombiningKind.ADD, total).result
                if k_main < k_count:  # the K % (lanes x UNROLL) tail, scalar
                    tail = scf.ForOp(b.index(k_main), b.index(k_count), b.index(1), sums)
                    with ir.InsertionPoint(tail.body):
                        k = tail.induction_variable
                        x_value = memref.LoadOp(x, [arith.AddIOp(x_base, k).result]).result
                        new = [arith.AddFOp(s, arith.MulFOp(
                            memref.LoadOp(weights, [arith.AddIOp(row_bases[r], k).result]).result, x_value).result
                        ).result for r, s in enumerate(tail.inner_iter_args)]
                        scf.YieldOp(new)
                    sums = list(tail.results)
                out_base = arith.AddIOp(arith.MulIOp(m, b.index(n_count)).result, first_row).result
                for r in range(rows):
                    memref.StoreOp(sums[r], out, [arith.AddIOp(out_base, b.index(r)).result])
                scf.YieldOp([])
            scf.YieldOp([])
        func.ReturnOp([])


@dataclasses.dataclass
class ConvertLinearToVectorPass(PatsparsePass):
    """Lower every fully connected layer (`linalg.matmul` of the input and a constant transposed
    weight, zero init: torch-mlir's `nn.Linear`) to a call of a generated function that
    streams the weight row by row with vector accumulators, split over threads
    (lowering/convert_linear_to_vector.py). Other matmuls are left for the dense schedule."""

    flag = "convert-linear-to-vector"
    summary = "Lower fully connected layers (matmul with a constant transposed weight) to vector code"

    vector_width: int = option(16, "f32 lanes per vector: 16 (AVX-512), 8 (AVX2), 4 (NEON)")
    parallel: bool = option(False, "split output features over threads (patsparse_parallel_for in the runtime)")

    def run(self, module: ir.Operation) -> None:
        if self.vector_width < 1:
            raise PassFailure(f"vector-width={self.vector_width}: expected a positive number of lanes")
        if vector_width_problem(self.vector_width):
            raise PassFailure(vector_width_problem(self.vector_width))
        body = module.regions[0].blocks[0]
        existing = functions_named(body, FUNCTION_PREFIX)
        lowered = 0
        for op in ops_where(module, lambda op: op.name == "linalg.matmul"):
            match = match_linear(op)
            if match is None:
                continue
            source, weight = match
            batch, inputs = ir.RankedTensorType(source.type).shape
            if weight.shape[1] != inputs:
                continue
            layer = LinearLayer(f"{FUNCTION_PREFIX}{existing + lowered}", batch, inputs, weight)
            with op.location:
                build_linear_function(layer, self.vector_width, self.parallel, ir.InsertionPoint(body))
                replace_with_call(op, layer.name, [source])  # erases the transpose and fill too
            lowered += 1
        self.statistics = {"lowered": lowered}
