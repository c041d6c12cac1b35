"""`patsparse-import`: import a model into linalg-on-tensors MLIR (text) with torch-mlir."""

from __future__ import annotations

import argparse
import sys

from .api import PROG, run_import
from .errors import FrontendError

DESCRIPTION = """\
Import a CNN into a linalg-on-tensors .mlir text file with torch-mlir: the first step
of the PatSparse compiler (next: patsparse-opt --patsparse-detect-patterns).

SOURCE is one of
  a pruned checkpoint  written by patsparse-prune (any file that is not .onnx)
  an ONNX file         *.onnx; dynamic dims are fixed from --input-shape before import
  module.path:factory  a function or nn.Module class called with no arguments; the
                       current directory is searched first, like `python -m`

The model is put in eval mode and each BatchNorm2d is folded into the Conv2d that feeds
it (filters scaled per output channel, so pruned zeros stay zero; a bias is created).
The output has one entry function, @forward, with static shapes; weights are
dense_resource blobs. torch-mlir runs in a child process.
"""

EPILOG = """\
examples:
  patsparse-import resnet18-pruned.pt -o resnet18.mlir
  patsparse-import torchvision.models:resnet18 --input-shape 1,3,224,224
  patsparse-import mymodels:make_vgg --input-shape 1,3,32,32 --batch 4 -o vgg.mlir
  patsparse-import yolov8n.onnx --input-shape 1,3,640,640 -o yolo.mlir
  patsparse-import net.pt --elide-weights -o - | less    # for reading; not compilable

errors print one line, `patsparse-import: error: <file>: <what was expected>`, exit 1,
and leave no output file.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("source", metavar="SOURCE", help="pruned checkpoint, model.onnx, or module.path:factory")
    parser.add_argument(
        "-o", "--output", metavar="OUT.mlir",
        help="output file (default: ./<source stem>.mlir, or ./<factory>.mlir); '-' for stdout",
    )
    parser.add_argument(
        "--input-shape", metavar="N,C,H,W",
        help="input shape, e.g. 1,3,32,32 (a model of several inputs: one shape per input, separated by ';', "
        "e.g. '1,3,32,32;1,10'); required for factories and ONNX files with dynamic dims, optional for "
        "checkpoints that record it",
    )
    parser.add_argument("--batch", type=int, metavar="N", help="replace the batch (leading) dim of the input shape")
    parser.add_argument("--no-fold-bn", action="store_true", help="keep BatchNorm as separate elementwise ops")
    parser.add_argument(
        "--elide-weights", action="store_true",
        help="leave the weight blobs out (dense_resource names stay): a small file for reading; parses, but cannot be compiled",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print no summary")
    parser.add_argument("--traceback", action="store_true", help="show the importer's own output and tracebacks (debugging)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    to_stdout = args.output == "-"
    try:
        if to_stdout:
            import tempfile
            from pathlib import Path

            with tempfile.TemporaryDirectory() as scratch:
                summary = _run(args, str(Path(scratch) / "out.mlir"))
                sys.stdout.write(summary.output.read_text())
            return 0
        summary = _run(args, args.output)
    except FrontendError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    if not args.quiet:
        print("\n".join(summary.lines()))
    return 0


def _run(args, output):
    return run_import(
        args.source,
        output,
        input_shape=args.input_shape,
        batch=args.batch,
        fold_bn=not args.no_fold_bn,
        elide_weights=args.elide_weights,
        traceback=args.traceback,
    )


if __name__ == "__main__":
    sys.exit(main())
