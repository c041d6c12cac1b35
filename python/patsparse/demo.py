"""The README's main command (`make demo`): the whole job on the built-in default.

1. prune the small VGG-style net on Fashion-MNIST, starting from the committed trained dense model
   (test/data/checkpoints/vgg_small_dense.pt, 93.17% on the 10,000 test images), quickly
   (8 patterns, 8x on the 3x3 layers; one ADMM and two retraining epochs on 12,000 images, tested
   on 1000), through patsparse-prune, which runs PatternSparsifier;
2. import it with torch-mlir (BatchNorm folded);
3. compile it pattern-sparse for the host and for AArch64, and dense for the host (baseline);
4. run it on the host and under qemu-aarch64, and print test accuracy, compression and
   host latency (pattern-sparse vs the same compiler dense vs PyTorch).

Outputs go to runs/demo/ (or --out).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from patsparse import runtime
from patsparse.cliutil import ToolError, run_main

#: Pruning budget: the quick setting with more images and a second retraining epoch (about 45 s of
#: CPU); from the trained model it ends near 89% where --quick alone ends near 69%.
PRUNE_SETTING = ("--quick", "--train-limit", "12000", "--retrain-epochs", "2")
#: The trained dense model the demo prunes (patsparse-prune --method dense --dense-epochs 8).
DENSE_CHECKPOINT = Path(__file__).resolve().parents[2] / "test" / "data" / "checkpoints" / "vgg_small_dense.pt"


def step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def median_ms(function, x, runs: int = 50) -> float:
    for _ in range(3):
        function(x)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function(x)
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def run(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="patsparse-demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/demo", help="output directory (default runs/demo)")
    parser.add_argument("--test-images", type=int, default=2000, help="test images for the accuracy (default 2000)")
    parser.add_argument("--qemu-images", type=int, default=8, help="images checked under qemu (default 8)")
    parser.add_argument("--dense-checkpoint", default=str(DENSE_CHECKPOINT),
                        help="trained dense vgg_small to prune (default: the committed one)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ToolError(f"{out}: cannot create the output directory: {error.strerror}") from None
    bin_dir = Path(sys.executable).parent

    step("1. prune the trained vgg_small on Fashion-MNIST (8 patterns, 8x connectivity, quick setting)")
    if not Path(args.dense_checkpoint).is_file():
        raise ToolError(f"{args.dense_checkpoint}: no such file (expected the trained dense vgg_small, "
                        "test/data/checkpoints/vgg_small_dense.pt in the repository)")
    prune = [str(bin_dir / "patsparse-prune"), "--model", "vgg_small", "--patterns", "8", "--connectivity", "8",
             "--dense-checkpoint", args.dense_checkpoint, *PRUNE_SETTING, "--out", str(out / "prune")]
    if subprocess.run(prune, check=False).returncode:
        raise ToolError("patsparse-prune failed")
    checkpoint = out / "prune" / "pruned.pt"

    step("2. import with torch-mlir")
    from patsparse.frontend import import_model
    model_mlir = import_model(checkpoint, out / "model.mlir")
    print(f"wrote {model_mlir}")

    step("3. compile: pattern-sparse with -O (host, AArch64) and dense baseline (host)")
    from patsparse.compiler import compile_model
    from patsparse.pipeline import CompileOptions
    sparse = compile_model(model_mlir, out / "model_sparse.so", CompileOptions.optimised(target="host"))
    dense = compile_model(model_mlir, out / "model_dense.so", CompileOptions(target="host", detect_patterns=False))
    phone = compile_model(model_mlir, out / "model_aarch64", CompileOptions.optimised(target="aarch64-linux-gnu"))
    for artifacts in (sparse, dense, phone):
        print("  " + ", ".join(artifacts.outputs.values()))
    bytes_before = sparse.metadata["weight_bytes_before"]["float"]
    bytes_after = sparse.metadata["weight_bytes_compiled"]
    print(f"  weights: {bytes_before:,} bytes dense -> {bytes_after['float']:,} bytes of values "
          f"+ {bytes_after['index']:,} bytes of FKW indices")

    step("4. run")
    import torch

    from patsparse.pruning.checkpoint import load_model, load_pruned
    from patsparse.pruning.data import load_fashion_mnist
    from patsparse.pruning.project import compression_report
    model, _ = load_pruned(checkpoint)
    dense_model, _ = load_model(args.dense_checkpoint)
    images, labels = load_fashion_mnist("test", limit=args.test_images)
    with torch.no_grad():
        correct_dense = int((dense_model(images).argmax(1) == labels).sum())
    host = runtime.load(sparse.outputs["library"])
    host_dense = runtime.load(dense.outputs["library"])
    correct_compiled = correct_torch = 0
    max_difference = 0.0
    with torch.no_grad():
        for image, label in zip(images, labels):
            x = image[None].numpy()
            compiled = host(x)
            reference = model(image[None]).numpy()
            max_difference = max(max_difference, float(np.abs(compiled - reference).max()))
            correct_compiled += int(compiled.argmax() == int(label))
            correct_torch += int(reference.argmax() == int(label))
    qemu_difference = 0.0
    for image in images[:args.qemu_images]:
        x = image[None].numpy()
        qemu_difference = max(qemu_difference, float(np.abs(runtime.run_aarch64(phone.outputs["runner"], x) - host(x)).max()))
    x = images[:1].numpy()
    with torch.no_grad():
        torch_ms = median_ms(lambda v: model(torch.from_numpy(v)), x)
    sparse_ms, dense_ms = median_ms(host, x), median_ms(host_dense, x)
    compression = compression_report(model)["compression"]

    step("result")
    n = len(labels)
    print(f"test accuracy (compiled, host):  {100 * correct_compiled / n:.2f}% on {n} Fashion-MNIST test images")
    print(f"test accuracy (PyTorch):         {100 * correct_torch / n:.2f}%")
    print(f"test accuracy (dense, before):   {100 * correct_dense / n:.2f}% (the trained model pruned in step 1)")
    print(f"max |compiled - PyTorch|:        {max_difference:.2e}")
    print(f"max |AArch64 (qemu) - host|:     {qemu_difference:.2e} on {args.qemu_images} images")
    print(f"compression of the 3x3 layers:   {compression:.2f}x (non-zero weights)")
    print(f"host latency, batch 1, 1 thread: pattern-sparse {sparse_ms:.3f} ms, dense {dense_ms:.3f} ms "
          f"({dense_ms / sparse_ms:.2f}x), PyTorch {torch_ms:.3f} ms ({torch_ms / sparse_ms:.2f}x)")
    if max_difference > 1e-3 or qemu_difference > 1e-3:
        raise ToolError("compiled results differ from PyTorch")
    return 0


def main(argv=None) -> int:
    return run_main("patsparse-demo", lambda: run(argv))


if __name__ == "__main__":
    sys.exit(main())
