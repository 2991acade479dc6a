"""Rasterise pen paths with Pillow: supersampled, then box-filtered down to the image size."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageChops, ImageDraw


def render(
    paths: list[np.ndarray],
    filled: bool,
    width: float,
    size: tuple[int, int],
    supersample: int,
) -> np.ndarray:
    """Draw ``paths`` (pixel coordinates) into an (H, W) uint8 image, ink dark (0) on light (255).

    Strokes are drawn as round-capped lines ``width`` px wide. Filled outlines use the even-odd
    rule (a contour inside another one cuts a hole, as TrueType counters need); for them a
    non-zero ``width`` also runs a pen of that width along every contour, in ink when positive
    (bolder) and in paper when negative (lighter), which is how ink amounts are matched.
    """
    height, wide = size
    ss = supersample
    canvas_size = (wide * ss, height * ss)
    if filled:
        canvas = Image.new("1", canvas_size, 0)
        for contour in paths:
            mask = Image.new("1", canvas_size, 0)
            ImageDraw.Draw(mask).polygon((contour * ss).ravel().tolist(), fill=1)
            canvas = ImageChops.logical_xor(canvas, mask)
        canvas = canvas.convert("L")
        if round(abs(width) * ss) >= 1:
            closed = [np.vstack([c, c[:1]]) for c in paths]
            _pen(ImageDraw.Draw(canvas), closed, abs(width) * ss, ss, 255 if width > 0 else 0)
    else:
        canvas = Image.new("L", canvas_size, 0)
        _pen(ImageDraw.Draw(canvas), paths, max(width * ss, 1), ss, 255)
    return 255 - np.asarray(canvas.reduce(ss), dtype=np.uint8)


def _pen(draw: ImageDraw.ImageDraw, paths, width: float, ss: int, fill: int) -> None:
    """Round-capped lines of ``width`` supersampled pixels, with round joints where they turn.

    Each polyline is one C call; discs are added only at its ends and at vertices that turn by
    more than ~25 degrees (a straight-ish joint leaves no visible notch), which keeps the cost
    low on the densely sampled paths that tremor needs.
    """
    w = max(1, int(round(width)))
    r = w / 2
    ink = draw.draw.draw_ink(fill)  # what ImageDraw.ellipse would compute on every call
    for stroke in paths:
        pts = stroke * ss
        draw.line(pts.ravel().tolist(), fill=fill, width=w)
        seg = np.diff(pts, axis=0)
        cos_turn = np.einsum("ij,ij->i", seg[:-1], seg[1:]) / (
            np.linalg.norm(seg[:-1], axis=1) * np.linalg.norm(seg[1:], axis=1) + 1e-12
        )
        corners = np.flatnonzero(cos_turn < 0.9) + 1
        centres = pts[np.concatenate([[0, len(pts) - 1], corners])]
        for box in np.hstack([centres - r, centres + r]).tolist():
            draw.draw.draw_ellipse(box, ink, 1)  # filled disc, without the per-call wrapper


def ink(image: np.ndarray) -> float:
    """Amount of ink in a rendered image, in pixels of full ink."""
    return float((255 - image.astype(np.float64)).sum() / 255.0)
