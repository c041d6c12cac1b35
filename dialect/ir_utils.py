"""Small IR helpers the passes share: constants as numpy, producers, dead-op cleanup."""

from __future__ import annotations

import re

import numpy as np
from mlir import ir

from .ops import dense_to_numpy

NUMPY_TYPES = {"f32": np.float32, "f64": np.float64, "f16": np.float16, "i64": np.int64,
                "i32": np.int32, "i16": np.int16, "i8": np.int8}


def producer(value: ir.Value, name: str | None = None) -> ir.Operation | None:
    """The op defining `value` (optionally only if it is named `name`)."""
    owner = value.owner
    if not isinstance(owner, (ir.Operation, ir.OpView)):
        return None  # a block argument
    owner = owner.operation
    return owner if name is None or owner.name == name else None


def constant_array(value: ir.Value) -> np.ndarray | None:
    """The value of an `arith.constant` tensor, dense or dense_resource, as numpy; else None."""
    op = producer(value, "arith.constant")
    if op is None:
        return None
    attribute = op.attributes["value"]
    if isinstance(attribute, (ir.DenseIntElementsAttr, ir.DenseFPElementsAttr)):
        return dense_to_numpy(attribute)
    resource = downcast(attribute, ir.DenseResourceElementsAttr)
    if resource is not None:
        return resource_array(op, resource)
    return None


def downcast(attribute: ir.Attribute, cls):
    """`attribute` as `cls`, or None; the bindings do not downcast every attribute kind."""
    if isinstance(attribute, cls):
        return attribute
    try:
        return cls(attribute)
    except (ValueError, TypeError):
        return None


def scalar_constant(value: ir.Value) -> float | None:
    op = producer(value, "arith.constant")
    if op is None:
        return None
    attribute = op.attributes["value"]
    if isinstance(attribute, ir.FloatAttr):
        return attribute.value
    if isinstance(attribute, ir.IntegerAttr):
        return float(attribute.value)
    return None


def resource_array(op: ir.Operation, attribute: ir.DenseResourceElementsAttr) -> np.ndarray | None:
    # The bindings cannot read a resource blob directly, but printing a module prints the
    # blobs its ops use: clone the constant alone into a scratch module and read the hex.
    shaped = ir.RankedTensorType(attribute.type)
    dtype = NUMPY_TYPES.get(str(shaped.element_type))
    if dtype is None:
        return None
    with op.context, ir.Location.unknown():
        scratch = ir.Module.create()
        with ir.InsertionPoint(scratch.body):
            op.clone()
        text = scratch.operation.get_asm()
    match = re.search(r'dialect_resources:\s*\{\s*builtin:\s*\{\s*[^:]+:\s*"0x([0-9A-Fa-f]*)"', text)
    if match is None:
        return None
    blob = bytes.fromhex(match.group(1))
    alignment_header = 4  # the blob starts with its alignment as a 32-bit integer
    data = np.frombuffer(blob[alignment_header:], dtype=dtype)
    if data.size != int(np.prod(shaped.shape)):
        return None
    return data.reshape(shaped.shape).copy()


def ops_where(root: ir.Operation, predicate) -> list[ir.Operation]:
    """Every op nested in `root` (pre-order walk) for which `predicate(op)` holds, collected first
    so a pass can rewrite them without disturbing the walk."""
    found = []

    def visit(op: ir.Operation) -> ir.WalkResult:
        if predicate(op):
            found.append(op.operation)
        return ir.WalkResult.ADVANCE

    root.walk(visit, ir.WalkOrder.PRE_ORDER)  # the bindings' default is post-order
    return found


def ops_in(root: ir.Operation) -> list[ir.Operation]:
    """Every op nested in `root`, in pre-order, without `root` (a snapshot, safe to rewrite)."""
    return ops_where(root, lambda op: True)[1:]


def has_uses(value: ir.Value) -> bool:
    return any(True for _ in value.uses)


def erase_if_dead(op: ir.Operation | None) -> None:
    """Erase `op` and, recursively, the producers of its operands that become dead."""
    if op is None or any(has_uses(result) for result in op.results):
        return
    producers = [producer(operand) for operand in op.operands]
    op.erase()
    for defining in producers:
        if defining is not None and defining.name in _SIDE_EFFECT_FREE:
            erase_if_dead(defining)


_SIDE_EFFECT_FREE = {"arith.constant", "tensor.empty", "tensor.pad", "linalg.fill", "linalg.broadcast",
                     "linalg.transpose", "tensor.expand_shape", "tensor.collapse_shape",
                     "linalg.conv_2d_ngchw_gfchw", "linalg.depthwise_conv_2d_nchw_chw"}


def int_array(attribute: ir.Attribute | None, default: list[int]) -> list[int]:
    """A dense elements or dense array attribute of integers as a list."""
    if attribute is None:
        return default
    if isinstance(attribute, ir.DenseI64ArrayAttr):
        return list(attribute)
    array = dense_to_numpy(attribute).reshape(-1)
    return [int(v) for v in array]


def entry_types(module: ir.Operation, entry: str) -> tuple[list[ir.RankedTensorType], list[ir.RankedTensorType]]:
    """The ranked tensor types of the inputs and results of `@entry`; ValueError naming the
    functions there are when it is missing, or naming the type that is not a ranked tensor."""
    functions = [op.operation for op in module.regions[0].blocks[0].operations if op.operation.name == "func.func"]
    function = next((f for f in functions if ir.StringAttr(f.attributes["sym_name"]).value == entry), None)
    if function is None:
        names = ", ".join("@" + ir.StringAttr(f.attributes["sym_name"]).value for f in functions) or "none"
        raise ValueError(f"no function @{entry} (functions: {names})")
    function_type = ir.FunctionType(ir.TypeAttr(function.attributes["function_type"]).value)
    typed = []
    for role, types in (("input", function_type.inputs), ("output", function_type.results)):
        tensors = []
        for value_type in types:
            tensor = downcast(value_type, ir.RankedTensorType)
            if tensor is None:
                raise ValueError(f"@{entry} {role} is {value_type}, expected a ranked tensor")
            tensors.append(tensor)
        typed.append(tensors)
    return typed[0], typed[1]


SOURCE_ATTRIBUTE = "patsparse.source"  # set by the importer: the layer's module path or ONNX node name


def source_names_to_locations(module: ir.Operation) -> None:
    """Turn the importer's `patsparse.source = "features.3"` attributes into the ops' locations
    (`loc("features.3"(...))`), where every pass keeps them and the profile reads them."""
    def visit(op):
        op = op.operation
        if SOURCE_ATTRIBUTE in op.attributes:
            name = ir.StringAttr(op.attributes[SOURCE_ATTRIBUTE]).value
            del op.attributes[SOURCE_ATTRIBUTE]
            op.location = ir.Location.name(name, childLoc=op.location)
        return ir.WalkResult.ADVANCE

    module.walk(visit)
