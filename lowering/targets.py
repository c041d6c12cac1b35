"""From the LLVM dialect to files: mlir-translate, llc, and linking for each target."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from patsparse.dialect.support import ToolError

from . import toolchain
from .external_weights import externalize_constants, weights_assembly
from .model_api import API_FUNCTIONS

RUNTIME_DIR = Path(__file__).with_name("runtime")
RUNTIME_SOURCES = [RUNTIME_DIR / name for name in ("patsparse_runtime.c", "patsparse_parallel.c", "patsparse_alloc.c",
                                                     "patsparse_context.c")]
RUNNER_SOURCE = RUNTIME_DIR / "runner.c"


@dataclass(frozen=True)
class RuntimeBuild:
    """How a model's copy of the runtime is compiled: its symbol prefix (`NAME_`), its default
    thread count, whether it times layers, and the C source of the model's tables
    (lowering/model_api.py)."""
    prefix: str
    tables_source: str
    threads: int = 1
    profile: bool = False

    def flags(self) -> list[str]:
        return (["-O2", "-pthread", f"-DPATSPARSE_DEFAULT_THREADS={self.threads}", f"-DPATSPARSE_PREFIX={self.prefix}",
                 f"-I{RUNTIME_DIR}"] + (["-DPATSPARSE_PROFILE"] if self.profile else []))

    def exports(self, extra: tuple[str, ...] = ()) -> list[str]:
        return [self.prefix + name for name in (*API_FUNCTIONS, *extra)]

    def objects(self, work: Path, target: str) -> list[Path]:
        """The runtime and the tables, compiled for `target` into `work`."""
        tables = work / "model_tables.c"
        tables.write_text(self.tables_source)
        compiler = assembler(target)
        objects = []
        for source in [*RUNTIME_SOURCES, tables]:
            objects.append(work / f"{source.stem}.o")
            run_tool([compiler, *self.flags(), "-fPIC", "-c", source, "-o", objects[-1]], "compiling the runtime")
        return objects


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


def link_host_shared(objects: list[Path], output: Path, runtime: RuntimeBuild, extra_exports: tuple[str, ...] = ()) -> None:
    """A shared library of the model and its runtime that exports only the model's API
    (`NAME_create`, `NAME_run`, ...): every other symbol stays local to it."""
    version_script = output.with_name("exports.map")
    version_script.write_text(f"{{ global: {' '.join(f'{name};' for name in runtime.exports(extra_exports))} local: *; }};\n")
    run_tool(["gcc", "-shared", *objects, *runtime.objects(output.parent, "host"),
              f"-Wl,--version-script={version_script}", "-pthread", "-lm", "-o", output],
             "linking the host shared library")


def build_aarch64(objects: list[Path], header: Path, static_library: Path, runner: Path, workdir: Path,
                  runtime: RuntimeBuild) -> None:
    """A static library (model + its runtime, every global symbol prefixed) and a static runner."""
    gcc = toolchain.find("aarch64-linux-gnu-gcc")
    archiver = Path(str(gcc).replace("-gcc", "-ar"))
    if static_library.exists():
        static_library.unlink()
    run_tool([archiver if archiver.exists() else "ar", "rcs", static_library, *objects,
              *runtime.objects(workdir, "aarch64-linux-gnu")], "archiving the static library")
    # The runner includes the model's header as "model.h".
    include_dir = workdir / "include"
    include_dir.mkdir(exist_ok=True)
    (include_dir / "model.h").write_text(header.read_text())
    run_tool([gcc, "-O2", "-static", "-pthread", RUNNER_SOURCE, f"-I{include_dir}", static_library, "-lm",
              "-o", runner], "linking the AArch64 runner")
