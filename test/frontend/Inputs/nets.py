"""Small models the front-end tests import as `nets:<factory>` (run from this directory)."""

import torch
from torch import nn


class ConvBnResidual(nn.Module):
    """conv(pad 1, no bias)+BN+ReLU, a residual block with BN, a stride-2 conv with bias, a 1x1 conv."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.stem_bn = nn.BatchNorm2d(8)
        self.block = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.block_bn = nn.BatchNorm2d(8)
        self.down = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.head = nn.Conv2d(16, 4, 1)
        generator = torch.Generator().manual_seed(0)
        for bn in (self.stem_bn, self.block_bn):  # non-trivial statistics, so folding matters
            bn.running_mean.uniform_(-0.5, 0.5, generator=generator)
            bn.running_var.uniform_(0.5, 2.0, generator=generator)
            bn.weight.data.uniform_(0.5, 1.5, generator=generator)
            bn.bias.data.uniform_(-0.5, 0.5, generator=generator)

    def forward(self, x):
        y = torch.relu(self.stem_bn(self.stem(x)))
        y = torch.relu(self.block_bn(self.block(y)) + y)
        return self.head(torch.relu(self.down(y)))


def conv_bn_residual():
    return ConvBnResidual()


def padded_conv_with_bias():
    """One 3x3 conv, padding 1, with bias: the op sequence docs/importing.md shows."""
    return nn.Conv2d(4, 8, 3, padding=1, bias=True)


def broken_factory():
    raise ValueError("this factory is broken on purpose")


def not_a_module():
    return 42
