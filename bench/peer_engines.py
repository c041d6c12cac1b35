"""The engines bench/peers.py compares: how each is found, converts a model, and runs it.

Every engine has `missing()` (why it cannot run here, or None), `version()` (part of the cache
key), `convert(case, work)` (in the parent process: writes the engine's artefact under `work`,
a cache folder of its own; skipped when the folder is complete) and `load(case, work, threads,
model)` (in a worker process that runs one thread count: a callable from a float32 array to
the output array). Conversion failures raise EngineError with a short reason: the row says it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
VENV_BIN = Path(sys.executable).parent
LITERT_TORCH_PYTHON = BENCH / ".engines" / "litert-torch" / "bin" / "python"
SETUP_HINT = "bench/setup_peers.sh"
WINOGRAD_MEMORY_LEVEL = 3  # MNN::Interpreter::HintMode (not exported by the Python module)


class EngineError(Exception):
    """An engine cannot convert or run a model; the message is the table's short reason."""


def run_tool(command: list, what: str, timeout: float = 3600, env: dict | None = None) -> None:
    """Run a converter; its last meaningful line becomes the error."""
    try:
        done = subprocess.run([str(c) for c in command], check=False, capture_output=True, text=True, timeout=timeout,
                              env=env)
    except subprocess.TimeoutExpired:
        raise EngineError(f"{what}: over {timeout:.0f} s") from None
    if done.returncode != 0:
        lines = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        last = next((line for line in reversed(lines) if "error" in line.lower()), lines[-1] if lines else "")
        signal = f"signal {-done.returncode}" if done.returncode < 0 else f"exit {done.returncode}"
        raise EngineError(f"{what} failed ({signal}): {last[:160]}")


def package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def onnx_file(case, cache: Path) -> Path:
    """The case exported to ONNX (TorchScript exporter, opset 17), shared by ONNX Runtime, MNN and IREE."""
    import torch
    from peer_zoo import load_model

    path = cache / case.key / f"onnx-torch{torch.__version__}" / "model.onnx"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        model, x, _ = load_model(case, cache)
        temporary = path.with_name("partial.onnx")
        torch.onnx.export(model, (torch.from_numpy(x),), str(temporary), dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["output"])
        temporary.replace(path)
    return path


class Engine:
    name = ""
    package = ""          # pip distribution whose version keys the cache
    module = ""           # module that must import
    dense_only = False    # runs the same dense code whatever the weights (all peers)

    def missing(self) -> str | None:
        if self.module and importlib.util.find_spec(self.module) is None:
            return f"{self.package} not installed ({SETUP_HINT})"
        return None

    def version(self) -> str:
        return package_version(self.package) or "?"

    def applies(self, case) -> str | None:
        """Why this engine has no row for this case (None: it has)."""
        return None

    def convert(self, case, work: Path, cache: Path) -> None:
        pass

    def load(self, case, work: Path, threads: int, model, cache: Path):
        raise NotImplementedError


class PyTorchEager(Engine):
    name, package, module = "pytorch eager", "torch", "torch"

    def load(self, case, work, threads, model, cache):
        import torch

        def run(x):
            with torch.no_grad():
                return model(torch.from_numpy(x)).numpy()
        return run


class TorchCompile(Engine):
    name, package, module = "torch.compile", "torch", "torch"

    def load(self, case, work, threads, model, cache):
        import torch

        os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache / "inductor"))
        compiled = torch.compile(model)

        def run(x):
            with torch.no_grad():
                return compiled(torch.from_numpy(x)).numpy()
        return run


class OnnxRuntime(Engine):
    name, package, module = "onnxruntime", "onnxruntime", "onnxruntime"

    def convert(self, case, work, cache):
        onnx_file(case, cache)

    def load(self, case, work, threads, model, cache):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(str(onnx_file(case, cache)), options, providers=["CPUExecutionProvider"])
        return lambda x: session.run(None, {"input": x})[0]


class LiteRT(Engine):
    """litert-torch converts in its own venv (bench/.engines/litert-torch, made by
    bench/setup_peers.sh) from a torch.export .pt2; ai-edge-litert runs it with XNNPACK."""

    name, package, module = "litert xnnpack", "ai-edge-litert", "ai_edge_litert"

    def missing(self):
        if not LITERT_TORCH_PYTHON.exists():
            return f"converter venv bench/.engines/litert-torch missing ({SETUP_HINT})"
        return super().missing()

    def version(self):
        converter = subprocess.run([str(LITERT_TORCH_PYTHON), "-c", ("import importlib.metadata as m; "
                                    "print(m.version('litert-torch'))")], check=False, capture_output=True, text=True)
        return f"{super().version()}-litert-torch{converter.stdout.strip() or '?'}"

    def convert(self, case, work, cache):
        import torch
        from peer_zoo import load_model

        if (work / "model.tflite").exists():
            return
        model, x, _ = load_model(case, cache)
        program = work / "model.pt2"
        torch.export.save(torch.export.export(model, (torch.from_numpy(x),)), str(program))
        np.save(work / "input.npy", x)
        run_tool([LITERT_TORCH_PYTHON, BENCH / "litert_convert.py", program, work / "input.npy", work / "model.tflite"],
                 "litert-torch convert")
        program.unlink()

    def load(self, case, work, threads, model, cache):
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(work / "model.tflite"), num_threads=threads)
        interpreter.allocate_tensors()
        source = interpreter.get_input_details()[0]["index"]
        sink = interpreter.get_output_details()[0]["index"]

        def run(x):
            interpreter.set_tensor(source, x)
            interpreter.invoke()
            return interpreter.get_tensor(sink)
        return run


class ExecuTorch(Engine):
    name, package, module = "executorch xnnpack", "executorch", "executorch"

    def convert(self, case, work, cache):
        path = work / "model.pte"
        if path.exists():  # before the imports, which take seconds
            return
        import torch
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
        from executorch.exir import to_edge_transform_and_lower
        from peer_zoo import load_model

        model, x, _ = load_model(case, cache)
        try:
            program = to_edge_transform_and_lower(torch.export.export(model, (torch.from_numpy(x),)),
                                                  partitioner=[XnnpackPartitioner()]).to_executorch()
        except Exception as error:  # noqa: BLE001 - any exporter failure is the row's reason
            raise EngineError(f"export: {str(error).splitlines()[0][:160]}") from None
        path.with_suffix(".tmp").write_bytes(program.buffer)
        path.with_suffix(".tmp").replace(path)

    def load(self, case, work, threads, model, cache):
        import torch
        from executorch.extension.pybindings import portable_lib
        from executorch.runtime import Runtime

        portable_lib._unsafe_reset_threadpool(threads)
        method = Runtime.get().load_program(str(work / "model.pte")).load_method("forward")
        return lambda x: method.execute([torch.from_numpy(x)])[0].numpy()


class Ncnn(Engine):
    """pnnx converts a traced TorchScript module (fp16=0: pnnx stores fp16 weights by default)."""

    name, package, module = "ncnn", "ncnn", "ncnn"

    def missing(self):
        if not (VENV_BIN / "pnnx").exists():
            return f"pnnx not installed ({SETUP_HINT})"
        return super().missing()

    def version(self):
        return f"{super().version()}-pnnx{package_version('pnnx')}"

    def convert(self, case, work, cache):
        import torch
        from peer_zoo import load_model

        if (work / "model.ncnn.bin").exists():
            return
        model, x, _ = load_model(case, cache)
        traced = work / "model.pt"
        with torch.no_grad():
            torch.jit.trace(model, torch.from_numpy(x)).save(str(traced))
        shape = ",".join(map(str, x.shape))
        run_tool([VENV_BIN / "pnnx", traced, f"inputshape=[{shape}]", "fp16=0"], "pnnx")
        for leftover in ("model.pt", "model.pnnx.bin", "model.pnnx.param", "model.pnnx.onnx", "model_pnnx.py"):
            (work / leftover).unlink(missing_ok=True)

    def load(self, case, work, threads, model, cache):
        import ncnn

        net = ncnn.Net()
        net.opt.num_threads = threads
        for option in ("use_fp16_packed", "use_fp16_storage", "use_fp16_arithmetic", "use_bf16_storage",
                       "use_bf16_packed"):  # fp32 throughout, like every other engine here
            setattr(net.opt, option, False)
        net.load_param(str(work / "model.ncnn.param"))
        net.load_model(str(work / "model.ncnn.bin"))
        keep = net  # the extractor refers to it

        def run(x):
            extractor = keep.create_extractor()
            extractor.input("in0", ncnn.Mat(x[0]))
            _, out = extractor.extract("out0")
            return np.array(out)[None]
        return run


class Mnn(Engine):
    """mnnconvert from ONNX. The `mnnconvert` script imports MNN.tools.utils.log, which runs
    `pip install aliyun-log-python-sdk` and sends telemetry; calling the converter's extension
    (`_tools.mnnconvert`) directly does neither."""

    name, package, module = "mnn", "MNN", "MNN"

    def convert(self, case, work, cache):
        path = work / "model.mnn"
        if path.exists():
            return
        partial = path.with_suffix(".tmp")
        partial.unlink(missing_ok=True)
        try:  # its exit status is not its verdict: "Converted Success!" comes with exit 1
            run_tool([sys.executable, "-c", "import sys, _tools; _tools.mnnconvert(sys.argv)", "-f", "ONNX",
                      "--modelFile", onnx_file(case, cache), "--MNNModel", partial, "--bizCode", "patsparse"],
                     "mnnconvert")
        except EngineError:
            if not partial.exists():
                raise
        partial.replace(path)

    def load(self, case, work, threads, model, cache):
        import MNN

        interpreter = MNN.Interpreter(str(work / "model.mnn"))
        # Hint 3, WINOGRAD_MEMORY_LEVEL, 0: small Winograd tiles only. MNN's default large tiles were
        # off by 3.6e-3 of the output scale on ResNet-50 and VGG-16 at 224x224 (3e-5 with this).
        interpreter.setSessionHint(WINOGRAD_MEMORY_LEVEL, 0)
        session = interpreter.createSession({"numThread": threads, "precision": "high"})
        source = interpreter.getSessionInput(session)
        sink = interpreter.getSessionOutput(session)
        shape = tuple(sink.getShape())

        def run(x):
            source.copyFrom(MNN.Tensor(x.shape, MNN.Halide_Type_Float, x, MNN.Tensor_DimensionType_Caffe))
            interpreter.runSession(session)
            host = MNN.Tensor(shape, MNN.Halide_Type_Float, np.zeros(shape, np.float32), MNN.Tensor_DimensionType_Caffe)
            sink.copyToHostTensor(host)
            return np.array(host.getData(), np.float32).reshape(shape)
        return run


class Iree(Engine):
    """iree-import-onnx, then iree-compile for llvm-cpu with the host's CPU features."""

    name, package, module = "iree llvm-cpu", "iree-base-compiler", "iree.runtime"

    def missing(self):
        if not (VENV_BIN / "iree-compile").exists():
            return f"iree-base-compiler not installed ({SETUP_HINT})"
        return super().missing()

    def convert(self, case, work, cache):
        path = work / "model.vmfb"
        if path.exists():
            return
        imported = work / "model.mlir"
        run_tool([VENV_BIN / "iree-import-onnx", onnx_file(case, cache), "-o", imported], "iree-import-onnx")
        run_tool([VENV_BIN / "iree-compile", imported, "--iree-hal-target-device=local",
                  "--iree-hal-local-target-device-backends=llvm-cpu", "--iree-llvmcpu-target-cpu=host",
                  "-o", path.with_suffix(".tmp")], "iree-compile")
        path.with_suffix(".tmp").replace(path)
        imported.unlink()

    def load(self, case, work, threads, model, cache):
        import iree.runtime as ireert

        ireert.flags.parse_flags(f"--task_topology_max_group_count={threads}")
        module = ireert.load_vm_flatbuffer_file(str(work / "model.vmfb"), driver="local-task")
        function = module.main_graph
        return lambda x: np.asarray(function(x))


TUNING_BUDGET_S = 120   # patsparse-tune --budget per model variant (bench/peers.py "patsparse tuned")
TUNING_CANDIDATES = 16  # patsparse-tune --candidates per layer


class PatSparse(Engine):
    """PatSparse's three builds. Cache key: the commit (plus 'dirty' for uncommitted compiler changes)."""

    package, module = "patsparse", "patsparse"
    build = ""

    def __init__(self, build: str):
        self.build = build
        self.name = f"patsparse {build}"

    def version(self):
        """A hash of the compiler's sources as committed (a commit that touches only bench/ or docs/
        keeps the cache), plus "dirty" while they have uncommitted changes."""
        sources = ["dialect", "passes", "lowering", "python/patsparse"]
        trees = subprocess.run(["git", "-C", str(REPO), "rev-parse", *(f"HEAD:{s}" for s in sources)], check=False,
                               capture_output=True, text=True).stdout.split()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", *sources], check=False,
                               capture_output=True, text=True).stdout.strip()
        digest = hashlib.sha1(" ".join(trees).encode()).hexdigest()[:10] if trees else "nogit"
        return digest + ("-dirty" if dirty else "")

    def applies(self, case):
        if self.build != "dense" and not case.pruned:
            return "dense weights: no pattern layers (see patsparse dense)"
        return None

    def convert(self, case, work, cache):
        from peer_zoo import checkpoint

        from patsparse.cliutil import ToolError
        from patsparse.compiler import compile_model
        from patsparse.frontend import import_model
        from patsparse.pipeline import CompileOptions
        from patsparse.tune import tune_model

        library = work / "model.so"
        if library.exists():
            return
        mlir = cache / case.key / f"patsparse-import-{self.version()}.mlir"
        try:
            if not mlir.exists():
                import_model(checkpoint(case, cache), mlir.with_suffix(".tmp"))
                mlir.with_suffix(".tmp").replace(mlir)
            if self.build == "tuned":
                options = CompileOptions.optimised(tuning_db=str(work / "tuning.json"))
                # A budget per model: the full grid takes over an hour per 224x224 model on two
                # shared cores (VGG-16: 2 of 13 layers in 16 min); the busiest layers go first.
                tune_model(str(mlir), options.tuning_db, options, runs=3, log=lambda line: None,
                           budget=TUNING_BUDGET_S, candidates=TUNING_CANDIDATES)
            elif self.build == "dense":
                options = CompileOptions(detect_patterns=False)
            else:
                options = CompileOptions()
            compile_model(mlir, work / "partial.so", options)
        except ToolError as error:
            raise EngineError(str(error).splitlines()[0][:160]) from None
        (work / "partial.so").replace(library)
        metadata = work / "partial.json"
        if metadata.exists():
            metadata.replace(work / "model.json")

    def load(self, case, work, threads, model, cache):
        from patsparse import runtime

        compiled = runtime.load(work / "model.so")
        compiled.set_threads(threads)
        return compiled


ENGINES = [PatSparse("tuned"), PatSparse("sparse"), PatSparse("dense"), PyTorchEager(), TorchCompile(),
           OnnxRuntime(), LiteRT(), ExecuTorch(), Ncnn(), Mnn(), Iree()]
BY_NAME = {engine.name: engine for engine in ENGINES}
PATSPARSE = [engine.name for engine in ENGINES if isinstance(engine, PatSparse)]
PEERS = [engine.name for engine in ENGINES if not isinstance(engine, PatSparse)]
