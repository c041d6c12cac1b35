"""Dense convolutions of the zoo's models (1x1, and 3x3 stride 1): the packed GEMM
(lowering/conv_gemm.py) beside the tap generator it replaced and ONNX Runtime, one thread (a
benchmark, not a test).

    .venv/bin/python bench/dense_convs.py                  # every layer shape below, 15 runs each
    .venv/bin/python bench/dense_convs.py --runs 30 --models resnet50,resnet18

Each row is one layer shape with random weights and bias: PatSparse's generated function alone
(as the tuner times it: lowering/tuning.py), the same layer through the tap generator (the layer
as F filters of C kernels, filter pairs: what the compiler emitted before the GEMM), and ONNX
Runtime running a one-Conv ONNX graph; the fastest of --runs calls each. GFLOP/s = 2 x MACs /
time, beside the single-thread FMA peak measured in the same run.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_line, measured_peak_gflops

# (input channels, filters, height = width[, kernel]) of the layers at batch 1 (kernel 1 unless given;
# 3x3 layers padded by 1).
LAYERS = {
    "resnet50": [(64, 64, 56), (64, 256, 56), (256, 64, 56), (256, 128, 56), (128, 512, 28), (512, 128, 28),
                 (512, 256, 28), (256, 1024, 14), (1024, 256, 14), (1024, 512, 14), (512, 2048, 7), (2048, 512, 7)],
    "mobilenet_v2": [(32, 16, 112), (16, 96, 112), (96, 24, 56), (24, 144, 56), (144, 32, 28), (192, 64, 14),
                     (384, 96, 14), (576, 160, 7), (960, 320, 7), (320, 1280, 7)],
    "yolov8n": [(32, 32, 80), (48, 64, 80), (64, 64, 40), (128, 128, 20), (256, 256, 10), (384, 128, 20)],
    "resnet18": [(64, 64, 56, 3), (128, 128, 28, 3), (256, 256, 14, 3), (512, 512, 7, 3)],
    "vgg16": [(64, 64, 224, 3), (128, 128, 112, 3), (256, 256, 56, 3), (512, 512, 28, 3), (512, 512, 14, 3)],
    "vgg16_cifar": [(64, 64, 32, 3), (128, 128, 16, 3), (256, 256, 8, 3), (512, 512, 4, 3), (512, 512, 2, 3)],
}


def patsparse_seconds(layer, generic: bool, runs: int, vector_width: int) -> float:
    from patsparse.dialect.schedule import Schedule
    from patsparse.lowering import conv_codegen, tuning

    schedule = Schedule(vector_width=vector_width, filter_pairs=generic and layer.filters % 2 == 0)
    original = conv_codegen.gemm_applies
    if generic:  # the compiler before the GEMM: every convolution through the tap generator
        conv_codegen.gemm_applies = lambda layer: False
    try:
        with tempfile.TemporaryDirectory() as scratch:
            library = tuning.build_candidates(layer, [schedule], Path(scratch))
            return tuning.measure(layer, library, 1, runs)[0]
    finally:
        conv_codegen.gemm_applies = original


def onnxruntime_seconds(weight: np.ndarray, bias: np.ndarray, x: np.ndarray, runs: int) -> float:
    import onnxruntime
    import torch

    kernel = weight.shape[-1]
    conv = torch.nn.Conv2d(weight.shape[1], weight.shape[0], kernel, padding=kernel // 2)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(weight))
        conv.bias.copy_(torch.from_numpy(bias))
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "conv.onnx"
        torch.onnx.export(conv, (torch.from_numpy(x),), str(path), dynamo=False)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    best = float("inf")
    for index in range(runs + 3):
        start = time.perf_counter()
        session.run(None, {name: x})
        if index >= 3:
            best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--models", default=",".join(LAYERS), help=f"comma-separated of {', '.join(LAYERS)}")
    parser.add_argument("--no-generic", action="store_true", help="skip the generic generator's column")
    arguments = parser.parse_args()
    unknown = [m for m in arguments.models.split(",") if m not in LAYERS]
    if unknown:
        parser.error(f"unknown model {unknown[0]}: expected one of {', '.join(LAYERS)}")

    from mlir import ir

    from patsparse.dialect import make_context
    from patsparse.dialect.conv_layer import ConvLayer
    from patsparse.pipeline import host_vector_width

    width = host_vector_width()
    peak = measured_peak_gflops(width)
    print(f"{machine_line()}; single-thread f32 FMA peak {peak:.0f} GFLOP/s (bench/peak.c, {width} lanes); 1 thread")
    print(f"{'model':<13} {'C->F @ HxW, k':<22} {'GEMM ms':>8} {'GF/s':>6} {'%peak':>6} {'generic ms':>10} "
          f"{'ORT ms':>8} {'GF/s':>6} {'vs ORT':>7}")
    totals = np.zeros(3)
    rng = np.random.default_rng(0)
    for model in arguments.models.split(","):
        for channels, filters, size, *rest in LAYERS[model]:
            kernel = rest[0] if rest else 1
            weight = rng.standard_normal((filters, channels, kernel, kernel)).astype(np.float32)
            bias = rng.standard_normal(filters).astype(np.float32)
            x = rng.standard_normal((1, channels, size, size)).astype(np.float32)
            with make_context(), ir.Location.unknown():
                layer = ConvLayer.dense("patsparse_conv_0", weight, x.shape, (1, filters, size, size), (1, 1),
                                        (kernel // 2,) * 4, True)
            flops = 2.0 * channels * filters * size * size * kernel * kernel
            gemm = patsparse_seconds(layer, False, arguments.runs, width)
            generic = float("nan") if arguments.no_generic else \
                patsparse_seconds(dataclasses.replace(layer), True, arguments.runs, width)
            ort = onnxruntime_seconds(weight, bias, x, arguments.runs)
            totals += [gemm, 0 if np.isnan(generic) else generic, ort]
            print(f"{model:<13} {f'{channels}->{filters} @ {size}x{size}, {kernel}x{kernel}':<22} {gemm * 1e3:8.3f} "
                  f"{flops / gemm / 1e9:6.1f} {100 * flops / gemm / 1e9 / peak:5.0f}% {generic * 1e3:10.3f} "
                  f"{ort * 1e3:8.3f} {flops / ort / 1e9:6.1f} {ort / gemm:6.2f}x", flush=True)
    print(f"{'sum':<36} {totals[0] * 1e3:8.2f} {'':>13} {totals[1] * 1e3:10.2f} {totals[2] * 1e3:8.2f} "
          f"{'':>6} {totals[2] / totals[0]:6.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
