"""Compiled models take their buffers from the runtime's allocator, which hands large blocks
back for the next inference (lowering/runtime/patsparse_alloc.c). A reused block holds the
previous call's data, so every call must still compute from its own input only: the padding
zeroed, no stale activations read."""

import numpy as np
import pytest
from helpers import conv_module, pattern_weight, torch_conv

from patsparse import runtime
from patsparse.compiler import compile_model
from patsparse.pipeline import CompileOptions

SHAPE = (1, 16, 48, 48)  # 147 KB of input: above the allocator's 64 KiB reuse threshold


@pytest.mark.parametrize("stride, optimised", [(1, False), (1, True), (2, False)])
def test_reused_buffers_give_each_call_its_own_result(tmp_path, stride, optimised):
    rng = np.random.default_rng(stride)
    weight = pattern_weight(rng, 16, SHAPE[1], 0.5)
    bias = rng.standard_normal(16).astype(np.float32)
    source = tmp_path / "conv.mlir"
    source.write_text(conv_module(SHAPE, weight, bias, (stride, stride), (1, 1, 1, 1), as_linalg=True))
    options = CompileOptions.optimised() if optimised else CompileOptions()
    model = runtime.load(compile_model(source, tmp_path / "conv.so", options).outputs["library"])
    # Large values first, so stale data from the first call would show in the next ones.
    inputs = [1e3 * rng.standard_normal(SHAPE).astype(np.float32),
              rng.standard_normal(SHAPE).astype(np.float32), np.zeros(SHAPE, np.float32)]
    for x in inputs:
        expected = torch_conv(x, weight, bias, (stride, stride), (1, 1, 1, 1))
        np.testing.assert_allclose(model(x), expected, rtol=1e-4, atol=1e-3 * max(1.0, np.abs(x).max()))
    model.release_buffers()
    np.testing.assert_allclose(model(inputs[1]), torch_conv(inputs[1], weight, bias, (stride, stride), (1, 1, 1, 1)),
                               rtol=1e-4, atol=1e-3)
