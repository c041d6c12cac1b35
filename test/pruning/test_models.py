"""The model zoo: names, input shapes, forward passes, importer-friendly module types."""

import pytest
import torch
from torch import nn

from patsparse.pruning import models, project_onto_patterns
from patsparse.pruning.project import compression_report

ALLOWED = (nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d, nn.AdaptiveAvgPool2d, nn.Linear, nn.Sequential)


def test_model_names_and_shapes():
    assert {"vgg_small", "resnet_small", "vgg16_cifar", "resnet18_cifar", "resnet50_cifar", "vgg16", "resnet18",
            "resnet50"} <= set(models.MODELS)
    assert models.input_shape("vgg_small") == (1, 1, 28, 28)
    assert models.input_shape("vgg_wide") == (1, 1, 28, 28)
    widths = [m.out_channels for m in models.build("vgg_wide").modules() if isinstance(m, nn.Conv2d)]
    assert widths == [2 * m.out_channels for m in models.build("vgg_small").modules() if isinstance(m, nn.Conv2d)]
    assert models.input_shape("resnet50_cifar") == (1, 3, 32, 32)
    assert models.input_shape("resnet18") == (1, 3, 224, 224)
    with pytest.raises(ValueError, match="unknown model"):
        models.build("alexnet")


@pytest.mark.parametrize("name", ["vgg_small", "resnet_small", "resnet18_cifar"])
def test_forward_and_module_types(name):
    model = models.build(name).eval()
    out = model(torch.randn(2, *models.input_shape(name)[1:]))
    assert out.shape == (2, 10)
    for module in model.modules():
        if type(module).__module__.startswith("torch"):
            assert isinstance(module, ALLOWED), type(module)


def test_project_resnet18_cifar_random_weights_to_8x():
    torch.manual_seed(0)
    model = models.build("resnet18_cifar")
    layers = project_onto_patterns(model, num_patterns=8, connectivity=8.0)
    assert len(layers) == 17  # stem + 16 block convs; 1x1 shortcuts are not 3x3
    assert compression_report(model)["compression"] == pytest.approx(8.0, rel=0.01)
    assert model.stem[0].weight.flatten(2).abs().sum(2).ne(0).all()  # first layer exempt


@pytest.mark.parametrize("name, parameters, convolutions, output", [
    ("mobilenet_v2", 3_504_872, 52, (1, 1000)),   # torchvision.models.mobilenet_v2: 3,504,872 parameters
    ("yolov8n", 3_157_200, 64, (1, 84, 2100)),    # ultralytics yolov8n.yaml: 3,157,200 parameters
])
def test_zoo_models_match_the_published_architectures(name, parameters, convolutions, output):
    """Written after the packages' descriptions: the same parameter count and layer count."""
    model = models.build(name).eval()
    assert sum(p.numel() for p in model.parameters()) == parameters
    assert sum(isinstance(m, nn.Conv2d) for m in model.modules()) == convolutions
    with torch.no_grad():
        assert model(torch.randn(models.input_shape(name))).shape == output
