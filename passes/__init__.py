"""patsparse passes, one module per pass, named after its flag; `registry` maps flags to passes."""

from .base import PassFailure, PassOptionError, PatsparsePass, option

__all__ = ["PassFailure", "PassOptionError", "PatsparsePass", "option"]
