"""The FC layer's zero pattern as a picture, in the spatial layout of the features it reads.

Row k of the FC weight holds, for class k, one weight per (channel, y, x) of the last feature
map. Drawn per class as a grid of channel tiles (each tile the feature map's height x width),
kept weights white, zeros black, grey lines between tiles, so one sees which channels and which
parts of the text the sparse network still looks at. ``ZeroPatternImage`` is the callback
(named by conf/callbacks/default.yaml) that writes it into the run folder and W&B.
"""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import numpy as np
import torch
from PIL import Image

from rvsm.runtime.loggers import wandb_loggers
from rvsm.utils.io import atomic_open

KEPT, ZERO, LINE = 255, 0, 128
SCALE = 4  # pixels per weight


def zero_pattern_image(weight: torch.Tensor, feature_shape: tuple[int, int, int]) -> np.ndarray:
    """A uint8 image: one panel per class (stacked top to bottom), each a grid of channel tiles.

    Every weight is a ``SCALE`` x ``SCALE`` block of ``KEPT`` or ``ZERO``; everything else is
    ``LINE``, so the count of ``ZERO`` pixels is ``SCALE**2`` times the count of zero weights.
    """
    channels, height, width = feature_shape
    classes = weight.shape[0]
    kept = (weight.detach().cpu() != 0).reshape(classes, channels, height, width).numpy()
    cols = math.ceil(math.sqrt(channels * height / width))  # a roughly square panel
    rows = math.ceil(channels / cols)
    tile_h, tile_w = height * SCALE + 1, width * SCALE + 1
    panel_h = rows * tile_h + 1
    image = np.full((classes * panel_h + 1, cols * tile_w + 1), LINE, dtype=np.uint8)
    for k in range(classes):
        for c in range(channels):
            top = k * panel_h + 1 + (c // cols) * tile_h
            left = 1 + (c % cols) * tile_w
            block = np.where(kept[k, c], KEPT, ZERO).astype(np.uint8)
            image[top : top + height * SCALE, left : left + width * SCALE] = np.kron(
                block, np.ones((SCALE, SCALE), dtype=np.uint8)
            )
    return image


class ZeroPatternImage(L.Callback):
    """The FC layer's zero pattern (``zero_pattern_image``): ``zero_pattern_fc.png`` in
    the run folder at the end of training, and per validation epoch in W&B as
    ``val/zero_pattern_fc``."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    @staticmethod
    def _image(pl_module: L.LightningModule) -> np.ndarray:
        weight = pl_module.evaluated_weights()[pl_module.net.head_name]
        return zero_pattern_image(weight, pl_module.net.feature_shape)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        loggers = wandb_loggers(trainer.loggers)
        if trainer.sanity_checking or not loggers:
            return
        import wandb

        caption = "FC weights kept (white) per class, channel tiles of the last feature map"
        image = wandb.Image(self._image(pl_module), caption=caption)
        for logger in loggers:
            logger.experiment.log(
                {"val/zero_pattern_fc": image, "trainer/global_step": trainer.global_step}
            )

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            with atomic_open(self.path, "wb") as f:
                Image.fromarray(self._image(pl_module)).save(f, format="PNG")
