"""The torch-mlir calls of the front end, with torch-mlir's diagnostics turned into errors.

Only the importer child process imports this module (see `importer.py`). It mirrors
`torch_mlir.fx.export_and_import(..., output_type="linalg-on-tensors")` and
`torch_mlir.tools.import_onnx` of torch-mlir 20261001, minus their side effects (writing
`/tmp/<module>.mlir` repro files, printing diagnostics to the terminal).
"""

from __future__ import annotations

import re

from torch_mlir import ir
from torch_mlir.dialects import torch as torch_d
from torch_mlir.passmanager import PassManager

FX_TO_TORCH_BACKEND = (
    "builtin.module(func.func(torch-match-quantized-custom-ops),"
    " torchdynamo-export-to-torch-backend-pipeline{ extra-library=})"
)
ONNX_TO_TORCH_BACKEND = "builtin.module(torch-onnx-to-torch-backend-pipeline)"
TORCH_BACKEND_TO_LINALG = (
    "builtin.module(torch-backend-to-linalg-on-tensors-backend-pipeline{allow-non-finites=True})"
)


class LoweringFailed(Exception):
    """A torch-mlir pass pipeline failed; the message is its first error diagnostic.

    `diagnostics` holds (location, message) of every error: the ONNX importer puts each
    node's name in its ops' locations, so the caller can name the node that failed."""

    def __init__(self, message: str, diagnostics: list[tuple[str, str]] = ()):
        super().__init__(message)
        self.diagnostics = list(diagnostics)


def new_context() -> ir.Context:
    context = ir.Context()
    torch_d.register_dialect(context)
    return context


def run_pipeline(module: ir.Module, pipeline: str) -> None:
    """Run `pipeline` on `module`; raise LoweringFailed with the first error it reports."""
    errors: list[tuple[str, str]] = []

    def collect(diagnostic):
        if diagnostic.severity == ir.DiagnosticSeverity.ERROR:
            errors.append((str(diagnostic.location), diagnostic.message))
        return True  # handled: nothing reaches the terminal

    context = module.context
    handler = context.attach_diagnostic_handler(collect)
    try:
        with context:
            PassManager.parse(pipeline).run(module.operation)
    except Exception as exc:  # MLIRError: "Failure while executing pass pipeline"
        # PassManager.run captures the diagnostics into the MLIRError, not the handler.
        errors += [(str(d.location), d.message) for d in getattr(exc, "error_diagnostics", [])]
        # "... marked illegal: %3 = <the whole op>": the op's text is noise in a one-line error.
        first = errors[0][1].split(": %")[0] if errors else str(exc)
        raise LoweringFailed(first, errors) from None
    finally:
        handler.detach()


# Ops whose torch-mlir lowering loses NaN: `clamp(x, lo, hi)` becomes `select(x ult lo, lo, x)`,
# `maximum(a, b)` becomes `select(a ogt b, a, b)`, so a NaN input comes out as the bound (ReLU6,
# Hardtanh, Hardsigmoid, Clip), where PyTorch and ONNX keep NaN. The linalg IR cannot tell them
# from a user's `where(x > c, x, c)`, which must stay as it is; so the ops are marked by their
# location before the lowering, and the selects of the linalg ops lowered from them become
# `arith.maximumf` / `minimumf` (NaN in, NaN out) after it.
NAN_LOSING_OPS = ("torch.aten.clamp", "torch.aten.clamp.Tensor", "torch.aten.clamp_min", "torch.aten.clamp_max",
                  "torch.aten.maximum", "torch.aten.minimum")
KEEP_NAN_MARK = "patsparse.keep_nan"
# cmpf predicates (MLIR's arith.cmpf numbering) that order their operands: "is a greater than b".
_GREATER = {2, 3, 9, 10}  # ogt, oge, ugt, uge
_LESS = {4, 5, 11, 12}     # olt, ole, ult, ule


def _walk(module: ir.Module, names) -> list:
    found = []

    def visit(op):
        if op.name in names:
            found.append(op)
        return ir.WalkResult.ADVANCE

    module.operation.walk(visit)
    return found


def mark_nan_losing_ops(module: ir.Module) -> None:
    with module.context:
        for op in _walk(module, NAN_LOSING_OPS):
            op.location = ir.Location.name(KEEP_NAN_MARK, childLoc=op.location)


def keep_nan_in_marked_ops(module: ir.Module) -> int:
    """In the linalg ops lowered from marked ops, `select(cmpf(a, b), a|b, b|a)` -> maximumf/minimumf."""
    from torch_mlir.dialects import arith

    changed = 0
    with module.context:
        for generic in _walk(module, ("linalg.generic",)):
            if KEEP_NAN_MARK not in str(generic.location):
                continue
            for select in [op for op in generic.regions[0].blocks[0].operations if op.operation.name == "arith.select"]:
                select = select.operation
                compare = select.operands[0].owner
                if isinstance(compare, ir.Block) or compare.operation.name != "arith.cmpf":
                    continue
                compare = compare.operation
                predicate = ir.IntegerAttr(compare.attributes["predicate"]).value
                a, b = compare.operands
                picked = (select.operands[1], select.operands[2])
                if predicate not in _GREATER and predicate not in _LESS or picked not in ((a, b), (b, a)):
                    continue
                # select(a > b, a, b) = max(a, b); select(a > b, b, a) = min(a, b); "<" the other way.
                greater = predicate in _GREATER
                maximum = greater == (picked == (a, b))
                with ir.InsertionPoint(select), select.location:
                    value = (arith.MaximumFOp if maximum else arith.MinimumFOp)(a, b).result
                select.results[0].replace_all_uses_with(value)
                select.erase()
                if not list(compare.results[0].uses):
                    compare.erase()
                changed += 1
    return changed


def module_path(node) -> str | None:
    """The PyTorch module path of an FX node (`features.3.conv.0`), from torch.export's
    `nn_module_stack`; None for nodes outside every submodule."""
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return None
    path = list(stack.values())[-1][0]
    path = re.sub(r"^L\['self'\]\.?|^L__self__\.?", "", str(path))
    path = re.sub(r"\._modules\['([^']*)'\]|\['([^']*)'\]", lambda m: "." + (m[1] or m[2]), path)
    return path.strip(".") or None


def name_locations_by_module_path() -> None:
    """Make each op's location `loc("<module path>"(<innermost source line>))`, so the compiler's
    profile (passes/insert_profile_marks.py) names layers as the model does. torch-mlir's own
    location is the whole Python call stack of the node. (Its ContextCache has slots, so the
    method is replaced on the class: this process imports one model.)"""
    from torch_mlir.extras.fx_importer import ContextCache

    def named(cache, node):
        frames = re.findall(r"""File "([^"]+)", line ([0-9]+),""", node.stack_trace or "")
        context = cache._c
        location = (ir.Location.file(frames[-1][0], int(frames[-1][1]), col=0, context=context) if frames
                    else ir.Location.unknown(context=context))
        path = module_path(node)
        return ir.Location.name(path, childLoc=location, context=context) if path else location

    ContextCache.get_node_location = named


def import_exported_program(program, func_name: str) -> ir.Module:
    """torch.export program -> linalg-on-tensors module (weights as dense_resource)."""
    from torch_mlir.extras.fx_decomp_util import get_decomposition_table
    from torch_mlir.extras.fx_importer import FxImporter

    decompositions = get_decomposition_table()
    if decompositions:
        program = program.run_decompositions(decompositions)
    name_locations_by_module_path()
    importer = FxImporter(context=new_context())
    importer.import_frozen_program(program, func_name=func_name)
    module = importer.module
    run_pipeline(module, FX_TO_TORCH_BACKEND)
    lower_torch_to_linalg(module)
    return module


def import_onnx_to_torch(model_proto) -> ir.Module:
    """ONNX ModelProto (shapes inferred) -> torch backend module; ONNX ops converted."""
    from torch_mlir.extras import onnx_importer

    model_info = onnx_importer.ModelInfo(model_proto, config=onnx_importer.Config())
    module = model_info.create_module(context=new_context())
    node_importer = onnx_importer.NodeImporter.define_function(
        model_info.main_graph, module.operation
    )
    node_importer.import_all()
    module.operation.verify()
    run_pipeline(module, ONNX_TO_TORCH_BACKEND)
    return module


def unconverted_onnx_operators(module: ir.Module) -> list[tuple[str, str]]:
    """(location, "onnx.<op>") of each ONNX op left as a generic torch.operator."""
    found = []

    def visit(operation):
        if operation.name == "torch.operator":
            found.append((str(operation.location), ir.StringAttr(operation.attributes["name"]).value))
        return ir.WalkResult.ADVANCE

    module.operation.walk(visit)
    return found


def lower_torch_to_linalg(module: ir.Module) -> None:
    mark_nan_losing_ops(module)
    run_pipeline(module, TORCH_BACKEND_TO_LINALG)
    keep_nan_in_marked_ops(module)
    record_layer_names(module)


# Where a layer comes from, kept in the IR for the compiler's profile: the PyTorch module path
# or ONNX node name, from the op's location, as an attribute of the layer's op (the text IR
# carries no locations). The compiler turns it back into a location.
SOURCE_ATTRIBUTE = "patsparse.source"
LAYER_OP_PREFIXES = ("linalg.conv_", "linalg.depthwise_conv_", "linalg.pooling_", "linalg.matmul",
                     "linalg.batch_matmul")


def record_layer_names(module: ir.Module) -> None:
    with module.context:
        def visit(operation):
            if operation.name.startswith(LAYER_OP_PREFIXES):
                names = [name for name in re.findall(r'loc\("((?:[^"\\]|\\.)*)"(?!:\d)', str(operation.location))
                         if name != KEEP_NAN_MARK]
                if names:
                    operation.attributes[SOURCE_ATTRIBUTE] = ir.StringAttr.get(names[0])
            return ir.WalkResult.ADVANCE

        module.operation.walk(visit)


def rename_entry(module: ir.Module, func_name: str) -> None:
    """Give the module's one public function the stable name `func_name`."""
    with module.context:
        for operation in module.body.operations:
            if operation.operation.name != "func.func":
                continue
            attributes = operation.operation.attributes
            if "sym_visibility" in attributes:
                continue
            attributes["sym_name"] = ir.StringAttr.get(func_name)
            return


def module_summary_text(module: ir.Module) -> str:
    """The module's IR with large constants and resources elided, for inspection."""
    return module.operation.get_asm(large_elements_limit=16, large_resource_limit=16, assume_verified=True)


def write_module(module: ir.Module, path: str, *, elide_weights: bool) -> None:
    """Write text IR (torch-mlir's bytecode is refused by MLIR 22.1.8)."""
    limit = 16 if elide_weights else None
    with open(path, "w") as file:
        module.operation.print(file=file, large_elements_limit=limit, large_resource_limit=limit, assume_verified=True)
        file.write("\n")
