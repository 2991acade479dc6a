"""``data=folder data.root=DIR``: your own images, one subfolder per class (ImageFolder's layout).

``DIR/<class>/<image>`` is split into train / val / test per class, seeded and stratified, by
``split`` (the fractions of val and test; the rest trains); ``DIR/train/<class>/...``,
``DIR/val/<class>/...`` and ``DIR/test/<class>/...`` are used as given. Classes are the subfolder
names, sorted (label i = the i-th); two or more. Every image (PNG, JPEG, TIFF, BMP, ...; grey,
RGB, RGBA, 16-bit) is converted to the synthesized data's convention by ``rvsm.data.images``
(grey, dark ink on light paper, ``image_size`` with the aspect ratio kept), decoded once and
cached under a key of the files' contents, the classes and the preprocessing.

Everything that can be wrong with the folder is refused when the data module is built (before
any data are decoded or cached), in one line: a missing root, a file that is not a readable
image, one class, an empty class, a split without an image of some class.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from rvsm.data.images import (
    INVERT,
    UnreadableImage,
    check_readable,
    is_image_name,
    preprocess,
)
from rvsm.data.loaders import CachedImageData
from rvsm.data.words import SPLITS
from rvsm.utils.arguments import ArgumentError, number, require
from rvsm.utils.io import file_digest

log = logging.getLogger(__name__)

# Bump when the preprocessing changes for the same files and settings.
FORMAT_VERSION = 1


def _refuse(problem: str) -> ArgumentError:
    return ArgumentError("root", f": {problem}")


def _class_folders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _images(folder: Path) -> list[Path]:
    """The images of one class folder (nested folders included), sorted; any other file is
    refused by name (hidden files aside)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    for path in files:
        if not is_image_name(path):
            raise _refuse(f"{path} is not an image file (suffixes read: png, jpg, tif, bmp...)")
    return files


def scan(root: Path) -> tuple[tuple[str, ...], dict[str, list[tuple[Path, int]]] | None, list]:
    """The classes, and either the given splits (``train/ val/ test/`` under ``root``) as
    (path, label) lists, or None and the (path, label) list of the whole folder."""
    if not root.is_dir():
        raise _refuse(f"{root} is not a folder (one subfolder of images per class)")
    top = _class_folders(root)
    if {p.name for p in top} == set(SPLITS):
        per_split = {split: {p.name: p for p in _class_folders(root / split)} for split in SPLITS}
        classes = tuple(sorted(per_split["train"]))
        given = {}
        for split in SPLITS:
            if tuple(sorted(per_split[split])) != classes:
                raise _refuse(
                    f"{root / split} has the classes {sorted(per_split[split])}, "
                    f"{root / 'train'} has {list(classes)}: each split needs the same classes"
                )
            given[split] = _labelled(classes, per_split[split], f"{root / split}")
        _check_classes(root, classes)
        return classes, given, []
    classes = tuple(p.name for p in top)
    _check_classes(root, classes)
    return classes, None, _labelled(classes, {p.name: p for p in top}, str(root))


def _check_classes(root: Path, classes: Sequence[str]) -> None:
    if len(classes) < 2:
        raise _refuse(
            f"{root} has {len(classes)} class folder(s) {list(classes)}: two or more are needed "
            "(one subfolder of images per class)"
        )


def _labelled(classes, folders: Mapping[str, Path], where: str) -> list[tuple[Path, int]]:
    out = []
    for label, name in enumerate(classes):
        files = _images(folders[name])
        if not files:
            raise _refuse(f"{folders[name]} (class {name!r}) holds no image")
        out += [(path, label) for path in files]
    return out


def stratified(labels: Sequence[int], fractions: Mapping[str, float], seed: int) -> np.ndarray:
    """Each item's split (0 train, 1 val, 2 test): per class, a seeded permutation whose first
    round(val n) go to val, the next round(test n) to test."""
    labels = np.asarray(labels)
    split = np.zeros(len(labels), dtype=np.int64)
    rng = np.random.default_rng(seed)
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_val, n_test = (round(fractions[s] * len(members)) for s in ("val", "test"))
        split[members[:n_val]] = 1
        split[members[n_val : n_val + n_test]] = 2
    return split


def _facts(path: Path) -> str:
    """The file's content digest, once it is known to be a readable image; kept per process
    under its (inode, size, mtime), so that building the data module again (the pre-check, then
    the job) reads each file once."""
    st = path.stat()
    return _checked_digest(str(path), st.st_ino, st.st_size, st.st_mtime_ns)


@functools.cache
def _checked_digest(path: str, inode: int, size: int, mtime_ns: int) -> str:
    try:
        check_readable(Path(path))
    except UnreadableImage as err:
        raise _refuse(str(err)) from None
    return file_digest(path)


class FolderDataModule(CachedImageData):
    """Images from a folder of class subfolders; batches as the synthesized data's (N, 1, H, W),
    ink = 1 and paper = 0."""

    def __init__(
        self,
        root: str | None,
        image_size: Sequence[int] = (64, 128),
        split: Mapping[str, float] | None = None,
        invert: str | bool = "auto",
        seed: int = 0,
        batch_size: int = 64,
        cache_dir: str = ".cache/data",
        shuffle_seed: int | None = None,
    ) -> None:
        if root is None or str(root) == "":
            raise ArgumentError("root", "is required: a folder with one subfolder per class")
        size = list(image_size)
        require(
            "image_size",
            size,
            len(size) == 2 and all(isinstance(v, int) and v >= 8 for v in size),
            "[height, width], integers >= 8",
        )
        require("invert", invert, lambda v: v in INVERT, "auto, true or false")
        fractions = {"val": 0.15, "test": 0.15, **dict(split or {})}
        require(
            "split",
            fractions,
            set(fractions) == {"val", "test"}
            and all(number(v) and 0 < v < 1 for v in fractions.values())
            and sum(fractions.values()) < 1,
            "{val: f, test: f}, fractions > 0 with val + test < 1",
        )
        super().__init__(seed, batch_size, cache_dir, shuffle_seed)
        self.root, self.size, self.invert = Path(root).expanduser(), tuple(size), invert
        self.classes, given, whole = scan(self.root)
        for path, _ in whole or [item for items in given.values() for item in items]:
            _facts(path)  # a file that is not a readable image is refused here
        if given is None:
            labels = [label for _, label in whole]
            splits = stratified(labels, fractions, self.seed)
            self.items = [(p, lab, int(s)) for (p, lab), s in zip(whole, splits, strict=True)]
            for split_id, name in enumerate(SPLITS):
                present = {lab for _, lab, s in self.items if s == split_id}
                missing = [c for i, c in enumerate(self.classes) if i not in present]
                if missing:
                    raise _refuse(
                        f"the {name} split ({fractions.get(name, 'the rest')}) gets no image "
                        f"of class {missing[0]!r}: add images or change data.split"
                    )
        else:
            self.items = [(p, lab, i) for i, s in enumerate(SPLITS) for p, lab in given[s]]
        self.fractions = None if given is not None else fractions
        self.cache_key = self._key()
        self.cache_path = Path(cache_dir) / f"folder-{self.cache_key}.npz"
        self._check_cache_folder()

    @property
    def image_size(self) -> tuple[int, int]:
        return self.size

    def prepared_as(self, image_size: Sequence[int], invert: str | bool) -> FolderDataModule:
        """The same folder prepared as a trained network's data were (its size and ink)."""
        if tuple(image_size) == self.size and invert == self.invert:
            return self
        return FolderDataModule(
            str(self.root),
            list(image_size),
            self.fractions,
            invert,
            self.seed,
            self.batch_size,
            self.cache_dir,
            self.shuffle_seed,
        )

    def describe(self) -> dict:
        """The data setting named in metrics.json and reports: the folder (no tremor severity)."""
        return {"data": f"folder:{self.root.name}", "severity": None}

    def _key(self) -> str:
        """A hash of the files' contents (by their place under root), the classes, the splits
        and the preprocessing: equal keys, equal arrays."""
        files = [[str(p.relative_to(self.root)), _facts(p), lab, s] for p, lab, s in self.items]
        blob = json.dumps(
            {
                "version": FORMAT_VERSION,
                "classes": self.classes,
                "files": files,
                "image_size": self.size,
                "invert": self.invert,
            },
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def _generate(self) -> dict[str, np.ndarray]:
        start = time.perf_counter()
        images = np.stack([preprocess(p, self.size, self.invert) for p, _, _ in self.items])
        arrays = {
            "images": images,
            "labels": np.array([lab for _, lab, _ in self.items], dtype=np.int64),
            "pair_id": np.arange(len(self.items), dtype=np.int64),
            "split": np.array([s for _, _, s in self.items], dtype=np.int64),
        }
        log.info(
            "decoded %d images of %s in %.1f s -> %s",
            len(images),
            self.root,
            time.perf_counter() - start,
            self.cache_path,
        )
        return arrays
