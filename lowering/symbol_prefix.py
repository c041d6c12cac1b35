"""Every symbol a compiled model defines, and every runtime function it calls, gets the
model's name as a prefix (`patsparse-compile --name NAME`), so that two models link into one
program: without it both export `forward`, `patsparse_conv_0`, `memrefCopy`, ..., and a
static link silently binds the first model's `forward` for both.

The runtime is compiled with the same prefix (lowering/runtime/patsparse_runtime.h), so each
model carries its own copy and shares no state with another. Calls into libc and libm
(`malloc`, `expf`, LLVM intrinsics) keep their names.
"""

from __future__ import annotations

import re

from mlir import ir

# What generated code calls in the runtime (lowering/runtime/patsparse_runtime.h).
RUNTIME_SYMBOLS = ("memrefCopy", "patsparse_parallel_for", "patsparse_parallel_for4", "_mlir_memref_to_llvm_alloc",
                   "_mlir_memref_to_llvm_free", "patsparse_profile_mark")
SYMBOL_OPS = ("llvm.func", "llvm.mlir.global", "func.func", "memref.global")
C_KEYWORDS = {"auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum",
              "extern", "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return",
              "short", "signed", "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void",
              "volatile", "while"}


def c_identifier(text: str) -> str:
    """A model name from a file name: `vgg.p8-fast` -> `vgg_p8_fast`, `16x` -> `m_16x`."""
    name = re.sub(r"\W", "_", text, flags=re.ASCII).strip("_") or "model"
    return f"m_{name}" if name[0].isdigit() else name


def name_problem(name: str) -> str | None:
    """Why `name` cannot prefix C symbols, or None."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        return f"--name {name!r}: expected a C identifier (letters, digits and '_', not starting with a digit)"
    if name in C_KEYWORDS:
        return f"--name {name!r}: a C keyword; expected another identifier"
    return None


def _is_declaration(op: ir.Operation) -> bool:
    return op.name in ("llvm.func", "func.func") and (len(op.regions[0].blocks) == 0)


def prefix_symbols(module: ir.Module, prefix: str) -> dict[str, str]:
    """Rename in place every symbol `module` defines, and its declarations of the runtime's
    functions, to `prefix + name`; return the renaming."""
    renaming = {}
    for op in module.body.operations:
        op = op.operation
        if op.name not in SYMBOL_OPS or "sym_name" not in op.attributes:
            continue
        name = ir.StringAttr(op.attributes["sym_name"]).value
        if _is_declaration(op) and name not in RUNTIME_SYMBOLS:
            continue
        renaming[name] = prefix + name
    for old, new in renaming.items():
        ir.SymbolTable.replace_all_symbol_uses(old, new, module.operation)
    for op in module.body.operations:
        op = op.operation
        if op.name in SYMBOL_OPS and "sym_name" in op.attributes:
            name = ir.StringAttr(op.attributes["sym_name"]).value
            if name in renaming:
                op.attributes["sym_name"] = ir.StringAttr.get(renaming[name])
    return renaming
