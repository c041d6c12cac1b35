"""`patsparse-apply-tuning`: put the schedules a tuning database holds on the convolutions they fit."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from mlir import ir

from patsparse.dialect.conv_layer import conv_layers
from patsparse.dialect.pass_base import PassFailure, PatsparsePass, option
from patsparse.dialect.schedule import SCHEDULE, TUNED_FIELDS, Schedule, TuningDatabase, TuningError


@dataclasses.dataclass
class ApplyTuningPass(PatsparsePass):
    """For every convolution `convert-patsparse-to-vector` lowers (pattern ones, and constant-
    weight linalg ones), look up its key (target, shapes, strides, padding, pattern mix) in the
    tuning database `patsparse-tune` wrote and set the measured vector width, vectors per row
    rows per block and loop order as its `patsparse.schedule`:

    ```mlir
    %y = "patsparse.pattern_conv2d"(%x) {..., patsparse.schedule = {max_accumulators = 1 : i64, rows = 8 : i64,
                                                                    vector_width = 8 : i64}}
    ```

    Entries already on an op win (a hand-set schedule is kept). Layers the database does not
    know keep the lowering's defaults; `report` prints how many matched.

    Rationale: a pass, not a lowering option, so the schedule is visible in the IR between
    passes and later passes (load elimination) see the tuned rows.
    """

    flag = "patsparse-apply-tuning"
    summary = "Set each convolution's schedule from a tuning database (patsparse-tune)"

    db: str = option("", "the tuning database (JSON from patsparse-tune)")
    target: str = option("host", "the target whose entries apply: host or aarch64-linux-gnu")
    report: bool = option(False, "print how many layers the database knew, to stderr")

    def run(self, module: ir.Operation) -> None:
        if not self.db:
            raise PassFailure("no db=<file> given")  # the flag is prefixed where the failure is reported
        if not Path(self.db).is_file():
            raise PassFailure(f"{self.db}: no such tuning database (patsparse-tune writes one)")
        try:
            database = TuningDatabase(self.db)
        except TuningError as error:
            raise PassFailure(str(error)) from None
        layers = conv_layers(module, dense_convolutions=True)
        tuned = 0
        for op, layer, _, _ in layers:
            try:
                schedule = database.schedule(layer, self.target, Schedule())
            except TuningError as error:
                raise PassFailure(str(error)) from None
            if schedule is None:
                continue
            tuned += 1
            entries = {entry.name: entry.attr for entry in schedule.attribute(*TUNED_FIELDS)}
            if SCHEDULE in op.attributes:
                entries.update({entry.name: entry.attr for entry in ir.DictAttr(op.attributes[SCHEDULE])})
            op.attributes[SCHEDULE] = ir.DictAttr.get(entries)
        if self.report:
            print(f"{self.flag}: {tuned} of {len(layers)} convolutions tuned from {self.db}", file=sys.stderr)
        self.statistics = {"convolutions": len(layers), "tuned": tuned}
