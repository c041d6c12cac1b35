"""End to end through the reference path: a pattern-pruned PyTorch model is imported with
torch-mlir, its convolutions are rewritten into patsparse ops, expanded back, lowered with
upstream passes and run with the ExecutionEngine; the outputs must equal PyTorch's."""

import textwrap

import numpy as np
import pytest
import torch
from mlir import ir

from patsparse.dialect import PATTERN_CONV2D, PatternConv2dOp, make_context
from patsparse.dialect.ir_utils import constant_array
from patsparse.frontend import import_model
from patsparse.jit import Jit
from patsparse.passes.detect_patterns import DetectPatternsPass

FACTORY_SOURCE = textwrap.dedent('''
    import torch
    from patsparse.pruning import models
    from patsparse.pruning.project import project_onto_patterns

    def pruned(name, connectivity):
        torch.manual_seed(0)
        model = models.build(name)
        for module in model.modules():  # non-trivial BatchNorm statistics, to be folded
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.data.uniform_(0.5, 1.5)
                module.bias.data.uniform_(-0.2, 0.2)
        project_onto_patterns(model, num_patterns=8, connectivity=connectivity)
        return model.eval()

    def vgg_small_p8_c8():
        return pruned("vgg_small", 8.0)

    def resnet_small_p8():
        return pruned("resnet_small", None)
''')


def run_pipeline(text: str, passes) -> str:
    from mlir import passmanager
    with make_context():
        module = ir.Module.parse(text)
        manager = passmanager.PassManager("builtin.module")
        for p in passes:
            p.add_to(manager)
        manager.run(module.operation)
        return str(module)


def pattern_ops(text: str) -> list[PatternConv2dOp]:
    found = []
    with make_context():
        module = ir.Module.parse(text)

        def visit(op):
            if op.name == PATTERN_CONV2D:
                found.append(PatternConv2dOp(op.operation).fkw)
            return ir.WalkResult.ADVANCE

        module.operation.walk(visit)
    return found


@pytest.fixture(scope="module")
def factory_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("factories")
    (directory / "pruned_models.py").write_text(FACTORY_SOURCE)
    return directory


@pytest.mark.slow
@pytest.mark.parametrize("factory,expected_convs", [("vgg_small_p8_c8", 6), ("resnet_small_p8", 7)])
def test_imported_pruned_model_matches_pytorch(factory, expected_convs, factory_dir, monkeypatch):
    monkeypatch.chdir(factory_dir)
    monkeypatch.syspath_prepend(str(factory_dir))
    import pruned_models

    model = getattr(pruned_models, factory)()
    shape = (2, 1, 28, 28)
    imported = import_model(f"pruned_models:{factory}", factory_dir / f"{factory}.mlir", input_shape=shape)
    text = imported.read_text()

    detected = run_pipeline(text, [DetectPatternsPass()])
    fkws = pattern_ops(detected)
    # Every 3x3 convolution was pattern-projected, so every one is rewritten (1x1 shortcuts stay).
    assert len(fkws) == expected_convs
    assert "linalg.conv_2d_nchw_fchw" not in detected or factory.startswith("resnet")
    assert all(fkw.num_patterns <= 8 for fkw in fkws)

    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    actual = Jit(detected)(x)
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5)
    # The untouched import runs through the same path and agrees too (the oracle's oracle).
    np.testing.assert_allclose(Jit(text)(x), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_detect_then_expand_gives_back_the_original_weights_exactly(factory_dir, monkeypatch):
    monkeypatch.chdir(factory_dir)
    imported = import_model("pruned_models:vgg_small_p8_c8", factory_dir / "roundtrip.mlir", input_shape=(1, 1, 28, 28))
    text = imported.read_text()
    from patsparse.passes.expand_to_linalg import ExpandToLinalgPass
    expanded = run_pipeline(text, [DetectPatternsPass(), ExpandToLinalgPass()])

    def conv_weights(source):
        weights = []
        with make_context():
            module = ir.Module.parse(source)

            def visit(op):
                if op.name == "linalg.conv_2d_nchw_fchw":
                    weights.append(constant_array(op.operands[1]))
                return ir.WalkResult.ADVANCE

            module.operation.walk(visit)
        return weights

    original, round_tripped = conv_weights(text), conv_weights(expanded)
    assert len(original) == len(round_tripped) == 6
    for before, after in zip(original, round_tripped):
        np.testing.assert_array_equal(before, after)
