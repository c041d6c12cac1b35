"""Models and data sets "of a user": classes the project has never seen, referenced as
``user_models:TinyNet`` from the tests (this folder is put on the model path)."""

import torch
from torch import nn


class TinyNet(nn.Module):
    """A 3x16x16 classifier: two 3x3 convs with BatchNorm, pooling, a linear head."""

    input_shape = (1, 3, 16, 16)

    def __init__(self, num_classes: int = 3, width: int = 8):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1, bias=False), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.MaxPool2d(2))
        self.head = nn.Linear(2 * width * 4 * 4, num_classes)

    def forward(self, x):
        return self.head(torch.flatten(self.body(x), 1))


class OtherNet(TinyNet):
    """Same interface, another architecture (a wider first layer): TinyNet's weights do not fit."""

    def __init__(self, num_classes: int = 3):
        super().__init__(num_classes, width=12)


class TinyMobile(nn.Module):
    """A MobileNet-style block: a dense 3x3 stem, a depthwise 3x3, a pointwise 1x1, a grouped 3x3."""

    input_shape = (1, 3, 16, 16)

    def __init__(self, num_classes: int = 3):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
        self.depthwise = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.ReLU())
        self.pointwise = nn.Sequential(nn.Conv2d(8, 16, 1), nn.ReLU())
        self.grouped = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1, groups=4), nn.ReLU())
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, num_classes))

    def forward(self, x):
        return self.head(self.grouped(self.pointwise(self.depthwise(self.stem(x)))))


class LinearNet(nn.Module):
    """No convolution at all: nothing to pattern-prune."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 3))

    def forward(self, x):
        return self.fc(x)


def broken():
    raise RuntimeError("the weights server is down")


def _images(count: int, seed: int):
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(count) % 3
    images = torch.randn(count, 3, 16, 16, generator=generator) * 0.3
    for c in range(3):  # a learnable signal: class c brightens channel c
        images[labels == c, c] += 1.0
    return images, labels


def tiny_data():
    """(train, test) as map-style datasets."""
    return torch.utils.data.TensorDataset(*_images(96, 0)), torch.utils.data.TensorDataset(*_images(48, 1))


def tiny_loaders():
    """(train, test) as DataLoaders."""
    train, test = tiny_data()
    return torch.utils.data.DataLoader(train, batch_size=32), torch.utils.data.DataLoader(test, batch_size=48)


def wrong_shape_data():
    """Samples of 1x28x28: they do not fit TinyNet (3x16x16)."""
    x = torch.zeros(8, 1, 28, 28)
    data = torch.utils.data.TensorDataset(x, torch.zeros(8, dtype=torch.long))
    return data, data
