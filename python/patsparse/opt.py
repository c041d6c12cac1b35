"""`patsparse-opt`: mlir-opt with the patsparse dialect and passes.

Reads MLIR (a file or stdin), runs a pipeline that mixes patsparse passes (Python,
run by MLIR's PassManager) with any upstream pass, and prints the result. Its
command line mirrors mlir-opt's.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass

from mlir import ir, passmanager

from patsparse.cliutil import ToolError, atomic_write, read_input, run_main
from patsparse.diagnostics import DiagnosticCollector, check_expectations, parse_expectations
from patsparse.dialect import load_dialect, verify_module
from patsparse.dialect.pass_base import PassOptionError, PatsparsePass
from patsparse.pipeline import NAMED_PIPELINES, PASSES
from patsparse.dialect.ir_utils import source_names_to_locations
from patsparse.safe_parse import guarded_parse

PROG = "patsparse-opt"
SPLIT_MARKER = re.compile(r"^\s*//\s*-----\s*$")


# -- pipelines -------------------------------------------------------------------


@dataclass
class Pipeline:
    """Top-level pipeline elements in order: a PatsparsePass or upstream pipeline text."""

    elements: list

    def build(self, context: ir.Context) -> passmanager.PassManager:
        manager = passmanager.PassManager("builtin.module", context=context)
        upstream: list[str] = []

        def flush():
            if upstream:
                text = ",".join(upstream)
                try:
                    manager.add(text)
                except ValueError as error:
                    raise ToolError(f"invalid pass pipeline '{text}': {_first_line(error)}") from None
                upstream.clear()

        for element in self.elements:
            if isinstance(element, PatsparsePass):
                flush()
                element.add_to(manager)
            else:
                upstream.append(element)
        flush()
        return manager


def split_top_level(text: str) -> list[str]:
    """Split a pipeline on commas that are not inside (...) or {...}."""
    parts, depth, current = [], 0, ""
    for char in text:
        if char in "({":
            depth += 1
        elif char in ")}":
            depth -= 1
            if depth < 0:
                raise ToolError(f"invalid pass pipeline: unbalanced ')' in '{text}'")
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    if depth:
        raise ToolError(f"invalid pass pipeline: unbalanced '(' in '{text}'")
    if current.strip():
        parts.append(current.strip())
    return [p for p in parts if p]


def make_elements(text: str) -> list:
    """'patsparse-x{a=1}' -> [a configured pass]; a named pipeline ('patsparse-lower{O}') -> its
    stages; anything else stays upstream text."""
    name, _, rest = text.partition("{")
    name = name.strip()
    if name in NAMED_PIPELINES:
        options = rest.rstrip().removesuffix("}") if rest else ""
        try:
            return [stage.element for stage in NAMED_PIPELINES[name](options)]
        except PassOptionError as error:
            raise ToolError(str(error)) from None
    return [make_element(text)]


def make_element(text: str):
    """'patsparse-x{a=1}' -> a configured pass; anything else stays upstream text."""
    name, _, rest = text.partition("{")
    name = name.strip()
    if name.startswith("patsparse-") or name in PASSES:
        cls = PASSES.get(name)
        if cls is None:
            raise ToolError(f"unknown pass '{name}' (see {PROG} --help for the patsparse passes)")
        options = rest.rstrip().removesuffix("}") if rest else ""
        try:
            return cls.from_options(options)
        except PassOptionError as error:
            raise ToolError(str(error)) from None
    if "patsparse-" in text:
        raise ToolError(f"patsparse passes run on the module: put '{text}' at the top level of "
                        f"builtin.module(...)")
    return text


def parse_pass_pipeline(text: str) -> list:
    text = text.strip()
    match = re.fullmatch(r"builtin\.module\((.*)\)", text, re.S)
    if not match:
        raise ToolError(f"invalid pass pipeline '{text}': expected 'builtin.module(...)'")
    return [element for part in split_top_level(match.group(1)) for element in make_elements(part)]


def parse_pass_flags(flags: list[str]) -> list:
    """`--patsparse-x`, `--patsparse-x="a=1 b=2"`, `--canonicalize`, ... in order."""
    elements = []
    for flag in flags:
        if not flag.startswith("--") or len(flag) == 2:
            raise ToolError(f"unknown argument '{flag}' (see {PROG} --help)")
        name, sep, options = flag[2:].partition("=")
        if name.startswith("patsparse-") or name in PASSES:
            elements += make_elements(f"{name}{{{options}}}" if sep else name)
        else:
            # An upstream pass; the PassManager validates the name.
            elements.append(f"{name}{{{options}}}" if sep else name)
    return elements


# -- processing ----------------------------------------------------------------------


@dataclass
class Chunk:
    text: str
    first_line: int


def split_chunks(source: str, split: bool) -> list[Chunk]:
    if not split:
        return [Chunk(source, 1)]
    chunks, lines, start = [], [], 1
    for number, line in enumerate(source.splitlines(keepends=True), start=1):
        if SPLIT_MARKER.match(line):
            chunks.append(Chunk("".join(lines), start))
            lines, start = [], number + 1
        else:
            lines.append(line)
    chunks.append(Chunk("".join(lines), start))
    return chunks


MODULE_PREFIX = "module {"


def parse_module(text: str, source_name: str, collector: DiagnosticCollector) -> ir.Operation | None:
    """Parse like mlir-opt: top-level ops other than one builtin.module get an implicit module.

    The wrapper goes on the line of the first op, so line numbers stay those of the file;
    columns of that line's diagnostics are shifted back. Returns None after collecting the errors.
    """
    try:
        parsed = ir.Operation.parse(text, source_name=source_name)
        if parsed.operation.name == "builtin.module":
            return parsed.operation
    except ir.MLIRError as error:
        if "single top-level operation" not in str(error):
            collector.extend_from_error(error)
            return None
    wrapped, wrapped_line = wrap_in_module(text)
    try:
        return ir.Operation.parse(wrapped, source_name=source_name).operation
    except ir.MLIRError as error:
        collector.extend_from_error(error)
        for diagnostic in collector.diagnostics:
            if diagnostic.line == wrapped_line and diagnostic.column and diagnostic.column > len(MODULE_PREFIX):
                diagnostic.column -= len(MODULE_PREFIX)
        return None


def wrap_in_module(text: str) -> tuple[str, int]:
    """`text` with its top-level ops inside `module { ... }`, and the 1-based line the wrapper
    opens on: after the attribute and type aliases (`#map = ...`, which must stay outside), on
    the line of the first op, and closed before a `{-# dialect_resources #-}` section."""
    lines = text.split("\n")
    first = next((index for index, line in enumerate(lines)
                  if line.strip() and not line.lstrip().startswith(("//", "#", "!"))), 0)
    lines[first] = MODULE_PREFIX + lines[first]
    resources = next((index for index in range(first + 1, len(lines)) if lines[index].startswith("{-#")), None)
    if resources is None:
        lines.append("}")
    else:
        lines[resources] = "} " + lines[resources]
    return "\n".join(lines), first + 1


def process_chunk(chunk: Chunk, source_name: str, pipeline: Pipeline, args) -> tuple[str | None, DiagnosticCollector]:
    """Parse, verify and transform one chunk. Returns (printed IR or None, diagnostics)."""
    context = ir.Context()
    context.allow_unregistered_dialects = args.allow_unregistered_dialect
    load_dialect(context)
    collector = DiagnosticCollector(context)
    # Pad with blank lines so locations carry the line numbers of the whole file.
    padded = "\n" * (chunk.first_line - 1) + chunk.text
    with context:
        module = guarded_parse(padded, source_name, lambda text: parse_module(text, source_name, collector))
        if module is None:
            return None, collector
        if verify_module(module.operation):
            return None, collector
        source_names_to_locations(module.operation)
        manager = pipeline.build(context)
        if args.mlir_print_ir_after_all:
            manager.enable_ir_printing(print_after_all=True, large_elements_limit=16)
        try:
            manager.run(module.operation)
        except ir.MLIRError as error:
            collector.extend_from_error(error)
            return None, collector
        if collector.errors:
            return None, collector
        text = module.operation.get_asm(enable_debug_info=args.mlir_print_debuginfo,
                                        print_generic_op_form=args.mlir_print_op_generic)
        return text if text.endswith("\n") else text + "\n", collector


def run(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args, pass_flags = parser.parse_known_args(argv)
    elements = parse_pass_pipeline(args.pass_pipeline) if args.pass_pipeline else []
    if args.pass_pipeline and pass_flags:
        raise ToolError("give either --pass-pipeline or individual pass flags, not both")
    elements += parse_pass_flags(pass_flags)
    pipeline = Pipeline(elements)
    source = read_input(args.input)
    source_name = "<stdin>" if args.input == "-" else args.input
    # Build once up front so a bad pipeline fails before any work.
    with ir.Context() as context:
        load_dialect(context)
        pipeline.build(context)

    outputs, failed, problems = [], False, []
    for chunk in split_chunks(source, args.split_input_file):
        text, collector = process_chunk(chunk, source_name, pipeline, args)
        if args.verify_diagnostics:
            expectations = parse_expectations(chunk.text, chunk.first_line)
            problems += check_expectations(source_name, expectations, collector.diagnostics)
        else:
            for diagnostic in collector.diagnostics:
                print(diagnostic.render(), file=sys.stderr)
            failed |= text is None
        if text is not None:
            outputs.append(text)
        collector.detach()
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1
    if failed:
        return 1
    result = "// -----\n".join(outputs)
    if args.output == "-":
        sys.stdout.write(result)
    else:
        atomic_write(args.output, result)
    return 0


def describe_passes() -> str:
    lines = ["patsparse passes (also usable inside --pass-pipeline='builtin.module(...)'):"]
    for flag, cls in sorted(PASSES.items()):
        lines.append(f"  --{flag:<38} {cls.summary}")
        for field in cls.options():
            default = getattr(cls(), field.name)
            lines.append(f"      {field.name.replace('_', '-')}=<{type(default).__name__}>"
                         f"  {field.metadata.get('help', '')} (default: {default})")
    lines += ["",
              "named pipelines (what patsparse-compile runs; see patsparse/pipeline.py):",
              "  --patsparse-lower[=\"<options>\"]      the imported model to vector code on tensors, as",
              "      patsparse-compile --emit mlir writes it; options as the compiler's flags: target=<t> O dense",
              "      vector-width=<n> accumulators=<n> rows=<n> rows-outer reorder-filters eliminate-loads",
              "      filter-pairs channel-tiles=<bool> compact-indices tuning-db=<file> threads=<n> cpu=<name>",
              "  --patsparse-to-llvm                     bufferize and lower to the LLVM dialect (runtime allocator)",
              "",
              "Any upstream MLIR pass is accepted as --<pass-name>[=\"<options>\"], e.g. --canonicalize,",
              "and runs in command-line order with the patsparse passes."]
    return "\n".join(lines)


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="mlir-opt with the patsparse dialect loaded and the patsparse passes registered.",
        epilog=describe_passes() + """

examples:
  patsparse-opt model.mlir --patsparse-verify -o checked.mlir
  patsparse-opt model.mlir --pass-pipeline='builtin.module(patsparse-verify, canonicalize)'
  patsparse-opt model.mlir --pass-pipeline='builtin.module(patsparse-lower{O target=host})'
  patsparse-opt test/dialect/invalid.mlir --split-input-file --verify-diagnostics
""")
    parser.add_argument("input", nargs="?", default="-", help="input .mlir file ('-' or none: stdin)")
    parser.add_argument("-o", dest="output", default="-", metavar="FILE",
                        help="output file (default: stdout); written only when everything succeeds")
    parser.add_argument("--pass-pipeline", metavar="PIPELINE",
                        help="textual pipeline, 'builtin.module(pass1, pass2{opt=v}, func.func(pass3))'")
    parser.add_argument("--split-input-file", action="store_true",
                        help="process each '// -----' separated chunk on its own")
    parser.add_argument("--verify-diagnostics", action="store_true",
                        help="check diagnostics against '// expected-error {{...}}' annotations")
    parser.add_argument("--mlir-print-ir-after-all", action="store_true",
                        help="print the IR after every pass (to stderr)")
    parser.add_argument("--mlir-print-debuginfo", action="store_true", help="print locations")
    parser.add_argument("--mlir-print-op-generic", action="store_true", help="print ops in generic form")
    parser.add_argument("--allow-unregistered-dialect", action="store_true",
                        help="accept ops of dialects that are not loaded")
    return parser


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def main(argv: list[str] | None = None) -> int:
    return run_main(PROG, lambda: run(argv))


if __name__ == "__main__":
    sys.exit(main())
