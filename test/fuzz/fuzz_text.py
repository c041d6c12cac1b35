"""Coverage-guided fuzzing of the text front door (issue 17) with atheris.

    .venv/bin/python test/fuzz/fuzz_text.py [--work DIR] [libFuzzer flags, e.g. -max_total_time=600]

Each input goes where `patsparse-opt --split-input-file --patsparse-verify FILE` sends a
file, in this process and through the project's own functions: every chunk is parsed (through
the shared guard, patsparse.safe_parse), checked by the FKW verifier (dialect/verifier.py), run
through the patsparse-verify pass and printed (patsparse.opt.process_chunk). Clean outcomes:
diagnostics, or a ToolError (the one line the user sees). A crash is anything else: another
Python exception (atheris stops with its traceback and saves the input as DIR/crash-*) or a
signal (libFuzzer's "deadly signal" report, same file). Inputs that would have aborted the
parser, now caught by the guard (ParserAbort), are saved in DIR/aborts for review: each kind
becomes a lit test in test/tools/crashers.

Coverage is that of the patsparse Python modules (MLIR's C++ is not instrumented). The corpus
(DIR/corpus) is seeded with every `// -----` chunk of the test/**/*.mlir files (seeds/ here
adds the constructs of the known aborts, well formed); mlir.dict lists tokens to splice in.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["patsparse"]):
    from patsparse import opt
    from patsparse.cliutil import ToolError
    from patsparse.dialect import ops
    from patsparse.safe_parse import ParserAbort

TEST_ROOT = Path(__file__).resolve().parent.parent
SOURCE = "fuzz.mlir"
ARGS = opt.make_parser().parse_known_args(["-"])[0]  # patsparse-opt's defaults
PIPELINE = opt.Pipeline(opt.parse_pass_flags(["--patsparse-verify"]))
aborts_dir: Path | None = None


def one_input(data: bytes) -> None:
    # load_dialect keeps every IRDL module, and so its context (2 MB), for the life of the
    # process; the contexts of this input are done with afterwards: release them (flat memory).
    loaded = len(ops._loaded_dialect_modules)
    try:
        _one_input(data)
    finally:
        del ops._loaded_dialect_modules[loaded:]


def _one_input(data: bytes) -> None:
    try:
        # As read_input's Path.read_text: UTF-8, universal newlines (anything else is refused cleanly).
        text = data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError:
        return
    for chunk in opt.split_chunks(text, split=True):
        try:
            _, collector = opt.process_chunk(chunk, SOURCE, PIPELINE, ARGS)
        except ParserAbort as abort:
            if aborts_dir is not None:
                name = hashlib.sha1(data).hexdigest()[:16]
                (aborts_dir / f"abort-{name}.mlir").write_bytes(data)
                (aborts_dir / f"abort-{name}.txt").write_text(f"{abort}\n")
            return
        except ToolError:
            return
        collector.detach()


def seed(corpus: Path) -> int:
    """Write each chunk of the test .mlir files into `corpus` (named by content); their count."""
    corpus.mkdir(parents=True, exist_ok=True)
    count = 0
    for path in sorted(TEST_ROOT.rglob("*.mlir")):
        if "Output" in path.parts:
            continue
        for chunk in opt.split_chunks(path.read_text(), split=True):
            data = chunk.text.encode()
            (corpus / hashlib.sha1(data).hexdigest()).write_bytes(data)
            count += 1
    return count


def main() -> None:
    global aborts_dir
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], add_help=False)
    parser.add_argument("--work", type=Path, default=Path("/tmp/patsparse-text-fuzz"),
                        help="corpus/, aborts/ and crash files go here")
    ours, fuzzer_flags = parser.parse_known_args()
    if any(flag in ("-h", "--help") for flag in fuzzer_flags):  # libFuzzer would start fuzzing
        parser.print_help()
        print("\nother flags go to libFuzzer (single dash), e.g. -max_total_time=600 -runs=1000")
        raise SystemExit(0)
    unknown = [flag for flag in fuzzer_flags if flag.startswith("--")]
    if unknown:
        parser.error(f"unknown option {unknown[0]!r}: libFuzzer flags take one dash, e.g. -max_total_time=600")
    corpus, aborts_dir = ours.work / "corpus", ours.work / "aborts"
    aborts_dir.mkdir(parents=True, exist_ok=True)
    print(f"fuzz_text: {seed(corpus)} seed chunks from {TEST_ROOT}/**/*.mlir into {corpus}", file=sys.stderr)
    defaults = {"-artifact_prefix": f"{ours.work}/", "-dict": str(Path(__file__).with_name("mlir.dict")),
                "-timeout": "30"}  # seconds for one input: a slower one is a hang, reported as a crash
    fuzzer_flags += [f"{flag}={value}" for flag, value in defaults.items()
                     if not any(given.startswith(flag + "=") for given in fuzzer_flags)]
    atheris.Setup([sys.argv[0], *fuzzer_flags, str(corpus)], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
