"""BatchNorm folding in PyTorch: same outputs, zeros stay zeros, only safe pairs fold."""

import torch
from torch import nn

from patsparse.frontend.fold_bn import fold_batchnorm, fold_conv_bn


def randomize_statistics(model: nn.Module, seed: int = 0) -> None:
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1, generator=generator)
            module.running_var.uniform_(0.2, 3.0, generator=generator)
            module.weight.data.uniform_(0.5, 2.0, generator=generator)
            module.bias.data.uniform_(-1, 1, generator=generator)


def pattern_prune(conv: nn.Conv2d) -> torch.Tensor:
    """Keep taps 0,1,3,4 of every other kernel; return the mask."""
    pattern = torch.zeros(9)
    pattern[[0, 1, 3, 4]] = 1
    kept = (torch.arange(conv.in_channels * conv.out_channels) % 2 == 0).reshape(conv.out_channels, conv.in_channels)
    mask = pattern.reshape(3, 3) * kept[:, :, None, None]
    with torch.no_grad():
        conv.weight.mul_(mask)
    return mask


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.conv = nn.Conv2d(8, 8, 3, stride=2, padding=1, bias=True)
        self.bn = nn.BatchNorm2d(8)
        self.branch = nn.Conv2d(8, 8, 1)
        self.branch_bn = nn.BatchNorm2d(8)  # input also used elsewhere: must not fold
        self.after_add_bn = nn.BatchNorm2d(8)  # follows an add, not a conv: must not fold

    def forward(self, x):
        y = self.features(x)
        y = torch.relu(self.bn(self.conv(y)))
        branch = self.branch(y)
        z = self.branch_bn(branch) + branch
        return self.after_add_bn(z + y)


def test_folded_model_matches_unfolded_within_1e_5():
    torch.manual_seed(0)
    model = Net().eval()
    randomize_statistics(model)
    example = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        expected = model(example)

    report = fold_batchnorm(model, example)

    assert sorted(report.folded) == [("conv", "bn"), ("features.0", "features.1")]
    assert sorted(report.left) == ["after_add_bn", "branch_bn"]
    assert isinstance(model.bn, nn.Identity) and isinstance(model.features[1], nn.Identity)
    with torch.no_grad():
        actual = model(example)
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)


def test_folding_keeps_pruned_zeros_and_creates_bias():
    torch.manual_seed(1)
    conv, bn = nn.Conv2d(4, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6)
    randomize_statistics(nn.Sequential(conv, bn))
    mask = pattern_prune(conv)
    reference = nn.Sequential(conv, bn).eval()
    example = torch.randn(1, 4, 8, 8)
    with torch.no_grad():
        expected = reference(example)

    fold_conv_bn(conv, bn)

    assert conv.bias is not None and conv.bias.shape == (6,)
    assert torch.equal(conv.weight != 0, mask.bool()), "folding must not move or fill pruned weights"
    with torch.no_grad():
        torch.testing.assert_close(conv(example), expected, rtol=1e-5, atol=1e-5)


def test_batchnorm_without_affine_folds():
    conv, bn = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, affine=False)
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.5, 2)
    model = nn.Sequential(conv, bn).eval()
    example = torch.randn(1, 3, 6, 6)
    with torch.no_grad():
        expected = model(example)
    report = fold_batchnorm(model, example)
    assert report.folded == [("0", "1")]
    with torch.no_grad():
        torch.testing.assert_close(model(example), expected, rtol=1e-5, atol=1e-5)
