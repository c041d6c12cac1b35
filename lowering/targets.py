"""From the LLVM dialect to files: mlir-translate, llc, and linking for each target."""

from __future__ import annotations

import subprocess
from pathlib import Path

from patsparse.dialect.support import ToolError

from . import toolchain
from .external_weights import externalize_constants, weights_assembly

RUNTIME_DIR = Path(__file__).with_name("runtime")
RUNTIME_SOURCE = RUNTIME_DIR / "patsparse_runtime.c"
PARALLEL_SOURCE = RUNTIME_DIR / "patsparse_parallel.c"
ALLOC_SOURCE = RUNTIME_DIR / "patsparse_alloc.c"
RUNTIME_SOURCES = [RUNTIME_SOURCE, PARALLEL_SOURCE, ALLOC_SOURCE]
RUNNER_SOURCE = RUNTIME_DIR / "runner.c"
# Exported beside the entry: the thread count can be changed at run time (patsparse.runtime).
RUNTIME_EXPORTS = ["patsparse_set_threads", "patsparse_get_threads", "patsparse_release_buffers"]


def runtime_flags(threads: int) -> list[str]:
    return ["-O2", "-pthread", f"-DPATSPARSE_DEFAULT_THREADS={threads}", f"-I{RUNTIME_DIR}"]
LLC_TRIPLES = {"host": None, "aarch64-linux-gnu": "aarch64-linux-gnu"}


def run_tool(command: list[str], what: str) -> None:
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True)
    if result.returncode:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise ToolError(f"{what} failed: {' '.join(map(str, command[:1]))}: " + (detail[0] if detail else "no output"))


def write_bytecode(module, path: Path) -> None:
    with open(path, "wb") as out:
        module.operation.write_bytecode(out)


def objects_from_llvm_dialect(module, work: Path, target: str, cpu: str) -> list[Path]:
    """An LLVM-dialect module to objects in `work`: the code, and its large constants as one
    binary section (lowering/external_weights.py); the module loses those constants."""
    external = externalize_constants(module, work / "weights.bin")
    write_bytecode(module, work / "model.llvm.mlirbc")
    translate_to_llvm_ir(work / "model.llvm.mlirbc", work / "model.ll")
    llc(work / "model.ll", work / "code.o", target, cpu, "obj")
    (work / "weights.s").write_text(weights_assembly(external, work / "weights.bin"))
    assemble(work / "weights.s", work / "weights.o", target)
    return [work / "code.o", work / "weights.o"]


def translate_to_llvm_ir(llvm_dialect_file: Path, output: Path) -> None:
    run_tool([toolchain.find("mlir-translate"), "--mlir-to-llvmir", llvm_dialect_file, "-o", output],
             "mlir-translate")


def llc(llvm_ir: Path, output: Path, target: str, cpu: str, filetype: str) -> None:
    command = [toolchain.find("llc"), "-O3", f"-mcpu={cpu}", "-relocation-model=pic", f"-filetype={filetype}",
               llvm_ir, "-o", output]
    if LLC_TRIPLES[target]:
        command.insert(1, f"-mtriple={LLC_TRIPLES[target]}")
        # Cheaper addressing of the tap loads: common base + constant offsets per kernel.
        command.insert(2, "-aarch64-enable-gep-opt=true")
    run_tool(command, "llc")


def assembler(target: str) -> str:
    return "gcc" if target == "host" else str(toolchain.find("aarch64-linux-gnu-gcc"))


def assemble(source: Path, output: Path, target: str) -> None:
    run_tool([assembler(target), "-c", source, "-o", output], "assembling the weights")


def link_relocatable(objects: list[Path], output: Path, target: str) -> None:
    """One relocatable object from several (`ld -r`, driven by the target's gcc)."""
    run_tool([assembler(target), "-r", "-nostdlib", *objects, "-o", output], "combining the objects")


def link_host_shared(objects: list[Path], output: Path, entries: str | list[str], threads: int = 1) -> None:
    """A shared library that exports only the entry: generated helpers (patsparse_conv_0, its
    globals, memrefCopy) have the same names in every model, and exported they could be
    interposed across two models loaded in one process."""
    version_script = output.with_name("exports.map")
    names = ([entries] if isinstance(entries, str) else list(entries)) + RUNTIME_EXPORTS
    version_script.write_text(f"{{ global: {' '.join(f'{name};' for name in names)} local: *; }};\n")
    run_tool(["gcc", *runtime_flags(threads), "-fPIC", "-shared", *objects, *RUNTIME_SOURCES,
              f"-Wl,--version-script={version_script}", "-lm", "-o", output], "linking the host shared library")


def build_aarch64(objects: list[Path], header: Path, static_library: Path, runner: Path, workdir: Path,
                  threads: int = 1) -> None:
    """A static library (model + runtime) and a static runner executable."""
    gcc = toolchain.find("aarch64-linux-gnu-gcc")
    runtime_objects = []
    for source in RUNTIME_SOURCES:
        runtime_objects.append(workdir / f"{source.stem}.o")
        run_tool([gcc, *runtime_flags(threads), "-c", source, "-o", runtime_objects[-1]], "compiling the runtime")
    archiver = Path(str(gcc).replace("-gcc", "-ar"))
    if static_library.exists():
        static_library.unlink()
    run_tool([archiver if archiver.exists() else "ar", "rcs", static_library, *objects, *runtime_objects],
             "archiving the static library")
    # The runner includes the model's header as "model.h".
    include_dir = workdir / "include"
    include_dir.mkdir(exist_ok=True)
    (include_dir / "model.h").write_text(header.read_text())
    run_tool([gcc, "-O2", "-static", "-pthread", RUNNER_SOURCE, f"-I{include_dir}", f"-I{RUNTIME_DIR}",
              static_library, "-lm", "-o", runner], "linking the AArch64 runner")
