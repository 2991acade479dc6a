"""Pairs of regular and tremor-shaken text images, rendered from identical nuisance draws.

Each pair (seed, split, index) has its own random generators, so any image can be rebuilt alone,
the data do not depend on how generation is split among processes, and the same seed gives
byte-identical data. The shaky twin shares text, font, size, position, rotation, slant and pen
width with its regular twin; only the tremor (and, if asked for, micrographia) differs. The shaky
text keeps its twin's bounding box (within 15% per axis, see ``_fit_box``) and is drawn with the
pen that gives about its twin's ink.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, fields

import numpy as np

from rvsm.data import fontfiles
from rvsm.data.glyphs import (
    OUTLINE_FONTS,
    STROKE_FONTS,
    OutlineFont,
    StrokeFont,
    font_file,
    get_font,
)
from rvsm.data.render import ink, render
from rvsm.data.tremor import (
    TremorSettings,
    apply_tremor,
    densify,
    path_length,
    sample_tremor,
)
from rvsm.data.words import SPLITS, WORDS, words_for_split
from rvsm.utils.arguments import integer, number
from rvsm.utils.freeze import freeze

KINDS = ("fonts", "handwriting", "mixed")


LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Every character a text can hold: single letters, the words (capitalized too) and the space
# between the words of a line; an outline font must draw each of them.
TEXT_CHARACTERS = "".join(sorted(set(LETTERS) | set("".join(WORDS)) | {" "}))


@dataclass(frozen=True)
class SynthSettings:
    """Everything that determines the images (Hydra: ``data.synth``); hashed for the cache key."""

    kind: str = "mixed"  # fonts (TTF outlines) | handwriting (Hershey strokes) | mixed
    image_size: tuple[int, int] = (64, 128)  # H, W
    fonts: tuple[str, ...] = OUTLINE_FONTS
    font_files: tuple[str, ...] = ()  # outline fonts by file, drawn beside ``fonts``
    hershey_fonts: tuple[str, ...] = STROKE_FONTS
    text_mix: tuple[float, float, float] = (0.15, 0.6, 0.25)  # letter, word, multi-word line
    line_words: tuple[int, int] = (2, 3)
    body_px: tuple[float, float] = (12.0, 22.0)  # body (x-)height range in pixels
    rotation_deg: float = 5.0
    slant: float = 0.25  # horizontal shear, drawn in +- this
    stroke_width: tuple[float, float] = (0.1, 0.18)  # pen width of strokes, fraction of body
    supersample: int = 4
    disjoint_words: bool = False
    micrographia: float = 0.0  # shaky twin shrinks by this fraction along the line (off: 0)
    tremor: TremorSettings = field(default_factory=TremorSettings)

    @classmethod
    def from_dict(cls, d: Mapping) -> SynthSettings:
        """Build from a mapping (e.g. Hydra config), lists becoming tuples, ``font_files``
        expanded to font specs (``rvsm.data.fontfiles``); unknown keys, values that cannot work
        and fonts that cannot draw the text fail here, before anything is generated."""
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(
                f"data.synth: unknown key(s) {sorted(unknown)}; known: {sorted(known)}"
            )
        values = {k: freeze(v) for k, v in d.items()}
        if "tremor" in d:
            values["tremor"] = TremorSettings(**{k: freeze(v) for k, v in d["tremor"].items()})
        if "font_files" in values:
            values["font_files"] = fontfiles.expand(values["font_files"])
        settings = cls(**values)
        settings.check()
        check_fonts(settings)
        return settings

    @property
    def draws_outlines(self) -> bool:
        """Whether printed text (outline fonts: ``fonts``, ``font_files``) is drawn."""
        return self.kind in ("fonts", "mixed")

    @property
    def draws_strokes(self) -> bool:
        """Whether handwriting (Hershey stroke fonts, ``hershey_fonts``) is drawn."""
        return self.kind in ("handwriting", "mixed")

    def check(self) -> None:
        """Raise ValueError naming the first ``data.synth`` key whose value cannot work."""
        if self.kind not in KINDS:
            raise ValueError(f"data.synth.kind: unknown kind {self.kind!r}; choose from {KINDS}")
        for key, ok, expected in (
            (
                "image_size",
                len(self.image_size) == 2 and all(integer(x) and x >= 1 for x in self.image_size),
                "[height, width], each an integer >= 1",
            ),
            (
                "body_px",
                len(self.body_px) == 2
                and all(number(x) for x in self.body_px)
                and 0 < self.body_px[0] <= self.body_px[1],
                "[min, max] with 0 < min <= max",
            ),
            ("supersample", integer(self.supersample) and 1 <= self.supersample <= 8, "1..8"),
            (
                "tremor.severity",
                number(self.tremor.severity) and self.tremor.severity >= 0,
                ">= 0",
            ),
            (
                "micrographia",
                number(self.micrographia) and 0 <= self.micrographia < 1,
                "a fraction in [0, 1) (0 = off)",
            ),
        ):
            if not ok:
                value = self.tremor.severity if key.startswith("tremor") else None
                value = getattr(self, key) if value is None else value
                raise ValueError(f"data.synth.{key} must be {expected}, got {value!r}")


def tool_settings(synth: Mapping) -> SynthSettings:
    """The settings of a command-line tool (export, preview); a bad one ends it in one line."""
    try:
        return SynthSettings.from_dict(synth)
    except ValueError as err:
        raise SystemExit(f"rvsm: error: {err}") from None


def check_fonts(s: SynthSettings) -> None:
    """Raise ValueError, naming the key and the font, for a font the text cannot be drawn in:
    an unknown name, a file that is not a readable outline font, or an outline font without a
    glyph for a character of ``TEXT_CHARACTERS`` (or without an outline for 'x', whose height
    the text is scaled by). Font files are read only where ``kind`` draws printed text."""
    if s.draws_outlines and not (s.fonts or s.font_files):
        raise ValueError(f"data.synth.fonts and font_files are both empty (kind {s.kind})")
    if s.draws_strokes and not s.hershey_fonts:
        raise ValueError(f"data.synth.hershey_fonts is empty (kind {s.kind})")
    for key, names in (
        ("data.synth.fonts", s.fonts),
        ("data.synth.hershey_fonts", s.hershey_fonts),
    ):
        for name in names:
            try:
                get_font(name)
            except ValueError as err:
                raise ValueError(f"{key}: unknown font {name!r} ({err})") from None
    for spec in s.font_files if s.draws_outlines else ():
        font = font_file(spec)
        missing = font.missing(TEXT_CHARACTERS)
        if missing:
            raise ValueError(
                f"{fontfiles.KEY}: {spec} has no glyph for {len(missing)} character(s) the "
                f"text needs: {missing!r}"
            )
        try:
            flat = not font.x_height > 0
            font.layout(TEXT_CHARACTERS)  # every glyph the text needs, read once
        except ValueError as err:
            raise ValueError(f"{fontfiles.KEY}: {spec}: {err}") from None
        except fontfiles.BAD_FONT as err:
            raise ValueError(f"{fontfiles.KEY}: {spec}: a glyph cannot be read ({err})") from None
        if flat:
            raise ValueError(f"{fontfiles.KEY}: {spec}: the glyph 'x' has no height")


def _choose_text(rng: np.random.Generator, s: SynthSettings, split: str) -> str:
    words = words_for_split(split, s.disjoint_words)
    scale = rng.choice(3, p=np.asarray(s.text_mix) / sum(s.text_mix))
    if scale == 0:
        return LETTERS[rng.integers(len(LETTERS))]
    n = 1 if scale == 1 else int(rng.integers(s.line_words[0], s.line_words[1] + 1))
    text = " ".join(words[rng.integers(len(words))] for _ in range(n))
    return text.capitalize() if rng.random() < 0.25 else text


def _pick_font(rng: np.random.Generator, s: SynthSettings) -> str:
    """A font drawn at random: a name, or a spec of ``font_files``. Printed text picks among
    ``fonts`` then ``font_files`` as one list, so a font named by its file draws the same as by
    its name."""
    if s.kind == "mixed":  # half printed, half handwriting, whatever the list lengths
        names = (*s.fonts, *s.font_files) if rng.random() < 0.5 else s.hershey_fonts
    else:
        names = s.hershey_fonts if s.kind == "handwriting" else (*s.fonts, *s.font_files)
    return names[rng.integers(len(names))]


def _load_font(name: str, s: SynthSettings) -> OutlineFont | StrokeFont:
    """The font of a name that ``_pick_font`` drew."""
    return font_file(name) if name in s.font_files else get_font(name)


@dataclass(frozen=True)
class Scene:
    """The nuisance draws both twins share, resolved to pixel-space pen paths."""

    paths: list[np.ndarray]
    filled: bool
    body: float  # body height, pixels
    width: float  # pen width, pixels (strokes); 0 for outlines, which are filled as designed


def _margin(s: SynthSettings) -> float:
    """Room kept free at the border for tremor excursions and the pen."""
    b = s.body_px[1]
    t = s.tremor
    tremor = 0.5 * t.amplitude_pp[1] * t.severity * (1 + t.drift) * b * (1 + t.minor_ratio[1])
    return tremor + 0.5 * s.stroke_width[1] * b + 1.0


def sample_scene(rng: np.random.Generator, s: SynthSettings, split: str) -> Scene:
    height, width = s.image_size
    margin = _margin(s)
    font = _load_font(_pick_font(rng, s), s)
    angle = np.deg2rad(rng.uniform(-s.rotation_deg, s.rotation_deg))
    shear = np.array([[1.0, -rng.uniform(-s.slant, s.slant)], [0.0, 1.0]])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    transform = rot @ shear
    body = rng.uniform(*s.body_px)
    for _ in range(20):  # shorter text until it fits at the smallest allowed size
        laid = font.layout(_choose_text(rng, s, split))
        pts = np.concatenate(laid.paths) @ transform.T / laid.x_height  # in body heights
        extent = np.ptp(pts, axis=0)
        fit = min((width - 2 * margin) / extent[0], (height - 2 * margin) / max(extent[1], 1e-9))
        if fit >= s.body_px[0]:
            break
    body = min(body, fit)
    scale = body / laid.x_height
    paths = [p @ transform.T * scale for p in laid.paths]
    lo = np.min([p.min(0) for p in paths], axis=0)
    hi = np.max([p.max(0) for p in paths], axis=0)
    free = np.maximum(np.array([width, height]) - 2 * margin - (hi - lo), 0)
    offset = margin + rng.uniform(0, 1, 2) * free - lo
    paths = densify([p + offset for p in paths], spacing=body / 24)
    pen = rng.uniform(*s.stroke_width) * body  # drawn for both kinds: keeps the streams aligned
    return Scene(paths=paths, filled=laid.filled, body=body, width=0.0 if laid.filled else pen)


def _shrink_along_line(paths: list[np.ndarray], fraction: float) -> list[np.ndarray]:
    """Micrographia: letters shrink linearly along the line, down to (1 - fraction)."""
    pts = np.concatenate(paths)
    x0, x1, base = pts[:, 0].min(), pts[:, 0].max(), pts[:, 1].max()
    out = []
    for p in paths:
        k = 1 - fraction * (p[:, 0] - x0) / max(x1 - x0, 1e-9)
        out.append(np.stack([p[:, 0], base + (p[:, 1] - base) * k], axis=1))
    return out


# The most the box fit may stretch or squeeze the shaky twin along one axis: its per-axis scale is
# clipped to [1 / FIT_MAX_SCALE, FIT_MAX_SCALE]. A factor, so the bounds are reciprocal (0.87 and
# 1.15): stretching and squeezing are limited alike.
FIT_MAX_SCALE = 1.15


def _fit_box(paths: list[np.ndarray], like: list[np.ndarray]) -> list[np.ndarray]:
    """``paths`` scaled per axis onto the bounding box of ``like`` and centred on it.

    Tremor excursions at the ends of a line widen the text by about 8% (outline fonts), enough
    for a linear classifier on bounding-box size to beat chance; a writer with tremor still
    writes the word at the size they mean, so the shaky twin keeps its regular twin's box.

    The per-axis scale is clipped to [1 / FIT_MAX_SCALE, FIT_MAX_SCALE]. Across a word the tremor
    adds a small fraction to the box (unclipped x scales of 0.86-1.0 for 90% of the default pairs),
    but across a thin single glyph most of the width is tremor. The I and l of the Hershey fonts
    rowmans and futural are one straight vertical stroke (futuram's two strokes 1 unit apart),
    which the scene's slant turns into a short diagonal; an unclipped fit squeezed its shaky twin
    to a median 0.52 of its width (below 0.15 for a tenth of them), which shrank the tremor and
    took about a third of the lean off the stroke: an almost upright zigzag next to a leaning bar.
    The glyph itself is drawn as the font designs it, so it is kept; the clip is the whole fix.
    Where the clip binds (6% of 2000 default pairs, every one a single letter), the shaky box
    stays larger (or smaller) than the regular one and is centred on it, not anchored at its min
    corner; elsewhere centring and corner anchoring give the same map. Centred, a capped box
    overhangs each side by at most half its excess, within the tremor room of ``_margin``.
    """
    src, dst = np.concatenate(paths), np.concatenate(like)
    src_lo, src_hi, dst_lo, dst_hi = src.min(0), src.max(0), dst.min(0), dst.max(0)
    src_span, dst_span = src_hi - src_lo, dst_hi - dst_lo
    scale = np.where(src_span > 1e-9, dst_span / np.maximum(src_span, 1e-9), 1.0)
    scale = np.clip(scale, 1 / FIT_MAX_SCALE, FIT_MAX_SCALE)
    src_mid, dst_mid = (src_lo + src_hi) / 2, (dst_lo + dst_hi) / 2
    return [(q - src_mid) * scale + dst_mid for q in paths]


def render_pair(
    s: SynthSettings, seed: int, split: str, index: int
) -> tuple[np.ndarray, np.ndarray]:
    """The (regular, shaky) images of pair ``index`` of ``split``; each (H, W) uint8, ink dark."""
    split_id = SPLITS.index(split)
    scene = sample_scene(np.random.default_rng([seed, split_id, index, 0]), s, split)
    tremor = sample_tremor(np.random.default_rng([seed, split_id, index, 1]), s.tremor)
    regular = render(scene.paths, scene.filled, scene.width, s.image_size, s.supersample)
    shaky_paths = scene.paths
    if s.micrographia > 0:
        shaky_paths = _shrink_along_line(shaky_paths, s.micrographia)
    shaky_paths = _fit_box(apply_tremor(shaky_paths, scene.body, tremor), shaky_paths)
    return regular, _render_ink_matched(shaky_paths, scene, ink(regular), s)


def _render_ink_matched(
    paths: list[np.ndarray], scene: Scene, target: float, s: SynthSettings
) -> np.ndarray:
    """Render the shaky twin with about the ink of its regular twin.

    Tremor lengthens the pen path, which adds ink; where it folds a stroke onto itself, or makes
    the two edges of a thin glyph stem cross, it removes ink. Either would let a classifier
    separate the classes by ink amount alone. The pen starts thinned by the path-length ratio
    (strokes) or at zero (outlines); unless that render is within 1% of ``target``, one secant
    step on the measured ink follows, with a slope (ink per pixel of pen width) of about the path
    length, or 0.35 of it for outlines (measured: half the pen lies inside the glyph), and the
    closer of the two renders is kept. Pen widths are quantized to 1 / supersample pixel, so a
    second step left the median ink error at 2.5-3.5% and did not lower the ink-feature AUC.
    """
    length = path_length(paths)
    if scene.filled:
        pen, slope = 0.0, 0.35 * length
    else:
        pen, slope = scene.width * path_length(scene.paths) / max(length, 1e-9), length
    first = render(paths, scene.filled, pen, s.image_size, s.supersample)
    first_ink = ink(first)
    if abs(first_ink - target) <= 0.01 * target:
        return first
    pen += (target - first_ink) / max(slope, 1e-9)
    if not scene.filled:
        pen = max(pen, 0.25 * scene.width)
    second = render(paths, scene.filled, pen, s.image_size, s.supersample)
    return second if abs(ink(second) - target) < abs(first_ink - target) else first


def _render_range(s: SynthSettings, seed: int, split: str, start: int, stop: int) -> np.ndarray:
    out = np.empty((2 * (stop - start), *s.image_size), dtype=np.uint8)
    for k, index in enumerate(range(start, stop)):
        out[2 * k], out[2 * k + 1] = render_pair(s, seed, split, index)
    return out


def generate_split(
    s: SynthSettings, seed: int, split: str, n_pairs: int, workers: int | None = None
) -> np.ndarray:
    """Images of pairs 0..n_pairs-1 of ``split``: (2 n_pairs, H, W), regular then shaky per pair."""
    workers = workers or os.cpu_count() or 1
    chunk = max(1, min(256, -(-n_pairs // (4 * workers))))
    bounds = [(i, min(i + chunk, n_pairs)) for i in range(0, n_pairs, chunk)]
    if workers == 1 or len(bounds) == 1:
        parts = [_render_range(s, seed, split, a, b) for a, b in bounds]
    else:
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method)) as pool:
            futures = [pool.submit(_render_range, s, seed, split, a, b) for a, b in bounds]
            parts = [f.result() for f in futures]
    return np.concatenate(parts) if parts else np.empty((0, *s.image_size), np.uint8)


def generate_dataset(
    s: SynthSettings, seed: int, n_pairs: Mapping[str, int], workers: int | None = None
) -> dict[str, np.ndarray]:
    """All splits as flat arrays: images, labels (0 regular, 1 shaky), pair_id, split (0/1/2)."""
    images, labels, pair_ids, split_ids = [], [], [], []
    first_pair = 0
    for split_id, split in enumerate(SPLITS):
        n = int(n_pairs.get(split, 0))
        images.append(generate_split(s, seed, split, n, workers))
        labels.append(np.tile(np.array([0, 1], dtype=np.int64), n))
        pair_ids.append(np.repeat(np.arange(first_pair, first_pair + n, dtype=np.int64), 2))
        split_ids.append(np.full(2 * n, split_id, dtype=np.int64))
        first_pair += n
    return {
        "images": np.concatenate(images),
        "labels": np.concatenate(labels),
        "pair_id": np.concatenate(pair_ids),
        "split": np.concatenate(split_ids),
    }
