"""docs/pruning.md's worked example, run as written: a user's model class, pruned on an image
folder from Python and from the command line, verified, imported, compiled, run and compared
with PyTorch. The code blocks are read from the document (each follows an
``<!-- example: KIND -->`` line), so the document cannot drift from what is tested."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_user_models import make_image_folder

DOC = Path(__file__).parents[2] / "docs" / "pruning.md"
BLOCK = re.compile(r"<!-- example: (?P<kind>\S+) -->\n```\w*\n(?P<code>.*?)\n```", re.DOTALL)


def example_blocks() -> list[tuple[str, str]]:
    return [(m["kind"], m["code"]) for m in BLOCK.finditer(DOC.read_text())]


def test_the_document_has_the_example_blocks():
    kinds = [kind for kind, _ in example_blocks()]
    assert kinds == ["my_net.py", "python", "sh", "python"]
    python_lines = [line for line in example_blocks()[1][1].splitlines() if line.strip()]
    assert len(python_lines) <= 30  # "about 20 lines" of pruning, imports included


@pytest.mark.slow
@pytest.mark.training
def test_worked_example_runs_as_written(tmp_path):
    make_image_folder(tmp_path / "imgs", per_class=12, size=(32, 32))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               OMP_NUM_THREADS="1", PYTHONPATH=str(tmp_path))
    for index, (kind, code) in enumerate(example_blocks()):
        if kind.endswith(".py"):
            (tmp_path / kind).write_text(code + "\n")
            continue
        command = [sys.executable, "-c", code] if kind == "python" else ["sh", "-e", "-c", code]
        done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
                              check=False)
        assert done.returncode == 0, f"block {index} ({kind}):\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    assert (tmp_path / "my_net_pruned.pt").is_file() and (tmp_path / "my_net_sparse.so").is_file()
    assert "compiled output equals PyTorch's" in done.stdout
