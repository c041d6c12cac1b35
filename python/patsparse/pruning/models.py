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
``mobilenet_v2``    3x224x224     MobileNetV2 (torchvision's layout: inverted residuals,
                                  depthwise 3x3, ReLU6), 1 linear
``yolov8n``         3x320x320     YOLOv8n-style detector (ultralytics' yolov8n.yaml: C2f, SPPF,
                                  nearest upsampling, concat, SiLU; the Detect head decoded:
                                  DFL softmax, boxes in pixels, class sigmoids), output
                                  1x84x2100
==================  ============  ==============================================

The last two are written here after the packages' model descriptions (torchvision's
``mobilenet_v2``, ultralytics' ``yolov8n.yaml``), since neither package runs beside the CPU
build of torch this project pins; same layers, same shapes, random weights.

``build(name, **kwargs)`` takes ``num_classes`` (default 10, 1000 for the ImageNet shapes)
and, for the small nets, ``width`` (channels of the first stage).
"""

from __future__ import annotations

from typing import ClassVar

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


def _make_divisible(value: float, divisor: int = 8) -> int:
    """torchvision's channel rounding (to a multiple of 8, never below 90% of the value)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def _conv_bn_relu6(in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(out_ch), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    """MobileNetV2's block: 1x1 expansion, depthwise 3x3, linear 1x1 projection (+ input)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, expand_ratio: int):
        super().__init__()
        hidden = round(in_ch * expand_ratio)
        self.use_residual = stride == 1 and in_ch == out_ch
        layers = [_conv_bn_relu6(in_ch, hidden, 1)] if expand_ratio != 1 else []
        layers += [_conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden),
                   nn.Conv2d(hidden, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_residual else self.conv(x)


class MobileNetV2(nn.Module):
    """torchvision.models.mobilenet_v2 (width 1.0), with its initialisation."""

    SETTINGS: ClassVar = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                (6, 320, 1, 1)]  # expansion t, channels c, blocks n, first stride s

    def __init__(self, num_classes: int = 1000, width_mult: float = 1.0, in_channels: int = 3):
        super().__init__()
        channels = _make_divisible(32 * width_mult)
        last = _make_divisible(1280 * max(1.0, width_mult))
        features = [_conv_bn_relu6(in_channels, channels, 3, 2)]
        for expansion, width, count, first_stride in self.SETTINGS:
            out_ch = _make_divisible(width * width_mult)
            for index in range(count):
                features.append(InvertedResidual(channels, out_ch, first_stride if index == 0 else 1, expansion))
                channels = out_ch
        features.append(_conv_bn_relu6(channels, last, 1))
        self.features = nn.Sequential(*features)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last, num_classes))
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0, 0.01)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


class YoloConv(nn.Module):
    """ultralytics' Conv: convolution (padding k//2, no bias), BatchNorm, SiLU."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 1, stride: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(out_ch, eps=1e-3, momentum=0.03)
        self.act = nn.SiLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class YoloBottleneck(nn.Module):
    def __init__(self, channels: int, shortcut: bool):
        super().__init__()
        self.cv1, self.cv2 = YoloConv(channels, channels, 3), YoloConv(channels, channels, 3)
        self.add = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    """CSP bottleneck with 2 convolutions: split in two, n bottlenecks on the second half, concat all."""

    def __init__(self, in_ch: int, out_ch: int, count: int = 1, shortcut: bool = False):
        super().__init__()
        self.c = out_ch // 2
        self.cv1 = YoloConv(in_ch, 2 * self.c, 1)
        self.cv2 = YoloConv((2 + count) * self.c, out_ch, 1)
        self.m = nn.ModuleList(YoloBottleneck(self.c, shortcut) for _ in range(count))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = list(self.cv1(x).chunk(2, 1))
        y.extend(block(y[-1]) for block in self.m)
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    """Spatial pyramid pooling, fast: three 5x5 max-pools in a row, all four concatenated."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 5):
        super().__init__()
        hidden = in_ch // 2
        self.cv1, self.cv2 = YoloConv(in_ch, hidden, 1), YoloConv(hidden * 4, out_ch, 1)
        self.m = nn.MaxPool2d(kernel, 1, kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = [self.cv1(x)]
        y.extend(self.m(y[-1]) for _ in range(3))
        return self.cv2(torch.cat(y, 1))


class YoloDetect(nn.Module):
    """The Detect head, decoded as ultralytics exports it: per scale a box branch (4 x 16 DFL
    bins) and a class branch; DFL softmax expectation, distances to xywh boxes in pixels,
    class sigmoids. Output: (batch, 4 + classes, anchors)."""

    REG_MAX = 16

    def __init__(self, num_classes: int, channels: tuple, strides: tuple, image_size: int):
        super().__init__()
        self.num_classes = num_classes
        box_ch = max(16, channels[0] // 4, 4 * self.REG_MAX)
        class_ch = max(channels[0], min(num_classes, 100))
        self.cv2 = nn.ModuleList(nn.Sequential(YoloConv(c, box_ch, 3), YoloConv(box_ch, box_ch, 3),
                                               nn.Conv2d(box_ch, 4 * self.REG_MAX, 1)) for c in channels)
        self.cv3 = nn.ModuleList(nn.Sequential(YoloConv(c, class_ch, 3), YoloConv(class_ch, class_ch, 3),
                                               nn.Conv2d(class_ch, num_classes, 1)) for c in channels)
        self.dfl = nn.Conv2d(self.REG_MAX, 1, 1, bias=False).requires_grad_(False)
        self.dfl.weight.data[:] = torch.arange(self.REG_MAX, dtype=torch.float32).view(1, self.REG_MAX, 1, 1)
        points, scale = [], []
        for stride in strides:  # anchor centres of every cell, fixed by the input size
            size = image_size // stride
            ys, xs = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
            points.append(torch.stack((xs, ys), -1).view(-1, 2))
            scale.append(torch.full((size * size, 1), float(stride)))
        self.register_buffer("anchors", torch.cat(points).transpose(0, 1).unsqueeze(0))
        self.register_buffer("strides", torch.cat(scale).transpose(0, 1).unsqueeze(0))

    def forward(self, features: list) -> torch.Tensor:
        batch = features[0].shape[0]
        outputs = [torch.cat((box(x), cls(x)), 1).view(batch, 4 * self.REG_MAX + self.num_classes, -1)
                   for x, box, cls in zip(features, self.cv2, self.cv3)]
        box, cls = torch.cat(outputs, 2).split((4 * self.REG_MAX, self.num_classes), 1)
        anchors = box.shape[2]
        bins = box.view(batch, 4, self.REG_MAX, anchors).transpose(2, 1).softmax(1)
        distance = self.dfl(bins).view(batch, 4, anchors)
        left_top, right_bottom = distance.chunk(2, 1)
        top_left, bottom_right = self.anchors - left_top, self.anchors + right_bottom
        boxes = torch.cat(((top_left + bottom_right) / 2, bottom_right - top_left), 1) * self.strides
        return torch.cat((boxes, cls.sigmoid()), 1)


class YoloV8(nn.Module):
    """ultralytics' yolov8.yaml at scale n (depth 0.33, width 0.25): backbone to P5, PAN neck, Detect."""

    def __init__(self, num_classes: int = 80, image_size: int = 320, depth: float = 0.33, width: float = 0.25,
                 in_channels: int = 3):
        super().__init__()

        def ch(c: int) -> int:
            return _make_divisible(min(c, 1024) * width)

        def n(count: int) -> int:
            return max(round(count * depth), 1)

        self.stem = nn.Sequential(YoloConv(in_channels, ch(64), 3, 2), YoloConv(ch(64), ch(128), 3, 2),
                                  C2f(ch(128), ch(128), n(3), True), YoloConv(ch(128), ch(256), 3, 2),
                                  C2f(ch(256), ch(256), n(6), True))                              # P3/8
        self.down4 = nn.Sequential(YoloConv(ch(256), ch(512), 3, 2), C2f(ch(512), ch(512), n(6), True))  # P4/16
        self.down5 = nn.Sequential(YoloConv(ch(512), ch(1024), 3, 2), C2f(ch(1024), ch(1024), n(3), True),
                                   SPPF(ch(1024), ch(1024)))                                    # P5/32
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.top4 = C2f(ch(1024) + ch(512), ch(512), n(3))
        self.top3 = C2f(ch(512) + ch(256), ch(256), n(3))
        self.down_conv3 = YoloConv(ch(256), ch(256), 3, 2)
        self.bottom4 = C2f(ch(256) + ch(512), ch(512), n(3))
        self.down_conv4 = YoloConv(ch(512), ch(512), 3, 2)
        self.bottom5 = C2f(ch(512) + ch(1024), ch(1024), n(3))
        self.detect = YoloDetect(num_classes, (ch(256), ch(512), ch(1024)), (8, 16, 32), image_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p3 = self.stem(x)
        p4 = self.down4(p3)
        p5 = self.down5(p4)
        t4 = self.top4(torch.cat((self.up(p5), p4), 1))
        t3 = self.top3(torch.cat((self.up(t4), p3), 1))
        b4 = self.bottom4(torch.cat((self.down_conv3(t3), t4), 1))
        b5 = self.bottom5(torch.cat((self.down_conv4(b4), p5), 1))
        return self.detect([t3, b4, b5])


def mobilenet_v2(num_classes: int = 1000) -> nn.Module:
    return MobileNetV2(num_classes)


def yolov8n(num_classes: int = 80) -> nn.Module:
    return YoloV8(num_classes, image_size=320)


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
    "mobilenet_v2": (mobilenet_v2, (1, 3, 224, 224)),
    "yolov8n": (yolov8n, (1, 3, 320, 320)),
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
