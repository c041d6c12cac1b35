"""MobileNetV2 224 with pattern-pruned depthwise 3x3 layers: whole-model latency and the time of
each depthwise layer, one thread (a benchmark, not a test).

    .venv/bin/python bench/depthwise.py                 # 30 runs per model
    .venv/bin/python bench/depthwise.py --runs 50 --no-layers

Two models, both with their regular 3x3 convolutions projected onto 8 patterns + 8x
connectivity (`projected_model`): "depthwise dense" leaves the depthwise kernels dense (9 taps),
"depthwise pattern" also projects every depthwise kernel onto the best of the same 8 library
patterns (4 taps; no connectivity: each channel has one kernel). Each is compiled twice: -O (the
pattern build) and --dense (every convolution through the dense path). Median ms of `--runs`
after warm-up, with the CPU model. Per depthwise layer: the fastest of 7 runs of the layer's
generated function alone (lowering/tuning.py), with its default schedule, pattern (4 taps) vs dense
(9 taps).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_line, median_ms


def checkpoints(scratch: Path) -> dict[str, Path]:
    from patsparse.pruning.checkpoint import save_pruned
    from patsparse.pruning.projected import projected_model

    paths = {}
    for label, depthwise in (("depthwise dense", False), ("depthwise pattern", True)):
        # The pruning side's projection: depthwise kernels onto the same 8 patterns when asked.
        model, layers = projected_model("mobilenet_v2", patterns=8, connectivity=8.0, seed=1,
                                        include_grouped=depthwise)
        paths[label] = scratch / f"mobilenet_v2_{label.split()[1]}.pt"
        save_pruned(paths[label], model, "mobilenet_v2", layers, {"input_shape": [1, 3, 224, 224]})
    return paths


def depthwise_layer_ms(mlir: Path, work: Path, detect: bool) -> list[tuple[str, float]]:
    """(shape, ms) of every depthwise layer of `mlir`, its generated function alone."""
    from mlir import ir, passmanager

    from patsparse.dialect import make_context
    from patsparse.dialect.conv_layer import conv_layers
    from patsparse.dialect.schedule import Schedule
    from patsparse.lowering import tuning
    from patsparse.passes.detect_patterns import DetectPatternsPass
    from patsparse.pipeline import host_vector_width

    rows = []
    with make_context(), ir.Location.unknown():
        module = ir.Module.parse(mlir.read_text())
        if detect:
            manager = passmanager.PassManager("builtin.module")
            DetectPatternsPass().add_to(manager)
            manager.run(module.operation)
        layers = [layer for _, layer, _, _ in conv_layers(module.operation, True)
                  if layer.groups > 1 and layer.groups == layer.filters]
    schedule = Schedule(vector_width=host_vector_width())
    for index, layer in enumerate(layers):
        directory = work / f"{'p' if detect else 'd'}{index}"
        directory.mkdir()
        library = tuning.build_candidates(layer, [schedule], directory)
        seconds = tuning.measure(layer, library, 1)[0]
        shape = f"{layer.input_shape[1]}x{layer.input_shape[2]}x{layer.input_shape[3]} s{layer.strides[0]}"
        rows.append((shape, seconds * 1e3))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--no-layers", action="store_true", help="skip the per-layer times")
    arguments = parser.parse_args()

    from patsparse import runtime
    from patsparse.compiler import compile_model
    from patsparse.frontend import import_model
    from patsparse.pipeline import CompileOptions

    print(machine_line(), flush=True)
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        sources = {label: import_model(path, path.with_suffix(".mlir")) for label, path in checkpoints(scratch).items()}
        x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
        print(f"{'model':<20} {'-O ms':>8} {'--dense ms':>11}")
        for label, mlir in sources.items():
            times = []
            for build, options in (("O", CompileOptions.optimised()), ("dense", CompileOptions(detect_patterns=False))):
                library = runtime.load(compile_model(mlir, mlir.with_name(f"{mlir.stem}_{build}.so"), options)
                                       .outputs["library"])
                times.append(median_ms(lambda library=library: library(x), arguments.runs))
            print(f"{label:<20} {times[0]:8.2f} {times[1]:11.2f}", flush=True)
        if not arguments.no_layers:
            mlir = sources["depthwise pattern"]
            pattern = depthwise_layer_ms(mlir, scratch, detect=True)
            dense = depthwise_layer_ms(mlir, scratch, detect=False)
            print("\ndepthwise layers (C x H x W in, stride), ms, default schedule, 1 thread")
            print(f"{'layer':<16} {'4 taps':>8} {'9 taps':>8}")
            for (shape, p_ms), (_, d_ms) in zip(pattern, dense):
                print(f"{shape:<16} {p_ms:8.3f} {d_ms:8.3f}")
            print(f"{'sum':<16} {sum(t for _, t in pattern):8.3f} {sum(t for _, t in dense):8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
