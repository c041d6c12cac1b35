"""`patsparse`: the umbrella command (`patsparse doctor`, ...)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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


def model_inputs(args, metadata: dict) -> list:
    """One array per model input: --input files in order, else --fill V, else a ramp."""
    import numpy as np

    from patsparse import runtime
    from patsparse.cliutil import ToolError

    tensors = runtime._tensors(metadata, "input")
    files = args.input or []
    if files and len(files) != len(tensors):
        raise ToolError(f"{len(files)} --input files given: the model takes {len(tensors)} inputs "
                        f"({', '.join(t['name'] + ' ' + 'x'.join(map(str, t['shape'])) for t in tensors)})")
    arrays = []
    for index, tensor in enumerate(tensors):
        shape = tensor["shape"]
        if files:
            try:
                arrays.append(np.load(files[index]))
            except (OSError, ValueError) as error:
                raise ToolError(f"{files[index]}: cannot read it as a .npy array ({error})") from None
        elif args.fill is not None:
            arrays.append(np.full(shape, args.fill, np.float32))
        else:
            arrays.append(np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape) * args.ramp)
    return arrays


def run_model(args) -> int:
    """Run a compiled model (host .so, or AArch64 runner under qemu) on its inputs; print the outputs."""
    import numpy as np

    from patsparse import runtime

    metadata = runtime.model_metadata(args.model)
    inputs = model_inputs(args, metadata)
    if metadata.get("target") == "host":
        outputs = runtime.load(args.model, args.threads)(*inputs)
    else:
        outputs = runtime.run_aarch64(args.model, *inputs, threads=args.threads)
    np.set_printoptions(precision=args.precision, suppress=True, linewidth=120, threshold=1 << 20)
    for output in outputs if isinstance(outputs, tuple) else (outputs,):
        print(output)
    return 0


def profile_model(args) -> int:
    """Time every layer of a model compiled with --profile (host .so in process, AArch64 runner
    under qemu); print a table (layer, name, kind, shape, ms, share, effective GFLOP/s)."""
    from patsparse import runtime
    from patsparse.cliutil import ToolError
    from patsparse.runtime import profile

    if args.runs < 1 or args.warmup < 0:
        raise ToolError(f"--runs {args.runs} --warmup {args.warmup}: expected at least 1 run and no negative warm-up")
    metadata = runtime.model_metadata(args.model)
    if args.json and Path(args.json).resolve() == runtime.sidecar_path(Path(args.model)).resolve():
        raise ToolError(f"--json {args.json}: that is the model's own metadata file; expected another name, "
                        f"e.g. {Path(args.json).with_suffix('.profile.json').name}")
    inputs = model_inputs(args, metadata)
    measure = profile.profile_host if metadata.get("target") == "host" else profile.profile_aarch64
    result = measure(args.model, inputs, args.runs, args.warmup, args.threads)
    print(profile.format_table(result))
    if args.json:
        profile.write_json(result, args.json)
        print(f"json {args.json}")
    return 0


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="PatSparse: pattern-sparse CNNs from PyTorch to phones.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    check = commands.add_parser("doctor", help="check the compiler toolchain (mlir-opt, llc, cross gcc, qemu, ...)",
                                description=doctor.__doc__)
    check.set_defaults(handler=doctor)
    inputs_help = (" Inputs: --input FILE.npy once per model input, or filled with --fill V, or by default "
                   "0, r, 2r, ... in NCHW order (r = --ramp).")

    def add_model_arguments(command):
        command.add_argument("model", help="OUT.so (host) or OUT (AArch64 runner) from patsparse-compile")
        command.add_argument("--input", action="append", metavar="FILE.npy",
                             help="a .npy file with an input (once per model input, in order)")
        command.add_argument("--fill", type=float, help="every input element this value")
        command.add_argument("--ramp", type=float, default=0.01, help="step of the default ramp input (default 0.01)")
        command.add_argument("--threads", type=int, help="threads (default: the model's)")

    runner = commands.add_parser("run", help="run a compiled model and print its outputs",
                                 description=run_model.__doc__ + inputs_help)
    add_model_arguments(runner)
    runner.add_argument("--precision", type=int, default=4, help="printed decimals (default 4)")
    runner.set_defaults(handler=run_model)
    profiler = commands.add_parser("profile", help="time every layer of a model compiled with --profile",
                                   description=profile_model.__doc__ + inputs_help,
                                   epilog="example: patsparse-compile vgg.mlir -O --profile -o vgg.so && "
                                          "patsparse profile vgg.so --runs 50 --json vgg.profile.json")
    add_model_arguments(profiler)
    profiler.add_argument("--runs", type=int, default=20, help="timed runs (default 20)")
    profiler.add_argument("--warmup", type=int, default=3, help="runs before timing (default 3)")
    profiler.add_argument("--json", metavar="OUT.json", help="also write the table as JSON")
    profiler.set_defaults(handler=profile_model)
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
