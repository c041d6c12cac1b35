"""patsparse passes, one module per pass, named after its flag."""

from .base import PassFailure, PassOptionError, PatsparsePass, option
from .registry import PASSES, lookup

__all__ = ["PASSES", "PassFailure", "PassOptionError", "PatsparsePass", "lookup", "option"]
