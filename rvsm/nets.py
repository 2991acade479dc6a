"""The CNN of the paper: three conv layers, each followed by max pooling, then one FC layer."""

from __future__ import annotations

import torch
from torch import nn


class TremorCNN(nn.Module):
    """conv3x3 -> [BatchNorm] -> ReLU -> maxpool2, three times, then a fully connected classifier.

    With the default widths the FC layer holds more weights than the three conv layers together,
    as in the paper, which is why it is the layer split (sparsified) by default.
    """

    def __init__(
        self,
        image_size: tuple[int, int] = (64, 128),
        channels: tuple[int, int, int] = (8, 16, 32),
        num_classes: int = 2,
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        height, width = image_size
        if height < 8 or width < 8:
            raise ValueError(
                f"data.synth.image_size must be at least 8x8 for three poolings, got {image_size}"
            )
        if len(channels) != 3 or min(channels) < 1:
            raise ValueError(f"model.net.channels must be three positive widths, got {channels}")
        c1, c2, c3 = channels
        self.conv1 = nn.Conv2d(1, c1, 3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.conv3 = nn.Conv2d(c2, c3, 3, padding=1)
        norm = nn.BatchNorm2d if batch_norm else lambda c: nn.Identity()
        self.norms = nn.ModuleList([norm(c) for c in (c1, c2, c3)])
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(c3 * (height // 8) * (width // 8), num_classes)

    def weighted_layers(self) -> dict[str, nn.Module]:
        """The layers whose weights can be split, by name."""
        return {"conv1": self.conv1, "conv2": self.conv2, "conv3": self.conv3, "fc": self.fc}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv, norm in zip((self.conv1, self.conv2, self.conv3), self.norms, strict=True):
            x = self.pool(torch.relu(norm(conv(x))))
        return self.fc(x.flatten(1))
