"""`convert-pooling-to-vector`: max pooling as taps on a padded grid, threaded over channels.

torch-mlir imports `nn.MaxPool2d(3, 2, 1)` as a pad with -inf, a fill and the named op:

```mlir
%p = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] { tensor.yield %ninf : f32 } : ... to tensor<1x64x114x114xf32>
%i = linalg.fill ins(%ninf : f32) outs(%e : tensor<1x64x56x56xf32>) -> tensor<1x64x56x56xf32>
%y = linalg.pooling_nchw_max {strides = dense<2> : vector<2xi64>, dilations = dense<1> : vector<2xi64>}
       ins(%p, %w : tensor<1x64x114x114xf32>, tensor<3x3xf32>) outs(%i : ...) -> tensor<1x64x56x56xf32>
```

which becomes a call of a generated function (through a tensor-level wrapper, as the
convolutions: `replace_with_call`). A work item is one (image, channel) plane:

    plane = pad value everywhere; the channel's rows copied into the plane's stride phases
            (lowering/padded_grid.py: PaddedGrid; a window tap is then a constant offset for any stride)
    for y < Ho, for each vector of V output columns at x0:
      m = init; for each window tap t: m = max(m, load(plane[y * Wq + x0 + offset_t]))   # unrolled
      output[n, c, y, x0 ..] = m                  (the last vector of a row masked, or element-wise on NEON)

Rationale: the generic schedule (lowering/dense.py) writes the padded tensor, then runs one
reducing pass per block of the window (four for 3x3/2), each reading and writing the output;
here the plane (about 50 KiB for 112x112) stays in L2 while its taps are read, and every
output element is written once. The pad and init values are the op's own (-inf for MaxPool2d),
so a max pool with any constant padding and init is exact. Average pooling (`pooling_nchw_sum`
and its divide) stays on the generic schedule.
"""

from __future__ import annotations

import dataclasses

from mlir import ir
from mlir.dialects import arith, func, memref, scf, vector

from patsparse.dialect.ir_utils import int_array, ops_where, producer, scalar_constant
from patsparse.dialect.pass_base import PassFailure, PatsparsePass, option
from patsparse.dialect.schedule import vector_width_problem

from .convert_patsparse_to_vector import replace_with_call
from .dense_rewrites import is_f32_tensor
from .emit_helpers import (
    ConstantBuilder,
    copy_row,
    copy_span,
    declare_parallel_for,
    functions_named,
    reinterpret_buffer,
    run_work_items,
)
from .padded_grid import PARALLEL_COPY_BYTES, PaddedGrid

FUNCTION_PREFIX = "patsparse_pool_"


@dataclasses.dataclass
class PoolLayer:
    """What the generated function needs: shapes, window, strides, padding and the two constants."""

    name: str
    input_shape: tuple[int, int, int, int]    # N, C, H, W (before padding)
    output_hw: tuple[int, int]
    kernel_hw: tuple[int, int]
    strides: tuple[int, int]
    padding: tuple[int, int, int, int]        # top, left, bottom, right
    pad_value: float
    init_value: float


def match_max_pool(op: ir.Operation) -> tuple[ir.Value, dict] | None:
    """(unpadded source, layer fields) of an f32 NCHW `linalg.pooling_nchw_max` with dilation 1, a
    constant-padded (or unpadded) input and a constant fill as init; None for anything else."""
    if op.name != "linalg.pooling_nchw_max" or len(op.operands) != 3:
        return None
    source, window, init = op.operands
    if not is_f32_tensor(source) or not is_f32_tensor(op.results[0]):
        return None
    dilations = int_array(op.attributes.get("dilations"), None) or [1, 1]
    strides = int_array(op.attributes.get("strides"), None) or [1, 1]
    if dilations != [1, 1]:
        return None
    fill = producer(init, "linalg.fill")
    init_value = scalar_constant(fill.operands[0]) if fill is not None else None
    if init_value is None:
        return None
    padding, pad_value = (0, 0, 0, 0), init_value
    pad = producer(source, "tensor.pad")
    if pad is not None:
        low = int_array(pad.attributes["static_low"], None)
        high = int_array(pad.attributes["static_high"], None)
        block = pad.regions[0].blocks[0]
        yielded = list(block.operations)[-1].operands[0]
        value = scalar_constant(yielded) if len(list(block.operations)) == 1 else None
        if low is None or high is None or value is None or low[:2] != [0, 0] or high[:2] != [0, 0] \
                or min(low + high) < 0 or len(pad.operands) != 1:
            return None
        source, padding, pad_value = pad.operands[0], (low[2], low[3], high[2], high[3]), value
        if not is_f32_tensor(source):
            return None
    shape, output_shape = source.type.shape, op.results[0].type.shape
    window_shape = window.type.shape if isinstance(window.type, ir.RankedTensorType) else []
    if len(shape) != 4 or len(window_shape) != 2:
        return None
    # Along a dimension with one output the stride is never taken (2147483647 is legal): 1 then.
    strides = tuple(1 if out == 1 else stride for out, stride in zip(output_shape[2:], strides))
    return source, {"input_shape": tuple(shape), "output_hw": tuple(output_shape[2:]),
                    "kernel_hw": tuple(window_shape), "strides": strides, "padding": padding,
                    "pad_value": pad_value, "init_value": init_value}


class _Geometry:
    """The ConvLayer-shaped view PaddedGrid reads."""

    def __init__(self, layer: PoolLayer):
        self.input_shape, self.padding, self.strides = layer.input_shape, layer.padding, layer.strides
        self.output_hw, self.kernel_hw = layer.output_hw, layer.kernel_hw


def build_pool_function(layer: PoolLayer, lanes: int, parallel: bool, module_ip: ir.InsertionPoint) -> None:
    """Emit `layer.name`(input, output) and its work-item body `layer.name`_body at `module_ip`."""
    f32, index = ir.F32Type.get(), ir.IndexType.get()
    batch, channels, height, width = layer.input_shape
    out_h, out_w = layer.output_hw
    grid = PaddedGrid.of(_Geometry(layer))
    offsets = [grid.offset(dy, dx) for dy in range(layer.kernel_hw[0]) for dx in range(layer.kernel_hw[1])]
    row_vectors = -(-out_w // lanes)
    # The last vector of the last row reads up to a vector past Wo: slack after the plane.
    plane_size = grid.channel_stride + max(0, (out_h - 1) * grid.pitch + row_vectors * lanes + max(offsets)
                                           - grid.channel_stride)
    vector_type = ir.VectorType.get([lanes], f32)
    erased = ir.MemRefType.get([1], f32)
    body_type = ir.FunctionType.get([erased] * 3 + [index] * 2, [])
    parallel = parallel and 4 * batch * channels * height * width >= PARALLEL_COPY_BYTES
    with module_ip:
        input_type = ir.MemRefType.get(list(layer.input_shape), f32)
        output_type = ir.MemRefType.get([batch, channels, out_h, out_w], f32)
        function = func.FuncOp(layer.name, ([input_type, output_type], []), visibility="private")
        body = func.FuncOp(f"{layer.name}_body", body_type, visibility="private")
        if parallel:
            declare_parallel_for(module_ip, body_type)

    entry = function.add_entry_block()
    b = ConstantBuilder(entry)
    with ir.InsertionPoint(entry):
        pointers = [reinterpret_buffer(entry.arguments[0], erased), reinterpret_buffer(entry.arguments[1], erased),
                    reinterpret_buffer(entry.arguments[1], erased)]
        run_work_items(f"{layer.name}_body", body_type, b.index(batch * channels), pointers, b.index(0), parallel)
        func.ReturnOp([])

    entry = body.add_entry_block()
    b = ConstantBuilder(entry)
    stride_h, stride_w = layer.strides
    top, left = layer.padding[:2]
    with ir.InsertionPoint(entry):
        source = reinterpret_buffer(entry.arguments[0], input_type)
        output = reinterpret_buffer(entry.arguments[1], ir.MemRefType.get([batch * channels * out_h * out_w], f32))
        plane = memref.AllocOp(ir.MemRefType.get([plane_size], f32), [], [], alignment=64).result
        row = memref.AllocOp(ir.MemRefType.get([row_vectors * lanes], f32), [], [], alignment=64).result
        pad = vector.BroadcastOp(vector_type, b.f32(layer.pad_value)).result
        init = vector.BroadcastOp(vector_type, b.f32(layer.init_value)).result
        loop = scf.ForOp(entry.arguments[3], entry.arguments[4], b.index(1))
        with ir.InsertionPoint(loop.body):
            item = loop.induction_variable
            n = arith.DivUIOp(item, b.index(channels)).result
            c = arith.RemUIOp(item, b.index(channels)).result
            fill = scf.ForOp(b.index(0), b.index(plane_size - plane_size % lanes), b.index(lanes))
            with ir.InsertionPoint(fill.body):
                vector.StoreOp(pad, plane, [fill.induction_variable])
                scf.YieldOp([])
            for i in range(plane_size - plane_size % lanes, plane_size):
                memref.StoreOp(b.f32(layer.pad_value), plane, [b.index(i)])
            rows = scf.ForOp(b.index(0), b.index(height), b.index(1))
            with ir.InsertionPoint(rows.body):
                y = rows.induction_variable
                padded_row = arith.AddIOp(y, b.index(top)).result
                row_base = arith.AddIOp(
                    arith.MulIOp(arith.RemUIOp(padded_row, b.index(stride_h)).result, b.index(stride_w * grid.plane)
                                 ).result,
                    arith.MulIOp(arith.DivUIOp(padded_row, b.index(stride_h)).result, b.index(grid.pitch)).result
                ).result
                for phase_column in range(stride_w):
                    first = (phase_column - left) % stride_w
                    count = -(-(width - first) // stride_w)
                    if count > 0:
                        start = arith.AddIOp(row_base, b.index(phase_column * grid.plane + (first + left) // stride_w)
                                             ).result
                        copy_row(b, source, [n, c, y], b.index(first), plane, [], start, count, stride_w, vector_type)
                scf.YieldOp([])
            out_rows = scf.ForOp(b.index(0), b.index(out_h), b.index(1))
            with ir.InsertionPoint(out_rows.body):
                y = out_rows.induction_variable
                base = arith.MulIOp(y, b.index(grid.pitch)).result
                for j in range(row_vectors):
                    value = init
                    for offset in offsets:
                        position = arith.AddIOp(base, b.index(offset + j * lanes)).result
                        value = arith.MaximumFOp(value, vector.LoadOp(vector_type, plane, [position]).result).result
                    vector.StoreOp(value, row, [b.index(j * lanes)])
                target = arith.MulIOp(arith.AddIOp(arith.MulIOp(item, b.index(out_h)).result, y).result,
                                      b.index(out_w)).result
                copy_span(b, row, b.index(0), output, target, b.index(out_w), vector_type, masked=lanes != 4)
                scf.YieldOp([])
            scf.YieldOp([])
        func.ReturnOp([])


@dataclasses.dataclass
class ConvertPoolingToVectorPass(PatsparsePass):
    """Lower every f32 max pooling (`linalg.pooling_nchw_max`, dilation 1, constant padding and
    init: torch-mlir's `nn.MaxPool2d`) to a call of a generated function that pads each channel
    into a plane and takes the window's maximum with one vector load per tap, split over threads
    (lowering/convert_pooling_to_vector.py). Other pooling ops are left for the dense schedule."""

    flag = "convert-pooling-to-vector"
    summary = "Lower max pooling (constant padding) to threaded vector code, one load per window tap"

    vector_width: int = option(16, "f32 lanes per vector: 16 (AVX-512), 8 (AVX2), 4 (NEON)")
    parallel: bool = option(False, "split channels over threads (patsparse_parallel_for in the runtime)")

    def run(self, module: ir.Operation) -> None:
        if vector_width_problem(self.vector_width):
            raise PassFailure(vector_width_problem(self.vector_width))
        body = module.regions[0].blocks[0]
        existing = functions_named(body, FUNCTION_PREFIX)
        lowered = 0
        for op in ops_where(module, lambda op: op.name == "linalg.pooling_nchw_max"):
            match = match_max_pool(op)
            if match is None:
                continue
            source, fields = match
            layer = PoolLayer(f"{FUNCTION_PREFIX}{existing + lowered}", **fields)
            with op.location:
                build_pool_function(layer, self.vector_width, self.parallel, ir.InsertionPoint(body))
                replace_with_call(op, layer.name, [source])  # erases the pad and the fill too
            lowered += 1
        self.statistics = {"lowered": lowered}
