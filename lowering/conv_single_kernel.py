"""The steps of the convolution generator (lowering/conv_codegen.py) for single-kernel layers,
whose filters have at most one kernel each (depthwise convolutions, pattern or dense), and the
zero-padded, width-phased copy of one input channel that both paths use.

A single-kernel work item (one channel) switches once on its kernel's pattern
(`scf.index_switch`); each case copies the channel into a small plane (unless the schedule
computes row blocks outside filters), broadcasts the kernel's weights once, and runs the row
loops with the pattern's taps as constants and no kernel loop: 4 FMAs per output vector for a
pattern kernel, 9 for a dense one. Mixed into `_ConvEmitter`, whose geometry it reads.
"""

from __future__ import annotations

import dataclasses

from mlir import ir
from mlir.dialects import arith, memref, scf, vector

from patsparse.dialect.schedule import load_key

from .emit_helpers import copy_row, fill_row


class SingleKernelSteps:
    """Methods of `_ConvEmitter` (lowering/conv_codegen.py) for single-kernel layers."""

    def _emit_channel_copy(self, input_buffer: ir.Value, source: list, phased: ir.Value, target: list) -> None:
        """Input channel `source` (image, channel) into the zero-padded, width-phased buffer at
        `target` (image, channel)."""
        b = self.b
        top, left, height, width, stride_w = self.top, self.left, self.height, self.width, self.stride_w
        phase_w, padded_h, vector_type = self.phase_w, self.padded_h, self.vector_type
        # Zero only the padding (top and bottom rows, the columns beside each row, in
        # every phase): on large inputs a fill of the whole buffer costs as much as the copy.
        for first, last in ((0, top), (top + height, padded_h)):
            if first < last:
                pad_loop = self._for(b.index(first), b.index(last))
                with ir.InsertionPoint(pad_loop.body):
                    for phase in range(stride_w):
                        fill_row(b, phased, target + [pad_loop.induction_variable, b.index(phase)],
                                 b.index(0), phase_w, vector_type)
                    scf.YieldOp([])
        row_loop = self._for(b.index(0), b.index(height))
        with ir.InsertionPoint(row_loop.body):
            r = row_loop.induction_variable
            padded_row = arith.AddIOp(r, b.index(top)).result
            if stride_w == 1:
                row_target = target + [padded_row, b.index(0)]
                fill_row(b, phased, row_target, b.index(0), left, vector_type)
                copy_row(b, input_buffer, source + [r], b.index(0), phased, row_target, b.index(left), width,
                          1, vector_type)
                fill_row(b, phased, row_target, b.index(left + width), phase_w - left - width, vector_type)
            else:
                # Column x goes to phase (x + left) % s, index (x + left) / s.
                for phase in range(stride_w):
                    row_target = target + [padded_row, b.index(phase)]
                    first = (phase - left) % stride_w
                    if first >= width:
                        fill_row(b, phased, row_target, b.index(0), phase_w, vector_type)
                        continue
                    start, count = (first + left) // stride_w, -(-(width - first) // stride_w)
                    fill_row(b, phased, row_target, b.index(0), start, vector_type)
                    copy_row(b, input_buffer, source + [r], b.index(first), phased, row_target,
                             b.index(start), count, stride_w, vector_type)
                    fill_row(b, phased, row_target, b.index(start + count), phase_w - start - count,
                             vector_type)
            scf.YieldOp([])

    def emit_single_kernel_cases(self, item, position: ir.Value, weights, kernel_channels, segments) -> None:
        """scf.index_switch on the pattern of the item's only kernel; each case loads its input
        channel and broadcasts its weights once, then runs every row block with the taps as
        constants. The default case (a filter without kernels) stores the bias."""
        b, layer = self.b, self.layer
        patterns = memref.GetGlobalOp(self.pattern_global[1], self.pattern_global[0]).result
        pattern = self._load_index(patterns, position)
        kernel_index = self._load_index(segments, arith.MulIOp(position, b.index(len(layer.patterns) + 1)).result)
        switch = scf.IndexSwitchOp([], pattern, list(range(len(layer.patterns))))

        def block_of(region):  # the bindings may or may not have created the case blocks
            return region.blocks[0] if len(region.blocks) else region.blocks.append()

        for q, region in enumerate(switch.case_regions):
            with ir.InsertionPoint(block_of(region)):
                channel = self._load_index(kernel_channels, kernel_index)
                if self.channel_copies:
                    self._emit_channel_copy(self.input_buffer, [item.n, channel], self.plane, [b.index(0), b.index(0)])
                weight_base = arith.MulIOp(kernel_index, b.index(layer.taps_per_kernel)).result
                w_vectors = [vector.BroadcastOp(self.vector_type, memref.LoadOp(
                    weights, [arith.AddIOp(weight_base, b.index(t)).result]).result).result
                    for t in range(layer.taps_per_kernel)]
                self.emit_rows(dataclasses.replace(item, single_kernel=(q, channel, w_vectors)))
                scf.YieldOp([])
        with ir.InsertionPoint(block_of(switch.default_region)):
            self.emit_rows(dataclasses.replace(item, single_kernel=(None, None, [])))
            scf.YieldOp([])

    def accumulate_single_kernel(self, item, x0: ir.Value, input_row: ir.Value, block_rows: int,
                                 accumulated: list[list[ir.Value]], tile_base: ir.Value | None) -> list[list[ir.Value]]:
        """The item's one kernel into the bias accumulators: its taps unrolled, no loop. Loads
        read the channel's plane (`tile_base` None) or the whole padded input."""
        b, layer, schedule = self.b, self.layer, self.schedule
        accumulators, lanes, stride_h, stride_w = self.accumulators, self.lanes, self.stride_h, self.stride_w
        q, channel, w_vectors = item.single_kernel
        if q is None:
            return accumulated
        if tile_base is None:  # the channel's own plane: (row, column) only
            kernel_base = arith.AddIOp(arith.MulIOp(input_row, b.index(self.row_stride)).result, x0).result
        else:
            kernel_base = arith.AddIOp(arith.MulIOp(channel, b.index(self.channel_stride)).result,
                                       tile_base).result
        accs = list(accumulated[0])
        loaded = {}
        for t, (dr, dc) in enumerate(layer.patterns[q]):
            for i in range(block_rows):
                for j in range(accumulators):
                    key = load_key(t, (dr, dc), i, j, stride_h, schedule.eliminate_loads)
                    if key not in loaded:
                        offset = ((i * stride_h + dr) * self.row_stride + (dc % stride_w) * self.phase_w
                                  + dc // stride_w + j * lanes)
                        position = arith.AddIOp(kernel_base, b.index(offset)).result
                        loaded[key] = vector.LoadOp(self.vector_type, self.phased_flat, [position]).result
                    slot = i * accumulators + j
                    accs[slot] = vector.FMAOp(w_vectors[t], loaded[key], accs[slot]).result
        return [accs]

    def _store_row_block(self, item, accumulated: list[list[ir.Value]], rows_y: list[ir.Value]) -> None:
        """A block that starts at column 0 and spans the row: whole vectors, then the one that
        crosses the row's end with a masked store."""
        b, lanes = self.b, self.lanes
        for s, f in enumerate(item.filters):
            for i, y in enumerate(rows_y):
                for j in range(self.accumulators):
                    column = j * lanes
                    if column >= self.out_w:
                        break
                    value = self._finished(accumulated[s][i * self.accumulators + j])
                    indices = [item.n, f, y, b.index(column)]
                    if column + lanes <= self.out_w:
                        vector.StoreOp(value, self.output_buffer, indices)
                    else:
                        mask = vector.ConstantMaskOp(ir.VectorType.get([lanes], ir.IntegerType.get_signless(1)),
                                                     [self.out_w - column]).result
                        vector.MaskedStoreOp(self.output_buffer, indices, mask, value)
