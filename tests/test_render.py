"""The renderer against Pillow's public drawing API (it calls a private C method for speed)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from rvsm.data.render import _pen, ink, render


def test_pen_equals_public_line_and_ellipse_calls():
    """A zigzag: every vertex turns sharply, so each gets a disc; compare with public calls."""
    stroke = np.array([[5.0, 5.0], [20.0, 30.0], [35.0, 5.0], [50.0, 30.0]])
    width, ss = 6.0, 1
    ours = Image.new("L", (60, 40), 0)
    _pen(ImageDraw.Draw(ours), [stroke], width, ss, 255)
    reference = Image.new("L", (60, 40), 0)
    draw = ImageDraw.Draw(reference)
    draw.line(stroke.ravel().tolist(), fill=255, width=6)
    for x, y in stroke:
        draw.ellipse((x - 3, y - 3, x + 3, y + 3), fill=255)
    assert np.array_equal(np.asarray(ours), np.asarray(reference))


def test_ink_of_a_filled_square_and_a_hole():
    square = np.array([[8.0, 8.0], [24.0, 8.0], [24.0, 24.0], [8.0, 24.0]])
    hole = np.array([[12.0, 12.0], [12.0, 20.0], [20.0, 20.0], [20.0, 12.0]])
    solid = render([square], True, 0.0, (32, 32), 4)
    ring = render([square, hole], True, 0.0, (32, 32), 4)
    # Pillow fills polygons including their boundary: about (16 + 1/4)^2 pixels
    assert abs(ink(solid) - 16.25**2) < 2.0
    assert abs(ink(solid) - ink(ring) - 8.25**2) < 2.0  # even-odd: the inner contour cuts a hole
