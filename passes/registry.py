"""The one map from pass flags to pass classes."""

from __future__ import annotations

from .base import PatsparsePass
from .verify import VerifyPass

PASSES: dict[str, type[PatsparsePass]] = {
    cls.flag: cls for cls in (
        VerifyPass,
    )
}


def lookup(flag: str) -> type[PatsparsePass] | None:
    return PASSES.get(flag)
