"""`patsparse-detect-patterns`: rewrite pattern-sparse 3x3 convolutions into `patsparse.pattern_conv2d`."""

from __future__ import annotations

import dataclasses

import numpy as np
from mlir import ir

from patsparse.dialect.fkw import FKWError, from_dense_weight, infer_pattern_library
from patsparse.dialect.ops import pattern_conv2d

from .base import PassFailure, PatsparsePass, option
from .ir_utils import constant_array, erase_if_dead, int_array, producer, scalar_constant

DENSE_REASON = "patsparse.dense_reason"
CONV_2D = "linalg.conv_2d_nchw_fchw"


class NotRewritten(Exception):
    """Why a convolution stays on the dense path."""


@dataclasses.dataclass
class DetectPatternsPass(PatsparsePass):
    """Find `linalg.conv_2d_nchw_fchw` ops whose constant 3x3 weights are pattern-sparse
    and rewrite them, with the padding and bias around them, into `patsparse.pattern_conv2d`.

    Matches what torch-mlir's importer emits for `nn.Conv2d`:

    ```mlir
    %padded = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] { tensor.yield %zero }
    %init = linalg.broadcast ins(%bias : tensor<Fxf32>) outs(%empty) dimensions = [0, 2, 3]
        // or, without bias: %init = linalg.fill ins(%zero) outs(%empty)
    %y = linalg.conv_2d_nchw_fchw {dilations = dense<1>, strides = dense<S>}
           ins(%padded, %weight) outs(%init)     // %weight = arith.constant dense(_resource)<...>
    ```

    becomes

    ```mlir
    %y = "patsparse.pattern_conv2d"(%x, %bias) {padding = array<i64: 1, 1, 1, 1>,
           strides = array<i64: S, S>, pattern_library = ..., filter_offsets = ..., ...}
    ```

    A convolution is rewritten when every kernel is all-zero or has its non-zeros inside one
    pattern of the library: the `library` option, or else the distinct 4-tap supports in use
    (at most `max-patterns`). Everything else is left as it was (the dense path) and gets a
    `patsparse.dense_reason` attribute that `patsparse-report` prints: weights that are not
    constant, kernels other than 3x3, dilation other than 1, a kernel off every pattern, an
    output that accumulates into something other than zero or a broadcast bias.

    Rationale:
    - The zero `tensor.pad` folds into the op's padding, so the lowering can skip the padded
      copy; a pad with another value stays in front of the op.
    - Pattern ids are per layer: each layer carries its own library, as PatDNN does.
    - Reasons are recorded in the IR (not only printed) so a report can be made at any later
      point of a pipeline and tests can check them.
    """

    flag = "patsparse-detect-patterns"
    summary = "Rewrite pattern-sparse 3x3 convolutions into patsparse.pattern_conv2d"

    library: list[str] = option([], "the pattern library, 9-character 0/1 tap masks joined by ':' "
                                    "(e.g. 010111000:010110010); empty: infer per layer from the weights")
    max_patterns: int = option(32, "with an inferred library, the most distinct patterns a layer may use")

    def run(self, module: ir.Operation) -> None:
        library = self._parse_library()
        convolutions = []

        def collect(op: ir.Operation) -> ir.WalkResult:
            if op.name == CONV_2D or op.name.startswith(("linalg.conv_", "linalg.depthwise_conv_")):
                convolutions.append(op.operation)
            return ir.WalkResult.ADVANCE

        module.walk(collect)
        rewritten = 0
        for conv in convolutions:
            try:
                self._rewrite(conv, library)
                rewritten += 1
            except NotRewritten as reason:
                conv.attributes[DENSE_REASON] = ir.StringAttr.get(str(reason))
        self.statistics = {"convolutions": len(convolutions), "rewritten": rewritten}

    def _parse_library(self) -> np.ndarray | None:
        if not self.library:
            return None
        rows = []
        for mask in self.library:
            if len(mask) != 9 or set(mask) - {"0", "1"} or mask.count("1") != 4:
                raise PassFailure(f"library: expected 9-character 0/1 masks with four 1s, got '{mask}'")
            rows.append([int(c) for c in mask])
        return np.array(rows, np.int8)

    def _rewrite(self, conv: ir.Operation, library: np.ndarray | None) -> None:
        if conv.name != CONV_2D:
            raise NotRewritten(f"{conv.name} is not a dense NCHW/FCHW convolution")
        input_value, weight_value = conv.operands[0], conv.operands[1]
        init_value = conv.operands[2]
        dilations = int_array(conv.attributes["dilations"] if "dilations" in conv.attributes else None, [1, 1])
        strides = int_array(conv.attributes["strides"] if "strides" in conv.attributes else None, [1, 1])
        if dilations != [1, 1]:
            raise NotRewritten(f"dilation {dilations}, only 1 is supported")
        for value, role in ((input_value, "input"), (weight_value, "weight"), (conv.results[0], "output")):
            tensor = value.type
            if not isinstance(tensor, ir.RankedTensorType) or not tensor.has_static_shape \
                    or not isinstance(tensor.element_type, ir.F32Type):
                raise NotRewritten(f"{role} type {tensor} is not a static f32 tensor")
        kernel = list(weight_value.type.shape[2:])
        if kernel != [3, 3]:
            raise NotRewritten(f"kernel {kernel[0]}x{kernel[1]}, not 3x3")
        weight = constant_array(weight_value)
        if weight is None:
            raise NotRewritten("weights are not a constant")
        weight = weight.astype(np.float32)
        fkw = self._pack(weight, library)

        source, padding = self._fold_zero_pad(input_value)
        bias = self._bias_of(init_value, weight.shape[0])
        with ir.InsertionPoint(conv), conv.location:
            result = pattern_conv2d(source, fkw, bias=bias, strides=strides, padding=padding)
        if list(result.type.shape) != list(conv.results[0].type.shape):
            result.owner.erase()
            raise NotRewritten("output shape does not follow from the input, padding and strides")
        conv.results[0].replace_all_uses_with(result)
        erase_if_dead(conv)

    def _pack(self, weight: np.ndarray, library: np.ndarray | None):
        flat = weight.reshape(weight.shape[0], weight.shape[1], 9)
        counts = (flat != 0).sum(axis=2)
        if counts.max(initial=0) > 4:
            filter_index, channel = np.unravel_index(int(np.argmax(counts)), counts.shape)
            raise NotRewritten(f"kernel (filter {filter_index}, channel {channel}) has "
                               f"{counts.max()} non-zeros, a pattern keeps 4")
        if library is None:
            library = infer_pattern_library(weight)
            if len(library) > self.max_patterns:
                raise NotRewritten(f"uses {len(library)} distinct patterns, more than "
                                   f"max-patterns={self.max_patterns}")
        try:
            return from_dense_weight(weight, library)
        except FKWError as error:
            raise NotRewritten(str(error).removeprefix("weight: ")) from None

    @staticmethod
    def _fold_zero_pad(value: ir.Value) -> tuple[ir.Value, list[int]]:
        pad = producer(value, "tensor.pad")
        if pad is None or len(pad.operands) != 1:  # dynamic pad amounts have extra operands
            return value, [0, 0, 0, 0]
        low = list(ir.DenseI64ArrayAttr(pad.attributes["static_low"]))
        high = list(ir.DenseI64ArrayAttr(pad.attributes["static_high"]))
        yield_op = pad.regions[0].blocks[0].operations[0]
        if low[:2] != [0, 0] or high[:2] != [0, 0] or scalar_constant(yield_op.operands[0]) != 0.0:
            return value, [0, 0, 0, 0]
        return pad.operands[0], [low[2], low[3], high[2], high[3]]

    @staticmethod
    def _bias_of(value: ir.Value, filters: int) -> ir.Value | None:
        fill = producer(value, "linalg.fill")
        if fill is not None and scalar_constant(fill.operands[0]) == 0.0:
            return None
        broadcast = producer(value, "linalg.broadcast")
        if broadcast is not None and list(ir.DenseI64ArrayAttr(broadcast.attributes["dimensions"])) == [0, 2, 3]:
            bias = broadcast.operands[0]
            if list(bias.type.shape) == [filters] and isinstance(bias.type.element_type, ir.F32Type):
                return bias
        raise NotRewritten("the output accumulates into a value that is neither zero nor a broadcast bias")
