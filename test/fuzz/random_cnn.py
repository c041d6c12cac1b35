"""Random CNNs for differential testing: a JSON-able spec, a PyTorch module built from it, and
the pruning that makes its 3x3 convolutions pattern-sparse.

A spec is a small dataflow graph over NCHW tensors (value 0 is the input, node i defines value
i + 1), so a failing model can be shrunk by editing the spec and saved as a file that rebuilds
it:

    {"input": [N, C, H, W], "seed": 7, "patterns": 4, "connectivity": 8.0,
     "nodes": [{"op": "conv", "in": 0, "out": 5, "k": [3, 3], "stride": 1, "pad": 1, "dil": 1,
                "groups": 1, "bias": true},
               {"op": "act", "in": 1, "fn": "relu6"},
               {"op": "add", "in": [2, 0]} ...],
     "outputs": [3, 1], "linear": 10}

The model returns the flattened `outputs` concatenated (several reads of one tensor are the
rule, not the exception) and, with `linear`, a Linear layer on that. `generate(rng)` draws what
the importer accepts: depth, channel counts including primes, odd and non-square sizes,
strides, paddings, dilation, groups and depthwise, 1x1/3x3/5x5/1x3/3x1 kernels, every activation
the lowering supports, BatchNorm with non-trivial statistics, max and average pooling, residual
adds, concatenation and batch > 1.
"""

from __future__ import annotations

import copy
import json
import math
import random

import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS = ("relu", "relu6", "sigmoid", "tanh", "silu", "leaky_relu", "hardtanh", "hardsigmoid",
               "hardswish", "elu", "gelu")
KERNELS = ((3, 3), (3, 3), (3, 3), (1, 1), (5, 5), (1, 3), (3, 1))
CHANNELS = (1, 2, 3, 4, 5, 7, 8, 11, 13, 16, 17, 24)


# --- the module --------------------------------------------------------------------------------

def _activation(name: str, x: torch.Tensor) -> torch.Tensor:
    return {
        "relu": F.relu, "relu6": F.relu6, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "silu": F.silu,
        "leaky_relu": lambda t: F.leaky_relu(t, 0.1), "hardtanh": F.hardtanh, "hardsigmoid": F.hardsigmoid,
        "hardswish": F.hardswish, "elu": F.elu, "gelu": F.gelu,
    }[name](x)


class SpecNet(nn.Module):
    """The network a spec describes (weights from `torch.manual_seed(spec["seed"])`)."""

    def __init__(self, spec: dict):
        super().__init__()
        self.spec = copy.deepcopy(spec)
        torch.manual_seed(spec.get("seed", 0))
        channels = [spec["input"][1]]
        self.layers = nn.ModuleDict()
        for index, node in enumerate(spec["nodes"]):
            op = node["op"]
            if op == "conv":
                cin = channels[node["in"]]
                conv = nn.Conv2d(cin, node["out"], tuple(node["k"]), stride=node["stride"], padding=node["pad"],
                                 dilation=node["dil"], groups=node["groups"], bias=node["bias"])
                self.layers[f"n{index}"] = conv
                channels.append(node["out"])
            elif op == "bn":
                channels.append(channels[node["in"]])
                self.layers[f"n{index}"] = nn.BatchNorm2d(channels[-1])
            elif op == "cat":
                channels.append(sum(channels[i] for i in node["in"]))
            else:
                channels.append(channels[node["in"] if isinstance(node["in"], int) else node["in"][0]])
        self.features = sum(channels[i] * math.prod(shape_of(spec, i)[2:]) for i in spec["outputs"])
        self.linear = nn.Linear(self.features, spec["linear"]) if spec.get("linear") else None

    def forward(self, x):
        values = [x]
        for index, node in enumerate(self.spec["nodes"]):
            op, source = node["op"], node["in"]
            if op in ("conv", "bn"):
                values.append(self.layers[f"n{index}"](values[source]))
            elif op == "act":
                values.append(_activation(node["fn"], values[source]))
            elif op == "pool":
                pool = F.max_pool2d if node["kind"] == "max" else F.avg_pool2d
                values.append(pool(values[source], node["k"], node["stride"], node["pad"]))
            elif op == "add":
                values.append(values[source[0]] + values[source[1]])
            elif op == "cat":
                values.append(torch.cat([values[i] for i in source], 1))
            else:
                raise ValueError(f"unknown op {op!r}")
        out = torch.cat([torch.flatten(values[i], 1) for i in self.spec["outputs"]], 1)
        return self.linear(out) if self.linear is not None else out


class Batch(nn.Module):
    """Several spec networks on one input: one import and one compile test them all. The output
    is their outputs side by side (`columns` says which columns belong to which)."""

    def __init__(self, specs: list[dict]):
        super().__init__()
        self.nets = nn.ModuleList(SpecNet(spec) for spec in specs)

    def forward(self, x):
        return torch.cat([net(x) for net in self.nets], 1)


def output_width(spec: dict) -> int:
    if spec.get("linear"):
        return spec["linear"]
    return sum(math.prod(shape_of(spec, i)[1:]) for i in spec["outputs"])


def columns(specs: list[dict]) -> list[slice]:
    out, start = [], 0
    for spec in specs:
        width = output_width(spec)
        out.append(slice(start, start + width))
        start += width
    return out


# --- shapes ------------------------------------------------------------------------------------

def _conv_hw(size: int, k: int, stride: int, pad: int, dil: int) -> int:
    return (size + 2 * pad - dil * (k - 1) - 1) // stride + 1


def shapes(spec: dict) -> list[list[int]]:
    """The NCHW shape of every value of the spec (value 0: the input)."""
    out = [list(spec["input"])]
    for node in spec["nodes"]:
        op, source = node["op"], node["in"]
        if op == "conv":
            n, _, h, w = out[source]
            out.append([n, node["out"], _conv_hw(h, node["k"][0], node["stride"], node["pad"], node["dil"]),
                        _conv_hw(w, node["k"][1], node["stride"], node["pad"], node["dil"])])
        elif op == "pool":
            n, c, h, w = out[source]
            out.append([n, c, _conv_hw(h, node["k"], node["stride"], node["pad"], 1),
                        _conv_hw(w, node["k"], node["stride"], node["pad"], 1)])
        elif op == "cat":
            first = out[source[0]]
            out.append([first[0], sum(out[i][1] for i in source), first[2], first[3]])
        else:
            out.append(list(out[source if isinstance(source, int) else source[0]]))
    return out


def shape_of(spec: dict, value: int) -> list[int]:
    return shapes(spec)[value]


def is_valid(spec: dict) -> bool:
    """Every node's inputs exist and agree in shape, every size stays positive."""
    try:
        every = [list(spec["input"])]
        for index, node in enumerate(spec["nodes"]):
            sources = node["in"] if isinstance(node["in"], list) else [node["in"]]
            if any(not 0 <= s <= index for s in sources):
                return False
            given = [every[s] for s in sources]
            op = node["op"]
            if op == "conv":
                cin = given[0][1]
                if cin % node["groups"] or node["out"] % node["groups"]:
                    return False
            if op == "pool" and (2 * node["pad"] > node["k"] or node["k"] > min(given[0][2:]) + 2 * node["pad"]):
                return False
            if op == "add" and given[0] != given[1]:
                return False
            if op == "cat" and any(g[2:] != given[0][2:] for g in given):
                return False
            every = shapes({**spec, "nodes": spec["nodes"][:index + 1]})
            if min(every[-1]) < 1:
                return False
        outputs = spec.get("outputs", [len(spec["nodes"])])  # while drawing: the last value
        return bool(outputs) and all(0 <= i <= len(spec["nodes"]) for i in outputs)
    except (KeyError, TypeError, IndexError):
        return False


# --- drawing a random spec ---------------------------------------------------------------------

def generate(rng: random.Random, input_shape: list[int] | None = None, max_nodes: int = 9) -> dict:
    """A random valid spec (retries internally until one is valid)."""
    while True:
        spec = _draw(rng, input_shape, max_nodes)
        if is_valid(spec):
            return spec


def draw_input_shape(rng: random.Random) -> list[int]:
    batch = rng.choice((1, 1, 1, 2, 3))
    channels = rng.choice((1, 2, 3, 4, 5, 8))
    height = rng.choice((5, 6, 7, 8, 9, 11, 12, 13, 16))
    width = height if rng.random() < 0.5 else rng.choice((5, 7, 8, 10, 12, 15))
    return [batch, channels, height, width]


def _draw(rng: random.Random, input_shape, max_nodes: int) -> dict:
    spec = {"input": list(input_shape or draw_input_shape(rng)), "seed": rng.randrange(1 << 30),
            "patterns": rng.choice((1, 2, 4, 6, 8, 12)),
            "connectivity": rng.choice((None, None, 2.0, 4.0, 8.0, 16.0)), "nodes": []}
    for _ in range(rng.randint(1, max_nodes)):
        every = shapes(spec)
        # Prefer recent values: chains as deep as the node count, with some fan-out.
        source = max(0, len(every) - 1 - int(rng.expovariate(0.8)))
        n, c, h, w = every[source]
        kind = rng.choices(("conv", "bn", "act", "pool", "add", "cat"), (6, 1.5, 2.5, 1.5, 1.5, 1))[0]
        if kind == "conv":
            k = list(rng.choice(KERNELS))
            dil = 2 if rng.random() < 0.1 else 1
            pad = rng.choice((0, 1, 1, 2)) if k != [1, 1] else rng.choice((0, 0, 1))
            groups = 1
            out = rng.choice(CHANNELS)
            roll = rng.random()
            if roll < 0.12 and c > 1:
                groups, out = c, c * rng.choice((1, 1, 2))  # depthwise
            elif roll < 0.2:
                divisors = [g for g in range(2, c + 1) if c % g == 0]
                if divisors:
                    groups = rng.choice(divisors)
                    out = groups * rng.choice((1, 2, 3))
            node = {"op": "conv", "in": source, "out": out, "k": k, "stride": rng.choice((1, 1, 1, 2)),
                    "pad": pad, "dil": dil, "groups": groups, "bias": rng.random() < 0.7}
        elif kind == "bn":
            node = {"op": "bn", "in": source}
        elif kind == "act":
            node = {"op": "act", "in": source, "fn": rng.choice(ACTIVATIONS)}
        elif kind == "pool":
            k = rng.choice((2, 2, 3))
            node = {"op": "pool", "in": source, "kind": rng.choice(("max", "avg")), "k": k,
                    "stride": rng.choice((1, 2, 2)) if k == 3 else 2, "pad": rng.choice((0, 1)) if k == 3 else 0}
        else:
            partners = [i for i, s in enumerate(every) if i != source and
                        (s == every[source] if kind == "add" else s[2:] == every[source][2:])]
            if not partners:
                continue
            node = {"op": kind, "in": [source, rng.choice(partners)]}
        spec["nodes"].append(node)
        if not is_valid(spec):
            spec["nodes"].pop()
    count = len(spec["nodes"])
    outputs = {count}
    if count and rng.random() < 0.5:
        outputs.add(rng.randrange(count))  # an earlier value read again at the end
    spec["outputs"] = sorted(outputs)
    spec["linear"] = rng.choice((0, 0, 0, 5, 10))
    return spec


# --- weights -----------------------------------------------------------------------------------

@torch.no_grad()
def build_pruned(spec: dict) -> nn.Module:
    """The spec's network with pattern-projected, connectivity-pruned 3x3 layers and BatchNorm
    statistics that are not the identity, in eval mode."""
    from patsparse.pruning.project import project_onto_patterns

    net = SpecNet(spec)
    generator = torch.Generator().manual_seed(spec.get("seed", 0) + 1)
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            size = module.num_features
            module.running_mean.copy_(0.5 * torch.randn(size, generator=generator))
            module.running_var.copy_(0.25 + torch.rand(size, generator=generator))
            module.weight.copy_(0.5 + torch.rand(size, generator=generator))
            module.bias.copy_(0.3 * torch.randn(size, generator=generator))
    connectivity = spec.get("connectivity")
    while True:
        try:
            project_onto_patterns(net, spec.get("patterns", 4), connectivity)
            break
        except ValueError:  # not reachable with the first layer kept whole: halve it
            connectivity = connectivity / 2 if connectivity and connectivity > 2 else None
    return net.eval()


def build_batch(specs: list[dict]) -> nn.Module:
    batch = Batch(specs)
    for index, spec in enumerate(specs):
        batch.nets[index] = build_pruned(spec)
    return batch.eval()


def dumps(specs: list[dict]) -> str:
    return json.dumps(specs, indent=None, sort_keys=True)
