"""The layer model: one convolution as the code generator and the passes see it (plain numbers),
built from a `patsparse.pattern_conv2d` (FKW) or a dense constant-weight linalg convolution, and
its filter pairing (PatDNN's filter-level load sharing).

`conv_layers(module)` lists every convolution the lowering will generate code for, named in
program order (`patsparse_conv_<i>`): the tuner, `patsparse-apply-tuning` and
`convert-patsparse-to-vector` all see the same layers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from mlir import ir

from .conv_match import NotRewritten, is_convolution, match_convolution
from .fkw import FKW, pattern_taps
from .ir_utils import ops_where
from .ops import PATTERN_CONV2D, PatternConv2dOp

FUNCTION_PREFIX = "patsparse_conv_"


@dataclass
class ConvLayer:
    """Everything the generator needs about one convolution, as plain numbers."""

    name: str
    input_shape: tuple[int, int, int, int]      # N, C, H, W
    filters: int
    output_hw: tuple[int, int]
    strides: tuple[int, int]
    padding: tuple[int, int, int, int]           # top, left, bottom, right
    kernel_hw: tuple[int, int]
    patterns: list[list[tuple[int, int]]]        # per pattern: its taps as (row, column)
    filter_order: np.ndarray                     # F
    segments: np.ndarray                         # F x (K + 1): kernels of (position, pattern)
    kernel_channels: np.ndarray                  # Nk
    weights: np.ndarray                          # Nk * T, in read order
    has_bias: bool
    relu: bool = False                           # max(0, .) applied before the store (a fused ReLU)
    epilogue: object = None                      # lowering/epilogue.py's Epilogue: elementwise ops before the store
    groups: int = 1                              # grouped / depthwise: kernel_channels stay global

    def __post_init__(self):
        # Along a dimension with one output the stride is never taken: 1 gives the same result,
        # and a huge one (2147483647 is legal) would size the phased input by it.
        self.strides = tuple(1 if out == 1 else stride for out, stride in zip(self.output_hw, self.strides))

    @property
    def taps_per_kernel(self) -> int:
        return len(self.patterns[0])

    @property
    def num_kernels(self) -> int:
        return int(self.kernel_channels.shape[0])

    @classmethod
    def from_fkw(cls, name: str, fkw: FKW, input_shape, output_shape, strides, padding, has_bias,
                 groups: int = 1) -> "ConvLayer":
        """Kernels regrouped by pattern inside each filter (stable, so channels stay sorted). A
        grouped layer is the same set of kernels (their channels are global), so the generator
        needs nothing else to know about groups."""
        taps = pattern_taps(fkw.pattern_library)
        num_patterns = fkw.num_patterns
        offsets = np.asarray(fkw.filter_offsets, np.int64)
        pattern_ids = np.asarray(fkw.kernel_pattern_ids, np.int64)
        weights = np.asarray(fkw.weights, np.float32).reshape(-1, 4)
        channels = np.asarray(fkw.kernel_channels, np.int64)
        order, segments = [], np.zeros((fkw.num_filters, num_patterns + 1), np.int32)
        for position in range(fkw.num_filters):
            kernels = np.arange(offsets[position], offsets[position + 1])
            kernels = kernels[np.argsort(pattern_ids[kernels], kind="stable")]
            counts = np.bincount(pattern_ids[kernels], minlength=num_patterns)
            segments[position] = len(order) + np.concatenate([[0], np.cumsum(counts)])
            order.extend(kernels.tolist())
        order = np.asarray(order, np.int64)
        return cls(name=name, input_shape=tuple(input_shape), filters=fkw.num_filters,
                   output_hw=tuple(output_shape[2:]), strides=tuple(strides), padding=tuple(padding),
                   kernel_hw=(3, 3), patterns=[[(int(t) // 3, int(t) % 3) for t in row] for row in taps],
                   filter_order=np.asarray(fkw.filter_order, np.int32), segments=segments,
                   kernel_channels=channels[order].astype(np.int32) if order.size else np.zeros(0, np.int32),
                   weights=weights[order].reshape(-1) if order.size else np.zeros(0, np.float32),
                   has_bias=has_bias, groups=groups)

    @classmethod
    def dense(cls, name: str, weight: np.ndarray, input_shape, output_shape, strides, padding,
              has_bias, groups: int = 1) -> "ConvLayer":
        """A dense KHxKW convolution: one pattern with every tap, every kernel kept. With
        `groups`, `weight` is F x C/groups x KH x KW and filter f reads the channels of its group."""
        filters, channels, kernel_h, kernel_w = weight.shape
        taps = [(r, c) for r in range(kernel_h) for c in range(kernel_w)]
        segments = np.stack([np.arange(filters) * channels, (np.arange(filters) + 1) * channels], axis=1)
        first_channels = (np.arange(filters) // (filters // groups)) * channels  # of each filter's group
        return cls(name=name, input_shape=tuple(input_shape), filters=filters,
                   output_hw=tuple(output_shape[2:]), strides=tuple(strides), padding=tuple(padding),
                   kernel_hw=(kernel_h, kernel_w), patterns=[taps],
                   filter_order=np.arange(filters, dtype=np.int32), segments=segments.astype(np.int32),
                   kernel_channels=(first_channels[:, None] + np.arange(channels)[None, :]).reshape(-1).astype(np.int32),
                   weights=np.ascontiguousarray(weight, np.float32).reshape(-1), has_bias=has_bias, groups=groups)


@dataclass
class FilterPairs:
    """A layer's filter positions computed two at a time (PatDNN's filter-level load redundancy
    elimination): a kernel both filters of a pair have, same input channel and same pattern,
    is stored once as a *shared* kernel whose input vectors are loaded once and feed both
    filters' accumulators; every other kernel stays with its own position."""

    positions: np.ndarray         # P x 2: the two filter positions of each pair
    shared_segments: np.ndarray   # P x (K + 1): shared kernels of (pair, pattern)
    shared_channels: np.ndarray   # Ns
    shared_weights: np.ndarray    # Ns * 2T: per tap, the first filter's weight, then the second's
    segments: np.ndarray          # F x (K + 1): each position's own (unshared) kernels
    kernel_channels: np.ndarray
    weights: np.ndarray           # T per own kernel

    @property
    def shared_kernels(self) -> np.ndarray:
        """Shared kernels per pattern, summed over pairs."""
        return np.diff(self.shared_segments, axis=1).sum(axis=0)

    @property
    def own_kernels(self) -> np.ndarray:
        return np.diff(self.segments, axis=1).sum(axis=0)


def position_channels(layer: ConvLayer, position: int) -> list[np.ndarray]:
    """Per pattern, the input channels of the kernels of `position`."""
    bounds = layer.segments[position]
    return [layer.kernel_channels[bounds[q]:bounds[q + 1]] for q in range(len(layer.patterns))]


def best_pairs(layer: ConvLayer) -> list[tuple[int, int]]:
    """Pairs of filter positions sharing the most (channel, pattern) kernels: greedy maximum
    matching, ties to the nearer positions (keeping the groups filter reorder made), pairs
    in the order of their first position."""
    filters, num_patterns = layer.filters, len(layer.patterns)
    channels = layer.input_shape[1]
    membership = np.zeros((filters, channels * num_patterns), np.float32)
    for position in range(filters):
        for q, kernel_channels in enumerate(position_channels(layer, position)):
            membership[position, kernel_channels.astype(np.int64) * num_patterns + q] = 1.0
    shared = membership @ membership.T
    first, second = np.triu_indices(filters, 1)
    order = np.lexsort((first, second - first, -shared[first, second]))
    partner = np.full(filters, -1)
    matched = 0
    for index in order:
        a, b = int(first[index]), int(second[index])
        if partner[a] < 0 and partner[b] < 0:
            partner[a], partner[b] = b, a
            matched += 2
            if matched >= filters - 1:
                break
    return sorted((a, int(partner[a])) for a in range(filters) if a < partner[a])


def pair_filters(layer: ConvLayer) -> FilterPairs | None:
    """The layer's kernels split into shared and own ones for :func:`best_pairs`; None for an
    odd number of filters (the lowering then computes one filter per work item). Computed
    once per layer object (the statistics and the code generator both ask)."""
    if layer.filters % 2:
        return None
    if "_filter_pairs" not in vars(layer):
        layer._filter_pairs = _split_pairs(layer)
    return layer._filter_pairs


def _split_pairs(layer: ConvLayer) -> FilterPairs:
    taps = layer.taps_per_kernel
    num_patterns = len(layer.patterns)
    weights = layer.weights.reshape(-1, taps)
    pairs = best_pairs(layer)
    shared_channels, shared_weights, own = [], [], [[None] * num_patterns for _ in range(layer.filters)]
    shared_segments = np.zeros((len(pairs), num_patterns + 1), np.int64)
    for index, (a, b) in enumerate(pairs):
        for q in range(num_patterns):
            kernels = [np.arange(layer.segments[p][q], layer.segments[p][q + 1]) for p in (a, b)]
            common, in_a, in_b = np.intersect1d(layer.kernel_channels[kernels[0]], layer.kernel_channels[kernels[1]],
                                                assume_unique=True, return_indices=True)
            shared_channels.append(common)
            shared_weights.append(np.stack([weights[kernels[0][in_a]], weights[kernels[1][in_b]]], axis=2))
            shared_segments[index, q + 1] = shared_segments[index, q] + common.size
            for p, kernel_ids, taken in ((a, kernels[0], in_a), (b, kernels[1], in_b)):
                own[p][q] = np.delete(kernel_ids, taken)
        if index + 1 < len(pairs):
            shared_segments[index + 1, 0] = shared_segments[index, -1]
    own_order = [kernel_ids for position in own for kernel_ids in position]
    own_counts = np.array([[ids.size for ids in position] for position in own], np.int64).reshape(-1, num_patterns)
    segments = np.concatenate([np.zeros((layer.filters, 1), np.int64), np.cumsum(own_counts, axis=1)], axis=1)
    segments += np.concatenate([[0], np.cumsum(own_counts.sum(axis=1))[:-1]])[:, None]
    own_kernels = np.concatenate(own_order) if own_order else np.zeros(0, np.int64)
    return FilterPairs(
        positions=np.asarray(pairs, np.int32).reshape(-1, 2),
        shared_segments=shared_segments.astype(np.int32),
        shared_channels=np.concatenate(shared_channels).astype(np.int32) if shared_channels else np.zeros(0, np.int32),
        shared_weights=(np.concatenate(shared_weights).reshape(-1) if shared_weights else np.zeros(0)).astype(np.float32),
        segments=segments.astype(np.int32),
        kernel_channels=layer.kernel_channels[own_kernels].astype(np.int32),
        weights=weights[own_kernels].reshape(-1).astype(np.float32))



def conv_layers(module: ir.Operation, dense_convolutions: bool) -> list[tuple[ir.Operation, ConvLayer, ir.Value,
                                                                            ir.Value | None]]:
    """(op, layer, input, bias) for every pattern convolution (and, with `dense_convolutions`,
    every constant-weight linalg convolution the generator handles), named in program order."""
    body = module.regions[0].blocks[0]
    existing = sum(1 for op in body.operations if op.operation.name == "func.func"
                   and op.attributes["sym_name"].value.startswith(FUNCTION_PREFIX))
    ops = ops_where(module, lambda op: op.name == PATTERN_CONV2D or (dense_convolutions and is_convolution(op)))
    layers = []
    for op in ops:
        name = f"{FUNCTION_PREFIX}{existing + len(layers)}"
        if op.name == PATTERN_CONV2D:
            conv = PatternConv2dOp(op)
            layer = ConvLayer.from_fkw(name, conv.fkw, conv.input_shape, conv.output_shape, conv.strides,
                                       conv.padding, conv.bias is not None, conv.groups)
            layers.append((op, layer, conv.input, conv.bias))
            continue
        try:
            match = match_convolution(op)
        except NotRewritten:
            continue
        output = match.output  # a grouped convolution is replaced with its collapse_shape
        if output is not op and "patsparse.schedule" in op.attributes:  # its schedule goes with it
            output.attributes["patsparse.schedule"] = op.attributes["patsparse.schedule"]
        output_shape = list(output.results[0].type.shape)
        layer = ConvLayer.dense(name, match.weight, list(match.source.type.shape), output_shape,
                                match.strides, match.padding, match.bias is not None, match.groups)
        layers.append((output, layer, match.source, match.bias))
    return layers
