"""The padded grid the convolution generators and the max-pooling kernel share: a zero-padded
(or pad-valued) copy of the input split into stride phases, on which every window tap is a
constant offset from the output position, for any stride; its copy as work items on the
threads; and the copy of a tile of grid positions into the output's rows.

    padded row r, column x  ->  phase (r mod sh, x mod sw), row r div sh, column x div sw
    output (y, x)           ->  grid position q = y Wq + x;  tap (dy, dx) reads q + offset(dy, dx)

Rationale: with stride 1 the grid is the plain padded copy (pitch Wp = W + left + right) and the
extra Wq - Wo columns between output rows are computed and dropped, so tiles of whole vectors
cross rows and small images keep their vectors full; a stride only adds phases. Generators
therefore emit one inner loop for every stride, with compile-time offsets the backend folds
into the loads' addressing modes.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlir import ir
from mlir.dialects import arith, func, memref, scf

from patsparse.dialect.conv_layer import ConvLayer

from .emit_helpers import (
    ConstantBuilder,
    copy_row,
    copy_span,
    declare_parallel_for,
    fill_row,
    reinterpret_buffer,
    run_work_items,
)

# Copies and pooling over fewer bytes than this run on the calling thread.
PARALLEL_COPY_BYTES = 1 << 21


def loop_nest(b: ConstantBuilder, extents: list[int], emit) -> None:
    """for i0 < extents[0]: for i1 < extents[1]: ... emit(i0, i1, ...)."""
    loop = scf.ForOp(b.index(0), b.index(extents[0]), b.index(1))
    with ir.InsertionPoint(loop.body):
        if len(extents) == 1:
            emit(loop.induction_variable)
        else:
            loop_nest(b, extents[1:], lambda *inner: emit(loop.induction_variable, *inner))
        scf.YieldOp([])


@dataclass(frozen=True)
class PaddedGrid:
    """The zero-padded input split into stride phases: phase (a, b) holds padded rows a, a + sh, ...
    and columns b, b + sw, ..., as an Hq x Wq plane (Hq = ceil(Hp / sh), Wq = ceil(Wp / sw)). Output
    position q = y Wq + x then reads tap (dy, dx) at q + offset(dy, dx), a constant, for any stride:
    phase (dy mod sh, dx mod sw), row dy div sh, column dx div sw. Stride 1 is the plain padded copy."""

    strides: tuple[int, int]
    rows: int              # Hq
    pitch: int             # Wq: floats per row of a phase plane, and of the output positions
    phases: int            # sh x sw planes per channel

    @classmethod
    def of(cls, layer: ConvLayer) -> PaddedGrid:
        height, width = layer.input_shape[2:]
        top, left, bottom, right = layer.padding
        stride_h, stride_w = layer.strides
        return cls(layer.strides, -(-(height + top + bottom) // stride_h), -(-(width + left + right) // stride_w),
                   stride_h * stride_w)

    @property
    def plane(self) -> int:
        return self.rows * self.pitch

    @property
    def channel_stride(self) -> int:
        return self.phases * self.plane

    def offset(self, dy: int, dx: int) -> int:
        stride_h, stride_w = self.strides
        phase = (dy % stride_h) * stride_w + dx % stride_w
        return phase * self.plane + (dy // stride_h) * self.pitch + dx // stride_w

    def positions(self, layer: ConvLayer) -> int:
        """Output positions on the grid: (Ho - 1) x Wq + Wo (the columns x >= Wo of each row dropped)."""
        return (layer.output_hw[0] - 1) * self.pitch + layer.output_hw[1]


def output_fits_grid(layer: ConvLayer) -> bool:
    """Whether the layer's output is exactly what its padded input allows (every layer torch-mlir writes)."""
    height, width = layer.input_shape[2:]
    top, left, bottom, right = layer.padding
    (kernel_h, kernel_w), (stride_h, stride_w) = layer.kernel_hw, layer.strides
    return tuple(layer.output_hw) == ((height + top + bottom - kernel_h) // stride_h + 1,
                                      (width + left + right - kernel_w) // stride_w + 1)


class PaddedInput:
    """The input on its PaddedGrid in a flat N x C x (phases x Hq x Wq) buffer (+ `slack` zeros after
    the last channel, for readers that run up to a tile past it), made by `@<name>_pad(input, target,
    -, begin, end)` over (image, channel) work items, so the threads share the copy. With stride 1
    every element is written once (the padding with zeros, the rows with whole vectors); with a
    stride the channel is zeroed, then each row goes to its phases (stride-2 columns de-interleaved
    by shuffles: emit_helpers.copy_row)."""

    def __init__(self, layer: ConvLayer, grid: PaddedGrid, slack: int, vector_type: ir.VectorType, parallel: bool):
        self.layer, self.grid, self.slack = layer, grid, slack
        self.vector_type = vector_type
        self.size = layer.input_shape[0] * layer.input_shape[1] * grid.channel_stride + slack
        # Waking the workers costs more than copying a small input (VGG-16 at 32x32: 0.3 MB).
        self.parallel = parallel and 4 * self.size >= PARALLEL_COPY_BYTES
        self.name = f"{layer.name}_pad"

    def declare(self, module_ip: ir.InsertionPoint) -> None:
        """@<name>_pad at `module_ip`, its body emitted."""
        f32, index = ir.F32Type.get(), ir.IndexType.get()
        erased = ir.MemRefType.get([1], f32)
        self.body_type = body_type = ir.FunctionType.get([erased] * 3 + [index] * 2, [])
        with module_ip:
            function = func.FuncOp(self.name, body_type, visibility="private")
            if self.parallel:
                declare_parallel_for(module_ip, body_type)
        entry = function.add_entry_block()
        b = ConstantBuilder(entry)
        f32 = ir.F32Type.get()
        channels = self.layer.input_shape[1]
        with ir.InsertionPoint(entry):
            source = reinterpret_buffer(entry.arguments[0], ir.MemRefType.get(list(self.layer.input_shape), f32))
            target = reinterpret_buffer(entry.arguments[1], ir.MemRefType.get([self.size], f32))
            loop = scf.ForOp(entry.arguments[3], entry.arguments[4], b.index(1))
            with ir.InsertionPoint(loop.body):
                item = loop.induction_variable
                n = arith.DivUIOp(item, b.index(channels)).result
                c = arith.RemUIOp(item, b.index(channels)).result
                base = arith.MulIOp(item, b.index(self.grid.channel_stride)).result
                if self.grid.strides == (1, 1):
                    self._copy_channel(b, source, target, n, c, base)
                else:
                    self._copy_channel_phased(b, source, target, n, c, base)
                scf.YieldOp([])
            func.ReturnOp([])

    def _copy_channel(self, b, source, target, n, c, base) -> None:
        height, width = self.layer.input_shape[2:]
        top, left = self.layer.padding[:2]
        pitch, channel_stride, vector_type = self.grid.pitch, self.grid.channel_stride, self.vector_type
        last_row_end = (top + height - 1) * pitch + left + width

        def at(offset):
            return arith.AddIOp(base, offset if isinstance(offset, ir.Value) else b.index(offset)).result

        fill_row(b, target, [], at(0), top * pitch + left, vector_type)

        def row(y):
            start = arith.AddIOp(arith.MulIOp(y, b.index(pitch)).result, b.index(top * pitch + left)).result
            copy_row(b, source, [n, c, y], b.index(0), target, [], at(start), width, 1, vector_type)
            if height > 1:  # this row's right padding and the next row's left padding
                gap = arith.AddIOp(start, b.index(width)).result
                last = arith.CmpIOp(arith.CmpIPredicate.ult, y, b.index(height - 1)).result
                branch = scf.IfOp(last, [], has_else=False)
                with ir.InsertionPoint(branch.then_block):
                    fill_row(b, target, [], at(gap), pitch - width, vector_type)
                    scf.YieldOp([])
        loop_nest(b, [height], row)
        fill_row(b, target, [], at(last_row_end), channel_stride - last_row_end, vector_type)

    def _copy_channel_phased(self, b, source, target, n, c, base) -> None:
        height, width = self.layer.input_shape[2:]
        top, left = self.layer.padding[:2]
        stride_h, stride_w = self.grid.strides
        fill_row(b, target, [], base, self.grid.channel_stride, self.vector_type)

        def row(y):
            padded_row = arith.AddIOp(y, b.index(top)).result
            phase_row = arith.RemUIOp(padded_row, b.index(stride_h)).result
            plane_row = arith.DivUIOp(padded_row, b.index(stride_h)).result
            row_base = arith.AddIOp(arith.AddIOp(base, arith.MulIOp(phase_row, b.index(
                stride_w * self.grid.plane)).result).result, arith.MulIOp(plane_row, b.index(self.grid.pitch)).result
                                    ).result
            for phase_column in range(stride_w):
                first = (phase_column - left) % stride_w        # the first input column of this phase
                count = -(-(width - first) // stride_w)
                if count <= 0:
                    continue
                start = arith.AddIOp(row_base, b.index(phase_column * self.grid.plane + (first + left) // stride_w)
                                     ).result
                copy_row(b, source, [n, c, y], b.index(first), target, [], start, count, stride_w, self.vector_type)
        loop_nest(b, [height], row)

    def make(self, b: ConstantBuilder, source: ir.Value) -> ir.Value:
        """In the layer's entry: the buffer, filled by @<name>_pad's work items (threads or a call)."""
        f32 = ir.F32Type.get()
        batch, channels = self.layer.input_shape[:2]
        target = memref.AllocOp(ir.MemRefType.get([self.size], f32), [], [], alignment=64).result
        erased = ir.MemRefType.get([1], f32)
        pointers = [reinterpret_buffer(source, erased), reinterpret_buffer(target, erased),
                    reinterpret_buffer(target, erased)]
        run_work_items(self.name, self.body_type, b.index(batch * channels), pointers, b.index(0), self.parallel)
        if self.slack:
            fill_row(b, target, [], b.index(self.size - self.slack), self.slack, self.vector_type)
        return target


def copy_tile_rows(b: ConstantBuilder, tile: ir.Value, row_stride: int, filters: ir.Value, q0: ir.Value,
                   tile_positions: int, output: ir.Value, output_base: ir.Value, pitch: int,
                   output_hw: tuple[int, int], vector_type: ir.VectorType, finish=None) -> None:
    """A tile of positions q0 .. q0 + tile_positions - 1 on the padded grid (row pitch Wp), row i of
    `tile` (i < filters, `row_stride` floats apart) for filter i of the block, into the flat output
    (filter i's plane at output_base + i Ho Wo): per output row the tile crosses, its columns
    x < Wo. Whole vectors, then one masked vector (x86) or elements (NEON: no masked memory ops);
    `finish` (a fused epilogue) on each value before its store (emit_helpers.copy_span)."""
    out_h, out_w = output_hw
    lanes = vector_type.shape[0]
    q_end = arith.AddIOp(q0, b.index(tile_positions)).result
    first_row = arith.DivUIOp(q0, b.index(pitch)).result
    last_row = arith.MinUIOp(arith.DivUIOp(arith.SubIOp(q_end, b.index(1)).result, b.index(pitch)).result,
                             b.index(out_h - 1)).result
    row_loop = scf.ForOp(first_row, arith.AddIOp(last_row, b.index(1)).result, b.index(1))
    with ir.InsertionPoint(row_loop.body):
        y = row_loop.induction_variable
        row_start = arith.MulIOp(y, b.index(pitch)).result
        x_first = arith.SubIOp(arith.MaxUIOp(q0, row_start).result, row_start).result
        x_end = arith.SubIOp(arith.MinUIOp(q_end, arith.AddIOp(row_start, b.index(out_w)).result).result,
                             row_start).result
        length = arith.SubIOp(arith.MaxUIOp(x_end, x_first).result, x_first).result
        source = arith.SubIOp(arith.AddIOp(row_start, x_first).result, q0).result
        target = arith.AddIOp(arith.AddIOp(output_base, arith.MulIOp(y, b.index(out_w)).result).result,
                              x_first).result
        filter_loop = scf.ForOp(b.index(0), filters, b.index(1))
        with ir.InsertionPoint(filter_loop.body):
            i = filter_loop.induction_variable
            copy_span(b, tile, arith.AddIOp(source, arith.MulIOp(i, b.index(row_stride)).result).result,
                      output, arith.AddIOp(target, arith.MulIOp(i, b.index(out_h * out_w)).result).result, length,
                      vector_type, masked=lanes != 4, finish=finish)
            scf.YieldOp([])
        scf.YieldOp([])


