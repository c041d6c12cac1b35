"""Importing nn.Module factories and pruned checkpoints: what the linalg IR looks like.

The IR text itself is checked with FileCheck: import-padded-conv.py (the op sequence),
import-conv-bn-residual.py (pads, strides, the residual add), import-options.py (--batch, -q,
--elide-weights)."""

import re

import pytest

from patsparse.frontend import FrontendError, import_model, run_import as import_with_summary

CONV = "linalg.conv_2d_nchw_fchw"
# How an unfolded inference BatchNorm lowers: (x - mean) / sqrt(var + eps) as elementwise math.
BATCHNORM_MATH = re.compile(r"math\.(sqrt|rsqrt)|batch_norm")


@pytest.fixture(scope="module")
def conv_bn_residual(tmp_path_factory, run_import):
    """`nets:conv_bn_residual` imported once through the console script."""
    output = tmp_path_factory.mktemp("import") / "net.mlir"
    result = run_import("nets:conv_bn_residual", "--input-shape", "1,3,16,16", "-o", output)
    assert result.returncode == 0, result.stderr
    return result, output.read_text()


def test_summary_counts_convolutions_and_folded_batchnorms(conv_bn_residual):
    result, _ = conv_bn_residual
    assert "convolutions 4 (3 3x3)" in result.stdout
    assert "BatchNorm    2 folded, 0 left" in result.stdout
    assert "@forward(tensor<1x3x16x16xf32>) -> tensor<1x4x8x8xf32>" in result.stdout


@pytest.mark.slow
def test_batchnorm_is_folded_away(conv_bn_residual, mlir_parses, tmp_path, inputs_dir, monkeypatch):
    _, ir = conv_bn_residual
    monkeypatch.chdir(inputs_dir)  # factories import from the current directory
    assert ir.count(f"{CONV} ") == 4
    assert not BATCHNORM_MATH.search(ir)
    # The same model with --no-fold-bn does carry BatchNorm math: the check above can fail.
    unfolded = tmp_path / "unfolded.mlir"
    import_model("nets:conv_bn_residual", unfolded, input_shape=(1, 3, 16, 16), fold_bn=False)
    assert BATCHNORM_MATH.search(unfolded.read_text())
    mlir_parses(unfolded)


def test_ir_parses_in_mlir_22(conv_bn_residual, mlir_parses, tmp_path):
    _, ir = conv_bn_residual
    path = tmp_path / "copy.mlir"
    path.write_text(ir)
    mlir_parses(path)
    assert "dense_resource<torch_tensor_" in ir  # weights travel as blobs


@pytest.mark.slow
def test_pruned_checkpoint_imports_with_its_recorded_shape(tmp_path, mlir_parses):
    import torch

    from patsparse.pruning import checkpoint, models

    model = models.build("vgg_small", width=4)
    layers = {}
    pattern = torch.zeros(9)
    pattern[[1, 3, 4, 5]] = 1
    for name, conv in model.named_modules():
        if isinstance(conv, torch.nn.Conv2d) and conv.kernel_size == (3, 3):
            kept = torch.rand(conv.weight.shape[:2], generator=torch.Generator().manual_seed(0)) < 0.5
            with torch.no_grad():
                conv.weight.mul_(pattern.reshape(3, 3) * kept[:, :, None, None])
            layers[name] = {
                "pattern_library": pattern.reshape(1, 9).to(torch.int8).numpy(),
                "pattern_ids": torch.where(kept, 0, -1).numpy(),
                "kernel_mask": kept.numpy(),
            }
    path = tmp_path / "vgg_small.pt"
    checkpoint.save_pruned(path, model, "vgg_small", layers, model_kwargs={"width": 4})
    kept_kernels = sum(int(layer["kernel_mask"].sum()) for layer in layers.values())

    summary = import_with_summary(path, tmp_path / "vgg_small.mlir")

    assert summary.input_shape == (1, 1, 28, 28)  # from the model the checkpoint names
    assert summary.convolutions_3x3 == 6 and summary.bn_folded == 6
    assert summary.kernels_3x3_kept == summary.kernels_3x3_four_weights == kept_kernels
    ir = summary.output.read_text()
    assert ir.count(f"{CONV} ") == 6 and not BATCHNORM_MATH.search(ir)
    mlir_parses(summary.output)


def test_python_api_raises_one_line_error_and_writes_nothing(tmp_path, inputs_dir, monkeypatch):
    monkeypatch.chdir(inputs_dir)
    output = tmp_path / "never.mlir"
    with pytest.raises(FrontendError) as error:
        import_model("nets:broken_factory", output, input_shape="1,3,8,8")
    assert error.value.file == "nets:broken_factory"
    assert "this factory is broken on purpose" in error.value.expected
    assert list(tmp_path.iterdir()) == []


def test_layers_keep_their_module_paths(conv_bn_residual):
    """Each convolution records where it comes from (for the compiler's --profile)."""
    _, ir = conv_bn_residual
    names = re.findall(r'patsparse.source = "([^"]*)"', ir)
    assert sorted(names) == ["block", "down", "head", "stem"], names
