"""Random pattern layers through every combination of the optimisation passes (filter reorder,
load elimination with row blocking, compact FKW indices, a tuned schedule with either loop
order) agree with PyTorch, compiled for the host."""

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patsparse import runtime
from patsparse.compiler import compile_model
from patsparse.dialect.schedule import layer_key
from patsparse.pipeline import CompileOptions
from patsparse.tune import model_layers

from helpers import conv_module, pattern_weight, torch_conv


@pytest.mark.slow
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(channels=st.integers(1, 5), filters=st.integers(1, 9), height=st.integers(3, 11), width=st.integers(3, 30),
       stride=st.sampled_from([(1, 1), (2, 2), (2, 1)]), keep=st.floats(0.1, 1.0), seed=st.integers(0, 10_000),
       reorder=st.booleans(), eliminate_loads=st.booleans(), rows=st.sampled_from([None, 1, 2, 3, 5]),
       compact=st.booleans(),
       tuned=st.sampled_from([None, (8, 1, 4, False), (16, 2, 2, True), (8, 3, 1, True), (16, 1, 8, True)]))
def test_every_combination_matches_torch(tmp_path_factory, channels, filters, height, width, stride, keep, seed,
                                         reorder, eliminate_loads, rows, compact, tuned):
    rng = np.random.default_rng(seed)
    weight = pattern_weight(rng, filters, channels, keep)
    bias = rng.standard_normal(filters).astype(np.float32)
    x = rng.standard_normal((1, channels, height, width)).astype(np.float32)
    work = tmp_path_factory.mktemp("passes")
    source = work / "conv.mlir"
    source.write_text(conv_module(x.shape, weight, bias, stride, (1, 1, 1, 1), as_linalg=True))
    database = None
    if tuned:
        layers = model_layers(str(source))
        database = work / "db.json"
        entry = dict(zip(("vector_width", "max_accumulators", "rows", "rows_outer"), tuned))
        database.write_text(json.dumps({"version": 1, "layers": {layer_key(layer, "host"): {"schedule": entry}
                                                                  for layer in layers}}))
    options = CompileOptions(reorder_filters=reorder, eliminate_loads=eliminate_loads, rows=rows,
                             compact_indices=compact, tuning_db=str(database) if database else None)
    library = compile_model(source, work / "conv.so", options).outputs["library"]
    np.testing.assert_allclose(runtime.load(library)(x), torch_conv(x, weight, bias, stride, (1, 1, 1, 1)),
                               rtol=1e-4, atol=1e-5)
