"""Importing nn.Module factories and pruned checkpoints: what the linalg IR looks like."""

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


def test_padding_is_a_tensor_pad_feeding_the_conv(conv_bn_residual):
    _, ir = conv_bn_residual
    pads = re.findall(r"(%padded\w*) = tensor\.pad %\w+ low\[0, 0, 1, 1\] high\[0, 0, 1, 1\]", ir)
    assert len(pads) == 3  # the three 3x3 convs have padding 1; the 1x1 conv has none
    for pad in pads:
        assert re.search(rf"{CONV} {{[^}}]*}} ins\({pad}, ", ir), f"{pad} does not feed a conv"


def test_stride_2_is_a_conv_attribute(conv_bn_residual):
    _, ir = conv_bn_residual
    strides = re.findall(rf"{CONV} {{dilations = dense<1> : vector<2xi64>, strides = dense<(\d)> : vector<2xi64>}}", ir)
    assert sorted(strides) == ["1", "1", "1", "2"]
    assert re.search(r"strides = dense<2>[^\n]*tensor<1x8x18x18xf32>, tensor<16x8x3x3xf32>\) outs\(%\w+ : tensor<1x16x8x8xf32>\)", ir)


def test_residual_add_is_an_elementwise_generic(conv_bn_residual):
    _, ir = conv_bn_residual
    # a linalg.generic with two 1x8x16x16 inputs whose body adds them
    assert re.search(
        r"linalg\.generic [^\n]*ins\(%\w+, %\w+ : tensor<1x8x16x16xf32>, tensor<1x8x16x16xf32>\)[^\n]*\{\n[^\n]*\n\s*%\w+ = arith\.addf %in, %in_\w+ : f32",
        ir,
    )


def test_padded_conv_with_bias_op_sequence(run_import, tmp_path):
    """The exact shape patsparse-detect-patterns matches (documented in docs/importing.md)."""
    output = tmp_path / "conv.mlir"
    result = run_import("nets:padded_conv_with_bias", "--input-shape", "1,4,8,8", "-o", output)
    assert result.returncode == 0, result.stderr
    body = output.read_text().split("func.func @forward(", 1)[1].split("\n  }\n", 1)[0]
    ops = re.findall(r"^\s*(?:%\w+ = )?([a-z_]+\.[a-z_0-9.]+)", body, re.MULTILINE)
    assert ops == [
        "arith.constant", "arith.constant", "arith.constant",  # pad value 0.0, weight, bias
        "tensor.pad", "tensor.yield",
        "tensor.empty",
        "linalg.broadcast",  # bias broadcast into the conv's init tensor
        CONV,
    ], body
    assert re.search(r"linalg\.broadcast ins\(%\w+ : tensor<8xf32>\) outs\(%\w+ : tensor<1x8x8x8xf32>\) dimensions = \[0, 2, 3\]", body)


def test_batch_option_sets_the_leading_dim(run_import, tmp_path):
    output = tmp_path / "b.mlir"
    result = run_import("nets:padded_conv_with_bias", "--input-shape", "1,4,8,8", "--batch", "3", "-o", output, "-q")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "func.func @forward(%arg0: tensor<3x4x8x8xf32>) -> tensor<3x8x8x8xf32>" in output.read_text()


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


def test_elide_weights_drops_the_blobs_but_still_parses(run_import, mlir_parses, tmp_path):
    output = tmp_path / "elided.mlir"
    result = run_import("nets:padded_conv_with_bias", "--input-shape", "1,4,8,8", "--elide-weights", "-o", output, "-q")
    assert result.returncode == 0, result.stderr
    ir = output.read_text()
    assert "dense_resource<torch_tensor_8_4_3_3_torch.float32>" in ir
    assert '"0x' not in ir  # no hex blob
    mlir_parses(output)
