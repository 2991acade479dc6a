"""What a method or penalty may know about a split layer besides its weight.

The shape of sparsity is kept apart from the algorithm (as jaxpruner does): a penalty's prox
receives the layer's ``LayerSpec`` and decides from it how to group the weights; element-wise
penalties ignore it.
"""

from __future__ import annotations

from dataclasses import dataclass


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
