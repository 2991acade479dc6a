"""What a method or penalty may know about a split layer besides its weight.

The shape of sparsity is kept apart from the algorithm (as jaxpruner does): a penalty's prox
receives the layer's ``LayerSpec`` and decides from it how to group the weights; element-wise
penalties ignore it, group penalties form its input-channel groups with ``channel_groups``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from rvsm.utils.arguments import ArgumentError


@dataclass(frozen=True)
class LayerSpec:
    """A split layer: its name in the network, its weight's shape, and the shape of what it
    reads, (channels,) for a convolution or (channels, height, width) of the feature map the
    classifier flattens."""

    name: str
    shape: tuple[int, ...]
    input_shape: tuple[int, ...]

    @property
    def in_channels(self) -> int:
        return self.input_shape[0]


def channel_groups(w: torch.Tensor, layer: LayerSpec | None, penalty: str) -> torch.Tensor:
    """``w`` viewed as (outputs, input channels, the rest): group i, ``[:, i, :]``, holds every
    weight that reads input channel i. For a convolution that is the slice ``w[:, i]``; for the
    classifier, which reads a C x H x W map flattened channel-major, it is the H*W columns of
    channel i. Refused (naming ``layers``) for a layer whose input has no channels to
    remove: one unknown to the method, one whose weight does not read ``input_shape``, or one
    that reads a single channel (the image, for the first convolution)."""
    name = layer.name if layer else "a layer"
    where = f"penalty={penalty} groups the input channels of each split layer, and {name}"
    if layer is None:
        raise ArgumentError("layers", f": {where} has no known input shape")
    channels, per_channel = layer.in_channels, math.prod(layer.input_shape[1:])
    if tuple(w.shape) != layer.shape or w.dim() < 2 or w.shape[1] != channels * per_channel:
        raise ArgumentError(
            "layers",
            f": {where} has weight {tuple(w.shape)}, which does not read "
            f"an input of shape {layer.input_shape}",
        )
    if channels < 2:
        raise ArgumentError(
            "layers",
            f": {where} reads {channels} channel (the network's input): "
            "no channel to remove; split the later layers (e.g. [conv2,conv3,fc])",
        )
    return w.reshape(w.shape[0], channels, -1)
