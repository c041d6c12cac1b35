"""The dense rest of a model (everything but convolutions) is tiled and vectorized by
`patsparse.lowering.dense`, lowered with TO_LLVM, JIT-compiled, and must compute what
PyTorch computes; the scheduled IR must really be vector code."""

import re
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from mlir import ir, passmanager

from patsparse.dialect import make_context
from patsparse.frontend import import_model
from patsparse.jit import Jit
from patsparse.lowering.dense import schedule_dense_ops
from patsparse.lowering.to_llvm import TO_LLVM

FACTORY_SOURCE = textwrap.dedent('''
    import torch
    from torch import nn

    class VggStyle(nn.Module):
        """conv-ReLU-maxpool 2x2 twice, flatten, Linear-ReLU-Linear."""
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
            self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
            self.fc1 = nn.Linear(32 * 8 * 8, 64)
            self.fc2 = nn.Linear(64, 10)
        def forward(self, x):
            x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
            x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
            return self.fc2(torch.relu(self.fc1(torch.flatten(x, 1))))

    class ResNetStyle(nn.Module):
        """stem conv + maxpool 3x3/2 pad 1, a residual block, avgpool 2x2, global average, Linear."""
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 16, 3, padding=1)
            self.pool = nn.MaxPool2d(3, 2, 1)
            self.conv1 = nn.Conv2d(16, 16, 3, padding=1)
            self.conv2 = nn.Conv2d(16, 16, 3, padding=1)
            self.avg = nn.AvgPool2d(2)
            self.gap = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(16, 10)
        def forward(self, x):
            y = self.pool(torch.relu(self.stem(x)))
            y = torch.relu(self.conv2(torch.relu(self.conv1(y))) + y)
            return self.fc(torch.flatten(self.gap(self.avg(y)), 1))

    class LinearHead(nn.Module):
        """No convolution at all: flatten, Linear with bias, ReLU, Linear without bias."""
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(4 * 6 * 6, 100)
            self.fc2 = nn.Linear(100, 7, bias=False)
        def forward(self, x):
            return self.fc2(torch.relu(self.fc1(torch.flatten(x, 1))))

    def seeded(cls):
        torch.manual_seed(0)
        return cls().eval()

    def vgg_style():
        return seeded(VggStyle)

    def resnet_style():
        return seeded(ResNetStyle)

    def linear_head():
        return seeded(LinearHead)
''')

MODELS = {  # factory -> input shape
    "vgg_style": (1, 3, 32, 32),
    "resnet_style": (1, 3, 32, 32),
    "linear_head": (1, 4, 6, 6),
}


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """Each model imported once: factory name -> (module text, torch model)."""
    directory = tmp_path_factory.mktemp("dense_nets")
    (directory / "dense_nets.py").write_text(FACTORY_SOURCE)
    namespace: dict = {}
    exec(compile(FACTORY_SOURCE, "dense_nets.py", "exec"), namespace)
    result = {}
    import os
    previous = os.getcwd()
    os.chdir(directory)
    try:
        for name, shape in MODELS.items():
            path = import_model(f"dense_nets:{name}", directory / f"{name}.mlir", input_shape=shape)
            result[name] = (path.read_text(), namespace[name]())
    finally:
        os.chdir(previous)
    return result


def linalg_ops(text: str) -> set[str]:
    return set(re.findall(r"\blinalg\.[a-z_0-9]+", text)) - {"linalg.yield", "linalg.index"}


def lowered_before_llvm(scheduled_text: str) -> str:
    """The scheduled module run through TO_LLVM up to (not including) the LLVM conversions."""
    stages = TO_LLVM.split(",")
    stop = next(i for i, stage in enumerate(stages) if stage.startswith("expand-strided-metadata"))
    with make_context():
        module = ir.Module.parse(scheduled_text)
        passmanager.PassManager.parse("builtin.module(" + ",".join(stages[:stop]) + ")").run(module.operation)
        return str(module)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MODELS))
def test_scheduled_model_matches_pytorch(imported, name):
    text, model = imported[name]
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(MODELS[name], generator=generator)
    with torch.no_grad():
        expected = model(x).numpy()
    jit = Jit(text, schedule=True, vector_width=16)
    actual = jit(x.numpy())
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5)

    # Every dense op was scheduled: only convolutions are left as linalg ops.
    assert linalg_ops(jit.scheduled_text) <= {"linalg.conv_2d_nchw_fchw"}, linalg_ops(jit.scheduled_text)
    lowered = lowered_before_llvm(jit.scheduled_text)
    widths = [int(w) for w in re.findall(r"vector<(\d+)xf32>", lowered)]
    assert sum(1 for w in widths if w % 16 == 0) >= 4, sorted(set(widths))
    assert "vector.transfer_read" in lowered or "vector.load" in lowered


@pytest.mark.slow
def test_pooling_and_matmul_are_vector_code(imported):
    text, _ = imported["resnet_style"]
    with make_context():
        module = ir.Module.parse(text)
        schedule_dense_ops(module, 16)
        scheduled = str(module)
    assert "pooling" not in scheduled
    lowered = lowered_before_llvm(scheduled)
    # max pooling: elementwise maxima of vectors; average pooling and Linear: vector adds / FMAs.
    assert re.search(r"arith\.maximumf %\S+, %\S+ : vector<\d+xf32>", lowered)
    assert re.search(r"arith\.(addf|mulf) %\S+, %\S+ : vector<\d+xf32>", lowered) or "vector.fma" in lowered
    # Linear weights are read in place: no transposed copy of the weight at run time.
    assert "linalg.transpose" not in scheduled


@pytest.mark.slow
def test_vector_width_4_for_neon(imported):
    text, model = imported["vgg_style"]
    x = torch.randn(MODELS["vgg_style"], generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = model(x).numpy()
    jit = Jit(text, schedule=True, vector_width=4)
    np.testing.assert_allclose(jit(x.numpy()), expected, rtol=1e-4, atol=1e-5)
    lowered = lowered_before_llvm(jit.scheduled_text)
    widths = {int(w) for w in re.findall(r"vector<(\d+)xf32>", lowered)}
    assert widths and max(widths) <= 16 and 4 in widths, sorted(widths)


# A hand-written kernel function and an op marked patsparse.dense_reason, which the schedule
# leaves alone (checked with FileCheck in the file itself).
RESERVED_AND_REASON = (Path(__file__).parent / "schedule-dense-reserved.mlir").read_text()


def test_reserved_functions_and_dense_reason_ops_are_left_alone():
    # What the schedule leaves (the kernel, the marked op) and what it vectorizes (the ReLU, in
    # vector<64xf32> tiles): lowering/schedule-dense-reserved.mlir. Here: the numbers.
    x = np.random.default_rng(0).standard_normal((4, 32)).astype(np.float32)
    actual = Jit(RESERVED_AND_REASON, schedule=True, vector_width=16)(x)
    np.testing.assert_allclose(actual, -2 * np.maximum(x, 0), rtol=1e-6)
