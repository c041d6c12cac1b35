"""PatternSparsifier in a user's own loop: layer discovery and config, ADMM penalty and steps,
masks under any optimiser, depthwise / grouped convs, squash, export, state round trip."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from patsparse.pruning import PatternSparsifier, SparsifierError, load_pruned, verify_pruned
from patsparse.pruning.checkpoint import CheckpointError

sys.path.insert(0, str(Path(__file__).parent))
import user_models  # test/pruning is the "user's" model folder


def data(n=64):
    return user_models._images(n, 0)


def assert_inside_patterns(model, layers):
    modules = dict(model.named_modules())
    for name, info in layers.items():
        w = modules[name].weight.detach().numpy()
        grid = w.reshape(*info["kernel_mask"].shape, 9)
        allowed = info["pattern_library"][np.clip(info["pattern_ids"], 0, None)].astype(bool)
        allowed &= info["kernel_mask"][..., None]
        assert not (grid[~allowed] != 0).any(), name


def test_prepare_finds_dense_depthwise_and_grouped_convs_by_path():
    model = user_models.TinyMobile()
    sparsifier = PatternSparsifier(patterns=4, connectivity=4.0).prepare(model)
    assert sparsifier.layer_names == ["stem.0", "depthwise.0", "grouped.0"]
    # Only dense 3x3 convs lose kernels (the first is exempt only when there are several).
    assert sparsifier.keep_ratios == {"stem.0": 2.25 / 4.0, "depthwise.0": 1.0, "grouped.0": 1.0}
    dense_only = PatternSparsifier(include_grouped=False).prepare(model)
    assert dense_only.layer_names == ["stem.0"]


def test_config_selects_layers_and_sets_keep_ratios():
    model = user_models.TinyNet()
    sparsifier = PatternSparsifier(patterns=4, connectivity=6.0, method="magnitude")
    sparsifier.prepare(model, config=[{"tensor_fqn": "body.4.weight", "keep_ratio": 0.5}])
    assert sparsifier.keep_ratios == {"body.4": 0.5}
    layers = sparsifier.hard_prune()
    assert list(layers) == ["body.4"] and layers["body.4"]["kernel_mask"].mean() == 0.5
    assert (model.body[0].weight != 0).all()  # not in the config: left dense
    excluded = PatternSparsifier().prepare(user_models.TinyNet(), exclude=["body.0"])
    assert excluded.layer_names == ["body.4"]


@pytest.mark.parametrize("config, message", [
    (["head"], "'head' is a Linear; expected a 3x3 nn.Conv2d (eligible: body.0, body.4)"),
    (["nope"], "'nope' is not a module of the model"),
    ([{"module": "body.0", "sparsity": 0.5}], "unknown option(s) sparsity"),
    ([{"module": "body.0", "keep_ratio": 0}], "keep_ratio 0.0: expected a value in (0, 1]"),
    ([3], "expected a module path"),
])
def test_bad_configs_are_one_line_errors(config, message):
    with pytest.raises(SparsifierError) as err:
        PatternSparsifier().prepare(user_models.TinyNet(), config=config)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_model_without_3x3_convs_is_refused():
    with pytest.raises(SparsifierError, match="model LinearNet has no 3x3 convolution to prune"):
        PatternSparsifier().prepare(user_models.LinearNet())
    with pytest.raises(SparsifierError, match=r"it has Conv2d layers, none 3x3 with groups=1"):
        PatternSparsifier(include_grouped=False).prepare(nn.Sequential(nn.Conv2d(4, 4, 3, groups=4)))
    with pytest.raises(SparsifierError, match="patterns=0: expected 1 to 56"):
        PatternSparsifier(patterns=0)
    with pytest.raises(SparsifierError, match="call prepare"):
        PatternSparsifier().step()


def test_penalty_loss_and_penalty_grad_give_the_same_gradient():
    torch.manual_seed(0)
    model = user_models.TinyMobile()
    sparsifier = PatternSparsifier(patterns=4, connectivity=3.0, updates=2).prepare(model)
    sparsifier.step()  # Z, U, Y, V away from their start
    x, y = data(8)
    F.cross_entropy(model(x), y).backward()
    sparsifier.add_penalty_grad()
    by_hook = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    (F.cross_entropy(model(x), y) + sparsifier.penalty_loss()).backward()
    for a, b in zip(by_hook, (p.grad for p in model.parameters())):
        assert torch.allclose(a, b, atol=1e-6)
    assert float(sparsifier.penalty_loss().detach()) == pytest.approx(sparsifier.penalty(), rel=1e-5)


def user_loop(model, sparsifier, optimizer, scheduler=None, steps=6, admm=True, autocast=False):
    x, y = data()
    for step in range(steps):
        batch = slice(8 * step % 64, 8 * step % 64 + 8)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = F.cross_entropy(model(x[batch]), y[batch])
        if admm:
            loss = loss + sparsifier.penalty_loss()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        if admm and step % 2 == 1:
            sparsifier.step()


def test_admm_then_masks_with_the_users_own_optimiser_and_scheduler():
    torch.manual_seed(0)
    model = user_models.TinyMobile()
    # The optimiser is made before prepare() and never changes: the masks are parametrizations.
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 2, 0.5)
    sparsifier = PatternSparsifier(patterns=4, connectivity=3.0, updates=3, initial_library=12).prepare(model)
    user_loop(model, sparsifier, optimizer, scheduler)
    assert len(sparsifier.library) == 4  # the library shrank to K over the 3 updates
    layers = sparsifier.hard_prune()
    assert sparsifier.penalty_loss() == 0
    user_loop(model, sparsifier, optimizer, scheduler, admm=False)
    assert_inside_patterns(model, layers)
    # Depthwise and grouped: 4 taps per kernel from the one library, every kernel kept.
    for name in ("depthwise.0", "grouped.0"):
        info = layers[name]
        assert info["kernel_mask"].all() and info["kind"] in ("depthwise", "grouped")
        counts = (dict(model.named_modules())[name].weight.detach() != 0).sum((2, 3))
        assert (counts <= 4).all()
    assert layers["depthwise.0"]["pattern_ids"].shape == (8, 1) and layers["grouped.0"]["groups"] == 4
    sparsifier.squash_mask()
    assert "stem.0.weight" in model.state_dict() and not any("parametrizations" in k for k in model.state_dict())
    assert_inside_patterns(model, layers)


def test_masks_hold_under_adamw_and_autocast():
    torch.manual_seed(1)
    model = user_models.TinyNet()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    sparsifier = PatternSparsifier(patterns=6, connectivity=4.0, updates=3).prepare(model)
    user_loop(model, sparsifier, optimizer, autocast=True)
    layers = sparsifier.hard_prune()
    user_loop(model, sparsifier, optimizer, admm=False, autocast=True)
    assert_inside_patterns(model, layers)
    kept = layers["body.4"]["kernel_mask"].mean()
    # 4x on the 3x3 layers, the first (24 kernels) exempt: 9 * 152 / 16 - 24 = 61.5 of 128 kept.
    assert kept == pytest.approx(61.5 / 128, abs=0.5 / 128)


def test_export_and_load_a_model_the_project_never_saw(tmp_path, monkeypatch):
    torch.manual_seed(0)
    model = user_models.TinyNet()
    sparsifier = PatternSparsifier(patterns=4, connectivity=4.0, method="magnitude").prepare(model)
    sparsifier.hard_prune()
    for suffix in (".pt", ".safetensors"):
        path = tmp_path / f"tiny{suffix}"
        sparsifier.export(model, path, input_shape=(1, 3, 16, 16), metadata={"note": "test"})
        loaded, info = load_pruned(path)
        assert info["model"] == "user_models:TinyNet" and info["input_shape"] == (1, 3, 16, 16)
        assert info["metadata"]["note"] == "test" and info["metadata"]["num_patterns"] == 4
        x = torch.randn(2, 3, 16, 16)
        model.eval()
        assert torch.equal(loaded(x), model(x))
        assert verify_pruned(path)["ok"]
    assert (tmp_path / "tiny.safetensors").read_bytes()[8:9] == b"{"  # no pickle in it
    # Elsewhere, without the module on the path: a clear error naming the file and the module.
    monkeypatch.setattr(sys, "path", [p for p in sys.path if Path(p).resolve() != Path(__file__).parent.resolve()])
    monkeypatch.delitem(sys.modules, "user_models")
    moved = tmp_path / "elsewhere" / "tiny.pt"
    moved.parent.mkdir()
    moved.write_bytes((tmp_path / "tiny.pt").read_bytes())
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CheckpointError) as err:
        load_pruned(moved)
    assert str(moved) in str(err.value) and "cannot import module 'user_models'" in str(err.value)
    loaded, _ = load_pruned(moved, model_path=Path(__file__).parent)  # or $PATSPARSE_MODEL_PATH
    assert isinstance(loaded, nn.Module)


def test_export_refuses_a_model_class_defined_in_a_function(tmp_path):
    class Local(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3)

        def forward(self, x):
            return self.conv(x)

    model = Local()
    sparsifier = PatternSparsifier(method="magnitude").prepare(model)
    sparsifier.hard_prune()
    with pytest.raises(CheckpointError, match="defined in a function"):
        sparsifier.export(model, tmp_path / "local.pt")
    assert not list(tmp_path.iterdir())


def test_state_dict_round_trip_continues_identically():
    def run(split):
        torch.manual_seed(0)
        model = user_models.TinyNet()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        sparsifier = PatternSparsifier(patterns=4, connectivity=4.0, updates=4).prepare(model)
        user_loop(model, sparsifier, optimizer, steps=4)
        if split:  # continue in a fresh model / sparsifier from their states
            state, sp_state, opt_state = model.state_dict(), sparsifier.state_dict(), optimizer.state_dict()
            model = user_models.TinyNet()
            model.load_state_dict(state)
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
            optimizer.load_state_dict(opt_state)
            sparsifier = PatternSparsifier(patterns=4, connectivity=4.0, updates=4).prepare(model)
            sparsifier.load_state_dict(sp_state)
        user_loop(model, sparsifier, optimizer, steps=4)
        sparsifier.hard_prune()
        return model, sparsifier

    (a, sa), (b, sb) = run(False), run(True)
    for key, value in a.state_dict().items():
        assert torch.equal(b.state_dict()[key], value), key
    assert np.array_equal(sa.library, sb.library)
