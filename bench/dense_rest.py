"""The dense rest of a model (no convolutions) lowered naively and scheduled by
patsparse-schedule-dense (lowering/dense.py), timed side by side.

    .venv/bin/python bench/dense_rest.py --size 112 --features 1000 --repeats 3
"""

from __future__ import annotations

from patsparse.jit import Jit
from patsparse.lowering.dense_rewrites import tensor_type_text


def _benchmark_module(channels: int, size: int, features: int, seed: int = 0) -> str:
    """A dense rest at realistic sizes: bias broadcast + residual add, ReLU, max pool 2x2/2,
    zero pad + max pool 3x3/2 pad 1, average pool 2x2 (sum and divide), flatten and a Linear
    layer with bias, as torch-mlir writes them."""
    import numpy as np

    rng = np.random.default_rng(seed)
    c, h = channels, size
    h2, h4, h8 = h // 2, h // 4, h // 8
    flat = c * h8 * h8

    def blob(array: np.ndarray) -> str:
        return "0x04000000" + array.astype("<f4").tobytes().hex().upper()

    t = tensor_type_text
    generic4 = '{indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}'
    return f"""
#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#id2 = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d1)>
module {{
  func.func @forward(%x: {t([1, c, h, h])}) -> {t([1, features])} {{
    %zero = arith.constant 0.0 : f32
    %ninf = arith.constant 0xFF800000 : f32
    %four = arith.constant 4.0 : f32
    %bias = arith.constant dense_resource<bias> : {t([c])}
    %w = arith.constant dense_resource<weight> : {t([features, flat])}
    %fcb = arith.constant dense_resource<fc_bias> : {t([features])}
    %e0 = tensor.empty() : {t([1, c, h, h])}
    %b = linalg.broadcast ins(%bias : {t([c])}) outs(%e0 : {t([1, c, h, h])}) dimensions = [0, 2, 3]
    %e1 = tensor.empty() : {t([1, c, h, h])}
    %sum = linalg.generic {{indexing_maps = [#id4, #id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}}
        ins(%x, %b : {t([1, c, h, h])}, {t([1, c, h, h])}) outs(%e1 : {t([1, c, h, h])}) {{
    ^bb0(%in: f32, %in2: f32, %out: f32):
      %a = arith.addf %in, %in2 : f32
      linalg.yield %a : f32
    }} -> {t([1, c, h, h])}
    %relu = linalg.generic {generic4} ins(%sum : {t([1, c, h, h])}) outs(%e1 : {t([1, c, h, h])}) {{
    ^bb0(%in: f32, %out: f32):
      %p = arith.cmpf ugt, %in, %zero : f32
      %s = arith.select %p, %in, %zero : f32
      linalg.yield %s : f32
    }} -> {t([1, c, h, h])}
    %e2 = tensor.empty() : {t([1, c, h2, h2])}
    %f2 = linalg.fill ins(%ninf : f32) outs(%e2 : {t([1, c, h2, h2])}) -> {t([1, c, h2, h2])}
    %k2 = tensor.empty() : tensor<2x2xf32>
    %p2 = linalg.pooling_nchw_max {{dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>}}
        ins(%relu, %k2 : {t([1, c, h, h])}, tensor<2x2xf32>) outs(%f2 : {t([1, c, h2, h2])}) -> {t([1, c, h2, h2])}
    %padded = tensor.pad %p2 low[0, 0, 1, 1] high[0, 0, 1, 1] {{
    ^bb0(%i0: index, %i1: index, %i2: index, %i3: index):
      tensor.yield %ninf : f32
    }} : {t([1, c, h2, h2])} to {t([1, c, h2 + 2, h2 + 2])}
    %e3 = tensor.empty() : {t([1, c, h4, h4])}
    %f3 = linalg.fill ins(%ninf : f32) outs(%e3 : {t([1, c, h4, h4])}) -> {t([1, c, h4, h4])}
    %k3 = tensor.empty() : tensor<3x3xf32>
    %p3 = linalg.pooling_nchw_max {{dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>}}
        ins(%padded, %k3 : {t([1, c, h2 + 2, h2 + 2])}, tensor<3x3xf32>) outs(%f3 : {t([1, c, h4, h4])}) -> {t([1, c, h4, h4])}
    %e4 = tensor.empty() : {t([1, c, h8, h8])}
    %f4 = linalg.fill ins(%zero : f32) outs(%e4 : {t([1, c, h8, h8])}) -> {t([1, c, h8, h8])}
    %p4 = linalg.pooling_nchw_sum {{dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>}}
        ins(%p3, %k2 : {t([1, c, h4, h4])}, tensor<2x2xf32>) outs(%f4 : {t([1, c, h8, h8])}) -> {t([1, c, h8, h8])}
    %avg = linalg.generic {generic4} ins(%p4 : {t([1, c, h8, h8])}) outs(%e4 : {t([1, c, h8, h8])}) {{
    ^bb0(%in: f32, %out: f32):
      %d = arith.divf %in, %four : f32
      linalg.yield %d : f32
    }} -> {t([1, c, h8, h8])}
    %flat = tensor.collapse_shape %avg [[0], [1, 2, 3]] : {t([1, c, h8, h8])} into {t([1, flat])}
    %et = tensor.empty() : {t([flat, features])}
    %wt = linalg.transpose ins(%w : {t([features, flat])}) outs(%et : {t([flat, features])}) permutation = [1, 0]
    %e5 = tensor.empty() : {t([1, features])}
    %f5 = linalg.fill ins(%zero : f32) outs(%e5 : {t([1, features])}) -> {t([1, features])}
    %mm = linalg.matmul ins(%flat, %wt : {t([1, flat])}, {t([flat, features])}) outs(%f5 : {t([1, features])}) -> {t([1, features])}
    %y = linalg.generic {{indexing_maps = [#id2, #row, #id2], iterator_types = ["parallel", "parallel"]}}
        ins(%mm, %fcb : {t([1, features])}, {t([features])}) outs(%e5 : {t([1, features])}) {{
    ^bb0(%in: f32, %in2: f32, %out: f32):
      %a = arith.addf %in, %in2 : f32
      linalg.yield %a : f32
    }} -> {t([1, features])}
    return %y : {t([1, features])}
  }}
}}
{{-#
  dialect_resources: {{
    builtin: {{
      bias: "{blob(rng.standard_normal(c))}",
      weight: "{blob(rng.standard_normal((features, flat)) * 0.01)}",
      fc_bias: "{blob(rng.standard_normal(features))}"
    }}
  }}
#-}}
"""


def _time_call(function, argument, repeats: int) -> float:
    import time

    function(argument)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function(argument)
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    import argparse

    import numpy as np

    parser = argparse.ArgumentParser(
        prog="python bench/dense_rest.py",
        description="Time a model's dense rest (no convolutions) lowered naively and scheduled.")
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--size", type=int, default=112, help="input height and width (multiple of 8)")
    parser.add_argument("--features", type=int, default=1000, help="Linear output features")
    parser.add_argument("--vector-width", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    options = parser.parse_args(argv)
    text = _benchmark_module(options.channels, options.size, options.features)
    x = np.random.default_rng(1).standard_normal((1, options.channels, options.size, options.size)).astype(np.float32)
    naive = Jit(text)
    unfused = Jit(text, schedule=True, vector_width=options.vector_width, fuse=False)
    scheduled = Jit(text, schedule=True, vector_width=options.vector_width)
    expected = naive(x)
    scale = max(1e-30, float(np.max(np.abs(expected))))
    error = max(float(np.max(np.abs(expected - jit(x)))) / scale for jit in (unfused, scheduled))
    naive_s = _time_call(naive, x, options.repeats)
    unfused_s = _time_call(unfused, x, max(options.repeats, 20))
    scheduled_s = _time_call(scheduled, x, max(options.repeats, 20))
    print(f"dense rest of 1x{options.channels}x{options.size}x{options.size} -> Linear "
          f"{options.channels * (options.size // 8) ** 2}x{options.features}, vector width {options.vector_width}"
          f" (best of {options.repeats}+ runs)")
    print(f"  naive (convert-linalg-to-loops)      {naive_s * 1e3:9.3f} ms")
    print(f"  tiled + vectorized, no fusion        {unfused_s * 1e3:9.3f} ms   {naive_s / unfused_s:6.1f}x")
    print(f"  fused + tiled + vectorized (default) {scheduled_s * 1e3:9.3f} ms   {naive_s / scheduled_s:6.1f}x")
    print(f"  max relative difference to naive     {error:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
