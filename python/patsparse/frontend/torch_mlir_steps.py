"""The torch-mlir calls of the front end, with torch-mlir's diagnostics turned into errors.

Only the importer child process imports this module (see `importer.py`). It mirrors
`torch_mlir.fx.export_and_import(..., output_type="linalg-on-tensors")` and
`torch_mlir.tools.import_onnx` of torch-mlir 20261001, minus their side effects (writing
`/tmp/<module>.mlir` repro files, printing diagnostics to the terminal).
"""

from __future__ import annotations

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
    """A torch-mlir pass pipeline failed; the message is its first error diagnostic."""


def new_context() -> ir.Context:
    context = ir.Context()
    torch_d.register_dialect(context)
    return context


def run_pipeline(module: ir.Module, pipeline: str) -> None:
    """Run `pipeline` on `module`; raise LoweringFailed with the first error it reports."""
    errors: list[str] = []

    def collect(diagnostic):
        if diagnostic.severity == ir.DiagnosticSeverity.ERROR:
            errors.append(diagnostic.message)
        return True  # handled: nothing reaches the terminal

    context = module.context
    handler = context.attach_diagnostic_handler(collect)
    try:
        with context:
            PassManager.parse(pipeline).run(module.operation)
    except Exception as exc:  # MLIRError: "Failure while executing pass pipeline"
        raise LoweringFailed(errors[0] if errors else str(exc)) from None
    finally:
        handler.detach()


def import_exported_program(program, func_name: str) -> ir.Module:
    """torch.export program -> linalg-on-tensors module (weights as dense_resource)."""
    from torch_mlir.extras.fx_decomp_util import get_decomposition_table
    from torch_mlir.extras.fx_importer import FxImporter

    decompositions = get_decomposition_table()
    if decompositions:
        program = program.run_decompositions(decompositions)
    importer = FxImporter(context=new_context())
    importer.import_frozen_program(program, func_name=func_name)
    module = importer.module
    run_pipeline(module, FX_TO_TORCH_BACKEND)
    run_pipeline(module, TORCH_BACKEND_TO_LINALG)
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


def lower_torch_to_linalg(module: ir.Module) -> None:
    run_pipeline(module, TORCH_BACKEND_TO_LINALG)


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
