"""Semantic verifier of `patsparse` ops: what IRDL cannot say.

IRDL checks that operands are tensors and attributes are dense arrays. This
checks that they agree: element types, ranks, the FKW arrays among themselves
(`fkw.check_fkw`) and with the input, bias and result shapes. Every problem is
reported at the op's location as `'patsparse.pattern_conv2d' op <array>:
expected ..., got ...`. A `patsparse.schedule` attribute, on any op, is checked against the
fields of `Schedule` (dialect/schedule.py). It runs at the start of every patsparse pass, in
`patsparse-verify`, and on every file `patsparse-opt` reads.
"""

from __future__ import annotations

import dataclasses

from mlir import ir

from .fkw import FKW, check_fkw
from .ops import PATTERN_CONV2D, PatternConv2dOp, dense_to_numpy
from .schedule import SCHEDULE, Schedule, vector_width_problem

_INDEX_ARRAYS = ("filter_order", "filter_offsets", "kernel_channels", "kernel_pattern_ids")


def _tensor_problem(name: str, value_type: ir.Type, rank: int) -> str | None:
    if not isinstance(value_type, ir.RankedTensorType):
        return f"{name}: expected a ranked tensor of f32, got {value_type}"
    tensor = ir.RankedTensorType(value_type)
    if tensor.rank != rank or not isinstance(tensor.element_type, ir.F32Type):
        return f"{name}: expected a rank-{rank} tensor of f32, got {value_type}"
    if not tensor.has_static_shape:
        return f"{name}: expected a static shape, got {value_type}"
    return None


# The Python bindings cannot hand out a dense array of another element type than i1, i8, i16,
# i32, i64, f32, f64 (array<i48: ...>): indexing raises TypeError (NamedAttribute.attr aborts).
_ODD_ARRAY = "a dense array of another element type"


def _attribute(operation: ir.Operation, name: str) -> ir.Attribute | None:
    """The attribute `name` (IRDL made sure it is there), or None for such an array."""
    try:
        return operation.attributes[name]
    except TypeError:
        return None


def _type_text(attribute: ir.Attribute | None) -> str:
    return _ODD_ARRAY if attribute is None else str(ir.Attribute(attribute).type)


def verify_pattern_conv2d(operation: ir.Operation) -> list[str]:
    """Problems of one `patsparse.pattern_conv2d`, each a message without the op prefix."""
    op = PatternConv2dOp(operation)
    problems = [p for p in (
        _tensor_problem("input", op.input.type, 4),
        _tensor_problem("output", op.output.type, 4),
        _tensor_problem("bias", op.bias.type, 1) if op.bias is not None else None,
    ) if p]
    attributes = {name: _attribute(operation, name) for name in
                  ("strides", "padding", "pattern_library", "weights") + _INDEX_ARRAYS}
    if "groups" in operation.attributes:
        groups = _attribute(operation, "groups")
        if not isinstance(groups, ir.IntegerAttr) or not isinstance(groups.type, ir.IntegerType) \
                or ir.IntegerAttr(groups).value < 1:
            problems.append(f"groups: expected a positive integer (i64), got {groups}")
    for name in ("strides", "padding"):
        value = attributes[name]
        if not isinstance(value, ir.DenseI64ArrayAttr):
            problems.append(f"{name}: expected array<i64: ...>, got {_ODD_ARRAY if value is None else value}")
    if not problems:
        if len(op.strides) != 2 or min(op.strides) < 1:
            problems.append(f"strides: expected 2 positive values [height, width], got {op.strides}")
        if len(op.padding) != 4 or min(op.padding) < 0:
            problems.append(f"padding: expected 4 non-negative values [top, left, bottom, right], got {op.padding}")
    for name in ("pattern_library",) + _INDEX_ARRAYS:
        if not isinstance(attributes[name], ir.DenseIntElementsAttr):
            problems.append(f"{name}: expected dense integer elements, got {_type_text(attributes[name])}")
            continue
        element = ir.ShapedType(attributes[name].type).element_type
        if ir.IntegerType(element).width not in (8, 16, 32, 64):
            problems.append(f"{name}: expected integers of 8, 16, 32 or 64 bits, got {attributes[name].type}")
    if not isinstance(attributes["weights"], ir.DenseFPElementsAttr) or not isinstance(
            ir.ShapedType(attributes["weights"].type).element_type, ir.F32Type):
        problems.append(f"weights: expected dense f32 elements, got {_type_text(attributes['weights'])}")
    if problems:
        return problems

    fkw = FKW(**{name: dense_to_numpy(attributes[name]) for name in PatternConv2dOp.FKW_ATTRIBUTES})
    batch, in_channels, height, width = op.input_shape
    problems += check_fkw(fkw, in_channels, op.groups)
    out_shape = op.output_shape
    if op.bias is not None:
        bias_size = ir.RankedTensorType(op.bias.type).shape[0]
        if bias_size != fkw.num_filters:
            problems.append(f"bias: expected {fkw.num_filters} entries (one per filter), got {bias_size}")
    top, left, bottom, right = op.padding
    stride_h, stride_w = op.strides
    padded_h, padded_w = height + top + bottom, width + left + right
    if padded_h < 3 or padded_w < 3:
        problems.append(f"input: expected padded spatial size at least 3x3, got {padded_h}x{padded_w}")
    else:
        expected = [batch, fkw.num_filters, (padded_h - 3) // stride_h + 1, (padded_w - 3) // stride_w + 1]
        if out_shape != expected:
            problems.append(
                f"output: expected shape {'x'.join(map(str, expected))} (batch, filters, rows, columns), "
                f"got {'x'.join(map(str, out_shape))}")
    return problems


VERIFIERS = {PATTERN_CONV2D: verify_pattern_conv2d}
_BOOLEAN_FIELDS = {f.name for f in dataclasses.fields(Schedule) if f.type in (bool, "bool")}


def verify_schedule(operation: ir.Operation) -> list[str]:
    """Problems of a `patsparse.schedule` attribute (on any op): a dictionary of Schedule fields,
    booleans where the field is one, positive integers elsewhere, a vector width the generator has."""
    if SCHEDULE not in operation.attributes:
        return []
    attribute = operation.attributes[SCHEDULE]
    if not isinstance(attribute, ir.DictAttr):
        return [f"{SCHEDULE}: expected a dictionary of {', '.join(Schedule.FIELDS)}, got {attribute}"]
    problems = []
    for entry in attribute:
        name, value = entry.name, entry.attr
        if name not in Schedule.FIELDS:
            problems.append(f"{SCHEDULE}: unknown entry '{name}' (expected {', '.join(Schedule.FIELDS)})")
        elif name in _BOOLEAN_FIELDS:
            if not isinstance(value, ir.BoolAttr):
                problems.append(f"{SCHEDULE}: {name}: expected true or false, got {value}")
        elif not isinstance(value, ir.IntegerAttr) or ir.IntegerAttr(value).value < 1:
            problems.append(f"{SCHEDULE}: {name}: expected a positive integer, got {value}")
        elif name == "vector_width" and vector_width_problem(ir.IntegerAttr(value).value):
            problems.append(f"{SCHEDULE}: {vector_width_problem(ir.IntegerAttr(value).value)}")
    return problems


def verify_op(operation: ir.Operation) -> list[str]:
    verifier = VERIFIERS.get(operation.name)
    return (verifier(operation) if verifier else []) + verify_schedule(operation)


def verify_module(root: ir.Operation) -> int:
    """Verify every patsparse op under `root`, emitting one error per problem at the op's
    location. Returns the number of problems."""
    count = 0

    def visit(operation: ir.Operation) -> ir.WalkResult:
        nonlocal count
        for problem in verify_op(operation):
            operation.location.emit_error(f"'{operation.name}' op {problem}")
            count += 1
        return ir.WalkResult.ADVANCE

    root.walk(visit)
    return count
