"""Pattern convolutions input-stationary: per tile of output positions and input channel, the
tile's input vectors at every tap are loaded once, and every kernel on that channel (whatever its
filter and pattern) adds its taps into its filter's row of an accumulator tile that stays in L1.

The geometry is the packed GEMM's for KxK layers (lowering/conv_gemm.py): a zero-padded copy of
the input with row pitch Wp, on which output position q = y * Wp + x reads position
q + dy * Wp + dx, a constant offset per tap. A work item is (image, position tile of NR x V
positions, filter block of FB filters):

    acc[i, :] = bias[f0 + i]                               i < FB: a scratch tile of FB x NR x V floats
    for c < C, if the block has kernels on channel c:
      x[t][j] = load(padded[n, c, q0 + offset_t + j * V])  every tap t of the library, j < NR (registers)
      for each pattern p (unrolled: its taps are constants):
        for kernel k in segment (block, c, p):             # scf.for; kernels sorted by filter
          i = kernel_rows[k]; w_0..3 = weights[4k .. 4k + 3]
          for j < NR: acc[i, j] = fma(w_3, x[p_3][j], ... fma(w_0, x[p_0][j], acc[i, j]))   load, 4 FMAs, store
    the fused ReLU or epilogue on acc, then acc's positions with x < Wo copied into the output rows

Rationale:
- The tap generator (lowering/conv_codegen.py) keeps one filter's accumulators in registers, so
  each FMA needs its own input load, at a tap offset that usually splits a cache line, and
  filters share no loads (a channel's kernels have different patterns and filters). Here the
  input loads of a (tile, channel) serve every kernel of the channel in the block: per kernel
  NR aligned accumulator loads and stores and 4 weights feed 4 x NR FMAs, so the FMA pipes set
  the pace. On NEON the 4 weights are one vector load and each FMA takes its lane
  (`fmla v.4s, v.4s, v.s[i]`), which leaves the load ports idle half the time.
- Registers: (taps in the library) x NR input vectors, NR accumulators and the weights:
  9 x 2 + 2 + 4 of 32 on AVX-512 and NEON, 9 x 1 + 1 + 4 of 16 on AVX2.
- The accumulator tile (FB rows of NR x V floats, <= 16 KiB) and a block's weights stay in L1/L2
  while the input streams once per filter block; items run tile major, filter blocks inside.
- The tile covers positions of consecutive rows (the Wp - Wo columns between rows are computed
  and dropped), so small images keep whole vectors: 14x14 has 16/14 extra work, 7x7 9/7.
- Stride-1, undilated, ungrouped layers only: strided ones keep the tap generator, whose phased
  input makes every stride a constant offset; depthwise ones have one kernel per channel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from mlir import ir
from mlir.dialects import arith, func, memref, scf, vector

from patsparse.dialect.conv_layer import ConvLayer
from patsparse.dialect.schedule import Schedule

from .emit_helpers import (
    ConstantBuilder,
    LayerSignature,
    constant_global,
    declare_parallel_for,
    index_element_type,
    reinterpret_buffer,
    run_work_items,
)
from .epilogue import store_finisher
from .padded_grid import PaddedGrid, PaddedInput, copy_tile_rows, output_fits_grid

# Vector registers by f32 lanes (AVX-512, AVX2, NEON), and the most input vectors per tap kept.
REGISTERS = {16: 32, 8: 16, 4: 32}
MAX_TILE_VECTORS = 2
# Bytes of one work item's accumulator tile: a filter block is as large as this allows.
TILE_BYTES = 16384



def library_taps(layer: ConvLayer) -> list[tuple[int, int]]:
    """Every tap some pattern of the layer uses, in row-major order."""
    return sorted({tap for pattern in layer.patterns for tap in pattern})


def tile_vectors(layer: ConvLayer, lanes: int) -> int:
    """NR: input vectors per tap that fit the registers beside the accumulators and weights (0: none)."""
    taps = len(library_taps(layer))
    fitting = [nr for nr in range(MAX_TILE_VECTORS, 0, -1) if taps * nr + nr + 4 <= REGISTERS[lanes]]
    return fitting[0] if fitting else 0


def kernel_loop_fmas(layer: ConvLayer, lanes: int) -> tuple[int, int]:
    """(vector FMAs per kernel-loop iteration, vector FMAs of the layer per image): what llvm-mca's
    cycles per iteration of the hot loop scale by."""
    geometry = TileGeometry.of(layer, lanes)
    per_kernel = layer.taps_per_kernel * geometry.vectors
    return per_kernel, per_kernel * layer.num_kernels * geometry.tiles


def channel_tiles_apply(layer: ConvLayer, schedule: Schedule) -> bool:
    """Whether the layer takes this generator: the schedule asks for it, one group, a pattern
    layer (not every tap: dense ones are a GEMM) whose taps fit the registers, and an output
    exactly as large as the padded input allows (any stride: the padded grid's phases)."""
    if not schedule.channel_tiles or layer.groups != 1:
        return False
    kernel_h, kernel_w = layer.kernel_hw
    if layer.taps_per_kernel == kernel_h * kernel_w and len(layer.patterns) == 1:
        return False
    return tile_vectors(layer, schedule.vector_width) > 0 and output_fits_grid(layer)


def channel_major_kernels(layer: ConvLayer, block_filters: int, tile_positions: int
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The kernels sorted by (filter block, channel, pattern, filter): each kernel's accumulator
    row offset ((filter mod FB) x tile positions), its weights (T each), and the segment starts,
    segment (block, c, p) = [starts[s], starts[s + 1]) with s = (block x C + c) x P + p."""
    patterns, channels = len(layer.patterns), layer.input_shape[1]
    blocks = -(-layer.filters // block_filters)
    filters = np.zeros(layer.num_kernels, np.int64)
    pattern_ids = np.zeros(layer.num_kernels, np.int64)
    for position in range(layer.filters):
        for p in range(patterns):
            first, last = int(layer.segments[position, p]), int(layer.segments[position, p + 1])
            filters[first:last] = int(layer.filter_order[position])
            pattern_ids[first:last] = p
    channel_ids = layer.kernel_channels.astype(np.int64)
    keys = ((filters // block_filters) * channels + channel_ids) * patterns + pattern_ids
    order = np.lexsort((filters, keys))
    counts = np.bincount(keys, minlength=blocks * channels * patterns)
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    rows = ((filters[order] % block_filters) * tile_positions).astype(np.int64)
    weights = layer.weights.reshape(layer.num_kernels, layer.taps_per_kernel)[order].reshape(-1)
    return rows, np.ascontiguousarray(weights, np.float32), starts


def build_channel_tile_function(layer: ConvLayer, schedule: Schedule, module_ip: ir.InsertionPoint) -> None:
    """Emit the layer's arrays and the functions `layer.name` and `layer.name`_body at `module_ip`."""
    _ChannelTileEmitter(layer, schedule).emit(module_ip)


@dataclass(frozen=True)
class TileGeometry:
    """Where one layer's work items and buffers are (no IR: the tuner's estimates use it too)."""

    grid: PaddedGrid
    pitch: int                 # Wq: floats per row of the padded grid's planes and of the positions
    channel_stride: int        # phases x Hq x Wq
    taps: list                 # every tap of the library, (row, column), in register order
    offsets: list              # each tap's offset on the grid
    positions: int             # output positions on the padded grid, (Ho - 1) x Wq + Wo
    vectors: int               # NR: vectors per tap and accumulator row
    tile_positions: int        # NR x V
    tiles: int                 # per image
    block_filters: int         # FB
    blocks: int
    slack: int                 # zeros after the padded input, for the last tile's reads

    @classmethod
    def of(cls, layer: ConvLayer, lanes: int) -> TileGeometry:
        grid, taps = PaddedGrid.of(layer), library_taps(layer)
        pitch, channel_stride, positions = grid.pitch, grid.channel_stride, grid.positions(layer)
        vectors = min(tile_vectors(layer, lanes), -(-positions // lanes))
        tile_positions = vectors * lanes
        tiles = -(-positions // tile_positions)
        blocks = -(-layer.filters // max(1, TILE_BYTES // (4 * tile_positions)))
        block_filters = -(-layer.filters // blocks)
        offsets = [grid.offset(r, c) for r, c in taps]
        reach = tiles * tile_positions + max(offsets)
        return cls(grid, pitch, channel_stride, taps, offsets, positions, vectors, tile_positions, tiles,
                   block_filters, -(-layer.filters // block_filters), max(0, reach - channel_stride))


class _ChannelTileEmitter:
    def __init__(self, layer: ConvLayer, schedule: Schedule):
        self.layer, self.schedule = layer, schedule
        self.f32, self.index = ir.F32Type.get(), ir.IndexType.get()
        self.batch, self.channels = layer.input_shape[:2]
        self.out_h, self.out_w = layer.output_hw
        self.lanes = schedule.vector_width
        geometry = TileGeometry.of(layer, self.lanes)
        self.geometry = geometry
        self.pitch, self.channel_stride, self.taps = geometry.pitch, geometry.channel_stride, geometry.taps
        self.tap_slot = {tap: i for i, tap in enumerate(self.taps)}
        self.nr, self.tile_positions, self.tiles = geometry.vectors, geometry.tile_positions, geometry.tiles
        self.block_filters, self.blocks, self.slack = geometry.block_filters, geometry.blocks, geometry.slack
        self.row_stride = self.tile_positions  # floats between accumulator rows
        self.vector_type = ir.VectorType.get([self.lanes], self.f32)
        self.erased = ir.MemRefType.get([1], self.f32)
        self.signature = LayerSignature.of(layer)
        self.bias_type, self.inputs, self.body_type = (self.signature.bias_type, self.signature.inputs,
                                                       self.signature.body_type)

    def emit(self, module_ip: ir.InsertionPoint) -> None:
        layer, compact = self.layer, self.schedule.compact_indices
        rows, weights, starts = channel_major_kernels(layer, self.block_filters, self.row_stride)
        with module_ip:
            self.rows_global = constant_global(f"{layer.name}_kernel_rows", rows, index_element_type(
                max(int(rows.max(initial=0)), 1), compact))
            self.weights_global = constant_global(f"{layer.name}_channel_weights", weights, self.f32)
            self.starts_global = constant_global(f"{layer.name}_channel_segments", starts,
                                                 index_element_type(max(layer.num_kernels, 1), compact))
            input_type = ir.MemRefType.get(list(layer.input_shape), self.f32)
            output_type = ir.MemRefType.get([self.batch, layer.filters, self.out_h, self.out_w], self.f32)
            arguments = self.signature.arguments(layer, input_type, output_type)
            function = func.FuncOp(layer.name, (arguments, []), visibility="private")
            body = func.FuncOp(f"{layer.name}_body", self.body_type, visibility="private")
            if self.schedule.parallel:
                declare_parallel_for(module_ip, self.body_type)
        self.padded = PaddedInput(layer, self.geometry.grid, self.slack, self.vector_type, self.schedule.parallel)
        self.padded.declare(module_ip)
        self._emit_entry(function)
        self._emit_body(body)

    def _emit_entry(self, function: func.FuncOp) -> None:
        """@<name>: the zero-padded copy, then every work item, directly or split over threads."""
        layer = self.layer
        entry = function.add_entry_block()
        b = ConstantBuilder(entry)
        with ir.InsertionPoint(entry):
            padded = self.padded.make(b, entry.arguments[0])
            bias = entry.arguments[1] if layer.has_bias else memref.AllocaOp(self.bias_type, [], []).result
            inputs = list(entry.arguments)[1 + layer.has_bias:-1]
            pointers = [reinterpret_buffer(buffer, self.erased) for buffer in (padded, bias, entry.arguments[-1],
                                                                               *inputs)]
            count = b.index(self.batch * self.tiles * self.blocks)
            run_work_items(f"{layer.name}_body", self.body_type, count, pointers, b.index(0), self.schedule.parallel)
            func.ReturnOp([])

    def _load_index(self, buffer: ir.Value, position: ir.Value) -> ir.Value:
        # Unsigned: compact arrays use the full range of their narrow type.
        return arith.IndexCastUIOp(self.index, memref.LoadOp(buffer, [position]).result).result

    def _emit_body(self, function: func.FuncOp) -> None:
        """@<name>_body(padded, bias, output, begin, end): item = (n * tiles + tile) * blocks + block."""
        layer = self.layer
        entry = function.add_entry_block()
        b = self.b = ConstantBuilder(entry)
        with ir.InsertionPoint(entry):
            flat = self.batch * self.channels * self.channel_stride + self.slack
            self.input = reinterpret_buffer(entry.arguments[0], ir.MemRefType.get([flat], self.f32))
            self.bias = reinterpret_buffer(entry.arguments[1], self.bias_type)
            flat_output = ir.MemRefType.get([self.batch * layer.filters * self.out_h * self.out_w], self.f32)
            self.output = reinterpret_buffer(entry.arguments[2], flat_output)
            self.finish = store_finisher(layer.epilogue, layer.relu, [
                reinterpret_buffer(entry.arguments[3 + i], flat_output) for i in range(self.inputs)], b)
            self.kernel_rows, self.weights, self.starts = (
                memref.GetGlobalOp(type_, name).result
                for name, type_ in (self.rows_global, self.weights_global, self.starts_global))
            self.tile = memref.AllocOp(ir.MemRefType.get([self.block_filters * self.row_stride], self.f32),
                                       [], [], alignment=64).result
            loop = scf.ForOp(entry.arguments[3 + self.inputs], entry.arguments[4 + self.inputs], b.index(1))
            with ir.InsertionPoint(loop.body):
                item = loop.induction_variable
                block = arith.RemUIOp(item, b.index(self.blocks)).result
                image_tile = arith.DivUIOp(item, b.index(self.blocks)).result
                n = arith.DivUIOp(image_tile, b.index(self.tiles)).result
                tile = arith.RemUIOp(image_tile, b.index(self.tiles)).result
                f0 = arith.MulIOp(block, b.index(self.block_filters)).result
                filters = (b.index(self.block_filters) if layer.filters % self.block_filters == 0 else
                           arith.MinUIOp(b.index(self.block_filters),
                                         arith.SubIOp(b.index(layer.filters), f0).result).result)
                q0 = arith.MulIOp(tile, b.index(self.tile_positions)).result
                self._start_tile(f0, filters)
                self._accumulate_channels(n, q0, block)
                self._store_tile(n, q0, f0, filters)
                scf.YieldOp([])
            func.ReturnOp([])

    def _start_tile(self, f0: ir.Value, filters: ir.Value) -> None:
        """Every accumulator row: its filter's bias (or zero)."""
        b = self.b
        loop = scf.ForOp(b.index(0), filters, b.index(1))
        with ir.InsertionPoint(loop.body):
            i = loop.induction_variable
            start = b.f32(0.0)
            if self.layer.has_bias:
                start = memref.LoadOp(self.bias, [arith.AddIOp(f0, i).result]).result
            value = vector.BroadcastOp(self.vector_type, start).result
            row = arith.MulIOp(i, b.index(self.row_stride)).result
            for j in range(self.nr):
                vector.StoreOp(value, self.tile, [arith.AddIOp(row, b.index(j * self.lanes)).result])
            scf.YieldOp([])

    def _accumulate_channels(self, n: ir.Value, q0: ir.Value, block: ir.Value) -> None:
        b, layer, lanes, patterns = self.b, self.layer, self.lanes, len(self.layer.patterns)
        image_base = arith.AddIOp(arith.MulIOp(n, b.index(self.channels * self.channel_stride)).result, q0).result
        block_segments = arith.MulIOp(block, b.index(self.channels * patterns)).result
        channel_loop = scf.ForOp(b.index(0), b.index(self.channels), b.index(1))
        with ir.InsertionPoint(channel_loop.body):
            c = channel_loop.induction_variable
            first = arith.AddIOp(block_segments, arith.MulIOp(c, b.index(patterns)).result).result
            bounds = [self._load_index(self.starts, arith.AddIOp(first, b.index(p)).result if p else first)
                      for p in range(patterns + 1)]
            any_kernel = arith.CmpIOp(arith.CmpIPredicate.ult, bounds[0], bounds[-1]).result
            branch = scf.IfOp(any_kernel, [], has_else=False)
            with ir.InsertionPoint(branch.then_block):
                row = arith.AddIOp(image_base, arith.MulIOp(c, b.index(self.channel_stride)).result).result
                inputs = [[vector.LoadOp(self.vector_type, self.input,
                                         [arith.AddIOp(row, b.index(offset + j * lanes)).result]).result
                           for j in range(self.nr)] for offset in self.geometry.offsets]
                for p, pattern in enumerate(layer.patterns):
                    self._kernel_loop(bounds[p], bounds[p + 1], [inputs[self.tap_slot[tap]] for tap in pattern])
                scf.YieldOp([])
            scf.YieldOp([])

    def _kernel_loop(self, first: ir.Value, last: ir.Value, tap_inputs: list[list[ir.Value]]) -> None:
        """acc[row(k), j] += sum_t w[k, t] * tap_inputs[t][j] for the kernels first..last-1."""
        b, lanes, taps = self.b, self.lanes, len(tap_inputs)
        loop = scf.ForOp(first, last, b.index(1))
        with ir.InsertionPoint(loop.body):
            k = loop.induction_variable
            row = self._load_index(self.kernel_rows, k)
            base = arith.MulIOp(k, b.index(taps)).result
            if lanes == 4 and taps == 4:  # NEON: one vector of the 4 weights, each FMA takes its lane
                packed = vector.LoadOp(self.vector_type, self.weights, [base]).result
                scalars = [vector.ExtractOp(packed, [], [t]).result for t in range(taps)]
            else:
                scalars = [memref.LoadOp(self.weights, [arith.AddIOp(base, b.index(t)).result if t else base]).result
                           for t in range(taps)]
            weights = [vector.BroadcastOp(self.vector_type, w).result for w in scalars]
            for j in range(self.nr):
                position = [arith.AddIOp(row, b.index(j * lanes)).result if j else row]
                value = vector.LoadOp(self.vector_type, self.tile, position).result
                for t in range(taps):
                    value = vector.FMAOp(weights[t], tap_inputs[t][j], value).result
                vector.StoreOp(value, self.tile, position)
            scf.YieldOp([])

    def _store_tile(self, n: ir.Value, q0: ir.Value, f0: ir.Value, filters: ir.Value) -> None:
        """Per output row the tile crosses, the positions with x < Wo of every filter's row into the
        output, the fused ReLU or epilogue applied on the way (with a residual add's tensor loaded
        at the same positions)."""
        b, layer = self.b, self.layer
        output_base = arith.MulIOp(arith.AddIOp(arith.MulIOp(n, b.index(layer.filters)).result, f0).result,
                                   b.index(self.out_h * self.out_w)).result
        copy_tile_rows(b, self.tile, self.row_stride, filters, q0, self.tile_positions, self.output, output_base,
                       self.pitch, layer.output_hw, self.vector_type, self.finish)
