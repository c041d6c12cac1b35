"""patsparse.safe_parse: a parser abort becomes a one-line ParserAbort, everything else is
parsed as before (issue 17.3)."""

import os
from pathlib import Path

import pytest
from mlir import ir, passmanager

from patsparse.dialect import make_context
from patsparse.safe_parse import ParserAbort, _diagnose, _parse_in_child, guarded_parse

# The files in crashers/ that abort MLIR's parser (the others crashed later, in our code).
PARSER_CRASHERS = [Path(__file__).parent / "crashers" / name for name in (
    "truncated-resource.mlir", "missing-comma-permutation.mlir", "truncated-dimensions.mlir",
    "index-list-without-brackets.mlir", "resource-blob-without-closing-quote.mlir",
    "truncated-after-blob-name.mlir", "resource-blob-value-not-a-string.mlir", "index-list-malformed-array.mlir")]


@pytest.mark.parametrize("path", PARSER_CRASHERS, ids=lambda p: p.name)
def test_each_crasher_still_aborts_the_unguarded_parser(path):
    """Keeps the lit tests in crashers/ meaningful: without the guard each one kills the process.
    (If an MLIR upgrade fixes one, this says so: drop or keep it as a plain error test.)"""
    text = path.read_text()
    status, stderr = _parse_in_child(ir.Module.parse, text)
    assert os.WIFSIGNALED(status), f"{path.name} no longer aborts MLIR's parser"
    assert "Assertion" in stderr


def test_an_unknown_abort_is_reported_with_its_assertion_or_signal():
    with make_context():
        with pytest.raises(ParserAbort, match=r"^in\.mlir: malformed MLIR: the MLIR parser aborted on it "
                                              r"\(SIGABRT\); the file may be cut off or damaged$"):
            guarded_parse("module {}", "in.mlir", lambda text: os.abort())
        with pytest.raises(ParserAbort, match=r"\(exit code 3\)"):  # C code calling exit()
            guarded_parse("module {}", "in.mlir", lambda text: os._exit(3))


def test_errors_and_results_are_the_parents():
    with make_context():
        module = guarded_parse("module {}", "ok.mlir", ir.Module.parse)
        assert str(module).startswith("module")
        with pytest.raises(ir.MLIRError, match="expected operation name"):
            guarded_parse("module { 1 }", "bad.mlir", ir.Module.parse)


def test_the_child_parses_like_the_parent():
    """An unregistered op parses in the child only if the caller's context allows it."""
    seen = []

    def parse(text):
        seen.append(os.getpid())
        return ir.Module.parse(text)

    context = make_context()
    context.allow_unregistered_dialects = True
    with context:
        guarded_parse('"x.y"() : () -> ()', "u.mlir", parse)
    assert len(seen) == 1  # the child's append stayed in the child


def test_fork_after_the_thread_pool_has_threads():
    """A multithreaded pass run leaves MLIR pool threads in this process; the child, which
    has only the forking thread, must not wait on them."""
    text = "module {" + "".join(f"func.func @f{i}() {{ return }}" for i in range(64)) + "}"
    threads = len(os.listdir("/proc/self/task"))
    with make_context():
        module = ir.Module.parse(text)
        passmanager.PassManager.parse("builtin.module(func.func(canonicalize,cse))").run(module.operation)
        assert len(os.listdir("/proc/self/task")) > threads
        assert guarded_parse(text, "f.mlir", ir.Module.parse) is not None


def test_a_broken_blob_is_found_in_the_first_of_two_sections():
    text = ('module {}\n{-#\n dialect_resources: { builtin: { w: "0x0400\n} }\n#-}\n'
            '{-#\n dialect_resources: { builtin: { v: "0x04000000" } }\n#-}\n')
    assert status_of(text) and _diagnose(text, "two.mlir") == (
        "two.mlir:3:34: the dialect_resources section is cut off or damaged (truncated file?): "
        "blob 'w' has no closing '\"' on its line")


MODEL = """func.func @forward(%b: tensor<2xf32>) -> tensor<1x2xf32> {
  %w = arith.constant dense_resource<w> : tensor<1x2xf32>
  %e = tensor.empty() : tensor<1x2xf32>
  %0 = linalg.broadcast ins(%b : tensor<2xf32>) outs(%e : tensor<1x2xf32>) dimensions = [0]
  return %0 : tensor<1x2xf32>
}
{-#
  dialect_resources: {
    builtin: {
      w: "0x040000000000803F00000040",
      "b.f32": "0x04000000"
    }
  }
#-}
"""


def test_every_truncation_of_a_model_gets_a_precise_message():
    """A download cut at any byte: parsed, a parser error, or a ParserAbort that names the
    problem (never the generic message of an unknown abort)."""
    generic, precise = [], 0
    with make_context():
        for end in range(MODEL.index("dimensions"), len(MODEL)):
            text = MODEL[:end]
            try:
                guarded_parse(text, "cut.mlir", ir.Module.parse)
            except ParserAbort as abort:
                if "malformed MLIR" in str(abort):
                    generic.append((end, text[-30:], str(abort)))
                precise += 1
            except ir.MLIRError:
                pass
    assert not generic and precise > 40  # cuts in the list, the blobs and after their names


def status_of(text):
    return _parse_in_child(ir.Module.parse, text)[0]
