"""Outline fonts named by file (``data.synth.font_files``): entries expanded to font specs, specs
opened with fontTools, and the content digest that goes into the cache key.

A spec is a path to a TTF or OTF file, or ``<collection>.ttc:<face>`` for one face (counted from
0) of a TrueType / OpenType collection (``:`` rather than ``#``, which Hydra's command line would
need quoted). An entry of ``font_files`` is a spec, a collection without a face (all its faces),
a directory (the fonts under it, recursively) or a glob pattern (``*``, ``?``, ``[...]``, ``**``);
what a directory or pattern holds is sorted by path, and a font named twice counts once.
"""

from __future__ import annotations

import glob
import os
import struct
from collections.abc import Iterator, Sequence
from pathlib import Path

from fontTools.ttLib import TTCollection, TTFont, TTLibError

from rvsm.utils.io import file_digest

KEY = "data.synth.font_files"
SUFFIXES = (".ttf", ".otf", ".ttc", ".otc")
COLLECTIONS = (".ttc", ".otc")
# what fontTools raises on a file that is not (or not wholly) a font
BAD_FONT = (OSError, TTLibError, AssertionError, KeyError, IndexError, ValueError, struct.error)


def split_spec(spec: str) -> tuple[Path, int | None]:
    """(file, face) of a spec; face is None for a file that is not a collection face."""
    head, sep, tail = spec.rpartition(":")
    if sep and tail.isdigit() and head.lower().endswith(COLLECTIONS):
        return Path(head), int(tail)
    return Path(spec), None


def _faces(path: Path) -> Iterator[str]:
    """The specs of a file: each face of a collection, or the file itself."""
    if path.suffix.lower() not in COLLECTIONS:
        yield str(path)
        return
    try:
        count = len(TTCollection(str(path), lazy=True).fonts)
    except BAD_FONT as err:
        raise ValueError(f"{KEY}: {path} is not a readable font collection ({err})") from None
    yield from (f"{path}:{face}" for face in range(count))


def _fonts_under(paths: Sequence[str]) -> list[Path]:
    """The font files among ``paths`` (matches of a directory or pattern), sorted."""
    found = set()
    for p in map(Path, paths):
        if p.is_dir():
            found |= {f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in SUFFIXES}
        elif p.is_file() and p.suffix.lower() in SUFFIXES:
            found.add(p)
    return sorted(found)


def expand(entries: Sequence[str]) -> tuple[str, ...]:
    """The font specs that ``entries`` stand for, as absolute paths, in order, each once.

    A plain file is taken as it is (and refused later if it is not a font); a directory or a
    pattern that holds no font file is refused here, naming the entry.
    """
    specs: list[str] = []
    for entry in map(str, entries):
        path, face = split_spec(os.path.abspath(os.path.expanduser(entry)))
        if face is not None:
            found = [f"{path}:{face}"]
        elif path.is_file():
            found = list(_faces(path))
        elif path.is_dir() or glob.has_magic(entry):
            matches = [str(path)] if path.is_dir() else glob.glob(str(path), recursive=True)
            found = [spec for f in _fonts_under(matches) for spec in _faces(f)]
            if not found:
                raise ValueError(f"{KEY}: {entry} holds no font file ({', '.join(SUFFIXES)})")
        else:
            raise ValueError(f"{KEY}: no such file {entry}")
        specs += [s for s in found if s not in specs]
    return tuple(specs)


def open_font(spec: str) -> TTFont:
    """The font of a spec, read lazily; ValueError naming the file if it is not a readable font."""
    path, face = split_spec(spec)
    if not path.is_file():
        raise ValueError(f"{KEY}: no such file {path}")
    try:
        font = TTFont(str(path), fontNumber=-1 if face is None else face, lazy=True)
        cmap = font.getBestCmap()
        font.getGlyphSet()
        font["hmtx"]
    except BAD_FONT as err:
        reason = " ".join(str(err).split()) or type(err).__name__
        raise ValueError(f"{KEY}: {spec} is not a readable outline font ({reason})") from None
    if cmap is None:
        raise ValueError(f"{KEY}: {spec} has no Unicode character map")
    return font


def digest(spec: str) -> str:
    """SHA-256 of the file's bytes (and the face), so the cache follows the file, not its path."""
    path, face = split_spec(spec)
    return file_digest(path) if face is None else f"{file_digest(path)}:{face}"


def stamp(spec: str) -> tuple[int, int, int]:
    """What changes when a file is rewritten or replaced (inode, size, mtime): the key under
    which one process keeps a font's glyphs, cheap enough to take for every image."""
    path = split_spec(spec)[0]
    try:
        st = os.stat(path)
    except OSError as err:
        raise ValueError(f"{KEY}: cannot read {path} ({err.strerror})") from None
    return st.st_ino, st.st_size, st.st_mtime_ns
