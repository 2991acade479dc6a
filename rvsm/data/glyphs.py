"""Text -> pen paths in drawing order, from single-stroke Hershey fonts and TTF outline fonts.

Both kinds give polylines in font units with y pointing down. Hershey fonts give strokes (drawn
with a pen of some width, in the order a hand would write them); outline fonts give closed glyph
contours (filled). Fonts by name come from installed packages (matplotlib's TTFs, Hershey-Fonts);
outline fonts by file (TTF, OTF, a face of a collection) are opened by ``rvsm.data.fontfiles``.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
from fontTools.pens.basePen import BasePen
from fontTools.ttLib import TTFont
from HersheyFonts import HersheyFonts

from rvsm.data.fontfiles import open_font, stamp

# matplotlib's Computer Modern TTFs carry 1970s timestamps; fontTools warns on every load.
logging.getLogger("fontTools.ttLib.tables._h_e_a_d").setLevel(logging.ERROR)

TTF_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"

# Outline fonts shipped with matplotlib, by file stem.
OUTLINE_FONTS = (
    "DejaVuSans",
    "DejaVuSans-Bold",
    "DejaVuSans-Oblique",
    "DejaVuSansMono",
    "DejaVuSerif",
    "DejaVuSerif-Italic",
    "STIXGeneral",
    "STIXGeneralItalic",
    "STIXGeneralBol",
    "cmr10",
    "cmss10",
    "cmti10",
    "cmb10",
    "cmtt10",
)
# Single-stroke Hershey fonts: script (handwriting-like) and roman/italic ones.
STROKE_FONTS = (
    "cursive",
    "scripts",
    "scriptc",
    "futural",
    "rowmans",
    "timesi",
    "timesr",
    "futuram",
)

_CURVE_STEPS = 6


@dataclass(frozen=True)
class TextPaths:
    """A laid-out text: polylines (n x 2, font units, y down) and how to draw them."""

    paths: tuple[np.ndarray, ...]
    filled: bool  # True: closed contours to fill (outline font); False: pen strokes
    x_height: float  # body height of the font, in font units


class _FlattenPen(BasePen):
    """Collects glyph contours as polylines, flattening Bezier segments."""

    def __init__(self, glyph_set) -> None:
        super().__init__(glyph_set)
        self.contours: list[np.ndarray] = []
        self._points: list[tuple[float, float]] = []

    def _moveTo(self, p):
        self._points = [p]

    def _lineTo(self, p):
        self._points.append(p)

    def _curveToOne(self, p1, p2, p3):
        p0 = self._getCurrentPoint()
        for t in np.linspace(0, 1, _CURVE_STEPS + 1)[1:]:
            s = 1 - t
            self._points.append(
                tuple(
                    s**3 * np.asarray(p0)
                    + 3 * s * s * t * np.asarray(p1)
                    + 3 * s * t * t * np.asarray(p2)
                    + t**3 * np.asarray(p3)
                )
            )

    def _qCurveToOne(self, p1, p2):
        p0 = self._getCurrentPoint()
        for t in np.linspace(0, 1, _CURVE_STEPS + 1)[1:]:
            s = 1 - t
            self._points.append(
                tuple(s * s * np.asarray(p0) + 2 * s * t * np.asarray(p1) + t * t * np.asarray(p2))
            )

    def _closePath(self):
        if len(self._points) > 2:
            self.contours.append(np.asarray(self._points, dtype=np.float64))
        self._points = []

    _endPath = _closePath


class OutlineFont:
    """An outline font read with fontTools; glyph contours are cached per character."""

    def __init__(self, font: TTFont) -> None:
        self._glyph_set = font.getGlyphSet()
        self._cmap = font.getBestCmap()
        self._hmtx = font["hmtx"]
        self._glyphs: dict[str, tuple[tuple[np.ndarray, ...], float]] = {}

    def missing(self, chars: str) -> str:
        """The characters of ``chars`` that the font has no glyph for, in order."""
        return "".join(c for c in chars if ord(c) not in self._cmap)

    @functools.cached_property
    def x_height(self) -> float:
        """Height of the glyph 'x', in font units: the body height text is scaled to."""
        contours = self._glyph("x")[0]
        if not contours:
            raise ValueError("the glyph 'x' has no outline to take the x-height from")
        return float(np.ptp(np.concatenate(contours)[:, 1]))

    def _glyph(self, char: str) -> tuple[tuple[np.ndarray, ...], float]:
        if char not in self._glyphs:
            name = self._cmap.get(ord(char))
            if name is None:
                raise ValueError(f"character {char!r} is missing from the font")
            pen = _FlattenPen(self._glyph_set)
            self._glyph_set[name].draw(pen)
            flipped = tuple(c * np.array([1.0, -1.0]) for c in pen.contours)
            self._glyphs[char] = (flipped, float(self._hmtx[name][0]))
        return self._glyphs[char]

    def layout(self, text: str) -> TextPaths:
        paths, x = [], 0.0
        for char in text:
            contours, advance = self._glyph(char)
            paths.extend(c + np.array([x, 0.0]) for c in contours)
            x += advance
        return TextPaths(tuple(paths), filled=True, x_height=self.x_height)


class StrokeFont:
    """A Hershey single-stroke font; strokes come in pen (drawing) order."""

    def __init__(self, name: str) -> None:
        if name not in HersheyFonts().default_font_names:
            raise ValueError(f"data.hershey_fonts: unknown Hershey font {name!r}")
        self._font = HersheyFonts()
        self._font.load_default_font(name)
        self.x_height = float(np.ptp(np.concatenate(self._strokes("x"))[:, 1]))

    def _strokes(self, text: str) -> list[np.ndarray]:
        return [
            np.asarray(s, dtype=np.float64) for s in self._font.strokes_for_text(text) if len(s) > 1
        ]

    def layout(self, text: str) -> TextPaths:
        return TextPaths(tuple(self._strokes(text)), filled=False, x_height=self.x_height)


@functools.cache
def get_font(name: str) -> OutlineFont | StrokeFont:
    """The named font: Hershey names give stroke fonts, other names matplotlib TTF stems; cached."""
    if name in HersheyFonts().default_font_names:
        return StrokeFont(name)
    path = TTF_DIR / f"{name}.ttf"
    if not path.is_file():
        raise ValueError(f"data.fonts: no font file {path}")
    return OutlineFont(TTFont(path, lazy=True))


def font_file(spec: str) -> OutlineFont:
    """The outline font of a file spec (``rvsm.data.fontfiles``), kept per process for as long as
    the file is unchanged: a file rewritten at the same path is read again."""
    return _font_file(spec, stamp(spec))


@functools.cache
def _font_file(spec: str, _stamp: tuple[int, int, int]) -> OutlineFont:
    return OutlineFont(open_font(spec))
