"""Fold BatchNorm2d into the Conv2d that feeds it (PyTorch only; no torch-mlir).

For a convolution `y = W * x + b` followed by an inference-mode BatchNorm
`z = gamma * (y - mean) / sqrt(var + eps) + beta`, with
`scale[f] = gamma[f] / sqrt(var[f] + eps)` per output channel `f`:

    W'[f, c, kh, kw] = W[f, c, kh, kw] * scale[f]
    b'[f]            = (b[f] - mean[f]) * scale[f] + beta[f]      (b = 0 when absent)

Rationale:
- Scaling whole filters keeps every zero weight zero, so a pruned kernel stays pruned and
  a pattern kernel keeps its pattern: the compiler sees the masks the pruner chose.
- Pairs are found on the graph `torch.export` captures, not by the order of submodules,
  so models that call `self.bn1(self.conv1(x))` in any structure fold. A pair folds only
  when the convolution's output feeds nothing but the BatchNorm, both modules are called
  once, and the BatchNorm tracks running statistics; anything else is left as it is.
- The folded model is checked against the original on the example input.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

_CONV_TARGETS = ("aten.conv2d", "aten.convolution")


@dataclass
class FoldReport:
    """Which (conv, batchnorm) module pairs were folded, and which BatchNorms were not."""

    folded: list[tuple[str, str]] = field(default_factory=list)
    left: list[str] = field(default_factory=list)


def fold_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    """Fold `bn` into `conv` in place (new bias created when `conv` has none)."""
    with torch.no_grad():
        scale = torch.rsqrt(bn.running_var.double() + bn.eps)
        if bn.weight is not None:
            scale = scale * bn.weight.double()
        shift = -bn.running_mean.double() * scale
        if bn.bias is not None:
            shift = shift + bn.bias.double()
        weight = conv.weight.double() * scale.reshape(-1, *([1] * (conv.weight.dim() - 1)))
        bias = shift if conv.bias is None else conv.bias.double() * scale + shift
        conv.weight.copy_(weight.to(conv.weight.dtype))
        conv.bias = nn.Parameter(bias.to(conv.weight.dtype))


def _target_name(node) -> str:
    return str(node.target) if node.op == "call_function" else ""


def find_conv_bn_pairs(model: nn.Module, example_input: torch.Tensor | tuple):
    """(conv module name, bn module name) pairs that may fold, and the BatchNorms that may not.

    Uses `torch.export` on `model` in its current (eval) mode.
    """
    examples = example_input if isinstance(example_input, tuple) else (example_input,)
    program = torch.export.export(model, examples, strict=False)
    signature = program.graph_signature
    owner_of = {**signature.inputs_to_parameters, **signature.inputs_to_buffers}
    placeholders = {
        node.name: node for node in program.graph.nodes if node.op == "placeholder"
    }

    def module_of(arg, expected_attribute):
        """Module name owning placeholder `arg` when it is `<module>.<attribute>` used once."""
        if not isinstance(arg, torch.fx.Node) or arg.name not in owner_of:
            return None
        fqn = owner_of[arg.name]
        module_name, _, attribute = fqn.rpartition(".")
        if attribute != expected_attribute or len(placeholders[arg.name].users) != 1:
            return None
        return module_name

    pairs, left = [], []
    for node in program.graph.nodes:
        target = _target_name(node)
        if "batch_norm" not in target:
            continue
        bn_name = module_of(node.args[3] if len(node.args) > 3 else None, "running_mean")
        producer = node.args[0]
        conv_name = None
        if (
            isinstance(producer, torch.fx.Node)
            and _target_name(producer).startswith(_CONV_TARGETS)
            and len(producer.users) == 1
        ):
            conv_name = module_of(producer.args[1], "weight")
        modules_ok = (
            bn_name is not None
            and conv_name is not None
            and isinstance(model.get_submodule(bn_name), nn.BatchNorm2d)
            and isinstance(model.get_submodule(conv_name), nn.Conv2d)
            and model.get_submodule(bn_name).track_running_stats
        )
        if modules_ok:
            pairs.append((conv_name, bn_name))
        else:
            left.append(bn_name or node.name)
    return pairs, left


def _replace_submodule(model: nn.Module, name: str, replacement: nn.Module) -> None:
    parent_name, _, child_name = name.rpartition(".")
    setattr(model.get_submodule(parent_name), child_name, replacement)


def fold_batchnorm(model: nn.Module, example_input: torch.Tensor | tuple) -> FoldReport:
    """Fold every foldable BatchNorm2d of `model` (put in eval mode) into its Conv2d, in place.
    `example_input`: one tensor, or a tuple of them for a model of several inputs.

    Raises RuntimeError if the folded model's output differs from the original's.
    """
    model.eval()
    pairs, left = find_conv_bn_pairs(model, example_input)
    if not pairs:
        return FoldReport(folded=[], left=left)
    examples = example_input if isinstance(example_input, tuple) else (example_input,)
    with torch.no_grad():
        reference = model(*examples)
    for conv_name, bn_name in pairs:
        fold_conv_bn(model.get_submodule(conv_name), model.get_submodule(bn_name))
        _replace_submodule(model, bn_name, nn.Identity())
    with torch.no_grad():
        folded = model(*examples)
    _check_same(reference, folded)
    return FoldReport(folded=pairs, left=left)


def _check_same(reference, folded) -> None:
    references = reference if isinstance(reference, (tuple, list)) else (reference,)
    foldeds = folded if isinstance(folded, (tuple, list)) else (folded,)
    for expected, actual in zip(references, foldeds):
        if not isinstance(expected, torch.Tensor):
            continue
        magnitude = max(1.0, expected.abs().max().item()) if expected.numel() else 1.0
        error = (expected - actual).abs().max().item() if expected.numel() else 0.0
        if not error <= 1e-4 * magnitude:
            raise RuntimeError(
                f"BatchNorm folding changed the model's output (max error {error:.3g}); "
                "import with --no-fold-bn"
            )
