"""Parse user MLIR text without letting MLIR's assertions kill the process.

The pip build of MLIR has assertions on: some malformed text (a `dialect_resources` blob cut
off by a truncated download, `permutation = [1 0]` on linalg.transpose) makes the parser call
abort(), which no Python code can catch. `guarded_parse` therefore parses first in a forked
child: if the child dies by a signal (or C code exits it), the user gets one line, naming
the known triggers precisely (`_diagnose`), and the real parse never runs.

Why a forked pre-parse, measured on this machine (2 cores) with a 500 MB module of hex
weight blobs: reading it takes 0.7 s, parsing it 1.8 s, fork + exit of the 1.4 GB process
0.02 s. The extra parse costs about 2 s there (0.4 s at 100 MB), small next to compiling or
printing such a model, and catches aborts nobody has found yet, which a pre-check of the text
cannot. fork() rather than a new interpreter: no second start-up and import of MLIR (0.5 s),
no copy of the text (the child shares its pages), and as the child exits before the parent
parses, peak memory stays that of one parse. fork() copies only the calling thread, so the
child never touches a pool thread of the parent: it parses in a context of its own with
multithreading off (made once in the parent, never used there), and leaves with os._exit (no
atexit handlers, no flush of inherited buffers). The text checks of `_diagnose` run only
after a crash: they never refuse valid input (docs/results/text-fuzz.md has the measurements).
"""

from __future__ import annotations

import functools
import os
import re
import signal
import warnings
from collections.abc import Callable
from typing import TypeVar

from mlir import ir

from patsparse.cliutil import ToolError
from patsparse.dialect import load_dialect

T = TypeVar("T")


class ParserAbort(ToolError):
    """Parsing this text would have aborted the process: a one-line error, exit code 1."""


def guarded_parse(text: str, source: str, parse: Callable[[str], T]) -> T:
    """`parse(text)` (`text` read from `source`; it parses in the current context) once it is
    known not to abort; ParserAbort otherwise. In the child `parse` runs in a context of its own
    with the patsparse dialect and the current context's `allow_unregistered_dialects`."""
    status, stderr = _parse_in_child(parse, text)
    if status:
        raise ParserAbort(_diagnose(text, source) or _generic(source, status, stderr))
    return parse(text)


def _parse_in_child(parse: Callable[[str], object], text: str) -> tuple[int, str]:
    """(the wait status of a child that ran `parse`: 0 when it came back to Python; its stderr)."""
    current = ir.Context.current  # None outside a context
    allow_unregistered = bool(current and current.allow_unregistered_dialects)
    _probe_context()  # made here, so each child gets it ready-made (saves 10 ms a parse)
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():  # Python >= 3.12 warns on fork() with threads; see above
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: never returns
        try:
            os.close(read_end)
            # Handlers inherited from pytest's faulthandler or libFuzzer would turn an abort
            # into a report and a plain exit: let the signal end the child, for the parent to see.
            for number in (signal.SIGABRT, signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGILL):
                signal.signal(number, signal.SIG_DFL)
            os.dup2(write_end, 2)  # the assertion text, for the message; nothing to the user
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            context = _probe_context()
            context.allow_unregistered_dialects = allow_unregistered
            with context:
                parse(text)
        except BaseException:  # noqa: BLE001, S110 -- any error is the parent's to report: it parses again
            pass
        finally:
            os._exit(0)  # any other status: C code ended the process (abort, exit), as it would ours
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:  # read to the end first: a full pipe would block the child
        stderr = pipe.read(1 << 16).decode(errors="replace")
        while pipe.read(1 << 16):
            pass
    _, status = os.waitpid(pid, 0)
    return status, stderr


@functools.cache
def _probe_context() -> ir.Context:
    """The children's context: the patsparse dialect loaded, no threads, never used in this
    process (each child parses into its own copy of it)."""
    context = ir.Context()
    context.enable_multithreading(False)
    load_dialect(context)
    return context


def _generic(source: str, status: int, stderr: str) -> str:
    assertion = re.search(r"Assertion `(.*)' failed", stderr)
    if assertion:
        what = f"assertion '{assertion.group(1)}'"
    elif os.WIFSIGNALED(status):
        what = signal.Signals(os.WTERMSIG(status)).name
    else:
        what = f"exit code {os.WEXITSTATUS(status)}"
    return (f"{source}: malformed MLIR: the MLIR parser aborted on it ({what}); "
            f"the file may be cut off or damaged")


def _position(text: str, offset: int) -> str:
    line_start = text.rfind("\n", 0, offset) + 1
    return f"{text.count(chr(10), 0, offset) + 1}:{offset - line_start + 1}"


# In the resource section, a blob string not closed on its line (cut off by a truncated
# download), or a blob whose value is not a string, hands the lexer's error token or the end
# of the file to an assertion.
_KEY_BEFORE = re.compile(r'([\w.$-]+|"[^"\n]*")\s*:?\s*$')  # the blob's name
_VALUE_START = re.compile(r"\s*(.?)", re.DOTALL)
# linalg.transpose/broadcast/reduce parse `permutation = [...]` / `dimensions = [...]` with a
# parser that hands a null attribute on to an assertion when the list is malformed.
_INDEX_LIST = re.compile(r"\b(permutation|dimensions)\s*=\s*")
_INTS = r"-?\d+(\s*,\s*-?\d+)*"
_WELL_FORMED_LIST = re.compile(rf"\[\s*({_INTS})?\s*\]|array<i64(:\s*{_INTS})?>")  # array<...>: the generic form
_LIST_TEXT = re.compile(r"[^\]\n]{0,30}\]?")


def _in_comment(text: str, offset: int) -> bool:
    return "//" in text[text.rfind("\n", 0, offset) + 1:offset]


def _find_outside_comments(text: str, needle: str) -> int:
    offset = text.find(needle)
    while offset >= 0 and _in_comment(text, offset):
        offset = text.find(needle, offset + 1)
    return offset


def _resource_problem(text: str, start: int) -> tuple[int, str] | None:
    """(offset, problem) of the first damaged blob in the resource section at `start`, or None.
    Walks keys and strings with str.find, so a 500 MB blob costs one scan."""
    end = text.find("#-}", start)
    end = len(text) if end < 0 else end
    at = start + 3
    while at < end:
        quote, colon = text.find('"', at, end), text.find(":", at, end)
        if colon >= 0 and (quote < 0 or colon < quote):  # after a key: a dictionary or a string
            value = _VALUE_START.match(text, colon + 1)
            if value[1] not in ("{", '"'):
                return colon, "has no value (expected a hex string \"0x...\")"
            at = value.start(1)
        elif quote < 0:
            return None
        else:
            close = text.find('"', quote + 1)
            if close < 0 or text.find("\n", quote + 1, close) >= 0:
                return quote, "has no closing '\"' on its line"
            at = close + 1
    return None


def _diagnose(text: str, source: str) -> str | None:
    """A precise message for the known triggers of parser aborts in `text`, else None."""
    start = _find_outside_comments(text, "{-#")  # the first: a file may have more than one
    problem = _resource_problem(text, start) if start >= 0 else None
    if problem:
        offset, what = problem
        key = _KEY_BEFORE.search(text, max(start, offset - 200), offset)
        unclosed = "" if text.find("#-}", offset) >= 0 else " and the section no closing '#-}'"
        return (f"{source}:{_position(text, key.start() if key else offset)}: the dialect_resources section "
                f"is cut off or damaged (truncated file?): blob '{key[1] if key else '?'}' {what}{unclosed}")
    for match in _INDEX_LIST.finditer(text):
        if _in_comment(text, match.start()):
            continue
        if not _WELL_FORMED_LIST.match(text, match.end()):
            got = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in _LIST_TEXT.match(text, match.end())[0])
            return (f"{source}:{_position(text, match.end())}: expected a comma-separated list of integers "
                    f"in [...] after '{match.group(1)} = ', got {repr(got) if got else 'the end of the file'}")
    return None
