"""`patsparse`: the umbrella command (`patsparse doctor`, ...)."""

from __future__ import annotations

import argparse
import sys

from patsparse import __version__
from patsparse.cliutil import run_main

PROG = "patsparse"


def doctor(args) -> int:
    """Print a table of the external tools; exit 1 if any is missing or the wrong version."""
    from patsparse.lowering import toolchain

    rows = [("tool", "path", "version", "status")]
    statuses = toolchain.all_status()
    for tool in statuses:
        verdict = "OK" if tool.ok else f"{tool.problem}: {tool.install_hint}"
        rows.append((tool.name, str(tool.path or "-"), tool.version or "-", verdict))
    try:
        import importlib.metadata

        import mlir.ir  # the bindings load libLLVM; a broken install fails here
        version = importlib.metadata.version("xtc-mlir-python-bindings")
        verdict = "OK" if version.startswith(toolchain.LLVM_MAJOR_MINOR + ".") else f"version {version}, expected 22.1.x"
        bindings = ("mlir (python)", mlir.ir.__file__.rsplit("/", 1)[0], version, verdict)
    except ImportError as error:
        bindings = ("mlir (python)", "-", "-",
                    f"{error}: .venv/bin/pip install '{toolchain.pinned_requirement('xtc-mlir-python-bindings')}'")
    rows.append(bindings)
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[3])
    failing = [r for r in rows[1:] if r[3] != "OK"]
    if failing:
        print(f"\n{len(failing)} tool(s) need attention; run the commands above (or `make setup`).", file=sys.stderr)
        return 1
    return 0


def run_model(args) -> int:
    """Run a compiled model (host .so, or AArch64 runner under qemu) on one input; print the output."""
    import numpy as np

    from patsparse import runtime
    from patsparse.cliutil import ToolError

    metadata = runtime.model_metadata(args.model)
    shape = metadata["input_shape"]
    if args.input:
        try:
            x = np.load(args.input).astype(np.float32)
        except (OSError, ValueError) as error:
            raise ToolError(f"{args.input}: cannot read it as a .npy array ({error})") from None
    elif args.fill is not None:
        x = np.full(shape, args.fill, np.float32)
    else:
        x = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape) * args.ramp
    if metadata.get("target") == "host":
        model = runtime.load(args.model)
        if args.threads:
            model.set_threads(args.threads)
        y = model(x)
    else:
        y = runtime.run_aarch64(args.model, x, threads=args.threads)
    np.set_printoptions(precision=args.precision, suppress=True, linewidth=120, threshold=1 << 20)
    print(y)
    return 0


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="PatSparse: pattern-sparse CNNs from PyTorch to phones.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    check = commands.add_parser("doctor", help="check the compiler toolchain (mlir-opt, llc, cross gcc, qemu, ...)",
                                description=doctor.__doc__)
    check.set_defaults(handler=doctor)
    runner = commands.add_parser("run", help="run a compiled model on one input and print its output",
                                 description=run_model.__doc__ + " The input is --input, or filled with "
                                 "--fill V, or by default 0, r, 2r, ... in NCHW order (r = --ramp).")
    runner.add_argument("model", help="OUT.so (host) or OUT (AArch64 runner) from patsparse-compile")
    runner.add_argument("--input", help="a .npy file with the input")
    runner.add_argument("--fill", type=float, help="every input element this value")
    runner.add_argument("--ramp", type=float, default=0.01, help="step of the default ramp input (default 0.01)")
    runner.add_argument("--threads", type=int, help="threads (default: the model's)")
    runner.add_argument("--precision", type=int, default=4, help="printed decimals (default 4)")
    runner.set_defaults(handler=run_model)
    return parser


def run(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    return args.handler(args)


def main(argv: list[str] | None = None) -> int:
    return run_main(PROG, lambda: run(argv))


if __name__ == "__main__":
    sys.exit(main())
