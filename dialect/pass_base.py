"""The base of every patsparse pass: typed options, verification, a PassManager hook.

A pass is a dataclass whose fields are its options (after xDSL): each field has a
type, a default and a `help` string in its metadata; on the command line the option
`max-patterns=8` sets the field `max_patterns`. `run(module)` does the work on the
`builtin.module`; problems in the IR are reported with `PassFailure` or diagnostics
at op locations. The pass is run by MLIR's PassManager as a Python-defined pass, so
it sits between upstream passes in one pipeline.
"""

from __future__ import annotations

import dataclasses
import sys
import typing
from typing import ClassVar

from mlir import ir

from .verifier import verify_module


class PassFailure(Exception):
    """Raised by a pass to stop the pipeline; the message becomes an error diagnostic."""

    def __init__(self, message: str, location: ir.Location | None = None):
        super().__init__(message)
        self.location = location


class PassOptionError(ValueError):
    """An option string that does not fit the pass."""


def option(default, help: str):
    """A pass option: a dataclass field with its documentation."""
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata={"help": help})
    return dataclasses.field(default=default, metadata={"help": help})


@dataclasses.dataclass
class PatsparsePass:
    """Subclasses are dataclasses; their docstring is the pass description."""

    flag: ClassVar[str] = ""
    summary: ClassVar[str] = ""

    def run(self, module: ir.Operation) -> None:
        raise NotImplementedError

    # -- options -------------------------------------------------------------

    @classmethod
    def options(cls) -> list[dataclasses.Field]:
        return list(dataclasses.fields(cls))

    @classmethod
    def from_options(cls, text: str) -> "PatsparsePass":
        """Build from `name=value name2=value2` (mlir-opt's option syntax)."""
        fields = {f.name.replace("_", "-"): f for f in cls.options()}
        hints = typing.get_type_hints(cls)
        values = {}
        for item in text.replace(",", " ").split():
            name, sep, raw = item.partition("=")
            if name not in fields:
                known = ", ".join(fields) or "none"
                raise PassOptionError(f"pass '{cls.flag}' has no option '{name}' (options: {known})")
            field = fields[name]
            values[field.name] = convert_option(cls.flag, name, raw if sep else "true", hints[field.name])
        return cls(**values)

    def option_text(self) -> str:
        """`{a=1 b=true}`: the options that differ from the defaults, as `from_options` reads them
        (the replay lines of patsparse.pipeline print passes this way)."""
        default = type(self)()
        parts = [f"{f.name.replace('_', '-')}={format_option(getattr(self, f.name))}" for f in self.options()
                 if getattr(self, f.name) != getattr(default, f.name)]
        return "{" + " ".join(parts) + "}" if parts else ""

    # -- running inside a PassManager ----------------------------------------

    def __call__(self, operation: ir.Operation, pass_handle) -> None:
        """Entry point for `PassManager.add(callable)`."""
        try:
            if verify_module(operation):
                pass_handle.signal_pass_failure()
                return
            self.run(operation)
        except PassFailure as failure:
            (failure.location or operation.location).emit_error(f"{self.flag}: {failure}")
            pass_handle.signal_pass_failure()

    def add_to(self, pass_manager) -> None:
        pass_manager.add(self, name=type(self).__name__, argument=self.flag,
                         description=self.summary)

    def log(self, message: str) -> None:
        """Statistics and reports go to stderr, so stdout stays parseable IR."""
        print(f"[{self.flag}] {message}", file=sys.stderr)


def convert_option(flag: str, name: str, raw: str, kind, what: str = "pass") -> object:
    """`raw` (the text after `name=`) as `kind`; PassOptionError naming the pass (or pipeline)."""
    try:
        if kind is bool:
            if raw.lower() in ("1", "true", "on", "yes"):
                return True
            if raw.lower() in ("0", "false", "off", "no"):
                return False
            raise ValueError(raw)
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
        if typing.get_origin(kind) is list or kind is list:
            (element,) = typing.get_args(kind) or (str,)
            return [element(v) for v in raw.split(":") if v]
        return raw
    except ValueError:
        kind_name = getattr(kind, "__name__", str(kind))
        raise PassOptionError(f"{what} '{flag}': option '{name}' expects {kind_name}, got '{raw}'") from None


def format_option(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ":".join(map(str, value))
    return str(value)
