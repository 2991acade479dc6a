"""A small residual CNN for one-channel images, the second network (``model/net=resnet``).

stem (3x3 conv, BN, ReLU) -> three stages, each a residual block (3x3 conv, BN, ReLU, 3x3 conv,
BN, plus the block's input, through a 1x1 conv and BN where the width changes; ReLU) followed by
2x2 max pooling -> global average pooling -> one FC layer. Its weighted layers are named by
their module paths: ``stem``, ``stages.<k>.conv1``, ``stages.<k>.conv2``, ``stages.<k>.skip``
(k = 0, 1, 2) and ``fc``. A channel of a
block's output is the sum of two branches, so it can only be removed from both at once: the
export keeps its widths (``rvsm.nets.slimmable``), and sparsity is that of the weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from rvsm.utils.arguments import require


class ResidualBlock(nn.Module):
    """out = relu(bn2(conv2(relu(bn1(conv1(x))))) + skip(x)), skip a 1x1 conv + BN or identity."""

    def __init__(self, inputs: int, outputs: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, outputs, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(outputs)
        self.conv2 = nn.Conv2d(outputs, outputs, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(outputs)
        self.skip = nn.Conv2d(inputs, outputs, 1, bias=False) if inputs != outputs else None
        self.skip_bn = nn.BatchNorm2d(outputs) if self.skip is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        shortcut = x if self.skip is None else self.skip_bn(self.skip(x))
        return torch.relu(out + shortcut)


class SmallResNet(nn.Module):
    """The residual network; meets ``rvsm.nets.SplittableNet``."""

    head_name = "fc"

    def __init__(
        self,
        image_size: Sequence[int] = (64, 128),
        channels: Sequence[int] = (8, 16, 32),
        num_classes: int = 2,
    ) -> None:
        super().__init__()
        height, width = image_size
        require("image_size", list(image_size), min(height, width) >= 8, "at least 8x8")
        require(
            "channels",
            list(channels),
            len(channels) == 3 and min(channels) >= 1,
            "three positive widths",
        )
        self.image_size = (int(height), int(width))
        self.num_classes = int(num_classes)
        self.stem = nn.Conv2d(1, channels[0], 3, padding=1, bias=False)
        self.stem_bn = nn.BatchNorm2d(channels[0])
        widths = [channels[0], *channels]
        self.stages = nn.ModuleList(
            ResidualBlock(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True)
        )
        self.pool = nn.MaxPool2d(2)
        self.feature_shape = (int(channels[-1]), 1, 1)
        self.fc = nn.Linear(int(channels[-1]), num_classes)

    def weighted_layers(self) -> dict[str, nn.Module]:
        """Every conv and linear layer, by its module path, in forward order."""
        return {
            name: module
            for name, module in self.named_modules()
            if isinstance(module, nn.Conv2d | nn.Linear)
        }

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.stem_bn(self.stem(x)))
        for block in self.stages:
            x = self.pool(block(x))
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))
