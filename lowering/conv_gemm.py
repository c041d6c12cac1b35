"""Dense convolutions as a packed GEMM: weights packed at compile time, an MR x NR register tile
of accumulators that every loaded input vector and every broadcast weight feeds several times.

A 1x1 convolution (stride 1, no padding) in NCHW is a matrix product per image,

    out[n, f, p] = bias[f] + sum_c W[f, c] * x[n, c, p]        p = y * W + x < P = H * W

with the pixels contiguous in both `x` and `out`: the GEMM reads the input in place (a strided
1x1 layer, a ResNet shortcut, copies the pixels it reads first). A dense KHxKW convolution with
stride 1 is the same product over (channel, tap) on a zero-padded copy of the input with row
pitch Wp = W + left + right: output position q = y * Wp + x reads input position q + dy * Wp + dx,
a constant offset per tap, so

    out'[n, f, q] = bias[f] + sum_c sum_(dy,dx) W[f, c, dy, dx] * padded[n, c, q + dy * Wp + dx]

over q < (Ho - 1) * Wp + Wo, where the columns x >= Wo of each row are computed on the way and
dropped when the rows are copied out (Wp / Wo more work: 3.6% at 56x56, 14% at 14x14; tiles that
cross rows keep small images efficient). The generator emits the same two functions as
lowering/conv_codegen.py (`@<name>(input, [bias,] output)` and `@<name>_body(input, bias, output,
begin, end)` for the thread runtime), so the call site, the tuner's timing and the runtime do not
change. A work item is (image, position tile, filter block):

    acc[i][j] = broadcast(bias[f0 + i])                       i < MR filters, j < NR vectors of V positions
    for c < C:                                                 # scf.for, accumulators as iter_args
      for each tap t (unrolled; its offset a constant):
        x_j = load(input[n, c, q0 + offset_t + j*V])           # NR vector loads
        for i < MR: acc[i][j] = fma(broadcast(packed[b, c, t, i]), x_j, acc[i][j])   # MR x NR FMAs
    store acc[i][j] (a fused ReLU or epilogue first: lowering/epilogue.py) for f0 + i < F

`packed` is W in panels of MR filters, `packed[b, c, t, i] = W[b*MR + i, c, t]`, zero rows past F
and for removed kernels: the MR weights of one (channel, tap) are adjacent. The last position tile
of an image holds the positions left over (fewer vectors, the last one masked).

Rationale:
- The tap generator treats a dense layer as F filters of C kernels: per FMA one input load (or
  half of one, with filter pairs) and one weight broadcast. Here one loaded input vector feeds MR
  FMAs and one broadcast weight NR: per (channel, tap) NR + MR loads for MR x NR FMAs (11 for 24
  with 8 x 3 zmm tiles), so the FMA pipes, not the load ports, set the pace.
- Tiles by vector width fill the register file: AVX-512 and NEON have 32 vector registers
  (8 x 3 accumulators + 3 inputs + a broadcast), AVX2 16 (6 x 2, the classic 6x16 kernel).
- Items run position tile major (filter blocks inside), so the threads' contiguous ranges of
  items keep their input tiles in cache while every filter block of a tile reads them (filter
  block major was measured no faster even where the weights outweigh the input: 512 channels at
  7x7, 2048 at 7x7; slower at 256 channels, 14x14).
- Strided KxK layers keep the tap generator: on the phased input their output rows are not one
  affine function of the input positions.
"""

from __future__ import annotations

import numpy as np
from mlir import ir
from mlir.dialects import arith, func, memref, scf, vector

from patsparse.dialect.conv_layer import ConvLayer
from patsparse.dialect.schedule import Schedule

from .emit_helpers import (
    ConstantBuilder,
    LayerSignature,
    constant_global,
    copy_row,
    declare_parallel_for,
    reinterpret_buffer,
    run_work_items,
)
from .epilogue import store_finisher
from .padded_grid import PaddedGrid, PaddedInput, copy_tile_rows, output_fits_grid

# (filters MR, vectors NR) of the register tile, by f32 lanes per vector.
TILES = {16: (8, 3), 8: (6, 2), 4: (8, 3)}


def gemm_applies(layer: ConvLayer) -> bool:
    """Whether a layer is a matrix product per image: one group, and either a 1x1 kernel without
    padding (any stride) or a dense kernel (every tap; patterns are not) with any stride, on the
    padded grid's phases (PaddedGrid)."""
    if layer.groups != 1 or len(layer.patterns) != 1:
        return False
    (kernel_h, kernel_w), (height, width) = layer.kernel_hw, layer.input_shape[2:]
    if layer.kernel_hw == (1, 1):
        return not any(layer.padding) and tuple(layer.output_hw) == (
            (height - 1) // layer.strides[0] + 1, (width - 1) // layer.strides[1] + 1)
    return layer.taps_per_kernel == kernel_h * kernel_w and output_fits_grid(layer)


def dense_matrix(layer: ConvLayer) -> np.ndarray:
    """W[f, c, t] (t: the layer's taps in order) from its kernel lists; a missing kernel is zero."""
    taps = layer.taps_per_kernel
    matrix = np.zeros((layer.filters, layer.input_shape[1], taps), np.float32)
    weights = layer.weights.reshape(-1, taps)
    for position in range(layer.filters):
        first, last = int(layer.segments[position, 0]), int(layer.segments[position, -1])
        matrix[int(layer.filter_order[position]), layer.kernel_channels[first:last]] = weights[first:last]
    return matrix


def packed_weights(matrix: np.ndarray, filters_per_block: int) -> np.ndarray:
    """[F/MR][C][T][MR] panels of W[f, c, t], zero filters past F."""
    filters, channels, taps = matrix.shape
    blocks = -(-filters // filters_per_block)
    padded = np.zeros((blocks * filters_per_block, channels, taps), np.float32)
    padded[:filters] = matrix
    return np.ascontiguousarray(padded.reshape(blocks, filters_per_block, channels, taps).transpose(0, 2, 3, 1))


def output_positions(layer: ConvLayer) -> int:
    """Positions one filter computes: Ho x Wo for a 1x1 layer, (Ho - 1) x Wq + Wo on the padded grid."""
    out_h, out_w = layer.output_hw
    if layer.kernel_hw == (1, 1):
        return out_h * out_w
    return PaddedGrid.of(layer).positions(layer)


def tile_shape(layer: ConvLayer, vector_width: int) -> tuple[int, int]:
    """(MR, NR): the table's tile, with no more filters or vectors than the layer has. (The last,
    short tile of an image has only the vectors it needs, so 7x7 and 14x14 layers waste no whole
    vectors: 8 x 2 tiles there were measured slower than 8 x 3, 1.0-1.3x.)"""
    filters_per_block, vectors = TILES[vector_width]
    return min(filters_per_block, layer.filters), min(vectors, -(-output_positions(layer) // vector_width))


def build_gemm_function(layer: ConvLayer, schedule: Schedule, module_ip: ir.InsertionPoint) -> None:
    """Emit the packed weights and the functions `layer.name` and `layer.name`_body at `module_ip`."""
    _GemmEmitter(layer, schedule).emit(module_ip)


class _GemmEmitter:
    def __init__(self, layer: ConvLayer, schedule: Schedule):
        self.layer, self.schedule = layer, schedule
        self.f32, self.index = ir.F32Type.get(), ir.IndexType.get()
        self.batch, self.channels = layer.input_shape[:2]
        out_h, out_w = layer.output_hw
        self.spatial = layer.kernel_hw != (1, 1)
        if self.spatial:  # the padded grid (stride phases); tiles of positions at its pitch
            self.grid = PaddedGrid.of(layer)
            self.pitch, self.channel_stride = self.grid.pitch, self.grid.channel_stride
            self.offsets = [self.grid.offset(r, c) for r, c in layer.patterns[0]]
        else:
            self.pitch, self.channel_stride, self.offsets = out_w, out_h * out_w, [0]
        self.pixels = output_positions(layer)   # per filter, in the buffer the tiles store into
        self.lanes = schedule.vector_width
        self.mr, self.nr = tile_shape(layer, self.lanes)
        self.blocks = -(-layer.filters // self.mr)
        self.tile_pixels = self.nr * self.lanes
        self.full_tiles = self.pixels // self.tile_pixels
        self.rest = self.pixels - self.full_tiles * self.tile_pixels      # pixels of the last, short tile
        self.tiles = self.full_tiles + (self.rest > 0)
        self.vector_type = ir.VectorType.get([self.lanes], self.f32)
        self.erased = ir.MemRefType.get([1], self.f32)
        self.signature = LayerSignature.of(layer)
        self.bias_type, self.inputs, self.body_type = (self.signature.bias_type, self.signature.inputs,
                                                       self.signature.body_type)

    def emit(self, module_ip: ir.InsertionPoint) -> None:
        layer = self.layer
        with module_ip:
            self.weights_global = constant_global(f"{layer.name}_packed_weights",
                                                  packed_weights(dense_matrix(layer), self.mr), self.f32)
            self.taps = len(self.offsets)
            input_type = ir.MemRefType.get(list(layer.input_shape), self.f32)
            output_type = ir.MemRefType.get([self.batch, layer.filters, *layer.output_hw], self.f32)
            arguments = self.signature.arguments(layer, input_type, output_type)
            function = func.FuncOp(layer.name, (arguments, []), visibility="private")
            body = func.FuncOp(f"{layer.name}_body", self.body_type, visibility="private")
            if self.schedule.parallel:
                declare_parallel_for(module_ip, self.body_type)
        if self.spatial:
            self.padded = PaddedInput(layer, self.grid, 0, self.vector_type, self.schedule.parallel)
            self.padded.declare(module_ip)
        self._emit_entry(function)
        self._emit_body(body)

    def _emit_entry(self, function: func.FuncOp) -> None:
        """@<name>: every work item, directly or split over threads. A 1x1 layer reads its input in
        place (a strided one, the pixels it reads, copied row by row) and stores into the output; a
        KxK layer reads a zero-padded copy (made by the threads) and each work item copies the
        columns x < Wo of its tile's rows into the output."""
        layer = self.layer
        entry = function.add_entry_block()
        b = ConstantBuilder(entry)
        with ir.InsertionPoint(entry):
            source, output = entry.arguments[0], entry.arguments[-1]
            if self.spatial:
                source = self.padded.make(b, source)
            elif layer.strides != (1, 1):
                source = self._subsampled(b, source)
            bias = entry.arguments[1] if layer.has_bias else memref.AllocaOp(self.bias_type, [], []).result
            inputs = list(entry.arguments)[1 + layer.has_bias:-1]
            pointers = [reinterpret_buffer(buffer, self.erased) for buffer in (source, bias, output, *inputs)]
            count = b.index(self.batch * self.tiles * self.blocks)
            run_work_items(f"{layer.name}_body", self.body_type, count, pointers, b.index(0), self.schedule.parallel)
            func.ReturnOp([])

    def _subsampled(self, b: ConstantBuilder, source: ir.Value) -> ir.Value:
        """x[:, :, ::sh, ::sw] as a contiguous N x C x Ho x Wo buffer (its rows copied with whole
        vectors where the stride is 1 or 2: emit_helpers.copy_row)."""
        out_h, out_w = self.layer.output_hw
        stride_h, stride_w = self.layer.strides
        target = memref.AllocOp(ir.MemRefType.get([self.batch, self.channels, out_h, out_w], self.f32), [], [],
                                alignment=64).result
        n_loop = scf.ForOp(b.index(0), b.index(self.batch), b.index(1))
        with ir.InsertionPoint(n_loop.body):
            c_loop = scf.ForOp(b.index(0), b.index(self.channels), b.index(1))
            with ir.InsertionPoint(c_loop.body):
                y_loop = scf.ForOp(b.index(0), b.index(out_h), b.index(1))
                with ir.InsertionPoint(y_loop.body):
                    n, c, y = n_loop.induction_variable, c_loop.induction_variable, y_loop.induction_variable
                    row = arith.MulIOp(y, b.index(stride_h)).result
                    copy_row(b, source, [n, c, row], b.index(0), target, [n, c, y], b.index(0), out_w, stride_w,
                             self.vector_type)
                    scf.YieldOp([])
                scf.YieldOp([])
            scf.YieldOp([])
        return target

    def _emit_body(self, function: func.FuncOp) -> None:
        """@<name>_body(input, bias, output, begin, end): item = (n * tiles + tile) * blocks + block."""
        layer = self.layer
        entry = function.add_entry_block()
        b = self.b = ConstantBuilder(entry)
        with ir.InsertionPoint(entry):
            flat = self.batch * self.channels * self.channel_stride
            self.input = reinterpret_buffer(entry.arguments[0], ir.MemRefType.get([flat], self.f32))
            self.bias = reinterpret_buffer(entry.arguments[1], self.bias_type)
            out_h, out_w = layer.output_hw
            flat_output = ir.MemRefType.get([self.batch * layer.filters * out_h * out_w], self.f32)
            self.output = reinterpret_buffer(entry.arguments[2], flat_output)
            self.finish = store_finisher(layer.epilogue, layer.relu, [
                reinterpret_buffer(entry.arguments[3 + i], flat_output) for i in range(self.inputs)], b)
            if self.spatial:  # the tile's rows at the padded pitch, before their columns x < Wo are copied out
                self.tile = memref.AllocOp(ir.MemRefType.get([self.mr * self.tile_pixels], self.f32), [], [],
                                           alignment=64).result
            self.packed = memref.GetGlobalOp(self.weights_global[1], self.weights_global[0]).result
            loop = scf.ForOp(entry.arguments[3 + self.inputs], entry.arguments[4 + self.inputs], b.index(1))
            with ir.InsertionPoint(loop.body):
                item = loop.induction_variable
                block = arith.RemUIOp(item, b.index(self.blocks)).result
                image_tile = arith.DivUIOp(item, b.index(self.blocks)).result
                n = arith.DivUIOp(image_tile, b.index(self.tiles)).result
                tile = arith.RemUIOp(image_tile, b.index(self.tiles)).result
                if self.rest == 0:
                    self._emit_tile(n, tile, block, self.nr, self.lanes)
                elif self.full_tiles == 0:
                    self._emit_tile(n, tile, block, *self._short_tile())
                else:
                    full = arith.CmpIOp(arith.CmpIPredicate.ult, tile, b.index(self.full_tiles)).result
                    branch = scf.IfOp(full, [], has_else=True)
                    with ir.InsertionPoint(branch.then_block):
                        self._emit_tile(n, tile, block, self.nr, self.lanes)
                        scf.YieldOp([])
                    with ir.InsertionPoint(branch.else_block):
                        self._emit_tile(n, tile, block, *self._short_tile())
                        scf.YieldOp([])
                scf.YieldOp([])
            func.ReturnOp([])

    def _short_tile(self) -> tuple[int, int]:
        """(vectors, lanes of the last vector) of the tile of the pixels left over."""
        vectors = -(-self.rest // self.lanes)
        return vectors, self.rest - (vectors - 1) * self.lanes

    def _emit_tile(self, n: ir.Value, tile: ir.Value, block: ir.Value, vectors: int, last_lanes: int) -> None:
        """The MR x `vectors` tile of pixel tile `tile`, filter block `block` of image `n`; the last
        vector holds `last_lanes` pixels (masked loads and stores when fewer than V)."""
        b, layer, mr, lanes = self.b, self.layer, self.mr, self.lanes
        i1 = ir.IntegerType.get_signless(1)
        mask = None if last_lanes == lanes else vector.ConstantMaskOp(ir.VectorType.get([lanes], i1),
                                                                      [last_lanes]).result
        zeros = vector.BroadcastOp(self.vector_type, b.f32(0.0)).result
        f0 = arith.MulIOp(block, b.index(mr)).result
        p0 = arith.MulIOp(tile, b.index(self.tile_pixels)).result
        # Rows past F (the last block's padding) start from zero and are never stored.
        filters = [arith.AddIOp(f0, b.index(i)).result for i in range(mr)]
        if layer.has_bias:
            last = b.index(layer.filters - 1)
            starts = [vector.BroadcastOp(self.vector_type, memref.LoadOp(
                self.bias, [arith.MinUIOp(f, last).result]).result).result for f in filters]
        else:
            starts = [zeros] * mr
        input_base = arith.AddIOp(arith.MulIOp(n, b.index(self.channels * self.channel_stride)).result, p0).result
        weight_base = arith.MulIOp(block, b.index(self.channels * self.taps * mr)).result
        channel_loop = scf.ForOp(b.index(0), b.index(self.channels), b.index(1),
                                 [starts[i] for i in range(mr) for _ in range(vectors)])
        with ir.InsertionPoint(channel_loop.body):
            c = channel_loop.induction_variable
            accumulators = list(channel_loop.inner_iter_args)
            row = arith.AddIOp(input_base, arith.MulIOp(c, b.index(self.channel_stride)).result).result
            channel_weights = arith.AddIOp(weight_base, arith.MulIOp(c, b.index(self.taps * mr)).result).result
            for t, offset in enumerate(self.offsets):
                inputs = []
                for j in range(vectors):
                    index = [arith.AddIOp(row, b.index(offset + j * lanes)).result]
                    if j == vectors - 1 and mask is not None:
                        inputs.append(vector.MaskedLoadOp(self.vector_type, self.input, index, mask, zeros).result)
                    else:
                        inputs.append(vector.LoadOp(self.vector_type, self.input, index).result)
                for i in range(mr):
                    weight = memref.LoadOp(self.packed, [arith.AddIOp(channel_weights, b.index(t * mr + i)).result]
                                           ).result
                    broadcast = vector.BroadcastOp(self.vector_type, weight).result
                    for j in range(vectors):
                        slot = i * vectors + j
                        accumulators[slot] = vector.FMAOp(broadcast, inputs[j], accumulators[slot]).result
            scf.YieldOp(accumulators)
        results = list(channel_loop.results)

        if self.spatial:  # through the tile buffer (rows cross output rows); finished on the way out
            for i in range(mr):
                for j in range(vectors):
                    vector.StoreOp(results[i * vectors + j], self.tile, [b.index(i * self.tile_pixels + j * lanes)])
            block_filters = (b.index(mr) if layer.filters % mr == 0 else
                             arith.MinUIOp(b.index(mr), arith.SubIOp(b.index(layer.filters), f0).result).result)
            out_h, out_w = layer.output_hw
            output_base = arith.MulIOp(arith.AddIOp(arith.MulIOp(n, b.index(layer.filters)).result, f0).result,
                                       b.index(out_h * out_w)).result
            copy_tile_rows(b, self.tile, self.tile_pixels, block_filters, p0, vectors * lanes, self.output,
                           output_base, self.pitch, layer.output_hw, self.vector_type, self.finish)
            return
        image_out = arith.MulIOp(n, b.index(layer.filters * self.pixels)).result
        full_blocks = layer.filters // mr
        for i in range(mr):
            def store_row(i=i):
                row = arith.AddIOp(arith.AddIOp(image_out, arith.MulIOp(filters[i], b.index(self.pixels)).result)
                                   .result, p0).result
                for j in range(vectors):
                    index = arith.AddIOp(row, b.index(j * lanes)).result
                    last = mask if j == vectors - 1 else None
                    value = self.finish(results[i * vectors + j], self.vector_type, index, last)
                    if last is not None:
                        vector.MaskedStoreOp(self.output, [index], mask, value)
                    else:
                        vector.StoreOp(value, self.output, [index])
            if i < layer.filters - full_blocks * mr or full_blocks == self.blocks:
                store_row()          # every block has filter f0 + i
            else:
                inside = arith.CmpIOp(arith.CmpIPredicate.ult, filters[i], b.index(layer.filters)).result
                branch = scf.IfOp(inside, [], has_else=False)
                with ir.InsertionPoint(branch.then_block):
                    store_row()
                    scf.YieldOp([])
