"""Reading an ONNX file and fixing its dynamic dimensions from the user's input shape.

torch-mlir imports ONNX shapes as they are declared; a `?x3x?x?` input keeps every
activation dynamic, which the pattern compiler cannot use. So before import the graph's
one input gets the user's shape, stale intermediate shapes (`value_info`) and symbolic
output dimensions are dropped, and ONNX shape inference (with data propagation, so
`Shape -> Reshape` chains resolve) recomputes them.
"""

from __future__ import annotations

import onnx

from .errors import FrontendError
from .shapes import format_shape


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def graph_inputs(model: onnx.ModelProto):
    """The graph's real inputs (initializers may also be listed as inputs in old files)."""
    initializers = {init.name for init in model.graph.initializer}
    return [value for value in model.graph.input if value.name not in initializers]


def declared_shape(value) -> list[int | None]:
    """Declared dims of a graph value; None where the dim is symbolic or unknown."""
    dims = value.type.tensor_type.shape.dim
    return [dim.dim_value if dim.HasField("dim_value") else None for dim in dims]


def load_onnx(path: str) -> onnx.ModelProto:
    try:
        return onnx.load(path)
    except Exception as exc:
        raise FrontendError(
            path, f"cannot be read as an ONNX model ({_first_line(exc)}); expected an ONNX ModelProto file"
        ) from None


def fix_input_shape(
    path: str, model: onnx.ModelProto, input_shape: tuple[int, ...] | None, batch: int | None
) -> tuple[int, ...]:
    """Set the one graph input's dims in place; return the shape used."""
    inputs = graph_inputs(model)
    if len(inputs) != 1:
        names = ", ".join(value.name for value in inputs) or "none"
        raise FrontendError(path, f"has {len(inputs)} inputs ({names}); expected a model with exactly one input")
    value = inputs[0]
    if not value.type.HasField("tensor_type") or not value.type.tensor_type.HasField("shape"):
        raise FrontendError(path, f"input {value.name!r} declares no shape; expected a tensor input of known rank")
    declared = declared_shape(value)
    shown = format_shape(declared)
    if input_shape is None:
        if None in declared:
            raise FrontendError(
                path, f"input {value.name!r} has dynamic dims ({shown}); expected --input-shape to fix them"
            )
        input_shape = tuple(declared)
    if batch is not None:
        input_shape = (batch, *input_shape[1:])
    if len(input_shape) != len(declared):
        raise FrontendError(
            path,
            f"input {value.name!r} has rank {len(declared)} ({shown}); expected --input-shape "
            f"with {len(declared)} dims, got {format_shape(input_shape)}",
        )
    for index, (fixed, wanted) in enumerate(zip(declared, input_shape)):
        if fixed is not None and fixed != wanted:
            raise FrontendError(
                path,
                f"input {value.name!r} is {shown}, dim {index} fixed to {fixed}; expected an input shape "
                f"that agrees, got {format_shape(input_shape)}",
            )
    for dim, size in zip(value.type.tensor_type.shape.dim, input_shape):
        dim.dim_value = size
    del model.graph.value_info[:]
    for output in model.graph.output:
        for dim in output.type.tensor_type.shape.dim:
            if not dim.HasField("dim_value"):
                dim.ClearField("dim_param")
    return tuple(input_shape)


def infer_shapes(path: str, model: onnx.ModelProto) -> onnx.ModelProto:
    try:
        onnx.checker.check_model(model)
    except ValueError:
        pass  # over the 2 GB protobuf limit: the in-memory checker cannot run
    except Exception as exc:
        raise FrontendError(path, f"is not a valid ONNX model ({_first_line(exc)})") from None
    try:
        return onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception as exc:
        raise FrontendError(
            path, f"ONNX shape inference failed ({_first_line(exc)}); expected shapes that follow from the input shape"
        ) from None


def parameter_count(model: onnx.ModelProto) -> int:
    count = 0
    for init in model.graph.initializer:
        size = 1
        for dim in init.dims:
            size *= dim
        count += size
    return count


def operator_types(model: onnx.ModelProto) -> list[str]:
    return sorted({node.op_type for node in model.graph.node})
