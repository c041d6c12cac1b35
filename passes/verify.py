"""`patsparse-verify`: check every patsparse op's FKW arrays and shapes."""

from __future__ import annotations

import dataclasses

from mlir import ir

from patsparse.dialect.pass_base import PatsparsePass


@dataclasses.dataclass
class VerifyPass(PatsparsePass):
    """Check that every `patsparse` op is semantically valid.

    IRDL checks operand and attribute kinds when a file is parsed; this pass
    checks what IRDL cannot: the FKW arrays agree with each other (lengths,
    monotone offsets, ids and channels in range, exactly 4 taps per pattern,
    a permutation as filter order) and with the input, bias and output shapes.
    Each problem is an error at the op's location naming the array and what was
    expected. The IR is not changed.

    Rationale:
    - Every patsparse pass runs the same checks first, so a pass never sees
      inconsistent FKW arrays; this pass exists to run them alone, e.g. after
      hand-editing IR or in the middle of an upstream pipeline.
    """

    flag = "patsparse-verify"
    summary = "Check FKW arrays and shapes of patsparse ops"

    def run(self, module: ir.Operation) -> None:
        # The checks ran in PatsparsePass.__call__ before this point.
        return None
