# lit configuration for PatSparse: FileCheck tests of the dialect, passes, lowering and
# the Python front end. pytest files (test_*.py) live beside them and are not lit tests.

import os
import sys

import lit.formats

from patsparse.lowering import toolchain

config.name = "PatSparse"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir", ".py"]
config.test_source_root = os.path.dirname(__file__)
# Inputs/ and data/ hold files that tests read; pytest modules and helpers.py (shared by them) are not lit tests.
config.excludes = ["lit.cfg.py", "helpers.py", "Inputs", "__pycache__", "Output", "data", "fuzz", "user_models.py"]  # fuzz/: the differential fuzzer (pytest)
for _directory, _, _files in os.walk(config.test_source_root):
    config.excludes += [f for f in _files if f.startswith(("test_", "conftest", "_")) and f.endswith(".py")]
config.test_exec_root = os.path.join(config.test_source_root, "Output")

repo = os.path.dirname(config.test_source_root)
venv_bin = os.path.dirname(sys.executable)
irdl_file = os.path.join(repo, "dialect", "patsparse.irdl.mlir")
llvm_bin = os.path.dirname(str(toolchain.find("FileCheck")))

config.environment["PATH"] = os.pathsep.join([venv_bin, llvm_bin, config.environment.get("PATH", os.environ["PATH"])])
config.environment["PYTHONPATH"] = os.environ.get("PYTHONPATH", "")
for variable in ("HOME", "TMPDIR", "PATSPARSE_DEBUG"):
    if variable in os.environ:
        config.environment[variable] = os.environ[variable]

config.substitutions.append(("%python", sys.executable))
config.substitutions.append(("%patsparse-opt", os.path.join(venv_bin, "patsparse-opt")))
config.substitutions.append(("%patsparse-compile", os.path.join(venv_bin, "patsparse-compile")))
config.substitutions.append(("%patsparse-tune", os.path.join(venv_bin, "patsparse-tune")))
config.substitutions.append(("%mlir-opt", f"{toolchain.find('mlir-opt')} --irdl-file={irdl_file}"))
config.substitutions.append(("%mlir-translate", str(toolchain.find("mlir-translate"))))
config.substitutions.append(("%llc", str(toolchain.find("llc"))))
config.substitutions.append(("%repo", repo))
