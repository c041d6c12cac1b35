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

A layer whose filters have at most one kernel each (a depthwise pattern convolution, `groups`
= C = F) has no kernel loop: the work item (one channel) switches once on its kernel's pattern,

    scf.index_switch position_patterns[p]
      case q: c = kernel_channels[k]; w_t = broadcast(weights[k*T + t]) for t < 4
              every row block: acc = bias; acc = fma(w_t, load(padded[base(c) + CONST_q,t]), acc)
      default: the bias alone (a filter without kernels)

so each output vector takes exactly the pattern's 4 FMAs, with the taps compile-time constants
(lowering/conv_single_kernel.py).

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

from dataclasses import dataclass

import numpy as np
from mlir import ir
from mlir.dialects import arith, func, memref, scf, vector

from patsparse.dialect.conv_layer import ConvLayer, pair_filters
from patsparse.dialect.schedule import Schedule, load_key

from .conv_channel_tiles import build_channel_tile_function, channel_tiles_apply
from .conv_gemm import build_gemm_function, gemm_applies
from .conv_single_kernel import SingleKernelSteps
from .emit_helpers import (
    ConstantBuilder,
    constant_global,
    copy_row,
    declare_parallel_for,
    index_element_type,
    reinterpret_buffer,
    run_work_items,
)


def build_conv_function(layer: ConvLayer, schedule: Schedule, module_ip: ir.InsertionPoint) -> None:
    """Emit the layer's globals and function `layer.name` at `module_ip`, in named steps: the
    constant arrays, the zero-padded copy of the input (@<name>), the work-item loop (@<name>_body),
    and per item the accumulation of every kernel into registers and the store of the rows.
    A 1x1 stride-1 layer is a matrix product per image and goes to the packed GEMM instead
    (lowering/conv_gemm.py), with the same two functions."""
    if gemm_applies(layer):
        build_gemm_function(layer, schedule, module_ip)
        return
    if channel_tiles_apply(layer, schedule):
        build_channel_tile_function(layer, schedule, module_ip)
        return
    emitter = _ConvEmitter(layer, schedule)
    emitter.emit_globals(module_ip)
    emitter.emit_padded_copy()
    emitter.emit_work_items()


@dataclass
class _Item:
    """What one work item computes: its image, filter positions (one, or a pair) and kernels."""

    n: ir.Value
    filters: list[ir.Value]
    bias_vectors: list[ir.Value]
    kernel_sets: list[tuple]          # (bounds per pattern, channels, weights, the filter slots they feed)
    row_block_index: ir.Value
    x_block_index: ir.Value
    # A single-kernel layer's one kernel, known inside its switch case: (pattern, input channel,
    # one broadcast weight vector per tap); pattern None for a filter without kernels.
    single_kernel: tuple | None = None


class _ConvEmitter(SingleKernelSteps):
    """The geometry of one layer under one schedule, and the steps that emit its code."""

    def __init__(self, layer: ConvLayer, schedule: Schedule):
        self.layer, self.schedule = layer, schedule
        f32 = self.f32 = ir.F32Type.get()
        self.index = ir.IndexType.get()
        self.batch, self.channels, self.height, self.width = layer.input_shape
        self.out_h, self.out_w = layer.output_hw
        self.stride_h, self.stride_w = layer.strides
        self.top, self.left, self.bottom, self.right = layer.padding
        kernel_w = layer.kernel_hw[1]
        self.lanes = schedule.vector_width
        self.accumulators, self.blocks = schedule.blocking(self.out_w)
        self.block_width = self.accumulators * self.lanes
        self.padded_out_w = self.blocks * self.block_width
        self.padded_h = self.height + self.top + self.bottom
        padded_w = self.width + self.left + self.right
        self.phase_w = max(self.padded_out_w + (kernel_w - 1) // self.stride_w, -(-padded_w // self.stride_w))
        self.rows = max(1, min(schedule.rows, self.out_h))
        self.vector_type = ir.VectorType.get([self.lanes], f32)
        # With filter pairs a work item computes two filter positions; their shared kernels are
        # separate arrays and the per-position arrays hold only each position's own kernels.
        self.pairs = pair_filters(layer) if schedule.filter_pairs else None
        self.slots = 1 if self.pairs is None else 2
        self.units = layer.filters // self.slots  # work units per image and output tile: positions or pairs
        source = layer if self.pairs is None else self.pairs
        self.own_segments, self.own_channels, self.own_weights = source.segments, source.kernel_channels, source.weights
        # A pair layout with every kernel shared (a dense layer) has no own arrays and no own loops.
        self.has_own = self.pairs is None or self.own_channels.size > 0
        # At most one kernel per filter (a depthwise pattern layer): the work item switches on its
        # kernel's pattern once (scf.index_switch), broadcasts its weights once, and each case
        # runs the row loops with that pattern's taps as constants and no kernel loop.
        kernels_per_position = self.own_segments[:, -1] - self.own_segments[:, 0]
        self.single_kernel = (self.pairs is None and layer.num_kernels > 0
                              and int(kernels_per_position.max()) <= 1)
        # ... and (filters outside, one work item per channel) copies its one input channel into a
        # small zero-padded plane right before computing it, so the plane stays in L1/L2 instead of
        # a padded copy of the whole input going through memory first.
        self.channel_copies = self.single_kernel and not schedule.rows_outer
        if self.single_kernel:
            present = np.diff(self.own_segments, axis=1) > 0              # positions x patterns
            self.position_patterns = np.where(present.any(axis=1), present.argmax(axis=1), len(layer.patterns))
        self.erased = ir.MemRefType.get([1], f32)  # what crosses the thread runtime: a bare float pointer
        self.phased_type = ir.MemRefType.get([self.batch, self.channels, self.padded_h, self.stride_w, self.phase_w],
                                             f32)
        self.bias_type = ir.MemRefType.get([layer.filters if layer.has_bias else 1], f32)
        self.output_type = ir.MemRefType.get([self.batch, layer.filters, self.out_h, self.out_w], f32)
        self.body_type = ir.FunctionType.get([self.erased] * 3 + [self.index] * 2, [])
        # Work items of the body: (image, filter position) with filters outside, or (image, row
        # block, x-block, filter position) with rows_outer; the last row block holds the rows
        # left over, and only the last x-block may be partial.
        self.main_rows = self.out_h - self.out_h % self.rows
        row_blocks = self.main_rows // self.rows + (self.main_rows < self.out_h)
        self.x_blocks = -(-self.out_w // self.block_width) if schedule.rows_outer else 1
        self.full_x_blocks = self.out_w // self.block_width
        self.work_blocks = row_blocks * self.x_blocks if schedule.rows_outer else 1
        # The padded input as one flat array: a tap's load is then (per-kernel base) + a
        # compile-time constant, which the backend folds into the load's addressing mode.
        self.row_stride = self.stride_w * self.phase_w
        self.channel_stride = self.padded_h * self.row_stride
        self.image_stride = self.channels * self.channel_stride

    # -- step 1: the constant arrays and the two functions ------------------------------------

    def emit_globals(self, module_ip: ir.InsertionPoint) -> None:
        layer, compact, channels, f32 = self.layer, self.schedule.compact_indices, self.channels, self.f32
        with module_ip:
            if self.has_own:
                self.own_globals = [
                    constant_global(f"{layer.name}_weights", self.own_weights, f32),
                    constant_global(f"{layer.name}_channels", self.own_channels,
                                    index_element_type(channels - 1, compact)),
                    constant_global(f"{layer.name}_segments", self.own_segments,
                                    index_element_type(layer.num_kernels, compact))]
            self.order_global = constant_global(f"{layer.name}_filter_order", layer.filter_order,
                                                index_element_type(layer.filters - 1, compact))
            if self.single_kernel:
                self.pattern_global = constant_global(f"{layer.name}_position_patterns", self.position_patterns,
                                                      index_element_type(len(layer.patterns), compact))
            if self.pairs is not None:
                pairs = self.pairs
                self.shared_globals = [
                    constant_global(f"{layer.name}_shared_weights", pairs.shared_weights, f32),
                    constant_global(f"{layer.name}_shared_channels", pairs.shared_channels,
                                    index_element_type(channels - 1, compact)),
                    constant_global(f"{layer.name}_shared_segments", pairs.shared_segments,
                                    index_element_type(layer.num_kernels, compact)),
                    constant_global(f"{layer.name}_pairs", pairs.positions,
                                    index_element_type(layer.filters - 1, compact))]
            input_type = ir.MemRefType.get(list(layer.input_shape), f32)
            argument_types = [input_type] + ([self.bias_type] if layer.has_bias else []) + [self.output_type]
            self.function = func.FuncOp(layer.name, (argument_types, []), visibility="private")
            self.body_function = func.FuncOp(f"{layer.name}_body", self.body_type, visibility="private")
            if self.schedule.parallel:
                declare_parallel_for(module_ip, self.body_type)

    def _for(self, lower, upper, step=None, iter_args=()):
        return scf.ForOp(lower, upper, step if step is not None else self.b.index(1), list(iter_args))

    # -- step 2: @<name>: the zero-padded, width-phased copy, then the work items -------------

    def emit_padded_copy(self) -> None:
        """The zero-padded, width-phased copy of the input (unless each work item copies its own
        channel), then the filter positions of every image, [0, N*F), computed by @<name>_body
        directly or split over threads."""
        layer = self.layer
        entry = self.function.add_entry_block()
        b = self.b = ConstantBuilder(entry)
        with ir.InsertionPoint(entry):
            input_buffer = entry.arguments[0]
            # With per-channel copies the body reads the input itself (and pads each channel).
            if self.channel_copies:
                phased = input_buffer
            else:
                phased = memref.AllocOp(self.phased_type, [], [], alignment=64).result
                batch_loop = self._for(b.index(0), b.index(self.batch))
                with ir.InsertionPoint(batch_loop.body):
                    n = batch_loop.induction_variable
                    channel_loop = self._for(b.index(0), b.index(self.channels))
                    with ir.InsertionPoint(channel_loop.body):
                        self._emit_channel_copy(input_buffer, [n, channel_loop.induction_variable], phased,
                                                [n, channel_loop.induction_variable])
                        scf.YieldOp([])
                    scf.YieldOp([])
            bias_buffer = entry.arguments[1] if layer.has_bias else memref.AllocaOp(self.bias_type, [], []).result
            pointers = [reinterpret_buffer(buffer, self.erased) for buffer in (phased, bias_buffer, entry.arguments[-1])]
            count = b.index(self.batch * self.units * self.work_blocks)
            run_work_items(f"{layer.name}_body", self.body_type, count, pointers, b.index(0), self.schedule.parallel)
            # No explicit deallocs: the buffer-deallocation pipeline inserts them (and refuses
            # hand-written ones).
            func.ReturnOp([])

    # -- step 3: @<name>_body: the work-item loop ---------------------------------------------

    def _load_index(self, buffer, position):
        # Unsigned: compact arrays use the full range of their narrow type.
        return arith.IndexCastUIOp(self.index, memref.LoadOp(buffer, [position]).result).result

    def emit_work_items(self) -> None:
        """@<name>_body(phased, bias, output, begin, end): work items begin..end-1 of all images
        (item = n * F + position, with rows_outer also the output tile)."""
        layer = self.layer
        entry = self.body_function.add_entry_block()
        b = self.b = ConstantBuilder(entry)
        with ir.InsertionPoint(entry):
            self.bias_buffer, self.output_buffer = (
                reinterpret_buffer(argument, type_)
                for argument, type_ in zip(list(entry.arguments)[1:3], (self.bias_type, self.output_type)))
            if self.channel_copies:
                self.input_buffer = reinterpret_buffer(entry.arguments[0],
                                                       ir.MemRefType.get(list(layer.input_shape), self.f32))
                self.plane = memref.AllocOp(ir.MemRefType.get([1, 1, self.padded_h, self.stride_w, self.phase_w],
                                                              self.f32), [], [], alignment=64).result
                self.phased_flat = reinterpret_buffer(self.plane, ir.MemRefType.get([self.channel_stride], self.f32))
            else:
                self.phased_flat = reinterpret_buffer(entry.arguments[0],
                                                      ir.MemRefType.get([self.batch * self.image_stride], self.f32))
            begin, end = entry.arguments[3], entry.arguments[4]
            if self.has_own:
                weights, kernel_channels, segments = (memref.GetGlobalOp(type_, name).result
                                                      for name, type_ in self.own_globals)
            filter_order = memref.GetGlobalOp(self.order_global[1], self.order_global[0]).result
            self.row_buffer = memref.AllocOp(ir.MemRefType.get([self.slots * self.rows, self.padded_out_w], self.f32),
                                             [], [], alignment=64).result
            if self.pairs is not None:
                shared_weights, shared_channels, shared_segments, pair_positions = (
                    memref.GetGlobalOp(type_, name).result for name, type_ in self.shared_globals)
            item_loop = self._for(begin, end)
            with ir.InsertionPoint(item_loop.body):
                number = item_loop.induction_variable
                per_image = self.units * self.work_blocks
                n = arith.DivUIOp(number, b.index(per_image)).result
                within = arith.RemUIOp(number, b.index(per_image)).result
                tile = arith.DivUIOp(within, b.index(self.units)).result
                unit = arith.RemUIOp(within, b.index(self.units)).result

                def segment_bounds(buffer, row):
                    base = arith.MulIOp(row, b.index(len(layer.patterns) + 1)).result
                    return [self._load_index(buffer, arith.AddIOp(base, b.index(q)).result)
                            for q in range(len(layer.patterns) + 1)]

                if self.pairs is None:
                    positions = [unit]
                else:
                    pair_base = arith.MulIOp(unit, b.index(2)).result
                    positions = [self._load_index(pair_positions, arith.AddIOp(pair_base, b.index(s)).result)
                                 for s in range(2)]
                filters = [self._load_index(filter_order, p) for p in positions]
                bias_vectors = [vector.BroadcastOp(self.vector_type, memref.LoadOp(self.bias_buffer, [f]).result
                                                   if layer.has_bias else b.f32(0.0)).result for f in filters]
                kernel_sets = [(segment_bounds(segments, p), kernel_channels, weights, [s])
                               for s, p in enumerate(positions)] if self.has_own else []
                if self.pairs is not None:
                    kernel_sets.insert(0, (segment_bounds(shared_segments, unit), shared_channels, shared_weights,
                                           [0, 1]))
                item = _Item(n, filters, bias_vectors, kernel_sets,
                             row_block_index=arith.DivUIOp(tile, b.index(self.x_blocks)).result,
                             x_block_index=arith.RemUIOp(tile, b.index(self.x_blocks)).result)
                self.zeros = vector.BroadcastOp(self.vector_type, b.f32(0.0)).result if layer.relu else None
                if self.single_kernel:
                    self.emit_single_kernel_cases(item, positions[0], weights, kernel_channels, segments)
                else:
                    self.emit_rows(item)
                scf.YieldOp([])
            func.ReturnOp([])

    def emit_rows(self, item: _Item) -> None:
        """Every row block of the item: all of them (filters outside), or its own (rows_outer)."""
        b, rows, main_rows, out_h = self.b, self.rows, self.main_rows, self.out_h
        if self.schedule.rows_outer:
            y0 = arith.MulIOp(item.row_block_index, b.index(rows)).result
            if main_rows == out_h:
                self.emit_row_block(item, y0, rows)
            elif main_rows == 0:
                self.emit_row_block(item, b.index(main_rows), out_h - main_rows)
            else:
                full = arith.CmpIOp(arith.CmpIPredicate.ult, item.row_block_index, b.index(main_rows // rows)).result
                branch = scf.IfOp(full, [], has_else=True)
                with ir.InsertionPoint(branch.then_block):
                    self.emit_row_block(item, y0, rows)
                    scf.YieldOp([])
                with ir.InsertionPoint(branch.else_block):  # the rows left over: one shorter block
                    self.emit_row_block(item, b.index(main_rows), out_h - main_rows)
                    scf.YieldOp([])
            return
        if main_rows:
            y_loop = self._for(b.index(0), b.index(main_rows), b.index(rows))
            with ir.InsertionPoint(y_loop.body):
                self.emit_row_block(item, y_loop.induction_variable, rows)
                scf.YieldOp([])
        if main_rows < out_h:
            self.emit_row_block(item, b.index(main_rows), out_h - main_rows)

    # -- step 4: the accumulation of every kernel into registers ------------------------------

    def accumulate(self, item: _Item, x0: ir.Value, input_row: ir.Value, block_rows: int) -> list[list[ir.Value]]:
        """Per filter slot, block_rows x R output vectors at column x0, through every kernel."""
        b, layer, schedule = self.b, self.layer, self.schedule
        accumulators, lanes, stride_h, stride_w = self.accumulators, self.lanes, self.stride_h, self.stride_w
        accumulated = [[item.bias_vectors[s]] * (accumulators * block_rows) for s in range(self.slots)]
        # Offset of (image n, channel 0, input row, phase 0, column x0); a channel plane has no n.
        if not self.channel_copies:
            tile_base = arith.AddIOp(arith.AddIOp(arith.MulIOp(item.n, b.index(self.image_stride)).result,
                                                  arith.MulIOp(input_row, b.index(self.row_stride)).result).result,
                                     x0).result
        if item.single_kernel is not None:
            return self.accumulate_single_kernel(item, x0, input_row, block_rows, accumulated,
                                                 None if self.channel_copies else tile_base)
        for bounds, set_channels, set_weights, targets in item.kernel_sets:
            for q, taps in enumerate(layer.patterns):
                carried = [value for s in targets for value in accumulated[s]]
                kernel_loop = self._for(bounds[q], bounds[q + 1], b.index(1), carried)
                with ir.InsertionPoint(kernel_loop.body):
                    k = kernel_loop.induction_variable
                    inner = list(kernel_loop.inner_iter_args)
                    accs = {s: inner[i * len(inner) // len(targets):(i + 1) * len(inner) // len(targets)]
                            for i, s in enumerate(targets)}
                    c = self._load_index(set_channels, k)
                    kernel_base = arith.AddIOp(arith.MulIOp(c, b.index(self.channel_stride)).result, tile_base).result
                    weight_base = arith.MulIOp(k, b.index(layer.taps_per_kernel * len(targets))).result
                    loaded = {}
                    for t, (dr, dc) in enumerate(taps):
                        w_vectors = {}
                        for i_target, s in enumerate(targets):
                            position = arith.AddIOp(weight_base, b.index(t * len(targets) + i_target)).result
                            w = memref.LoadOp(set_weights, [position]).result
                            w_vectors[s] = vector.BroadcastOp(self.vector_type, w).result
                        for i in range(block_rows):
                            row_offset = i * stride_h + dr
                            for j in range(accumulators):
                                key = load_key(t, (dr, dc), i, j, stride_h, schedule.eliminate_loads)
                                if key not in loaded:
                                    offset = (row_offset * self.row_stride + (dc % stride_w) * self.phase_w
                                              + dc // stride_w + j * lanes)
                                    position = arith.AddIOp(kernel_base, b.index(offset)).result
                                    loaded[key] = vector.LoadOp(self.vector_type, self.phased_flat, [position]).result
                                slot = i * accumulators + j
                                for s in targets:
                                    accs[s][slot] = vector.FMAOp(w_vectors[s], loaded[key], accs[s][slot]).result
                    scf.YieldOp([value for s in targets for value in accs[s]])
                results = list(kernel_loop.results)
                for i, s in enumerate(targets):
                    accumulated[s] = results[i * len(results) // len(targets):(i + 1) * len(results) // len(targets)]
        return accumulated

    # -- step 5: the store of a row block -----------------------------------------------------

    def _finished(self, value: ir.Value) -> ir.Value:  # the fused ReLU or epilogue, if any, before a store
        if self.layer.epilogue is not None:
            return self.layer.epilogue.apply(value, self.vector_type)
        return arith.MaximumFOp(value, self.zeros).result if self.layer.relu else value

    def _to_row_buffer(self, accumulated: list[list[ir.Value]], x0: ir.Value, block_rows: int) -> None:
        for s in range(self.slots):  # slot s: buffer rows s*block_rows ..
            for i in range(block_rows):
                for j in range(self.accumulators):
                    column = arith.AddIOp(x0, self.b.index(j * self.lanes)).result if j else x0
                    vector.StoreOp(self._finished(accumulated[s][i * self.accumulators + j]), self.row_buffer,
                                   [self.b.index(s * block_rows + i), column])

    def _from_row_buffer(self, item: _Item, rows_y: list[ir.Value], x0: ir.Value, length: int) -> None:
        for s, f in enumerate(item.filters):
            for i in range(len(rows_y)):
                copy_row(self.b, self.row_buffer, [self.b.index(s * len(rows_y) + i)], self.b.index(0),
                          self.output_buffer, [item.n, f, rows_y[i]], x0, length, 1, self.vector_type)

    def emit_row_block(self, item: _Item, y0: ir.Value, block_rows: int) -> None:
        """Output rows y0 .. y0+block_rows-1 of the item's filters: R x block_rows accumulators
        each; every x-block (filters outside), or the item's x-block (rows_outer)."""
        b = self.b
        input_row = arith.MulIOp(y0, b.index(self.stride_h)).result
        rows_y = [arith.AddIOp(y0, b.index(i)).result if i else y0 for i in range(block_rows)]
        if not self.schedule.rows_outer and self.blocks == 1:
            # The whole row in one block: straight to the output, the last vector masked to the
            # row's end (no row buffer and no copy).
            self._store_row_block(item, self.accumulate(item, b.index(0), input_row, block_rows), rows_y)
            return
        if not self.schedule.rows_outer:
            block_loop = self._for(b.index(0), b.index(self.padded_out_w), b.index(self.block_width))
            with ir.InsertionPoint(block_loop.body):
                x0 = block_loop.induction_variable
                self._to_row_buffer(self.accumulate(item, x0, input_row, block_rows), x0, block_rows)
                scf.YieldOp([])
            self._from_row_buffer(item, rows_y, b.index(0), self.out_w)
            return
        x0 = arith.MulIOp(item.x_block_index, b.index(self.block_width)).result
        accumulated = self.accumulate(item, x0, input_row, block_rows)

        def direct() -> None:  # a whole block inside the row: straight to the output
            for s, f in enumerate(item.filters):
                for i in range(block_rows):
                    for j in range(self.accumulators):
                        column = arith.AddIOp(x0, b.index(j * self.lanes)).result if j else x0
                        vector.StoreOp(self._finished(accumulated[s][i * self.accumulators + j]), self.output_buffer,
                                       [item.n, f, rows_y[i], column])

        def tail() -> None:  # the last, partial block: through the row buffer
            self._to_row_buffer(accumulated, b.index(0), block_rows)
            self._from_row_buffer(item, rows_y, x0, self.out_w - self.full_x_blocks * self.block_width)

        if self.full_x_blocks == self.x_blocks:
            direct()
        elif self.full_x_blocks == 0:
            tail()
        else:
            inside = arith.CmpIOp(arith.CmpIPredicate.ult, item.x_block_index, b.index(self.full_x_blocks)).result
            branch = scf.IfOp(inside, [], has_else=True)
            with ir.InsertionPoint(branch.then_block):
                direct()
                scf.YieldOp([])
            with ir.InsertionPoint(branch.else_block):
                tail()
                scf.YieldOp([])
