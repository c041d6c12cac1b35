"""The importer child process: `python -m patsparse.frontend.importer`.

It reads one JSON request on stdin, imports the model with torch-mlir, writes text MLIR to
the temporary path named in the request, and prints one JSON summary line on stdout. On a
user's mistake it prints `patsparse-import: error: <file>: <what was expected>` on stderr
and exits 1. The parent (`patsparse.frontend.api.run_import`) owns the temporary file: it
renames it into place on success and removes it otherwise.

Rationale: torch-mlir runs in a process of its own. With `torch_mlir` imported, the `mlir`
package's ExecutionEngine has crashed, and torch-mlir itself can crash outright on some
ONNX operators (SIGSEGV on `onnx.Unique`); a child process turns both into a clean error.

Request fields: source, kind ("checkpoint" | "onnx" | "factory"), input_shapes (a list of
shapes, one per input, or null), batch (int or null), fold_bn (bool), elide_weights (bool), output_tmp (path),
func_name (str), cwd (str, put first on sys.path for factories), traceback (bool).
"""

from __future__ import annotations

import importlib
import json
import re
import sys
import traceback
import warnings
from pathlib import Path

from . import ir_summary
from .errors import FrontendError
from .shapes import format_shape

PROG = "patsparse-import"


def stage(what: str) -> None:
    """Tell the parent what runs now, so a crash (no Python error) can be reported as such."""
    print(f"{PROG}: stage: {what}", file=sys.stderr, flush=True)


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0].strip()}" if lines else type(exc).__name__


# --- getting an nn.Module -------------------------------------------------------------


def _load_checkpoint(source: str):
    try:
        from patsparse.pruning.checkpoint import CheckpointError, load_pruned
    except ImportError as exc:
        raise FrontendError(
            source, f"cannot load pruned checkpoints: patsparse.pruning.checkpoint is unavailable ({_first_line(exc)})"
        ) from None
    try:
        model, info = load_pruned(source)
    except CheckpointError as exc:
        message = str(exc)
        for prefix in (f"{source}: ", f"{Path(source)}: ", f"{Path(source).resolve()}: "):
            message = message.removeprefix(prefix)
        raise FrontendError(source, message) from None
    info = dict(info or {})
    if "input_shape" not in info:
        try:
            from patsparse.pruning import models

            info["input_shape"] = tuple(models.input_shape(info["model"]))
        except (ImportError, KeyError, ValueError):
            pass  # then --input-shape is required
    return model, info


def _load_factory(source: str, cwd: str):
    import torch

    module_name, _, factory_name = source.partition(":")
    if cwd and cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise FrontendError(
            source, f"cannot import module {module_name!r} ({_first_line(exc)}); expected a module importable from the current directory or sys.path"
        ) from None
    factory = module
    for attribute in factory_name.split("."):
        factory = getattr(factory, attribute, None)
        if factory is None:
            raise FrontendError(source, f"module {module_name!r} has no attribute {factory_name!r}; expected a factory function or nn.Module class")
    if not callable(factory):
        raise FrontendError(source, f"{factory_name!r} is not callable; expected a function or class that takes no arguments")
    try:
        model = factory()
    except Exception as exc:
        raise FrontendError(source, f"calling {factory_name}() failed ({_first_line(exc)}); expected a factory that takes no arguments and returns an nn.Module") from None
    if not isinstance(model, torch.nn.Module):
        raise FrontendError(source, f"{factory_name}() returned {type(model).__name__}; expected an nn.Module")
    return model, {}


def _kernel_stats(model) -> dict:
    """How many 3x3 kernels survive pruning and how many keep exactly 4 weights."""
    import torch

    total = kept = four = 0
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d) and tuple(module.kernel_size) == (3, 3):
            nonzeros = (module.weight.detach() != 0).sum(dim=(2, 3)).flatten()
            total += nonzeros.numel()
            kept += int((nonzeros > 0).sum())
            four += int((nonzeros == 4).sum())
    return {"kernels_3x3": total, "kernels_3x3_kept": kept, "kernels_3x3_four_weights": four}


def _import_torch_model(request: dict) -> tuple:
    import torch

    source, kind = request["source"], request["kind"]
    stage("loading the model")
    model, info = _load_checkpoint(source) if kind == "checkpoint" else _load_factory(source, request.get("cwd", ""))
    shapes = request.get("input_shapes")
    if shapes is None and info.get("input_shape") is not None:
        recorded = info["input_shape"]  # one shape, or (newer checkpoints) one per input
        shapes = recorded if recorded and isinstance(recorded[0], (list, tuple)) else [recorded]
    if shapes is None:
        what = "the checkpoint records no input shape" if kind == "checkpoint" else "a module factory has no input shape"
        raise FrontendError(source, f"{what}; expected --input-shape N,C,H,W")
    shapes = [tuple(int(dim) for dim in shape) for shape in shapes]
    if request.get("batch") is not None:
        shapes = [(request["batch"], *shape[1:]) for shape in shapes]
    shown = "; ".join(format_shape(shape) for shape in shapes)

    model.eval()
    torch.manual_seed(0)
    example = tuple(torch.randn(*shape) for shape in shapes)
    try:
        with torch.no_grad():
            result = model(*example)
    except Exception as exc:
        several = ("; a model of several inputs takes one shape per input, separated by ';'"
                   if len(shapes) == 1 and "positional argument" in str(exc) else "")
        raise FrontendError(source, f"the model rejects {'an input' if len(shapes) == 1 else 'inputs'} of shape "
                                    f"{shown} ({_first_line(exc)}); expected --input-shape that the model "
                                    f"accepts{several}") from None
    outputs = result if isinstance(result, (tuple, list)) else (result,)
    if not outputs or not all(isinstance(output, torch.Tensor) for output in outputs):
        kinds = ", ".join(type(output).__name__ for output in outputs) or "nothing"
        raise FrontendError(source, f"the model returns {kinds}; expected a tensor, or a tuple or list of tensors")

    folded, left = [], []
    if request.get("fold_bn", True):
        from .fold_bn import fold_batchnorm

        stage("folding BatchNorm")

        try:
            report = fold_batchnorm(model, example)
        except Exception as exc:  # torch.export refusing the model, or a folding mismatch
            raise FrontendError(source, f"cannot fold BatchNorm ({_first_line(exc)}); expected a model torch.export can capture (or pass --no-fold-bn)") from None
        folded, left = report.folded, report.left

    from torch_mlir.ir import MLIRError

    from .torch_mlir_steps import LoweringFailed, import_exported_program

    stage("torch.export")
    try:
        program = torch.export.export(model, example, strict=False)
    except Exception as exc:
        raise FrontendError(source, f"torch.export cannot capture the model ({_first_line(exc)}); expected a model without data-dependent Python control flow") from None
    stage("torch-mlir FX import and lowering to linalg")
    try:
        module = import_exported_program(program, request.get("func_name", "forward"))
    except (LoweringFailed, MLIRError) as exc:
        raise FrontendError(source, f"torch-mlir cannot lower the model to linalg ({_first_line(exc)})") from None

    facts = {
        "input_shapes": [list(shape) for shape in shapes],
        "bn_folded": len(folded),
        "bn_left": len(left),
        "parameters": sum(parameter.numel() for parameter in model.parameters()),
        **_kernel_stats(model),
    }
    return module, facts


# --- ONNX ---------------------------------------------------------------------------------


def _name_nodes(model) -> dict:
    """Give unnamed nodes a name ("#<index>"): torch-mlir makes a node's name its ops' MLIR
    location, so a failing op points back at its node."""
    for index, node in enumerate(model.graph.node):
        if not node.name:
            node.name = f"#{index}"
    return {node.name: node for node in model.graph.node}


def _failed_nodes(nodes: dict, located: list[tuple[str, str]]) -> list[tuple[str, str | None]]:
    """(ONNX op type, node name or None) for each (MLIR location, message or "onnx.<op>")."""
    found = []
    for location, text in located:
        name = re.match(r'loc\("((?:[^"\\]|\\.)*)"', location)
        node = nodes.get(name[1]) if name else None
        op = re.search(r'onnx\.([\w.]+)', text)
        if node is not None or op:
            found.append((node.op_type if node is not None else op[1], node.name if node is not None else None))
    return list(dict.fromkeys(found))


def _describe_nodes(found: list[tuple[str, str | None]]) -> str:
    """"operator 'Foo' (node 'bar')", "operators 'Foo' (nodes 'a', #3), 'Baz'"."""
    parts = []
    for op_type in dict.fromkeys(op for op, _ in found):
        names = [name if name.startswith("#") else repr(name) for op, name in found if op == op_type and name]
        shown = f" (node{'s' if len(names) > 1 else ''} {', '.join(names[:3])}{', ...' if len(names) > 3 else ''})"
        parts.append(f"'{op_type}'{shown if names else ''}")
    return f"operator{'s' if len(parts) > 1 else ''} {', '.join(parts)}"


def _import_onnx(request: dict) -> tuple:
    from . import onnx_model

    source = request["source"]
    stage("reading the ONNX file")
    model = onnx_model.load_onnx(source)
    shapes = request.get("input_shapes")
    if shapes and len(shapes) > 1:
        raise FrontendError(source, f"{len(shapes)} input shapes given; ONNX models are imported with one input")
    shape = onnx_model.fix_input_shape(source, model, tuple(shapes[0]) if shapes else None, request.get("batch"))
    model = onnx_model.infer_shapes(source, model)
    nodes = _name_nodes(model)

    from torch_mlir.ir import MLIRError

    from .torch_mlir_steps import (
        LoweringFailed,
        import_onnx_to_torch,
        lower_torch_to_linalg,
        rename_entry,
        unconverted_onnx_operators,
    )

    def unsupported(found):
        return FrontendError(source, f"unsupported ONNX {_describe_nodes(found)}: torch-mlir cannot convert "
                                     f"{'them' if len({op for op, _ in found}) > 1 else 'it'}; "
                                     "expected ONNX operators torch-mlir supports")

    # The operator types, so that a crash (reported by the parent from the last stage) names them.
    stage(f"torch-mlir ONNX import and conversion to torch of {', '.join(onnx_model.operator_types(model))}")
    try:
        module = import_onnx_to_torch(model)
    except LoweringFailed as exc:
        found = _failed_nodes(nodes, exc.diagnostics)
        if found:
            raise unsupported(found) from None
        raise FrontendError(source, f"torch-mlir cannot convert the ONNX model ({_first_line(exc)})") from None
    except MLIRError as exc:
        raise FrontendError(source, f"torch-mlir cannot convert the ONNX model ({_first_line(exc)})") from None
    except Exception as exc:  # onnx_importer.OnnxImportError and friends
        raise FrontendError(source, f"torch-mlir cannot import the ONNX model ({_first_line(exc)})") from None
    unconverted = _failed_nodes(nodes, unconverted_onnx_operators(module))
    if unconverted:  # ops of unknown domains pass the conversion as generic torch.operator
        raise unsupported(unconverted)
    stage("torch-mlir lowering to linalg")
    try:
        lower_torch_to_linalg(module)
    except (LoweringFailed, MLIRError) as exc:
        found = _failed_nodes(nodes, getattr(exc, "diagnostics", []))
        what = f"ONNX {_describe_nodes(found)}" if found else "the model"
        raise FrontendError(source, f"torch-mlir cannot lower {what} to linalg ({_first_line(exc)})") from None
    rename_entry(module, request.get("func_name", "forward"))
    batchnorms = sum(1 for node in model.graph.node if node.op_type == "BatchNormalization")
    facts = {"input_shapes": [list(shape)], "bn_folded": 0, "bn_left": batchnorms, "parameters": onnx_model.parameter_count(model)}
    return module, facts


# --- the request ------------------------------------------------------------------------


def run_request(request: dict) -> dict:
    """Import as `request` says, write `output_tmp`, return the summary (see module doc)."""
    if request["kind"] == "onnx":
        module, facts = _import_onnx(request)
    else:
        module, facts = _import_torch_model(request)

    from .torch_mlir_steps import module_summary_text, write_module

    text = module_summary_text(module)
    dynamic = ir_summary.first_dynamic_line(text)
    if dynamic is not None:
        raise FrontendError(
            request["source"],
            f"shapes stay dynamic with input {'; '.join(map(format_shape, facts['input_shapes']))} "
            f"(first: {dynamic[:160]}); "
            "expected a model whose shapes all follow from its input shape",
        )
    stage("writing the IR")
    convs, convs_3x3 = ir_summary.count_convolutions(text)
    write_module(module, request["output_tmp"], elide_weights=request.get("elide_weights", False))
    return {
        "kind": request["kind"],
        "entry": ir_summary.entry_signature(text),
        "convolutions": convs,
        "convolutions_3x3": convs_3x3,
        **facts,
    }


def main() -> int:
    warnings.filterwarnings("ignore")
    request = json.loads(sys.stdin.read())
    try:
        summary = run_request(request)
    except FrontendError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        if request.get("traceback"):
            traceback.print_exc()
        print(
            f"{PROG}: error: {request['source']}: import failed ({_first_line(exc)}); "
            "expected a model torch-mlir can import (rerun with --traceback for details)",
            file=sys.stderr,
        )
        return 1
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
