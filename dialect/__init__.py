"""The `patsparse` dialect: IRDL definition, builders, typed accessors, FKW packing, verifier."""

from .fkw import FKW, FKWError, check_fkw, from_dense_weight, pattern_taps, to_dense_weight
from .ops import (
                  IRDL_FILE,
                  PATTERN_CONV2D,
                  PatternConv2dOp,
                  dense_to_numpy,
                  load_dialect,
                  make_context,
                  numpy_to_dense,
                  pattern_conv2d,
)
from .verifier import verify_module, verify_op

__all__ = [
    "FKW", "FKWError", "check_fkw", "from_dense_weight", "pattern_taps", "to_dense_weight",
    "IRDL_FILE", "PATTERN_CONV2D", "PatternConv2dOp", "dense_to_numpy", "load_dialect",
    "make_context", "numpy_to_dense", "pattern_conv2d", "verify_op", "verify_module",
]
