"""Bad input: one line `patsparse-import: error: <file>: ...`, exit 1, no traceback, no file."""

import numpy as np
import pytest
import torch

PREFIX = "patsparse-import: error: "


def make_onnx(path, nodes, output_shape, opsets=()):
    """A one-input ONNX model x: ?x3x4x4 -> y."""
    import onnx
    from onnx import TensorProto, helper

    output_type = TensorProto.INT64 if nodes[-1].op_type == "NonZero" else TensorProto.FLOAT
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 4, 4])],
        [helper.make_tensor_value_info("y", output_type, output_shape)],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), *opsets]), path)


def missing_checkpoint(tmp_path):
    return ["missing.pt", "--input-shape", "1,3,8,8"], "missing.pt", "no such file"


def corrupt_checkpoint(tmp_path):
    (tmp_path / "corrupt.pt").write_bytes(b"\x80\x04not a checkpoint at all" * 10)
    return ["corrupt.pt"], "corrupt.pt", "not a PyTorch checkpoint (expected a file written by patsparse-prune / torch.save)"


def random_bytes_checkpoint(tmp_path):
    (tmp_path / "random.pt").write_bytes(b"\x13" + np.random.default_rng(0).bytes(4095))
    return ["random.pt"], "random.pt", "not a PyTorch checkpoint (expected a file written by patsparse-prune / torch.save)"


def whole_module_checkpoint(tmp_path):
    torch.save(torch.nn.Conv2d(1, 1, 3), tmp_path / "module.pt")  # a real checkpoint, but not patsparse's
    return ["module.pt"], "module.pt", "cannot read it (it pickles torch.nn.modules.conv.Conv2d"


def foreign_checkpoint(tmp_path):
    torch.save({"conv.weight": torch.zeros(2, 2, 3, 3)}, tmp_path / "state_dict.pt")
    return ["state_dict.pt"], "state_dict.pt", "not a patsparse-pruned checkpoint"


def module_that_does_not_import(tmp_path):
    return ["no_such_package.models:make", "--input-shape", "1,3,8,8"], "no_such_package.models:make", "cannot import module"


def factory_that_raises(tmp_path):
    return ["nets:broken_factory", "--input-shape", "1,3,8,8"], "nets:broken_factory", "broken on purpose"


def factory_that_returns_no_module(tmp_path):
    return ["nets:not_a_module", "--input-shape", "1,3,8,8"], "nets:not_a_module", "expected an nn.Module"


def bad_input_shape_string(tmp_path):
    return ["nets:padded_conv_with_bias", "--input-shape", "1,4,eight,8"], "nets:padded_conv_with_bias", "bad --input-shape"


def input_shape_the_model_rejects(tmp_path):
    return ["nets:padded_conv_with_bias", "--input-shape", "1,3,8,8"], "nets:padded_conv_with_bias", "rejects an input of shape 1x3x8x8"


def factory_without_input_shape(tmp_path):
    return ["nets:padded_conv_with_bias"], "nets:padded_conv_with_bias", "expected --input-shape"


def corrupt_onnx(tmp_path):
    (tmp_path / "corrupt.onnx").write_bytes(b"\xff\xfe garbage " * 20)
    return ["corrupt.onnx", "--input-shape", "1,3,4,4"], "corrupt.onnx", "cannot be read as an ONNX model"


def onnx_dynamic_without_input_shape(tmp_path):
    from onnx import helper

    make_onnx(tmp_path / "relu.onnx", [helper.make_node("Relu", ["x"], ["y"])], ["N", 3, 4, 4])
    return ["relu.onnx"], "relu.onnx", "has dynamic dims (?x3x4x4); expected --input-shape"


def onnx_operator_torch_mlir_lacks(tmp_path):
    from onnx import helper

    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("Frobnicate", ["r"], ["y"], domain="com.example", name="bar")]
    make_onnx(tmp_path / "custom_op.onnx", nodes, ["N", 3, 4, 4], [helper.make_opsetid("com.example", 1)])
    return ["custom_op.onnx", "--input-shape", "1,3,4,4"], "custom_op.onnx", "unsupported ONNX operator 'Frobnicate' (node 'bar')"


def onnx_operator_torch_mlir_cannot_convert(tmp_path):
    from onnx import helper

    # torch-mlir has an LpPool pattern, but it fails on this one: the conversion pipeline stops.
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("LpPool", ["r"], ["y"], kernel_shape=[2, 2])]
    make_onnx(tmp_path / "lppool.onnx", nodes, ["N", 3, 3, 3])
    return ["lppool.onnx", "--input-shape", "1,3,4,4"], "lppool.onnx", "unsupported ONNX operator 'LpPool' (node #1)"


def onnx_operator_that_crashes_torch_mlir(tmp_path):
    from onnx import helper

    make_onnx(tmp_path / "unique.onnx", [helper.make_node("Unique", ["x"], ["y"], sorted=1)], ["K"])
    return ["unique.onnx", "--input-shape", "1,3,4,4"], "unique.onnx", "crashed (SIGSEGV) during torch-mlir ONNX import and conversion to torch of Unique"


def onnx_shapes_stay_dynamic(tmp_path):
    from onnx import helper

    make_onnx(tmp_path / "nonzero.onnx", [helper.make_node("NonZero", ["x"], ["y"])], [4, "K"])
    return ["nonzero.onnx", "--input-shape", "1,3,4,4"], "nonzero.onnx", "shapes stay dynamic"


CASES = [
    missing_checkpoint, corrupt_checkpoint, random_bytes_checkpoint, whole_module_checkpoint, foreign_checkpoint,
    module_that_does_not_import, factory_that_raises, factory_that_returns_no_module,
    bad_input_shape_string, input_shape_the_model_rejects, factory_without_input_shape,
    corrupt_onnx, onnx_dynamic_without_input_shape, onnx_operator_torch_mlir_lacks, onnx_operator_torch_mlir_cannot_convert,
    onnx_operator_that_crashes_torch_mlir, onnx_shapes_stay_dynamic,
]


@pytest.mark.parametrize("case", CASES, ids=[case.__name__ for case in CASES])
def test_bad_input_gives_one_line_and_no_output(case, tmp_path, inputs_dir, run_import):
    args, named_file, expected = case(tmp_path)
    if not named_file.startswith(("nets:", "no_such")):
        args[0] = str(tmp_path / args[0])
        named_file = str(tmp_path / named_file)
    output_dir = tmp_path / "out"
    output_dir.mkdir()

    result = run_import(*args, "-o", output_dir / "model.mlir", cwd=inputs_dir)

    assert result.returncode == 1, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{PREFIX}{named_file}: "), lines[0]
    assert expected in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert list(output_dir.iterdir()) == [], "no partial or temporary file may be left"


def test_output_directory_that_does_not_exist(tmp_path, run_import):
    result = run_import("nets:padded_conv_with_bias", "--input-shape", "1,4,8,8", "-o", tmp_path / "nowhere" / "x.mlir")
    assert result.returncode == 1
    assert result.stderr.startswith(f"{PREFIX}{tmp_path / 'nowhere' / 'x.mlir'}: directory ")
    assert not (tmp_path / "nowhere").exists()


def test_failed_import_keeps_an_existing_output_file(tmp_path, run_import):
    output = tmp_path / "model.mlir"
    output.write_text("// an earlier import\n")
    result = run_import("nets:broken_factory", "--input-shape", "1,3,8,8", "-o", output)
    assert result.returncode == 1
    assert output.read_text() == "// an earlier import\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.mlir"]
