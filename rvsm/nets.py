"""The networks' contract, and the CNN of the paper: three conv layers, each followed by max
pooling, then one FC layer. The only module that knows the paper's network by its type."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from rvsm.utils.arguments import ArgumentError, require

BLOCK_ORDERS = ("pool_first", "pool_last")


@runtime_checkable
class SplittableNet(Protocol):
    """What the LightningModule, the methods, the zero-pattern picture and the export rely on.

    A network is a feature extractor followed by one linear classifier (``head``), and names the
    layers whose weights a method may sparsify. Any ``nn.Module`` with these members can be
    trained, sparsified, evaluated and exported (set ``model.net._target_``).
    """

    #: (height, width) of the images it reads
    image_size: tuple[int, int]
    #: (channels, height, width) of the last feature map, which the head reads flattened
    feature_shape: tuple[int, int, int]
    #: the name of the classifier layer in ``weighted_layers()``; its sparsity is ``sparsity_fc``
    head_name: str
    #: the number of classes it tells apart (the head's outputs)
    num_classes: int

    def weighted_layers(self) -> dict[str, nn.Module]:
        """The layers whose ``weight`` can be split, by name, in forward order."""
        ...

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The flattened input of the head."""
        ...

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...


def select_layers(names: Sequence[str], patterns: Sequence[str]) -> list[str]:
    """The layers (of ``names``, the network's, in forward order) that ``patterns`` pick: names
    or shell-style patterns (``*conv*``, ``stages.*``), each of which must match; a layer named
    twice is refused."""
    names, chosen = list(names), []
    for pattern in patterns:
        found = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
        if not found:
            raise ArgumentError(
                "layers", f": {pattern!r} matches no layer of the network, whose layers are {names}"
            )
        repeated = [n for n in found if n in chosen]
        if repeated and not any(ch in pattern for ch in "*?["):
            raise ArgumentError("layers", f": {pattern!r} is named twice")
        chosen += [n for n in found if n not in chosen]
    return [n for n in names if n in chosen]


def slimmable(net: nn.Module) -> bool:
    """Whether ``rvsm.slim`` can rebuild ``net`` at the channels it uses (the paper's network);
    any other network is exported at its widths."""
    return isinstance(net, TremorCNN)


class TremorCNN(nn.Module):
    """Three conv blocks, each a conv3x3 followed by max pooling, then a fully connected classifier.

    ``block_order="pool_first"`` (default): conv -> maxpool2 -> [BatchNorm] -> ReLU.
    ``block_order="pool_last"``: conv -> [BatchNorm] -> ReLU -> maxpool2 (the textbook order).
    Max pooling commutes with ReLU and with any increasing per-channel affine map, so both orders
    compute the same kind of function (only the BatchNorm statistics are taken on the pooled map);
    pooling first runs BatchNorm and ReLU on a quarter of the pixels. They dominate the step on a
    CPU (memory-bound passes over large maps), so a training step takes about half the time
    (experiments/benchmarks.md).

    With the default widths the FC layer holds more weights than the three conv layers together,
    as in the paper, which is why it is the layer split (sparsified) by default.
    """

    def __init__(
        self,
        image_size: tuple[int, int] = (64, 128),
        channels: tuple[int, int, int] = (8, 16, 32),
        num_classes: int = 2,
        batch_norm: bool = True,
        block_order: str = "pool_first",
    ) -> None:
        super().__init__()
        require("block_order", block_order, lambda v: v in BLOCK_ORDERS, f"one of {BLOCK_ORDERS}")
        self.pool_first = block_order == "pool_first"
        self.image_size = tuple(image_size)
        height, width = image_size
        require(
            "image_size",
            list(image_size),
            min(height, width) >= 8,
            "at least 8x8 for three poolings",
        )
        require(
            "channels",
            list(channels),
            len(channels) == 3 and min(channels) >= 1,
            "three positive widths",
        )
        c1, c2, c3 = channels
        self.conv1 = nn.Conv2d(1, c1, 3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.conv3 = nn.Conv2d(c2, c3, 3, padding=1)
        norm = nn.BatchNorm2d if batch_norm else lambda c: nn.Identity()
        self.norms = nn.ModuleList([norm(c) for c in (c1, c2, c3)])
        self.pools = nn.ModuleList(nn.MaxPool2d(2) for _ in range(3))  # one a block
        # (channels, height, width) of the last feature map, the FC layer's input unflattened
        self.feature_shape = (c3, height // 8, width // 8)
        self.num_classes = int(num_classes)
        self.fc = nn.Linear(c3 * (height // 8) * (width // 8), num_classes)

    head_name = "fc"

    def weighted_layers(self) -> dict[str, nn.Module]:
        """The layers whose weights can be split, by name."""
        return {"conv1": self.conv1, "conv2": self.conv2, "conv3": self.conv3, "fc": self.fc}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The flattened input of the FC layer."""
        convs = (self.conv1, self.conv2, self.conv3)
        for conv, norm, pool in zip(convs, self.norms, self.pools, strict=True):
            if self.pool_first:
                x = torch.relu(norm(pool(conv(x))))
            else:
                x = pool(torch.relu(norm(conv(x))))
        return x.flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))
