"""Checkpoint save/load, the verify command, and clear errors for bad files."""

import json
import re

import numpy as np
import pytest
import torch

from patsparse.pruning import checkpoint as C
from patsparse.pruning import cli, models, project_onto_patterns
from patsparse.pruning.verify import verify_pruned


def pruned_file(tmp_path, connectivity=8.0):
    torch.manual_seed(1)
    model = models.build("vgg_small")
    layers = project_onto_patterns(model, num_patterns=6, connectivity=connectivity)
    path = tmp_path / "p.pt"
    C.save_pruned(path, model, "vgg_small", layers, {"dataset": "none", "num_patterns": 6})
    return path, model, layers


def test_roundtrip_and_weights_only_format(tmp_path):
    path, model, layers = pruned_file(tmp_path)
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "patsparse-pruned" and raw["version"] == 2 and raw["model"] == "vgg_small"
    assert set(raw["layers"]) == set(layers)
    lib = raw["layers"]["features.3"]["pattern_library"]
    assert lib.dtype == torch.int8 and tuple(lib.shape) == (6, 9)
    loaded, info = C.load_pruned(path)
    assert not loaded.training
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)
    for name, entry in layers.items():
        got = info["layers"][name]
        assert got["pattern_library"].dtype == np.int8
        assert np.array_equal(got["pattern_ids"], entry["pattern_ids"])
        assert np.array_equal(got["kernel_mask"], entry["kernel_mask"])
    assert info["metadata"]["num_patterns"] == 6
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write left no temporary file


def test_verify_accepts_a_pruned_model(tmp_path, capsys):
    path, _, _ = pruned_file(tmp_path)
    report = verify_pruned(path)
    assert report["ok"] and report["compression"] == pytest.approx(8.0, rel=0.02)
    assert cli.main(["verify", str(path)]) == 0
    assert "total 3x3 compression: 8.0" in capsys.readouterr().out


def test_verify_rejects_a_weight_outside_its_pattern(tmp_path, capsys):
    path, model, layers = pruned_file(tmp_path)
    info = layers["features.7"]
    o, i = np.argwhere(info["kernel_mask"])[0]
    tap = int(np.flatnonzero(info["pattern_library"][info["pattern_ids"][o, i]] == 0)[0])
    with torch.no_grad():
        model.features[7].weight[o, i].view(-1)[tap] = 0.5
    C.save_pruned(path, model, "vgg_small", layers, {})
    report = verify_pruned(path)
    assert not report["ok"] and "features.7" in report["violations"][0]
    assert cli.main(["verify", str(path)]) == 1
    assert "VIOLATION" in capsys.readouterr().out


def test_verify_rejects_a_removed_kernel_that_is_not_zero(tmp_path):
    path, model, layers = pruned_file(tmp_path)
    o, i = np.argwhere(~layers["features.10"]["kernel_mask"])[0]
    with torch.no_grad():
        model.features[10].weight[o, i, 1, 1] = 1.0
    C.save_pruned(path, model, "vgg_small", layers, {})
    assert not verify_pruned(path)["ok"]


def test_verify_rejects_an_unpruned_layer(tmp_path):
    path, model, layers = pruned_file(tmp_path)
    del layers["features.0"]
    C.save_pruned(path, model, "vgg_small", layers, {})
    report = verify_pruned(path)
    assert any("features.0" in v for v in report["violations"])


@pytest.mark.parametrize("kind", ["missing", "directory", "corrupt", "state_dict", "json", "dense", "wrong_model"])
def test_bad_files_give_one_line_errors(tmp_path, capsys, kind):
    path = tmp_path / f"{kind}.pt"
    if kind == "directory":
        path.mkdir()
    elif kind == "corrupt":
        path.write_bytes(b"PK\x03\x04 this is not a torch file")
    elif kind == "state_dict":
        torch.save(models.build("vgg_small").state_dict(), path)
    elif kind == "json":
        path.write_text(json.dumps({"format": "patsparse-pruned"}))
    elif kind == "dense":
        C.save_model(path, models.build("vgg_small"), "vgg_small")
    elif kind == "wrong_model":
        torch.save({"format": "patsparse-pruned", "version": 1, "model": "resnet_small", "model_kwargs": {},
                    "state_dict": models.build("vgg_small").state_dict(), "layers": {}, "metadata": {}}, path)
    with pytest.raises(C.CheckpointError) as err:
        C.load_pruned(path)
    message = str(err.value)
    assert str(path) in message and "\n" not in message
    assert ("is a directory" in message) == (kind == "directory")
    assert cli.main(["verify", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("patsparse-prune: error: ") and "Traceback" not in captured.err
    assert captured.err.count("\n") == 1


def test_random_bytes_are_not_a_pytorch_checkpoint(tmp_path, capsys):
    path = tmp_path / "random.pt"
    path.write_bytes(b"\x13" + np.random.default_rng(0).bytes(4095))  # not "PK" (zip) nor 0x80 (pickle)
    message = f"{path}: not a PyTorch checkpoint (expected a file written by patsparse-prune / torch.save)"
    with pytest.raises(C.CheckpointError, match=re.escape(message)):
        C.load_pruned(path)
    assert cli.main(["verify", str(path)]) == 1
    assert capsys.readouterr().err == f"patsparse-prune: error: {message}\n"
