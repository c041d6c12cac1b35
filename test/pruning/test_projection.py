"""Model-level projections: connectivity rates, constraints, idempotence, compression."""

import numpy as np
import pytest
import torch
from torch import nn

from patsparse.pruning import connectivity as C
from patsparse.pruning import patterns as P
from patsparse.pruning import project_onto_patterns
from patsparse.pruning.project import compression_report, conv3x3_layers, hard_prune, layer_keep_ratios


def small_net():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 16, 1),  # 1x1: never touched
        nn.Conv2d(16, 32, 3, padding=1),
    )


def test_connectivity_projection_keeps_largest_kernels_and_is_idempotent():
    w = torch.randn(6, 5, 3, 3)
    projected, mask = C.project_connectivity(w, 7)
    assert int(mask.sum()) == 7
    norms = C.kernel_norms(w)
    assert norms[mask].min() >= norms[~mask].max()
    assert (projected.flatten(2)[~mask] == 0).all() and torch.equal(projected[mask], w[mask])
    again, mask2 = C.project_connectivity(projected, 7)
    assert torch.equal(again, projected) and torch.equal(mask, mask2)


def test_keep_ratios_reach_target_with_exempt_first_layer():
    counts = [8, 128, 512]
    ratios = C.keep_ratios_for_target(counts, 8.0, exempt={0})
    assert ratios[0] == 1.0 and ratios[1] == pytest.approx(ratios[2])
    kept = [r * c for r, c in zip(ratios, counts)]
    assert C.compression(counts, kept) == pytest.approx(8.0)
    assert C.keep_ratios_for_target(counts, None) == [1.0, 1.0, 1.0]
    assert C.keep_ratios_for_target(counts, 2.25) == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError):
        C.keep_ratios_for_target([100, 1], 8.0, exempt={0})


def test_erk_allocation_keeps_more_of_narrow_layers_and_reaches_target():
    shapes = [(8, 1), (16, 8), (32, 16), (64, 32)]
    counts = [o * i for o, i in shapes]
    ratios = C.keep_ratios_for_target(counts, 8.0, exempt={0}, scores=C.erk_scores(shapes))
    assert ratios[0] == 1.0
    assert 1.0 >= ratios[1] > ratios[2] > ratios[3] > 0  # narrow layers keep a larger share
    # Below the cap, the shares are proportional to the ERK scores.
    scores = C.erk_scores(shapes)
    assert ratios[2] / ratios[3] == pytest.approx(scores[2] / scores[3])
    assert C.compression(counts, [r * c for r, c in zip(ratios, counts)]) == pytest.approx(8.0)


def test_erk_allocation_caps_a_layer_at_all_its_kernels_and_shares_the_rest():
    # Scores that would ask the narrow layer to keep more than all of its kernels.
    counts, scores = [10, 1000], [100.0, 1.0]
    ratios = C.keep_ratios_for_target(counts, 4.0, scores=scores)
    assert ratios[0] == 1.0
    assert C.compression(counts, [r * c for r, c in zip(ratios, counts)]) == pytest.approx(4.0)


def test_layer_keep_ratios_erk_on_a_model_and_unknown_allocation():
    model = small_net()
    uniform = layer_keep_ratios(model, 8.0)
    erk = layer_keep_ratios(model, 8.0, allocation="erk")
    assert uniform["2"] == pytest.approx(uniform["5"]) and erk["2"] > erk["5"]
    layers = project_onto_patterns(model, num_patterns=8, connectivity=8.0, allocation="erk")
    assert compression_report(model)["compression"] == pytest.approx(8.0, rel=0.02)
    assert layers["2"]["kernel_mask"].mean() > layers["5"]["kernel_mask"].mean()
    with pytest.raises(ValueError, match="expected one of uniform, erk"):
        layer_keep_ratios(model, 8.0, allocation="global")


def test_project_onto_patterns_patterns_only_gives_2_25x():
    model = small_net()
    layers = project_onto_patterns(model, num_patterns=4)
    assert list(layers) == [n for n, _ in conv3x3_layers(model)] == ["0", "2", "5"]
    report = compression_report(model)
    assert report["compression"] == pytest.approx(2.25)
    assert model[4].weight.count_nonzero() == model[4].weight.numel()  # 1x1 conv untouched
    for name, module in conv3x3_layers(model):
        info = layers[name]
        lib = info["pattern_library"]
        assert lib.shape == (4, 9) and lib.dtype == np.int8
        w = module.weight.detach().numpy().reshape(*info["pattern_ids"].shape, 9)
        assert (w[lib[info["pattern_ids"]] == 0] == 0).all()


def test_project_onto_patterns_with_connectivity_reaches_target_and_is_idempotent():
    model = small_net()
    layers = project_onto_patterns(model, num_patterns=8, connectivity=8.0)
    first = layers["0"]
    assert first["kernel_mask"].all()  # exempt
    kept = sum(int(info["kernel_mask"].sum()) for info in layers.values())
    total = sum(info["kernel_mask"].size for info in layers.values())
    assert 9 * total / (4 * kept) == pytest.approx(8.0, rel=0.02)
    assert compression_report(model)["compression"] == pytest.approx(8.0, rel=0.02)
    for name, module in conv3x3_layers(model):
        info = layers[name]
        w = module.weight.detach()
        assert (w.flatten(2)[~torch.from_numpy(info["kernel_mask"])] == 0).all()
        assert ((info["pattern_ids"] == -1) == ~info["kernel_mask"]).all()
    # Projecting again with the same library and rates changes nothing.
    before = [m.weight.detach().clone() for _, m in conv3x3_layers(model)]
    ratios = layer_keep_ratios(model, 8.0)
    layers2 = hard_prune(model, first["pattern_library"], ratios)
    for b, (_, m) in zip(before, conv3x3_layers(model)):
        assert torch.equal(b, m.weight)
    for name in layers:
        assert np.array_equal(layers[name]["kernel_mask"], layers2[name]["kernel_mask"])


def test_library_is_the_models_most_frequent_natural_patterns():
    model = small_net()
    kernels = [m.weight.detach().clone() for _, m in conv3x3_layers(model)]
    layers = project_onto_patterns(model, num_patterns=6)
    counts = P.pattern_frequencies(kernels)
    lib = layers["2"]["pattern_library"]
    assert sorted(P.candidate_index(r) for r in lib) == sorted(np.argsort(-counts, kind="stable")[:6].tolist())


def test_project_mobilenet_v2_depthwise_kernels_only_when_asked(tmp_path):
    from patsparse.pruning import models
    from patsparse.pruning.checkpoint import save_pruned
    from patsparse.pruning.project import pattern_conv_layers
    from patsparse.pruning.verify import verify_pruned

    torch.manual_seed(0)
    model = models.build("mobilenet_v2")
    depthwise = [name for name, m in pattern_conv_layers(model) if m.groups > 1]
    assert len(depthwise) == 17  # one per inverted residual block
    before = project_onto_patterns(models.build("mobilenet_v2"), num_patterns=8, connectivity=8.0)
    assert list(before) == ["features.0.0"]  # the default is unchanged: dense 3x3 convs only
    layers = project_onto_patterns(model, num_patterns=8, connectivity=8.0, include_grouped=True)
    assert set(depthwise) < set(layers)
    for name in depthwise:
        info, weight = layers[name], dict(model.named_modules())[name].weight
        assert info["groups"] == weight.shape[0] and info["pattern_ids"].shape == (weight.shape[0], 1)
        assert info["kernel_mask"].all() and info["keep_ratio"] == 1.0  # no connectivity pruning
        assert ((weight != 0).sum((2, 3)) == 4).all()
    path = tmp_path / "mnv2.pt"
    save_pruned(path, model, "mobilenet_v2", layers)
    report = verify_pruned(path)
    assert report["ok"] and report["layers"][depthwise[0]]["kind"] == "depthwise"
