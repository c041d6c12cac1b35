"""Walk helpers every pass uses: pre-order, the root left out, nothing dropped."""

from mlir import ir

from patsparse.dialect import make_context
from patsparse.dialect.ir_utils import ops_in, ops_where

MODULE = """func.func @f(%a: f32) -> f32 {
  %b = arith.addf %a, %a : f32
  %c = arith.mulf %b, %b : f32
  return %c : f32
}"""


def test_ops_in_is_every_nested_op_in_pre_order():
    with make_context():
        module = ir.Module.parse(MODULE)
        names = [op.name for op in ops_in(module.operation)]
        # Post-order (the bindings' default) put the module last and made [1:] drop arith.addf.
        assert names == ["func.func", "arith.addf", "arith.mulf", "func.return"]
        assert [op.name for op in ops_where(module.operation, lambda op: op.name.startswith("arith."))] == [
            "arith.addf", "arith.mulf"]
