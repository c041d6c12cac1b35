"""MLIR diagnostics for command-line tools: collect, print mlir-opt style, and check
`// expected-error` annotations (`--verify-diagnostics`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from mlir import ir

SEVERITY_NAMES = {
    ir.DiagnosticSeverity.ERROR: "error",
    ir.DiagnosticSeverity.WARNING: "warning",
    ir.DiagnosticSeverity.NOTE: "note",
    ir.DiagnosticSeverity.REMARK: "remark",
}


@dataclass
class Diagnostic:
    severity: str
    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    notes: tuple["Diagnostic", ...] = ()

    def in_file(self, name: str) -> "Diagnostic":
        """This diagnostic (and its notes) with the anonymous buffer '-' of a string parse named `name`."""
        return replace(self, file=name if self.file == "-" else self.file,
                       notes=tuple(note.in_file(name) for note in self.notes))

    def render(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}: " if self.line is not None else ""
        text = f"{where}{self.severity}: {self.message}"
        return "\n".join([text] + [note.render() for note in self.notes])


def file_position(location: ir.Location) -> tuple[str | None, int | None, int | None]:
    """The first file:line:col inside a (possibly nested) location."""
    try:
        if location.is_a_file():
            return location.filename, location.start_line, location.start_col
        if location.is_a_name():
            return file_position(location.child_loc)
        if location.is_a_callsite():
            return file_position(location.callee)
        if location.is_a_fused():
            for inner in location.locations:
                found = file_position(inner)
                if found[1] is not None:
                    return found
    except Exception:  # unknown location kinds carry no position
        pass
    return None, None, None


def from_mlir(diagnostic) -> Diagnostic:
    """Convert an `ir.Diagnostic` or an MLIRError's `DiagnosticInfo`."""
    file, line, column = file_position(diagnostic.location)
    return Diagnostic(SEVERITY_NAMES.get(diagnostic.severity, "error"), str(diagnostic.message),
                      file, line, column, tuple(from_mlir(n) for n in diagnostic.notes))


class DiagnosticCollector:
    """Attach to a context; keeps every diagnostic emitted outside a scoped handler."""

    def __init__(self, context: ir.Context):
        self.diagnostics: list[Diagnostic] = []
        self._handler = context.attach_diagnostic_handler(self._handle)

    def _handle(self, diagnostic) -> bool:
        self.diagnostics.append(from_mlir(diagnostic))
        return True

    def extend_from_error(self, error: Exception) -> None:
        infos = getattr(error, "error_diagnostics", None) or []
        if infos:
            self.diagnostics.extend(from_mlir(d) for d in infos)
        else:
            self.diagnostics.append(Diagnostic("error", str(error)))

    def detach(self) -> None:
        self._handler.detach()

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]


_EXPECTED = re.compile(
    r"//\s*expected-(?P<kind>error|warning|remark|note)\s*(?:@(?P<where>above|below|[+-]\d+))?\s*\{\{(?P<text>.*?)\}\}")


@dataclass
class Expectation:
    severity: str
    line: int
    text: str
    annotation_line: int
    matched: bool = False


def parse_expectations(source: str, first_line: int = 1) -> list[Expectation]:
    expectations = []
    for offset, line_text in enumerate(source.splitlines()):
        line = first_line + offset
        for match in _EXPECTED.finditer(line_text):
            where = match.group("where")
            target = {None: line, "above": line - 1, "below": line + 1}.get(where)
            if target is None:
                target = line + int(where)
            expectations.append(Expectation(match.group("kind"), target, match.group("text"), line))
    return expectations


def check_expectations(file: str, expectations: list[Expectation], diagnostics: list[Diagnostic]) -> list[str]:
    """mlir-opt's --verify-diagnostics: every diagnostic expected, every expectation produced."""
    problems = []
    flat = []
    for diagnostic in diagnostics:
        flat.append(diagnostic)
        # MLIR attaches the op's text to verifier errors; mlir-opt does not check that note.
        flat.extend(n for n in diagnostic.notes if not n.message.startswith("see current operation"))
    for diagnostic in flat:
        found = next((e for e in expectations if not e.matched and e.severity == diagnostic.severity
                      and e.line == diagnostic.line and e.text in diagnostic.message), None)
        if found:
            found.matched = True
        else:
            problems.append(f"{diagnostic.file or file}:{diagnostic.line}:{diagnostic.column}: error: "
                            f"unexpected {diagnostic.severity}: {diagnostic.message}")
    for expectation in expectations:
        if not expectation.matched:
            problems.append(f"{file}:{expectation.annotation_line}: error: expected {expectation.severity} "
                            f"\"{expectation.text}\" was not produced")
    return problems
