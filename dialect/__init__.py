"""The IR layer: the `patsparse` dialect (IRDL definition, builders, typed accessors, FKW packing,
the verifier), the contract between passes and code generator (schedule.py, conv_layer.py), and
what every compiler layer builds on (pass_base.py, ir_utils.py, conv_match.py, support.py).

Names are loaded on first use, so that numpy-only parts (fkw.py: the taps and FKW packing, shared
with pruning) can be imported without the MLIR bindings: the importer's child process runs
torch-mlir's own MLIR, which must not meet these bindings in one process.
"""

from importlib import import_module

_EXPORTS = {
    "FKW": "fkw", "FKWError": "fkw", "check_fkw": "fkw", "from_dense_weight": "fkw", "pattern_taps": "fkw",
    "to_dense_weight": "fkw",
    "IRDL_FILE": "ops", "PATTERN_CONV2D": "ops", "PatternConv2dOp": "ops", "dense_to_numpy": "ops",
    "load_dialect": "ops", "make_context": "ops", "numpy_to_dense": "ops", "pattern_conv2d": "ops",
    "verify_op": "verifier", "verify_module": "verifier",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
