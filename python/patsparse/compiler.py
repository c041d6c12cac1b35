"""`patsparse-compile`: a linalg-on-tensors model (.mlir) to host or AArch64 code.

    patsparse-compile model.mlir --target host -o model.so
    patsparse-compile model.mlir --target aarch64-linux-gnu -o model      # model, model.a, model.h
    patsparse-compile model.mlir --emit mlir|llvm|asm|obj -o out          # stop early

Every output is written under a temporary name and renamed at the end; nothing is left
half-written on failure.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from mlir import ir

from patsparse.cliutil import ToolError, read_input, run_main
from patsparse.diagnostics import DiagnosticCollector
from patsparse.dialect import make_context
from patsparse.dialect.ir_utils import downcast, entry_types, source_names_to_locations
from patsparse.lowering import targets
from patsparse.lowering.model_api import LayerSpec, header_text, tables_source, tensor_specs
from patsparse.lowering.symbol_prefix import c_identifier, name_problem, prefix_symbols
from patsparse.passes.insert_profile_marks import profiled_layers
from patsparse.pipeline import TARGETS, CompileOptions, StageFailed, lower_stages, run_stages, to_llvm_stage
from patsparse.safe_parse import guarded_parse

PROG = "patsparse-compile"
EMITS = ("lib", "mlir", "llvm", "asm", "obj")


@dataclass
class CompiledArtifacts:
    outputs: dict[str, str]
    metadata: dict = field(default_factory=dict)


def entry_signature(module: ir.Module, entry: str, source: str) -> tuple[list[list[int]], list[list[int]]]:
    """Input and output shapes of `@entry`, which must take and return static f32 tensors
    (at least one of each)."""
    try:
        inputs, outputs = entry_types(module.operation, entry)
    except ValueError as error:
        raise ToolError(f"{source}: {str(error).replace('a ranked tensor', 'a ranked f32 tensor')}") from None
    if not inputs or not outputs:
        raise ToolError(f"{source}: @{entry} must take at least one tensor and return at least one, "
                        f"it takes {len(inputs)} and returns {len(outputs)}")
    shapes = {"input": [], "output": []}
    for role, tensors in (("input", inputs), ("output", outputs)):
        for index, tensor in enumerate(tensors):
            which = f"{role} {index}" if len(tensors) > 1 else role
            if not isinstance(tensor.element_type, ir.F32Type):
                raise ToolError(f"{source}: @{entry} {which} is {tensor}, expected a ranked f32 tensor")
            if not tensor.has_static_shape:
                raise ToolError(f"{source}: @{entry} {which} has a dynamic shape ({tensor}); re-import the model "
                                f"with a fixed input shape (patsparse-import --input-shape ...)")
            shapes[role].append(list(tensor.shape))
    return shapes["input"], shapes["output"]


def model_name(name: str | None, output: Path) -> str:
    """The C name of the model: `name`, or one made from the output file's name."""
    if name is None:
        stem = output.name.removesuffix(".so").removesuffix(".a") if output.suffix in (".so", ".a") else output.name
        return c_identifier(stem)
    problem = name_problem(name)
    if problem:
        raise ToolError(problem)
    return name


def weight_bytes(module: ir.Module) -> dict:
    """Bytes of constant tensor and global data in a module, split into values and indices
    (vector constants are immediates of the code, not weights)."""
    totals = {"float": 0, "index": 0}

    def visit(op):
        name = op.operation.name
        if name in ("memref.global", "arith.constant"):
            type_ = ir.TypeAttr(op.attributes["type"]).value if name == "memref.global" else op.results[0].type
            shaped = downcast(type_, ir.ShapedType)
            if shaped is not None and downcast(type_, ir.VectorType) is None and shaped.has_static_shape and shaped.rank > 0:
                count = int(np.prod(shaped.shape))
                width = shaped.element_type.width // 8 if hasattr(shaped.element_type, "width") else 4
                totals["float" if isinstance(shaped.element_type, ir.F32Type) else "index"] += count * width
        return ir.WalkResult.ADVANCE

    module.operation.walk(visit)
    return totals


def compile_model(source: str | Path, output: str | Path, options: CompileOptions, emit: str = "lib",
                  entry: str = "forward", name: str | None = None) -> CompiledArtifacts:
    """Compile `source` (.mlir text) and write the requested outputs. `name` (a C identifier,
    default: from the output file's name) prefixes every symbol the model defines."""
    source = str(source)
    problems = options.problems()
    if problems:
        raise ToolError(problems[0])
    if emit not in EMITS:
        raise ToolError(f"unknown --emit '{emit}': expected one of {', '.join(EMITS)}")
    output = Path(output)
    name = model_name(name, output)
    if output.is_dir():  # else the outputs land beside it (DIR.so, DIR.h) or fail half-written
        raise ToolError(f"{output}: is a directory; expected an output file name")
    if not output.parent.is_dir():
        raise ToolError(f"{output}: the output directory {output.parent} does not exist")
    text = read_input(source)
    with tempfile.TemporaryDirectory(prefix="patsparse-compile-") as scratch:
        work = Path(scratch)
        return _compile_in(work, text, source, output, options, emit, entry, name)


def _compile_in(work: Path, text: str, source: str, output: Path, options: CompileOptions, emit: str,
                entry: str, name: str) -> CompiledArtifacts:
    context = make_context()
    collector = DiagnosticCollector(context)
    with context:
        try:
            module = guarded_parse(text, source, ir.Module.parse)
        except ir.MLIRError as error:
            collector.extend_from_error(error)
            first = collector.errors[0] if collector.errors else None
            where = f"{source}:{first.line}:{first.column}" if first and first.line else source
            raise ToolError(f"{where}: {first.message if first else error}") from None
        source_names_to_locations(module.operation)
        stdin_text = text if source == "-" else None  # kept for a replay file, should a stage fail
        del text
        input_shapes, output_shapes = entry_signature(module, entry, source)
        dense_bytes = weight_bytes(module)
        lower = lower_stages(options)
        try:
            run_stages(module.operation, lower, source)
            compiled_bytes = weight_bytes(module)
            layers = [LayerSpec(**layer) for layer in profiled_layers(module.operation)]
            if emit == "mlir":
                return _write({"mlir": output}, {"mlir": str(module)})
            run_stages(module.operation, [to_llvm_stage()], source, done=lower)
            prefix_symbols(module, name + "_")
        except StageFailed as failure:
            collector.extend_from_error(failure.error)
            # Verifier errors point into the source (parsed as '-'): mlir-opt style file:line:col.
            shown = [d.in_file(source) for d in collector.errors[:3]]
            message = ("; ".join(f"{d.file}:{d.line}:{d.column}: {d.message}" if d.line else
                                 f"{source}: cannot compile: {d.message}" for d in shown)
                       or f"{source}: cannot compile: {failure.error}")
            raise ToolError(f"{message} (in stage {failure.stage.name}; reproduce it with: "
                            f"{failure.replay(_replay_source(source, stdin_text))})") from None
        if emit in ("lib", "obj"):
            objects = targets.objects_from_llvm_dialect(module, work, options.target, options.resolved_cpu())
        else:
            # The textual stages, meant for reading, keep every constant inline.
            targets.write_bytecode(module, work / "model.llvm.mlirbc")
        del module

    inputs, outputs = tensor_specs(input_shapes, "input"), tensor_specs(output_shapes, "output")
    runtime = targets.RuntimeBuild(prefix=name + "_", threads=options.threads, profile=options.profile,
                                   tables_source=tables_source(f"{name}_{entry}", inputs, outputs, layers))
    metadata = {"source": source, "name": name, "entry": entry, "target": options.target, "cpu": options.resolved_cpu(),
                "vector_width": options.resolved_vector_width(), "detect_patterns": options.detect_patterns,
                "inputs": [{"name": t.name, "shape": list(t.shape), "dtype": "float32"} for t in inputs],
                "outputs": [{"name": t.name, "shape": list(t.shape), "dtype": "float32"} for t in outputs],
                "input_shape": input_shapes[0], "output_shape": output_shapes[0], "threads": options.threads,
                "profile": options.profile, "layers": [dataclasses.asdict(layer) for layer in layers],
                "weight_bytes_before": dense_bytes, "weight_bytes_compiled": compiled_bytes}
    cpu = options.resolved_cpu()
    if emit == "llvm":
        targets.translate_to_llvm_ir(work / "model.llvm.mlirbc", work / "model.ll")
        return _write({"llvm": output}, {"llvm": (work / "model.ll").read_text()})
    if emit == "asm":
        targets.translate_to_llvm_ir(work / "model.llvm.mlirbc", work / "model.ll")
        targets.llc(work / "model.ll", work / "model.s", options.target, cpu, "asm")
        return _write({"asm": output}, {"asm": (work / "model.s").read_text()})
    if emit == "obj":  # the model, its runtime and its API in one object (the header: write the lib)
        targets.link_relocatable(objects + runtime.objects(work, options.target), work / "model.o", options.target)
        return _write({"obj": output}, {"obj": (work / "model.o").read_bytes()})
    header = work / "model.h"
    header.write_text(header_text(name, inputs, outputs, layers, options.target, source))
    # Suffixes are appended, not swapped: a name like "vgg.p8" must keep its dot.
    stem = output.with_suffix("") if output.suffix in (".so", ".a") else output

    def sibling(suffix: str) -> Path:
        return stem.with_name(stem.name + suffix)

    files = {"header": sibling(".h"), "metadata": sibling(".json")}
    contents = {"header": header.read_text()}
    if options.target == "host":
        library = work / "model.so"
        targets.link_host_shared(objects, library, runtime)
        files["library"] = sibling(".so")
        contents["library"] = library.read_bytes()
    else:
        static_library, runner = work / "model.a", work / "runner"
        targets.build_aarch64(objects, header, static_library, runner, work, runtime)
        files["static_library"] = sibling(".a")
        files["runner"] = stem
        contents["static_library"] = static_library.read_bytes()
        contents["runner"] = runner.read_bytes()
    metadata["files"] = {k: str(v) for k, v in files.items()}
    contents["metadata"] = json.dumps(metadata, indent=1) + "\n"
    artifacts = _write(files, contents)
    if "runner" in files:
        Path(files["runner"]).chmod(0o755)
    artifacts.metadata = metadata
    return artifacts


def _replay_source(source: str, stdin_text: str | None) -> str:
    """The file a replay line reads: the source itself, or a kept copy of what came on stdin."""
    if stdin_text is None:
        return source
    handle, path = tempfile.mkstemp(prefix="patsparse-replay-", suffix=".mlir")
    with os.fdopen(handle, "w") as file:
        file.write(stdin_text)
    return path


def _write(files: dict[str, Path], contents: dict) -> CompiledArtifacts:
    """Write every file under a temporary name first, then rename them all."""
    temporaries = {}
    try:
        for key, path in files.items():
            path = Path(path)
            temporary = path.with_name(f".{path.name}.tmp")
            data = contents[key]
            temporary.write_bytes(data if isinstance(data, bytes) else data.encode())
            temporaries[key] = temporary
        for key, temporary in temporaries.items():
            temporary.replace(files[key])
    except OSError as error:
        for temporary in temporaries.values():
            temporary.unlink(missing_ok=True)
        raise ToolError(f"cannot write {error.filename}: {error.strerror}") from None
    return CompiledArtifacts({k: str(v) for k, v in files.items()})


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Compile a linalg-on-tensors model (from patsparse-import) for the host or AArch64.",
        epilog="""outputs:
  --target host               OUT.so (call from Python: patsparse.runtime.load), OUT.h (the C API:
                              NAME_create, NAME_run, NAME_destroy, ...), OUT.json
  --target aarch64-linux-gnu  OUT (static runner: OUT input.bin... output.bin... [--repeat N]),
                              OUT.a (model + its runtime, every symbol prefixed NAME_), OUT.h, OUT.json
  --emit mlir|llvm|asm|obj    only that stage, written to OUT

examples:
  patsparse-compile vgg.mlir --target host -o vgg.so
  patsparse-compile vgg.mlir --target aarch64-linux-gnu -o vgg && qemu-aarch64 ./vgg in.bin out.bin
  patsparse-compile vgg.mlir --target aarch64-linux-gnu --emit asm -o vgg.s
""")
    parser.add_argument("input", help="model .mlir (linalg on tensors, from patsparse-import)")
    parser.add_argument("-o", dest="output", required=True, metavar="OUT", help="output path (see below)")
    parser.add_argument("--target", default="host", help=f"one of: {', '.join(TARGETS)} (default: host)")
    parser.add_argument("--emit", default="lib", help="stop at: mlir, llvm, asm, obj (default: lib, the full build)")
    parser.add_argument("--dense", action="store_true",
                        help="do not detect patterns: compile every convolution dense (the baseline)")
    parser.add_argument("--cpu", help="llc -mcpu (default: native on the host, cortex-a76 for AArch64)")
    parser.add_argument("--vector-width", type=int, help="f32 lanes per vector (default: by target: 16/8 host, 4 NEON)")
    parser.add_argument("--accumulators", type=int, default=8, help="output vectors along a row kept in registers "
                                                                     "(default 8)")
    parser.add_argument("--rows", type=int, help="output rows computed together (default 1; with "
                                                  "--eliminate-loads about 4, a divisor of the output height "
                                                  "where one fits)")
    parser.add_argument("--reorder-filters", action="store_true",
                        help="group filters with similar work (patsparse-reorder-filters)")
    parser.add_argument("--eliminate-loads", action="store_true",
                        help="share input loads between the taps and rows of a kernel "
                             "(patsparse-eliminate-redundant-loads)")
    parser.add_argument("--filter-pairs", action="store_true",
                        help="compute filters two at a time; the kernels both filters of a pair have (same input "
                             "channel and pattern) load their input vectors once (filter-level load sharing)")
    parser.add_argument("--no-channel-tiles", dest="channel_tiles", action="store_false",
                        help="compute pattern layers with the tap generator (one filter's accumulators in "
                             "registers) instead of input-stationary channel tiles (the default)")
    parser.add_argument("--compact-indices", action="store_true",
                        help="store FKW index arrays in the narrowest integer type")
    parser.add_argument("--tuning-db", metavar="JSON", help="per-layer schedules measured by patsparse-tune "
                                                            "(patsparse-apply-tuning)")
    parser.add_argument("--threads", type=int, default=1,
                        help="default thread count of the compiled model (default 1; changed at run time by "
                             "PATSPARSE_THREADS, the runner's --threads, or CompiledModel.set_threads)")
    parser.add_argument("-O", dest="optimise", action="store_true",
                        help="every optimisation: --reorder-filters --eliminate-loads --compact-indices")
    parser.add_argument("--entry", default="forward", help="entry function (default: forward)")
    parser.add_argument("--name", help="the model's C name: every symbol it defines starts with NAME_ (NAME_create, "
                                       "NAME_run, ...), so several models link into one program (default: from "
                                       "the output file's name, e.g. vgg for -o vgg.so)")
    parser.add_argument("--profile", action="store_true",
                        help="time every layer at run time (patsparse profile MODEL.so; the runner's --profile)")
    return parser


def run(argv=None) -> int:
    args = make_parser().parse_args(argv)
    make = CompileOptions.optimised if args.optimise else CompileOptions
    options = make(target=args.target, detect_patterns=not args.dense, vector_width=args.vector_width,
                   accumulators=args.accumulators, cpu=args.cpu, rows=args.rows, tuning_db=args.tuning_db,
                   threads=args.threads, profile=args.profile, channel_tiles=args.channel_tiles,
                   **{flag: True for flag in ("reorder_filters", "eliminate_loads", "compact_indices", "filter_pairs")
                      if getattr(args, flag)})
    artifacts = compile_model(args.input, args.output, options, emit=args.emit, entry=args.entry, name=args.name)
    for kind, path in artifacts.outputs.items():
        print(f"{kind:15s} {path}")
    return 0


def main(argv=None) -> int:
    return run_main(PROG, lambda: run(argv))


if __name__ == "__main__":
    sys.exit(main())
