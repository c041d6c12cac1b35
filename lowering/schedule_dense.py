"""`patsparse-schedule-dense`: tile and vectorize the dense rest of a model (lowering/dense.py)."""

from __future__ import annotations

import dataclasses

from mlir import ir

from patsparse.dialect.pass_base import PassFailure, PatsparsePass, option
from patsparse.dialect.schedule import vector_width_problem

from .dense import ScheduleError, schedule_dense_ops


@dataclasses.dataclass
class ScheduleDensePass(PatsparsePass):
    """Rewrite the dense linalg-on-tensors ops that the convolution and linear lowerings left
    (elementwise ops, pooling, padding, reductions, matmuls) into tiled `scf.for` nests of vector
    ops, still on tensors: upstream elementwise fusion first, then tiling by sizes that divide the
    loop ranges and the linalg vectorizer (see lowering/dense.py). Functions named `patsparse_*`
    (the generated convolutions) and ops carrying `patsparse.dense_reason` are left alone.

    Rationale: a pass, so the whole chain from the imported model to the LLVM dialect is one
    pipeline that `patsparse-opt` can replay stage by stage.
    """

    flag = "patsparse-schedule-dense"
    summary = "Tile and vectorize the dense linalg ops on tensors (elementwise, pooling, pads, matmuls)"

    vector_width: int = option(16, "f32 lanes per vector: 16 (AVX-512), 8 (AVX2), 4 (NEON)")
    fuse: bool = option(True, "run upstream elementwise fusion first")

    def run(self, module: ir.Operation) -> None:
        if vector_width_problem(self.vector_width):
            raise PassFailure(vector_width_problem(self.vector_width))
        try:
            schedule_dense_ops(module, self.vector_width, fuse=self.fuse)
        except ScheduleError as error:
            raise PassFailure(str(error)) from None
