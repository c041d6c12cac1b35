"""`patsparse-detect-patterns`: rewrite pattern-sparse 3x3 convolutions into `patsparse.pattern_conv2d`."""

from __future__ import annotations

import dataclasses

import numpy as np
from mlir import ir

from patsparse.dialect.conv_match import NotRewritten, is_convolution, match_convolution
from patsparse.dialect.fkw import FKWError, from_dense_weight, infer_pattern_library
from patsparse.dialect.ir_utils import erase_if_dead, ops_where
from patsparse.dialect.ops import pattern_conv2d
from patsparse.dialect.pass_base import PassFailure, PatsparsePass, option
from patsparse.dialect.schedule import DENSE_REASON


@dataclasses.dataclass
class DetectPatternsPass(PatsparsePass):
    """Find `linalg.conv_2d_nchw_fchw` ops whose constant 3x3 weights are pattern-sparse
    and rewrite them, with the padding and bias around them, into `patsparse.pattern_conv2d`.
    Depthwise (`linalg.depthwise_conv_2d_nchw_chw`) and grouped (`linalg.conv_2d_ngchw_gfchw`
    between the reshapes of the channel dimension, as torch-mlir emits `nn.Conv2d(groups=G)`)
    convolutions become the same op with a `groups` attribute (dialect/conv_match.py).

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
        if self.max_patterns < 1:
            raise PassFailure(f"max-patterns={self.max_patterns}: expected at least 1 (0 would leave every "
                              f"convolution dense)")
        library = self._parse_library()
        convolutions = ops_where(module, is_convolution)
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
        match = match_convolution(conv, kernel_size=(3, 3))
        fkw = self._pack(match.weight, library, match.groups)
        output = match.output
        with ir.InsertionPoint(output), conv.location:
            result = pattern_conv2d(match.source, fkw, bias=match.bias, strides=match.strides,
                                    padding=match.padding, groups=match.groups)
        if list(result.type.shape) != list(output.results[0].type.shape):
            result.owner.erase()
            raise NotRewritten("output shape does not follow from the input, padding and strides")
        output.results[0].replace_all_uses_with(result)
        erase_if_dead(output)

    def _pack(self, weight: np.ndarray, library: np.ndarray | None, groups: int = 1):
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
            return from_dense_weight(weight, library, groups=groups)
        except FKWError as error:
            raise NotRewritten(str(error).removeprefix("weight: ")) from None
