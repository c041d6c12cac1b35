"""The one map from pass flags to pass classes."""

from __future__ import annotations

from .base import PatsparsePass
from .detect_patterns import DetectPatternsPass
from .expand_to_linalg import ExpandToLinalgPass
from .report import ReportPass
from .verify import VerifyPass

PASSES: dict[str, type[PatsparsePass]] = {
    cls.flag: cls for cls in (
        VerifyPass,
        DetectPatternsPass,
        ExpandToLinalgPass,
        ReportPass,
    )
}


def lookup(flag: str) -> type[PatsparsePass] | None:
    return PASSES.get(flag)
