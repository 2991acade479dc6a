"""The zero-pattern picture: each weight lands in its class panel and channel tile."""

from __future__ import annotations

import numpy as np
import torch

from rvsm.reporting.zero_pattern import KEPT, SCALE, ZERO, zero_pattern_image


def test_one_kept_weight_is_one_white_block_in_its_class_panel_and_channel_tile():
    shape = (4, 2, 3)  # channels, height, width
    weight = torch.zeros(2, 4 * 2 * 3)
    weight[1, 2 * 6 + 1 * 3 + 2] = 0.5  # class 1, channel 2, y 1, x 2
    image = zero_pattern_image(weight, shape)
    assert (image == ZERO).sum() == SCALE**2 * (weight.numel() - 1)
    ys, xs = np.nonzero(image == KEPT)
    assert len(ys) == SCALE**2
    assert ys.min() > image.shape[0] // 2  # the lower panel is class 1
    # within its panel, channel 2's tile lies right of or below channel 0's first block
    top0 = np.nonzero(image == ZERO)[0].min()
    assert ys.min() > top0 and ys.max() - ys.min() == xs.max() - xs.min() == SCALE - 1


def test_a_dense_layer_draws_no_zero_pixels():
    image = zero_pattern_image(torch.ones(2, 32 * 8 * 16), (32, 8, 16))
    assert (image == ZERO).sum() == 0 and (image == KEPT).sum() == SCALE**2 * 2 * 32 * 8 * 16
