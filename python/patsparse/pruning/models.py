"""Models built in the package (no downloads): plain Conv2d/BatchNorm2d/ReLU/MaxPool/Linear
and residual adds, so torch-mlir's FX importer takes them as they are (BatchNorm folds).

==================  ============  ==============================================
name                input         what
==================  ============  ==============================================
``vgg_small``       1x28x28       6 3x3 convs (16-16-32-32-64-64), 3 max-pools, 1 linear
``vgg_wide``        1x28x28       vgg_small at twice the width (32-32-64-64-128-128)
``resnet_small``    1x28x28       ResNet-8: stem + 3 stages of 1 basic block (16/32/64)
``vgg16_cifar``     3x32x32       VGG-16 (13 convs, BatchNorm), 1 linear
``resnet18_cifar``  3x32x32       ResNet-18, 3x3 stem, no stem pool
``resnet50_cifar``  3x32x32       ResNet-50 (bottlenecks), 3x3 stem, no stem pool
``vgg16``           3x224x224     VGG-16 with BatchNorm, 3 linears (4096-4096-1000)
``resnet18``        3x224x224     ResNet-18, 7x7 stem + max-pool
``resnet50``        3x224x224     ResNet-50
==================  ============  ==============================================

``build(name, **kwargs)`` takes ``num_classes`` (default 10, 1000 for the ImageNet shapes)
and, for the small nets, ``width`` (channels of the first stage).
"""

from __future__ import annotations

import torch
from torch import nn


def _conv_bn_relu(in_ch: int, out_ch: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True)]


class VGG(nn.Module):
    """VGG-style net: ``cfg`` lists conv widths, ``"M"`` a 2x2 max-pool."""

    def __init__(self, cfg, in_channels: int, classifier_in: int, num_classes: int, hidden: tuple = ()):
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for item in cfg:
            if item == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += _conv_bn_relu(channels, item)
                channels = item
        self.features = nn.Sequential(*layers)
        head: list[nn.Module] = []
        width = classifier_in
        for h in hidden:
            head += [nn.Linear(width, h), nn.ReLU(inplace=True)]
            width = h
        head.append(nn.Linear(width, num_classes))
        self.classifier = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


def _shortcut(in_ch: int, out_ch: int, stride: int) -> nn.Module:
    """Identity, or a strided 1x1 conv + BatchNorm when the shape changes."""
    if stride == 1 and in_ch == out_ch:
        return nn.Sequential()
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch))


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.relu2 = nn.ReLU(inplace=True)
        self.shortcut = _shortcut(in_ch, out_ch, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + self.shortcut(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_ch: int, planes: int, stride: int = 1):
        super().__init__()
        out_ch = planes * self.expansion
        self.conv1 = nn.Conv2d(in_ch, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv3 = nn.Conv2d(planes, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.relu3 = nn.ReLU(inplace=True)
        self.shortcut = _shortcut(in_ch, out_ch, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.relu2(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu3(out + self.shortcut(x))


class ResNet(nn.Module):
    """ResNet: ``stem`` ("small": 3x3 conv; "imagenet": 7x7/2 conv + 3x3/2 max-pool)."""

    def __init__(self, block, blocks_per_stage, widths, in_channels: int, num_classes: int, stem: str):
        super().__init__()
        first = widths[0]
        if stem == "imagenet":
            self.stem = nn.Sequential(nn.Conv2d(in_channels, first, 7, stride=2, padding=3, bias=False),
                                      nn.BatchNorm2d(first), nn.ReLU(inplace=True),
                                      nn.MaxPool2d(3, stride=2, padding=1))
        else:
            self.stem = nn.Sequential(*_conv_bn_relu(in_channels, first))
        stages = []
        channels = first
        for index, (count, width) in enumerate(zip(blocks_per_stage, widths)):
            blocks = []
            for b in range(count):
                stride = 2 if index > 0 and b == 0 else 1
                blocks.append(block(channels, width, stride))
                channels = width * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.stages(self.stem(x))), 1))


_VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def vgg_small(num_classes: int = 10, width: int = 16) -> nn.Module:
    w = width
    return VGG([w, w, "M", 2 * w, 2 * w, "M", 4 * w, 4 * w, "M"], 1, 4 * w * 3 * 3, num_classes)


def vgg_wide(num_classes: int = 10, width: int = 32) -> nn.Module:
    return vgg_small(num_classes, width)


def resnet_small(num_classes: int = 10, width: int = 16) -> nn.Module:
    return ResNet(BasicBlock, [1, 1, 1], [width, 2 * width, 4 * width], 1, num_classes, stem="small")


def vgg16_cifar(num_classes: int = 10) -> nn.Module:
    return VGG(_VGG16, 3, 512, num_classes)


def resnet18_cifar(num_classes: int = 10) -> nn.Module:
    return ResNet(BasicBlock, [2, 2, 2, 2], [64, 128, 256, 512], 3, num_classes, stem="small")


def resnet50_cifar(num_classes: int = 10) -> nn.Module:
    return ResNet(Bottleneck, [3, 4, 6, 3], [64, 128, 256, 512], 3, num_classes, stem="small")


def vgg16(num_classes: int = 1000) -> nn.Module:
    return VGG(_VGG16, 3, 512 * 7 * 7, num_classes, hidden=(4096, 4096))


def resnet18(num_classes: int = 1000) -> nn.Module:
    return ResNet(BasicBlock, [2, 2, 2, 2], [64, 128, 256, 512], 3, num_classes, stem="imagenet")


def resnet50(num_classes: int = 1000) -> nn.Module:
    return ResNet(Bottleneck, [3, 4, 6, 3], [64, 128, 256, 512], 3, num_classes, stem="imagenet")


MODELS = {
    "vgg_small": (vgg_small, (1, 1, 28, 28)),
    "vgg_wide": (vgg_wide, (1, 1, 28, 28)),
    "resnet_small": (resnet_small, (1, 1, 28, 28)),
    "vgg16_cifar": (vgg16_cifar, (1, 3, 32, 32)),
    "resnet18_cifar": (resnet18_cifar, (1, 3, 32, 32)),
    "resnet50_cifar": (resnet50_cifar, (1, 3, 32, 32)),
    "vgg16": (vgg16, (1, 3, 224, 224)),
    "resnet18": (resnet18, (1, 3, 224, 224)),
    "resnet50": (resnet50, (1, 3, 224, 224)),
}


def _check(name: str) -> None:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(MODELS)}")


def build(name: str, **kwargs) -> nn.Module:
    """A freshly initialised model by name (see the module docstring for the names)."""
    _check(name)
    return MODELS[name][0](**kwargs)


def input_shape(name: str) -> tuple:
    """The NCHW input shape (batch 1) a model expects, e.g. ``(1, 1, 28, 28)``."""
    _check(name)
    return MODELS[name][1]
