"""Any image file to the synthesized data's convention: grey uint8, dark ink on light paper, at a
fixed size, the aspect ratio kept and the rest padded with paper.

Shared by ``data=folder`` (every file of the folder, once, into the cache) and ``rvsm.predict``
(new images, preprocessed as the trained model's data were). Pure PIL and numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError


class UnreadableImage(ValueError):
    """A file that is not an image PIL can read; the message names it."""


#: image files read (by suffix, any case); other files in a class folder are refused by name
SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp")
#: ``invert``: auto inverts an image whose border (its paper) is darker than mid-grey
INVERT = ("auto", True, False)
PAPER = 255


def is_image_name(path: Path) -> bool:
    return path.suffix.lower() in SUFFIXES and not path.name.startswith(".")


def _unreadable(path: Path, err: Exception) -> UnreadableImage:
    reason = str(err).splitlines()[0] if str(err) else type(err).__name__
    return UnreadableImage(f"{path} is not a readable image ({reason})")


def check_readable(path: Path) -> None:
    """Refuse a file PIL cannot identify as an image (reads its header only)."""
    try:
        with Image.open(path) as image:
            image.verify()
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as err:
        raise _unreadable(path, err) from None


def to_grey(image: Image.Image) -> np.ndarray:
    """Any mode as grey uint8: 16-bit and float scaled to 0-255 by their range, transparency
    composited on white paper, colour to luminance."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        high = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
        return np.clip(np.rint(values * (255.0 / high)), 0, 255).astype(np.uint8)
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (PAPER, PAPER, PAPER, 255))
        image = Image.alpha_composite(paper, rgba)
    return np.asarray(image.convert("L"), dtype=np.uint8)


def dark_paper(grey: np.ndarray) -> bool:
    """Whether the paper (the image's one-pixel border, by its median) is darker than mid-grey:
    light ink on dark paper."""
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    return float(np.median(border)) < 128


def fit(grey: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """Resized to fit (height, width) ``size`` with its aspect ratio, centred, padded with paper."""
    height, width = int(size[0]), int(size[1])
    h, w = grey.shape
    scale = min(height / h, width / w)
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    resized = Image.fromarray(grey).resize(new, Image.Resampling.LANCZOS)
    canvas = np.full((height, width), PAPER, dtype=np.uint8)
    top, left = (height - new[1]) // 2, (width - new[0]) // 2
    canvas[top : top + new[1], left : left + new[0]] = np.asarray(resized)
    return canvas


def as_batch(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (N, H, W), dark ink on light paper, as the network reads them: float
    (N, 1, H, W), ink = 1 and paper = 0, channels-last (oneDNN's CPU convolutions are markedly
    faster in it)."""
    x = (255 - images).unsqueeze(1).float().div_(255.0)
    return x.contiguous(memory_format=torch.channels_last)


def preprocess(path: Path, size: Sequence[int], invert: str | bool = "auto") -> np.ndarray:
    """The file at ``path`` as the network reads it (before the batch's ink = 1 scaling): grey
    uint8 of ``size``, dark ink on light paper (``invert``: auto, true or false)."""
    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image)
            grey = to_grey(image)
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as err:
        raise _unreadable(path, err) from None
    if invert is True or (invert == "auto" and dark_paper(grey)):
        grey = 255 - grey
    return fit(grey, size)
