"""`convert-patsparse-to-vector`: pattern convolutions (and optionally dense ones) to vector code."""

from __future__ import annotations

import dataclasses

from mlir import ir
from mlir.dialects import bufferization, func, memref

from patsparse.dialect.conv_layer import ConvLayer, conv_layers
from patsparse.dialect.ir_utils import erase_if_dead, scalar_constant
from patsparse.dialect.ops import PATTERN_CONV2D
from patsparse.dialect.pass_base import PassFailure, PatsparsePass, option
from patsparse.dialect.schedule import SCHEDULE, CodeStats, Schedule, code_stats, vector_width_problem

from .conv_channel_tiles import channel_tiles_apply
from .conv_codegen import build_conv_function
from .conv_gemm import gemm_applies
from .epilogue import elementwise_epilogue


@dataclasses.dataclass
class ConvertPatsparseToVectorPass(PatsparsePass):
    """Lower every `patsparse.pattern_conv2d` to a call of a generated function of `scf` loops
    and `vector` ops specialised to the layer's patterns (see lowering/conv_codegen.py).

    ```mlir
    %y = "patsparse.pattern_conv2d"(%x, %b) {...} : (tensor<1x16x28x28xf32>, tensor<16xf32>) -> tensor<1x16x28x28xf32>
    ```

    becomes

    ```mlir
    %y = call @patsparse_conv_0_tensor(%x, %b) : (tensor<1x16x28x28xf32>, tensor<16xf32>) -> tensor<1x16x28x28xf32>
    ...
    func.func private @patsparse_conv_0_tensor(%x: tensor<...>, %b: tensor<16xf32>) -> tensor<...> {
      %xm = bufferization.to_buffer %x read_only : tensor<1x16x28x28xf32> to memref<1x16x28x28xf32>
      %bm = bufferization.to_buffer %b read_only : ...
      %ym = memref.alloc() {alignment = 64 : i64} : memref<1x16x28x28xf32>
      call @patsparse_conv_0(%xm, %bm, %ym) : (...) -> ()
      %y = bufferization.to_tensor %ym restrict writable : memref<1x16x28x28xf32> to tensor<1x16x28x28xf32>
      return %y
    }
    func.func private @patsparse_conv_0(%in: memref<...>, %bias: memref<16xf32>, %out: memref<...>) {
      // vector.load / vector.fma at constant tap offsets, FKW arrays as memref.globals
    }
    ```

    With `dense-convolutions`, `linalg.conv_2d_nchw_fchw` ops with constant weights (any kernel
    size, dilation 1) go through the same generator as a single pattern holding every tap, so
    the dense remainder of a model (and a model compiled without detection) gets the same
    vector code instead of naive loops. Convolutions that do not match stay for upstream.
    A dense convolution with an even number of filters runs as filter pairs (two filters per
    work item, each input vector loaded once for both) unless its schedule says otherwise.

    Rationale:
    - The call boundary with explicit buffers keeps the generated code independent of
      one-shot bufferization; the call site stays on tensors (see `replace_with_call`).
    - Vector width and register blocking are options, so the host (AVX-512: 16 lanes) and
      AArch64 (NEON: 4 lanes) share the code path and the tuner can choose per layer.
    """

    flag = "convert-patsparse-to-vector"
    summary = "Lower patsparse.pattern_conv2d (and optionally dense convolutions) to scf + vector code"

    vector_width: int = option(16, "f32 lanes per vector: 16 (AVX-512), 8 (AVX2), 4 (NEON)")
    accumulators: int = option(8, "most output vectors along a row kept in registers")
    dense_convolutions: bool = option(False, "also lower constant-weight linalg.conv_2d_nchw_fchw ops")
    rows: int = option(1, "output rows computed together (register blocking in y)")
    eliminate_loads: bool = option(False, "share input loads between taps and rows of a kernel")
    compact_indices: bool = option(False, "FKW index arrays in the narrowest integer type")
    parallel: bool = option(False, "split filter positions over threads (patsparse_parallel_for in the runtime)")
    rows_outer: bool = option(False, "loop order: row blocks outside filters (input rows stay in cache)")
    filter_pairs: bool = option(False, "two filters per work item; kernels both have (same channel and "
                                       "pattern) load their input vectors once")
    channel_tiles: bool = option(True, "pattern layers input-stationary: per output tile and input "
                                       "channel, its tap vectors loaded once for every kernel on the channel "
                                       "(false: the tap generator)")

    def planned_layers(self, module: ir.Operation) -> list[tuple[ir.Operation, ConvLayer, ir.Value, ir.Value | None,
                                                              Schedule]]:
        """(op, layer, input, bias, schedule) of every convolution this pass lowers, with the
        schedule it will generate (the pass options, the op's `patsparse.schedule` over them, filter
        pairs for dense layers that fit): what `run` emits, and what benchmarks of a configuration
        compare without emitting."""
        for name in ("vector_width", "accumulators", "rows"):
            if getattr(self, name) < 1:
                raise PassFailure(f"{name.replace('_', '-')}={getattr(self, name)}: expected at least 1")
        if vector_width_problem(self.vector_width):
            raise PassFailure(vector_width_problem(self.vector_width))
        defaults = Schedule(vector_width=self.vector_width, max_accumulators=self.accumulators, rows=self.rows,
                            eliminate_loads=self.eliminate_loads, compact_indices=self.compact_indices,
                            parallel=self.parallel, rows_outer=self.rows_outer, filter_pairs=self.filter_pairs,
                            channel_tiles=self.channel_tiles)
        planned = []
        for op, layer, source, bias in conv_layers(module, self.dense_convolutions):
            entries = op.attributes[SCHEDULE] if SCHEDULE in op.attributes else None
            try:
                schedule = defaults.with_attribute(entries)
            except ValueError as error:
                raise PassFailure(str(error), op.location) from None
            if op.name != PATTERN_CONV2D and not schedule.filter_pairs and dense_pairs_fit(layer, schedule) and \
                    (entries is None or "filter_pairs" not in ir.DictAttr(entries)):
                # A dense convolution shares every kernel between two filters: pairs halve its
                # loads per FMA (unless a schedule on the op says otherwise).
                schedule = dataclasses.replace(schedule, filter_pairs=True)
            planned.append((op, layer, source, bias, schedule))
        return planned

    def run(self, module: ir.Operation) -> None:
        body = module.regions[0].blocks[0]
        totals = CodeStats()
        layers = self.planned_layers(module)
        fused = epilogues = 0
        # Last first: a convolution that feeds the next one directly is still there (and so is
        # the `source` value matched for the next one) when the next one is rewritten.
        for op, layer, source, bias, schedule in reversed(layers):
            relu = relu_user(op.results[0])
            # The GEMM and the channel tiles also load another tensor in their stores (a residual add).
            reads_inputs = gemm_applies(layer) or channel_tiles_apply(layer, schedule)
            epilogue = None if relu is not None else elementwise_epilogue(op.results[0], int(reads_inputs))
            if relu is not None:
                layer = dataclasses.replace(layer, relu=True)
            elif epilogue is not None:
                layer = dataclasses.replace(layer, epilogue=epilogue)
            stats = code_stats(layer, schedule)
            totals.vector_loads += stats.vector_loads
            totals.vector_fmas += stats.vector_fmas
            with op.location:
                build_conv_function(layer, schedule, ir.InsertionPoint(body))
            inputs = list(epilogue.inputs) if epilogue is not None else []
            result = replace_with_call(op, layer.name, [source] + ([bias] if bias is not None else []) + inputs)
            if relu is not None:  # computed by the convolution's stores now
                relu.results[0].replace_all_uses_with(result)
                relu.erase()
                fused += 1
            if epilogue is not None:  # computed by the convolution's stores now
                epilogue.result.replace_all_uses_with(result)
                epilogue.erase()
                epilogues += 1
        self.statistics = {"lowered": len(layers), "fused_relus": fused, "fused_epilogues": epilogues, "vector_loads": totals.vector_loads,
                           "vector_fmas": totals.vector_fmas, "loads_per_fma": round(totals.loads_per_fma, 4)}



def dense_pairs_fit(layer: ConvLayer, schedule: Schedule) -> bool:
    """Whether a dense convolution can run as filter pairs: an even number of filters, at least two
    per group (a depthwise layer's filters share no input channel), and two filters' rows x R
    accumulators within the registers."""
    return layer.filters % 2 == 0 and layer.filters // layer.groups >= 2 and \
        dataclasses.replace(schedule, filter_pairs=True).fits_registers(layer.output_hw)


def replace_with_call(op: ir.Operation, name: str, inputs: list[ir.Value]) -> ir.Value:
    """Replace `op` (one f32 tensor result) by a tensor-level call of `<name>_tensor`, a wrapper
    around the generated buffer function `name` (which takes `inputs` as buffers and writes a
    freshly allocated output buffer); returns the new result tensor. `op`, and producers left
    without users, are erased.

    Why a wrapper on tensors, and not `to_buffer` + call at the call site: one-shot
    bufferization sees a `to_buffer` as a read of its tensor at that op only. Once the memref
    is used further down (CSE merges two `to_buffer`s of one tensor, canonicalization folds
    `to_buffer(to_tensor(m))` into `m`), an op between the two uses may write in place into the
    buffer the call still reads: a silently wrong result (a pooling output read by a residual
    add and then by a second convolution was clobbered by the add). A `func.call` on tensors is
    a read at the call itself, which the analysis orders correctly against every write; the
    bridge to buffers lives inside the wrapper, where nothing else runs."""
    result_type = op.results[0].type
    input_types = [value.type for value in inputs]
    module_body = _module_body(op)
    wrapper = f"{name}_tensor"
    f32 = ir.F32Type.get()
    with ir.InsertionPoint(module_body), op.location:
        function = func.FuncOp(wrapper, ir.FunctionType.get(input_types, [result_type]), visibility="private")
        block = function.add_entry_block()
        with ir.InsertionPoint(block):
            buffers = [bufferization.ToBufferOp(ir.MemRefType.get(list(value.type.shape), f32), value,
                                                read_only=True).result for value in block.arguments]
            output = memref.AllocOp(ir.MemRefType.get(list(result_type.shape), f32), [], [], alignment=64).result
            func.CallOp([], ir.FlatSymbolRefAttr.get(name), buffers + [output])
            func.ReturnOp([bufferization.ToTensorOp(result_type, output, restrict=True, writable=True).result])
    with ir.InsertionPoint(op), op.location:
        result = func.CallOp([result_type], ir.FlatSymbolRefAttr.get(wrapper), inputs).results[0]
    op.results[0].replace_all_uses_with(result)
    erase_if_dead(op)
    return result


def _module_body(op: ir.Operation) -> ir.Block:
    while op.name != "builtin.module":
        op = op.parent
    return op.regions[0].blocks[0]


def relu_user(value: ir.Value) -> ir.Operation | None:
    """The elementwise ReLU that is the only user of `value` (torch-mlir's form: `select(x > 0, x,
    0)` with `cmpf ugt`, or `maximumf(x, 0)`), which the convolution can apply before its stores."""
    uses = list(value.uses)
    if len(uses) != 1:
        return None
    user = uses[0].owner
    user = user.operation if hasattr(user, "operation") else user
    if user.name != "linalg.generic" or len(user.operands) != 2 or user.operands[0] != value:
        return None
    maps = [str(ir.AffineMapAttr(m).value) for m in ir.ArrayAttr(user.attributes["indexing_maps"])]
    rank = len(value.type.shape)
    if maps != [str(ir.AffineMap.get_identity(rank))] * 2 or user.results[0].type != value.type:
        return None
    body = user.regions[0].blocks[0]
    ops = [o.operation for o in body.operations]
    x = body.arguments[0]
    names = [o.name for o in ops]
    if names == ["arith.cmpf", "arith.select", "linalg.yield"]:
        compare, select, _ = ops
        # `ugt` (9): NaN > 0 holds, so NaN passes through, as it does through maximumf.
        return user if (ir.IntegerAttr(compare.attributes["predicate"]).value == 9
                        and compare.operands[0] == x and scalar_constant(compare.operands[1]) == 0.0
                        and select.operands[0] == compare.results[0] and select.operands[1] == x
                        and scalar_constant(select.operands[2]) == 0.0
                        and ops[2].operands[0] == select.results[0]) else None
    if names == ["arith.maximumf", "linalg.yield"]:
        maximum, _ = ops
        operands = list(maximum.operands)
        return user if (x in operands and any(scalar_constant(v) == 0.0 for v in operands if v != x)
                        and ops[1].operands[0] == maximum.results[0]) else None
    return None
