"""The one map from pass flags to pass classes."""

from __future__ import annotations

from .apply_tuning import ApplyTuningPass
from .base import PatsparsePass
from .detect_patterns import DetectPatternsPass
from .eliminate_redundant_loads import EliminateRedundantLoadsPass
from .expand_to_linalg import ExpandToLinalgPass
from .reorder_filters import ReorderFiltersPass
from .report import ReportPass
from .verify import VerifyPass
from patsparse.lowering.convert_linear_to_vector import ConvertLinearToVectorPass
from patsparse.lowering.convert_patsparse_to_vector import ConvertPatsparseToVectorPass

PASSES: dict[str, type[PatsparsePass]] = {
    cls.flag: cls for cls in (
        VerifyPass,
        DetectPatternsPass,
        ReorderFiltersPass,
        ApplyTuningPass,
        EliminateRedundantLoadsPass,
        ExpandToLinalgPass,
        ReportPass,
        ConvertPatsparseToVectorPass,
        ConvertLinearToVectorPass,
    )
}


def lookup(flag: str) -> type[PatsparsePass] | None:
    return PASSES.get(flag)
