"""patsparse-prune on a user's model and data: module:factory models, image folders, data
factories, and bad input (one line naming the file or module, exit 1, nothing written)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from patsparse.pruning import checkpoint as C
from patsparse.pruning import cli, load_pruned, verify_pruned
from patsparse.pruning.datasets import IMG_EXTENSIONS, ImageFolder

HERE = Path(__file__).parent
TINY = ["--batch-size", "16", "--dense-epochs", "1", "--admm-epochs", "1", "--retrain-epochs", "1", "--no-progress",
        "--model-path", str(HERE)]
CHECKPOINTS = HERE.parent / "data" / "checkpoints"
OLD_CHECKPOINTS = sorted(CHECKPOINTS.glob("*_p8*.pt"))  # the pruned ones (version 1)


def make_image_folder(root: Path, per_class: int = 6, size=(16, 16), classes=("cat", "dog", "owl")) -> Path:
    """root/<class>/<i>.png: class c is bright in colour channel c."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 90, (*size, 3), dtype=np.uint8)
            pixels[..., c % 3] += 150
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


def test_image_folder_follows_torchvision_layout(tmp_path):
    root = make_image_folder(tmp_path / "imgs", per_class=2, size=(20, 24))
    (root / "dog" / "notes.txt").write_text("not an image")  # ignored, like torchvision
    folder = ImageFolder(root, (16, 16), channels=3, mean=[0.5], std=[0.25])
    assert folder.classes == ["cat", "dog", "owl"] and len(folder) == 6
    x, label = folder[2]
    assert x.shape == (3, 16, 16) and x.dtype == torch.float32 and label == 1
    grey = ImageFolder(root, (8, 10), channels=1)
    assert grey[0][0].shape == (1, 8, 10) and 0 <= float(grey[0][0].min()) <= float(grey[0][0].max()) <= 1
    assert ".png" in IMG_EXTENSIONS and ".webp" in IMG_EXTENSIONS


@pytest.mark.training
def test_prune_a_user_model_on_an_image_folder_then_verify(tmp_path, capsys):
    data = make_image_folder(tmp_path / "imgs")
    out = tmp_path / "run"
    assert cli.main([*TINY, "--model", "user_models:TinyNet", "--data", str(data), "--patterns", "4",
                     "--connectivity", "4", "--out", str(out)]) == 0
    for name in ("pruned.pt", "metrics.json", "library.png", "layers.png", "curves.png", "state.pt"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["input_shape"] == [1, 3, 16, 16] and metrics["test_examples"] == 4  # 20% of 18 held out
    assert metrics["dataset"] == str(data) and "3 classes" in metrics["data"]
    _, info = load_pruned(out / "pruned.pt")
    assert info["model"] == "user_models:TinyNet" and info["input_shape"] == (1, 3, 16, 16)
    assert verify_pruned(out / "pruned.pt")["ok"]
    capsys.readouterr()
    assert cli.main(["verify", str(out / "pruned.pt"), "--model-path", str(HERE)]) == 0
    assert "OK: every 3x3 kernel" in capsys.readouterr().out


@pytest.mark.training
def test_prune_with_a_data_factory_and_depthwise_convs(tmp_path):
    out = tmp_path / "mobile"
    assert cli.main([*TINY, "--model", "user_models:TinyMobile", "--data", "user_models:tiny_data", "--patterns",
                     "4", "--connectivity", "3", "--out", str(out)]) == 0
    _, info = load_pruned(out / "pruned.pt")
    assert info["layers"]["depthwise.0"]["groups"] == 8 and info["layers"]["grouped.0"]["groups"] == 4
    assert info["layers"]["depthwise.0"]["kernel_mask"].all()
    report = verify_pruned(out / "pruned.pt")
    assert report["ok"] and report["layers"]["depthwise.0"]["kind"] == "depthwise"
    # DataLoaders work too (iterated as they are).
    assert cli.main([*TINY, "--model", "user_models:TinyNet", "--data", "user_models:tiny_loaders", "--method",
                     "magnitude", "--patterns", "4", "--out", str(tmp_path / "loaders")]) == 0
    assert verify_pruned(tmp_path / "loaders" / "pruned.pt")["ok"]


def bad_input(tmp_path, kind):
    """(arguments, text the one-line error must contain) for each kind of bad input."""
    model = ["--model", "user_models:TinyNet"]
    if kind == "no_eligible_conv":
        return ["--model", "user_models:LinearNet", "--data", "user_models:tiny_data"], \
            "model LinearNet has no 3x3 convolution to prune"
    if kind == "samples_do_not_fit":
        return [*model, "--data", "user_models:wrong_shape_data"], \
            "samples of shape (1, 28, 28) do not fit model 'user_models:TinyNet'"
    if kind == "image_size_does_not_fit":
        return [*model, "--data", str(make_image_folder(tmp_path / "imgs")), "--image-size", "20"], \
            "samples of shape (3, 20, 20) do not fit model 'user_models:TinyNet'"
    if kind == "empty_image_folder":
        (tmp_path / "empty").mkdir()
        return [*model, "--data", str(tmp_path / "empty")], f"{tmp_path / 'empty'}: no class folders"
    if kind == "empty_class_folder":
        root = make_image_folder(tmp_path / "imgs")
        (root / "yak").mkdir()
        return [*model, "--data", str(root)], "class folder(s) yak hold no images"
    if kind == "factory_raises":
        return ["--model", "user_models:broken", "--data", "user_models:tiny_data"], \
            "model 'user_models:broken': calling it() failed (RuntimeError: the weights server is down)"
    if kind == "data_factory_raises":
        return [*model, "--data", "user_models:broken"], \
            "--data user_models:broken: calling it failed (RuntimeError: the weights server is down)"
    if kind == "unknown_module":
        return ["--model", "no_such_module:Net"], "cannot import module 'no_such_module'"
    if kind == "missing_factory":
        return ["--model", "user_models:Nope", "--data", "user_models:tiny_data"], \
            "module 'user_models' has no attribute 'Nope'"
    if kind == "dense_checkpoint_of_another_architecture":
        other = tmp_path / "other.pt"
        C.save_model(other, C.build_model("user_models:OtherNet", search=[str(HERE)]), "user_models:OtherNet")
        data = torch.load(other, weights_only=True)
        data["model"] = "user_models:TinyNet"  # claims to be TinyNet, holds OtherNet's weights
        torch.save(data, other)
        return [*model, "--data", "user_models:tiny_data", "--dense-checkpoint", str(other)], \
            f"{other}: weights do not fit model 'user_models:TinyNet' (another architecture?"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["no_eligible_conv", "samples_do_not_fit", "image_size_does_not_fit",
                                  "empty_image_folder", "empty_class_folder", "factory_raises",
                                  "data_factory_raises", "unknown_module", "missing_factory",
                                  "dense_checkpoint_of_another_architecture"])
def test_bad_input_is_one_line_exit_1_and_writes_nothing(tmp_path, capsys, kind):
    args, expected = bad_input(tmp_path, kind)
    out = tmp_path / "out"
    assert cli.main([*TINY, *args, "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("patsparse-prune: error: ") and err.count("\n") == 1, err
    assert expected in err and "Traceback" not in err
    assert not out.exists()


def test_a_checkpoint_for_another_architecture_is_refused_by_load_and_verify(tmp_path, capsys):
    model = C.build_model("user_models:TinyNet", search=[str(HERE)])
    from patsparse.pruning import PatternSparsifier

    sparsifier = PatternSparsifier(method="magnitude").prepare(model)
    sparsifier.hard_prune()
    path = tmp_path / "tiny.pt"
    sparsifier.export(model, path)
    data = torch.load(path, weights_only=True)
    data["model"] = "user_models:OtherNet"
    torch.save(data, path)
    with pytest.raises(C.CheckpointError, match="weights do not fit model 'user_models:OtherNet'"):
        load_pruned(path)
    assert cli.main(["verify", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and "size mismatch" in err


@pytest.mark.parametrize("path", OLD_CHECKPOINTS, ids=[p.name for p in OLD_CHECKPOINTS])
def test_old_version_1_checkpoints_still_load_and_verify(path):
    assert torch.load(path, weights_only=True)["version"] == 1
    _, info = load_pruned(path)
    assert info["version"] == 1 and info["input_shape"] == (1, 1, 28, 28)
    assert verify_pruned(path)["ok"]


def test_the_demos_trained_dense_checkpoint_loads():
    model, info = C.load_model(CHECKPOINTS / "vgg_small_dense.pt")
    assert info["format"] == "patsparse-dense" and info["metadata"]["accuracy"] > 93
    assert model(torch.zeros(1, 1, 28, 28)).shape == (1, 10)


@pytest.mark.training
def test_resume_of_a_user_model_on_a_dataset_equals_an_uninterrupted_run(tmp_path):
    args = [*TINY, "--model", "user_models:TinyNet", "--data", "user_models:tiny_data", "--patterns", "4",
            "--connectivity", "4", "--admm-epochs", "2", "--retrain-epochs", "2"]
    assert cli.main([*args, "--out", str(tmp_path / "whole")]) == 0
    # Stop inside ADMM (its variables in the state), then inside retraining (the masks), then finish.
    assert cli.main([*args, "--out", str(tmp_path / "split"), "--stop-after-epochs", "2"]) == 0
    assert cli.main([*args, "--out", str(tmp_path / "split"), "--resume", "--stop-after-epochs", "2"]) == 0
    assert cli.main([*args, "--out", str(tmp_path / "split"), "--resume"]) == 0
    a = torch.load(tmp_path / "whole" / "pruned.pt", weights_only=True)
    b = torch.load(tmp_path / "split" / "pruned.pt", weights_only=True)
    for key, value in a["state_dict"].items():
        assert torch.equal(b["state_dict"][key], value), key
    for name in a["layers"]:
        assert torch.equal(a["layers"][name]["pattern_ids"], b["layers"][name]["pattern_ids"]), name
