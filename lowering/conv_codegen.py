"""Vector code for one convolution layer whose kernels are lists of taps.

A pattern convolution is a set of kernels, each reading one input channel through the
taps of one pattern; a dense KHxKW convolution is the same thing with one pattern that
has every tap. One generator therefore serves both. It emits two functions:

    func.func private @<name>(%input: memref<NxCxHxWxf32>, [%bias: memref<Fxf32>,]
                              %output: memref<NxFxHoxWoxf32>)
        copies the input into a zero-padded, stride-phased buffer, then runs the work items
        [0, count) through @<name>_body, directly or via patsparse_parallel_for (threads);
    func.func private @<name>_body(%padded, %bias, %output: memref<1xf32>, %begin, %end: index)
        computes work items begin..end-1 (buffers type-erased so one runtime entry serves
        every layer).

A work item is (image, filter position), or with `rows_outer` (image, row block, x-block,
filter position). For each, `rows` x R accumulators of V lanes stay in registers:

    f = filter_order[p]; acc[i][j] = broadcast(bias[f])
    for each pattern q (unrolled: its taps are constants)
      for kernel k in segment (p, q):                  # scf.for, accumulators as iter_args
        base = kernel_channels[k] * channel_stride + tile offset
        for each tap (dr, dc) of q, weight w = weights[k*T + t]:         # unrolled
          for i < rows, j < R: acc[i][j] = fma(broadcast(w), load(padded[base + CONST]), acc[i][j])
    store the accumulators (straight to the output, or through a row buffer for partial blocks)

Rationale:
- The padded buffer splits the width into `sw` phases (column i*sw + c goes to phase c,
  index i). Every tap then reads contiguous vectors at a constant offset for any stride,
  and all loads are in bounds (no masks). Only the padding is zeroed.
- Loads index the padded buffer as one flat array: per kernel one multiply, per load a
  compile-time constant that the backend folds into the addressing mode.
- Kernels are grouped by pattern inside each filter so tap offsets are compile-time
  constants; the weights are stored in exactly the order the loop reads them.
- FKW arrays become private memref.globals, so the code is independent of bufferization;
  the caller passes buffers.
- The schedule (vector width, R, rows, loop order, load elimination, index width) is a
  parameter: the optimisation passes and the tuner choose it per layer (docs/optimisations.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from mlir import ir
from mlir.dialects import arith, func, linalg, memref, scf, vector

from patsparse.dialect.conv_layer import ConvLayer, pair_filters
from patsparse.dialect.schedule import Schedule, load_key


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


def _copy_row(b: "ConstantBuilder", source: ir.Value, source_prefix: list, source_start: ir.Value, target: ir.Value,
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


def _fill_row(b: "ConstantBuilder", target: ir.Value, target_prefix: list, target_start: ir.Value, length: int,
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


def build_conv_function(layer: ConvLayer, schedule: Schedule, module_ip: ir.InsertionPoint) -> None:
    """Emit the layer's globals and function `layer.name` at `module_ip`."""
    f32 = ir.F32Type.get()
    index = ir.IndexType.get()
    batch, channels, height, width = layer.input_shape
    out_h, out_w = layer.output_hw
    stride_h, stride_w = layer.strides
    top, left, bottom, right = layer.padding
    kernel_h, kernel_w = layer.kernel_hw
    lanes = schedule.vector_width
    accumulators, blocks = schedule.blocking(out_w)
    block_width = accumulators * lanes
    padded_out_w = blocks * block_width
    padded_h = height + top + bottom
    padded_w = width + left + right
    phase_w = max(padded_out_w + (kernel_w - 1) // stride_w, -(-padded_w // stride_w))
    taps_per_kernel = layer.taps_per_kernel
    num_patterns = len(layer.patterns)
    rows = max(1, min(schedule.rows, out_h))
    vector_type = ir.VectorType.get([lanes], f32)
    compact = schedule.compact_indices
    # With filter pairs a work item computes two filter positions; their shared kernels are
    # separate arrays and the per-position arrays hold only each position's own kernels.
    pairs = pair_filters(layer) if schedule.filter_pairs else None
    slots = 1 if pairs is None else 2
    units = layer.filters // slots  # work units per image and output tile: positions or pairs
    if pairs is None:
        own_segments, own_channels, own_weights = layer.segments, layer.kernel_channels, layer.weights
    else:
        own_segments, own_channels, own_weights = pairs.segments, pairs.kernel_channels, pairs.weights
    # A pair layout with every kernel shared (a dense layer) has no own arrays and no own loops.
    has_own = pairs is None or own_channels.size > 0

    erased = ir.MemRefType.get([1], f32)  # what crosses the thread runtime: a bare float pointer
    phased_type = ir.MemRefType.get([batch, channels, padded_h, stride_w, phase_w], f32)
    bias_type = ir.MemRefType.get([layer.filters if layer.has_bias else 1], f32)
    output_type = ir.MemRefType.get([batch, layer.filters, out_h, out_w], f32)
    body_type = ir.FunctionType.get([erased, erased, erased, index, index], [])
    # Work items of the body: (image, filter position) with filters outside, or (image, row
    # block, x-block, filter position) with rows_outer; the last row block holds the rows
    # left over.
    main_rows = out_h - out_h % rows
    row_blocks = main_rows // rows + (main_rows < out_h)
    # rows_outer tiles the output in (row block, x-block) outside the filters; only the last
    # x-block may be partial.
    x_blocks = -(-out_w // block_width) if schedule.rows_outer else 1
    full_x_blocks = out_w // block_width
    work_blocks = row_blocks * x_blocks if schedule.rows_outer else 1
    with module_ip:
        if has_own:
            own_globals = [
                constant_global(f"{layer.name}_weights", own_weights, f32),
                constant_global(f"{layer.name}_channels", own_channels, index_element_type(channels - 1, compact)),
                constant_global(f"{layer.name}_segments", own_segments,
                                index_element_type(layer.num_kernels, compact))]
        order_name, order_type = constant_global(f"{layer.name}_filter_order", layer.filter_order,
                                         index_element_type(layer.filters - 1, compact))
        if pairs is not None:
            shared_globals = [
                constant_global(f"{layer.name}_shared_weights", pairs.shared_weights, f32),
                constant_global(f"{layer.name}_shared_channels", pairs.shared_channels,
                                index_element_type(channels - 1, compact)),
                constant_global(f"{layer.name}_shared_segments", pairs.shared_segments,
                                index_element_type(layer.num_kernels, compact)),
                constant_global(f"{layer.name}_pairs", pairs.positions, index_element_type(layer.filters - 1, compact))]
        input_type = ir.MemRefType.get(list(layer.input_shape), f32)
        argument_types = [input_type] + ([bias_type] if layer.has_bias else []) + [output_type]
        function = func.FuncOp(layer.name, (argument_types, []), visibility="private")
        body_function = func.FuncOp(f"{layer.name}_body", body_type, visibility="private")
        if schedule.parallel:
            declare_parallel_for(module_ip, body_type)

    # @<name>: the zero-padded, width-phased copy of the input, then the filter positions of
    # every image, [0, N*F), computed by @<name>_body directly or split over threads.
    entry = function.add_entry_block()
    b = ConstantBuilder(entry)
    with ir.InsertionPoint(entry):
        input_buffer = entry.arguments[0]
        one = b.index(1)

        def for_loop(lower, upper, step=one, iter_args=()):
            return scf.ForOp(lower, upper, step, list(iter_args))

        phased = memref.AllocOp(phased_type, [], [], alignment=64).result
        if stride_w != 1:
            linalg.fill(b.f32(0.0), outs=[phased])
        batch_loop = for_loop(b.index(0), b.index(batch))
        with ir.InsertionPoint(batch_loop.body):
            n = batch_loop.induction_variable
            channel_loop = for_loop(b.index(0), b.index(channels))
            with ir.InsertionPoint(channel_loop.body):
                c = channel_loop.induction_variable
                if stride_w == 1:
                    # Zero only the padding (top and bottom rows, the columns beside each row):
                    # on large inputs a fill of the whole buffer costs as much as the copy.
                    for first, last in ((0, top), (top + height, padded_h)):
                        if first < last:
                            pad_loop = for_loop(b.index(first), b.index(last))
                            with ir.InsertionPoint(pad_loop.body):
                                _fill_row(b, phased, [n, c, pad_loop.induction_variable, b.index(0)], b.index(0),
                                          phase_w, vector_type)
                                scf.YieldOp([])
                row_loop = for_loop(b.index(0), b.index(height))
                with ir.InsertionPoint(row_loop.body):
                    r = row_loop.induction_variable
                    padded_row = arith.AddIOp(r, b.index(top)).result
                    if stride_w == 1:
                        target = [n, c, padded_row, b.index(0)]
                        _fill_row(b, phased, target, b.index(0), left, vector_type)
                        _copy_row(b, input_buffer, [n, c, r], b.index(0), phased, target, b.index(left), width, 1,
                                  vector_type)
                        _fill_row(b, phased, target, b.index(left + width), phase_w - left - width, vector_type)
                    else:
                        # Column x goes to phase (x + left) % s, index (x + left) / s.
                        for phase in range(stride_w):
                            first = (phase - left) % stride_w
                            if first >= width:
                                continue
                            _copy_row(b, input_buffer, [n, c, r], b.index(first), phased,
                                      [n, c, padded_row, b.index(phase)], b.index((first + left) // stride_w),
                                      -(-(width - first) // stride_w), stride_w, vector_type)
                    scf.YieldOp([])
                scf.YieldOp([])
            scf.YieldOp([])
        bias_buffer = entry.arguments[1] if layer.has_bias else memref.AllocaOp(bias_type, [], []).result
        pointers = [reinterpret_buffer(buffer, erased) for buffer in (phased, bias_buffer, entry.arguments[-1])]
        count = b.index(batch * units * work_blocks)
        if schedule.parallel:
            body_pointer = func.ConstantOp(body_type, ir.FlatSymbolRefAttr.get(f"{layer.name}_body")).result
            func.CallOp([], ir.FlatSymbolRefAttr.get(PARALLEL_FOR), [body_pointer, count] + pointers)
        else:
            func.CallOp([], ir.FlatSymbolRefAttr.get(f"{layer.name}_body"), pointers + [b.index(0), count])
        # No explicit deallocs: the buffer-deallocation pipeline inserts them (and refuses
        # hand-written ones).
        func.ReturnOp([])

    # @<name>_body(phased, bias, output, begin, end): filter positions begin..end-1 (of all
    # images: item = n * F + position).
    entry = body_function.add_entry_block()
    b = ConstantBuilder(entry)
    with ir.InsertionPoint(entry):
        one = b.index(1)

        def for_loop(lower, upper, step=one, iter_args=()):
            return scf.ForOp(lower, upper, step, list(iter_args))

        bias_buffer, output_buffer = (reinterpret_buffer(argument, type_) for argument, type_ in
                                      zip(list(entry.arguments)[1:3], (bias_type, output_type)))
        # The padded input as one flat array: a tap's load is then (per-kernel base) + a
        # compile-time constant, which the backend folds into the load's addressing mode.
        phase_stride = phase_w
        row_stride = stride_w * phase_w
        channel_stride = padded_h * row_stride
        image_stride = channels * channel_stride
        phased_flat = reinterpret_buffer(entry.arguments[0], ir.MemRefType.get([batch * image_stride], f32))
        begin, end = entry.arguments[3], entry.arguments[4]
        if has_own:
            weights, kernel_channels, segments = (memref.GetGlobalOp(type_, name).result
                                                  for name, type_ in own_globals)
        filter_order = memref.GetGlobalOp(order_type, order_name).result
        row_buffer = memref.AllocOp(ir.MemRefType.get([slots * rows, padded_out_w], f32), [], [],
                                    alignment=64).result
        if pairs is not None:
            shared_weights, shared_channels, shared_segments, pair_positions = (
                memref.GetGlobalOp(type_, name).result for name, type_ in shared_globals)

        def load_index(buffer, position):
            # Unsigned: compact arrays use the full range of their narrow type.
            return arith.IndexCastUIOp(index, memref.LoadOp(buffer, [position]).result).result

        item_loop = for_loop(begin, end)
        with ir.InsertionPoint(item_loop.body):
            item = item_loop.induction_variable
            per_image = units * work_blocks
            n = arith.DivUIOp(item, b.index(per_image)).result
            within = arith.RemUIOp(item, b.index(per_image)).result
            tile = arith.DivUIOp(within, b.index(units)).result
            unit = arith.RemUIOp(within, b.index(units)).result
            row_block_index = arith.DivUIOp(tile, b.index(x_blocks)).result
            x_block_index = arith.RemUIOp(tile, b.index(x_blocks)).result

            def segment_bounds(buffer, row):
                base = arith.MulIOp(row, b.index(num_patterns + 1)).result
                return [load_index(buffer, arith.AddIOp(base, b.index(q)).result) for q in range(num_patterns + 1)]

            if pairs is None:
                positions = [unit]
            else:
                pair_base = arith.MulIOp(unit, b.index(2)).result
                positions = [load_index(pair_positions, arith.AddIOp(pair_base, b.index(s)).result) for s in range(2)]
            filters = [load_index(filter_order, p) for p in positions]
            bias_vectors = [vector.BroadcastOp(vector_type, memref.LoadOp(bias_buffer, [f]).result
                                               if layer.has_bias else b.f32(0.0)).result for f in filters]
            # Kernel sets: (bounds per pattern, channels, weights, the filter slots they feed).
            kernel_sets = [(segment_bounds(segments, p), kernel_channels, weights, [s])
                           for s, p in enumerate(positions)] if has_own else []
            if pairs is not None:
                kernel_sets.insert(0, (segment_bounds(shared_segments, unit), shared_channels, shared_weights, [0, 1]))

            def accumulate(x0: ir.Value, input_row: ir.Value, block_rows: int) -> list[list[ir.Value]]:
                """Per filter slot, block_rows x R output vectors at column x0, through every kernel."""
                accumulated = [[bias_vectors[s]] * (accumulators * block_rows) for s in range(slots)]
                # Offset of (image n, channel 0, input row, phase 0, column x0).
                tile_base = arith.AddIOp(arith.AddIOp(arith.MulIOp(n, b.index(image_stride)).result,
                                                      arith.MulIOp(input_row, b.index(row_stride)).result).result,
                                         x0).result
                for bounds, set_channels, set_weights, targets in kernel_sets:
                    for q, taps in enumerate(layer.patterns):
                        carried = [value for s in targets for value in accumulated[s]]
                        kernel_loop = for_loop(bounds[q], bounds[q + 1], one, carried)
                        with ir.InsertionPoint(kernel_loop.body):
                            k = kernel_loop.induction_variable
                            inner = list(kernel_loop.inner_iter_args)
                            accs = {s: inner[i * len(inner) // len(targets):(i + 1) * len(inner) // len(targets)]
                                    for i, s in enumerate(targets)}
                            c = load_index(set_channels, k)
                            kernel_base = arith.AddIOp(arith.MulIOp(c, b.index(channel_stride)).result,
                                                       tile_base).result
                            weight_base = arith.MulIOp(k, b.index(taps_per_kernel * len(targets))).result
                            loaded = {}
                            for t, (dr, dc) in enumerate(taps):
                                w_vectors = {}
                                for i_target, s in enumerate(targets):
                                    position = arith.AddIOp(weight_base,
                                                            b.index(t * len(targets) + i_target)).result
                                    w = memref.LoadOp(set_weights, [position]).result
                                    w_vectors[s] = vector.BroadcastOp(vector_type, w).result
                                for i in range(block_rows):
                                    row_offset = i * stride_h + dr
                                    for j in range(accumulators):
                                        key = load_key(t, (dr, dc), i, j, stride_h, schedule.eliminate_loads)
                                        if key not in loaded:
                                            offset = (row_offset * row_stride + (dc % stride_w) * phase_stride
                                                      + dc // stride_w + j * lanes)
                                            position = arith.AddIOp(kernel_base, b.index(offset)).result
                                            loaded[key] = vector.LoadOp(vector_type, phased_flat, [position]).result
                                        slot = i * accumulators + j
                                        for s in targets:
                                            accs[s][slot] = vector.FMAOp(w_vectors[s], loaded[key],
                                                                         accs[s][slot]).result
                            scf.YieldOp([value for s in targets for value in accs[s]])
                        results = list(kernel_loop.results)
                        for i, s in enumerate(targets):
                            accumulated[s] = results[i * len(results) // len(targets):
                                                     (i + 1) * len(results) // len(targets)]
                return accumulated

            zeros = vector.BroadcastOp(vector_type, b.f32(0.0)).result if layer.relu else None

            def finished(value: ir.Value) -> ir.Value:  # the fused ReLU, if any, before a store
                return arith.MaximumFOp(value, zeros).result if layer.relu else value

            def to_row_buffer(accumulated: list[list[ir.Value]], x0: ir.Value, block_rows: int) -> None:
                for s in range(slots):  # slot s: buffer rows s*block_rows ..
                    for i in range(block_rows):
                        for j in range(accumulators):
                            column = arith.AddIOp(x0, b.index(j * lanes)).result if j else x0
                            vector.StoreOp(finished(accumulated[s][i * accumulators + j]), row_buffer,
                                           [b.index(s * block_rows + i), column])

            def from_row_buffer(rows_y: list[ir.Value], x0: ir.Value, length: int) -> None:
                for s, f in enumerate(filters):
                    for i in range(len(rows_y)):
                        _copy_row(b, row_buffer, [b.index(s * len(rows_y) + i)], b.index(0), output_buffer,
                                  [n, f, rows_y[i]], x0, length, 1, vector_type)

            def row_block(y0: ir.Value, block_rows: int) -> None:
                """Output rows y0 .. y0+block_rows-1 of the item's filters: R x block_rows accumulators
                each; every x-block (filters outside), or the item's x-block (rows_outer)."""
                input_row = arith.MulIOp(y0, b.index(stride_h)).result
                rows_y = [arith.AddIOp(y0, b.index(i)).result if i else y0 for i in range(block_rows)]
                if not schedule.rows_outer:
                    block_loop = for_loop(b.index(0), b.index(padded_out_w), b.index(block_width))
                    with ir.InsertionPoint(block_loop.body):
                        x0 = block_loop.induction_variable
                        to_row_buffer(accumulate(x0, input_row, block_rows), x0, block_rows)
                        scf.YieldOp([])
                    from_row_buffer(rows_y, b.index(0), out_w)
                    return
                x0 = arith.MulIOp(x_block_index, b.index(block_width)).result
                accumulated = accumulate(x0, input_row, block_rows)

                def direct() -> None:  # a whole block inside the row: straight to the output
                    for s, f in enumerate(filters):
                        for i in range(block_rows):
                            for j in range(accumulators):
                                column = arith.AddIOp(x0, b.index(j * lanes)).result if j else x0
                                vector.StoreOp(finished(accumulated[s][i * accumulators + j]), output_buffer,
                                               [n, f, rows_y[i], column])

                def tail() -> None:  # the last, partial block: through the row buffer
                    to_row_buffer(accumulated, b.index(0), block_rows)
                    from_row_buffer(rows_y, x0, out_w - full_x_blocks * block_width)

                if full_x_blocks == x_blocks:
                    direct()
                elif full_x_blocks == 0:
                    tail()
                else:
                    inside = arith.CmpIOp(arith.CmpIPredicate.ult, x_block_index, b.index(full_x_blocks)).result
                    branch = scf.IfOp(inside, [], has_else=True)
                    with ir.InsertionPoint(branch.then_block):
                        direct()
                        scf.YieldOp([])
                    with ir.InsertionPoint(branch.else_block):
                        tail()
                        scf.YieldOp([])

            def leftover_rows() -> None:  # the rows left over: one shorter block
                row_block(b.index(main_rows), out_h - main_rows)

            if schedule.rows_outer:
                y0 = arith.MulIOp(row_block_index, b.index(rows)).result
                if main_rows == out_h:
                    row_block(y0, rows)
                elif main_rows == 0:
                    leftover_rows()
                else:
                    full = arith.CmpIOp(arith.CmpIPredicate.ult, row_block_index, b.index(main_rows // rows)).result
                    branch = scf.IfOp(full, [], has_else=True)
                    with ir.InsertionPoint(branch.then_block):
                        row_block(y0, rows)
                        scf.YieldOp([])
                    with ir.InsertionPoint(branch.else_block):
                        leftover_rows()
                        scf.YieldOp([])
            else:
                if main_rows:
                    y_loop = for_loop(b.index(0), b.index(main_rows), b.index(rows))
                    with ir.InsertionPoint(y_loop.body):
                        row_block(y_loop.induction_variable, rows)
                        scf.YieldOp([])
                if main_rows < out_h:
                    leftover_rows()
            scf.YieldOp([])
        func.ReturnOp([])
