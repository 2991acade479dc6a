"""LightningDataModule over synthesized regular vs shaky text, generated once and cached."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from rvsm.data import cache
from rvsm.data.loaders import CachedImageData
from rvsm.data.synth import SynthSettings, generate_dataset
from rvsm.data.words import SPLITS
from rvsm.utils.arguments import integer

log = logging.getLogger(__name__)


class TremorTextDataModule(CachedImageData):
    """Regular (label 0) vs shaky (label 1) text images; both twins of a pair stay in one split.

    Batches arrive as float tensors (N, 1, H, W) with ink = 1 and paper = 0.
    """

    image_size_key = "data.synth.image_size"

    def __init__(
        self,
        synth: Mapping,
        n_pairs: Mapping[str, int],
        seed: int = 0,
        batch_size: int = 128,
        cache_dir: str = ".cache/data",
        workers: int | None = None,
        shuffle_seed: int | None = None,
    ) -> None:
        super().__init__(seed, batch_size, cache_dir, shuffle_seed)
        self.settings = SynthSettings.from_dict(dict(synth))
        if not all(integer(n_pairs.get(split)) and n_pairs.get(split) >= 1 for split in SPLITS):
            raise ValueError(
                "data.n_pairs must be {train: n, val: n, test: n} with every n >= 1, "
                f"got {dict(n_pairs)}"
            )
        self.n_pairs = {split: int(n_pairs[split]) for split in SPLITS}
        self.workers = workers
        #: the hash of everything that determines the images: equal keys, equal bytes
        self.cache_key = cache.cache_key(self.settings, self.seed, self.n_pairs)
        self.cache_path = Path(cache_dir) / f"{self.settings.kind}-{self.cache_key}.npz"
        self._check_cache_folder()

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(self.settings.image_size)

    def describe(self) -> dict:
        """The data setting named in metrics.json and reports: kind and tremor severity."""
        return {"data": self.settings.kind, "severity": float(self.settings.tremor.severity)}

    def test_only(self) -> TremorTextDataModule:
        """The same setting with one pair in train and val: the test split alone is drawn (its
        pairs do not depend on the other splits' counts)."""
        return self._variant(n_pairs={**self.n_pairs, "train": 1, "val": 1})

    def at_severity(self, severity: float) -> TremorTextDataModule:
        """The same data setting with another tremor severity (its own cache file)."""
        tremor = dataclasses.replace(self.settings.tremor, severity=float(severity))
        return self._variant(tremor=tremor)

    @property
    def fonts(self) -> tuple[str, ...]:
        """The fonts the text is drawn in: names of matplotlib and Hershey fonts, file specs."""
        s = self.settings
        printed = (*s.fonts, *s.font_files) if s.draws_outlines else ()
        return printed + (s.hershey_fonts if s.draws_strokes else ())

    def font_files_only(self) -> TremorTextDataModule:
        """The same setting drawn in its font files alone (printed text, no named font), e.g. to
        test on fonts never seen in training; itself when it has no font files."""
        if not self.settings.font_files:
            return self
        return self._variant(kind="fonts", fonts=())

    def per_font(self) -> list[tuple[str, TremorTextDataModule]]:
        """Each font of ``fonts`` with the same setting drawn in that font alone."""
        s, alone = self.settings, []
        if s.draws_outlines:
            alone += [(name, {"fonts": (name,), "font_files": ()}) for name in s.fonts]
            alone += [(spec, {"fonts": (), "font_files": (spec,)}) for spec in s.font_files]
            alone = [(font, {"kind": "fonts", **only}) for font, only in alone]
        if s.draws_strokes:
            alone += [(n, {"kind": "handwriting", "hershey_fonts": (n,)}) for n in s.hershey_fonts]
        return [(font, self._variant(**only)) for font, only in alone]

    def _variant(self, n_pairs: Mapping[str, int] | None = None, **synth) -> TremorTextDataModule:
        """This data module with some ``data.synth`` settings (or the split sizes) replaced (its
        own cache file)."""
        return TremorTextDataModule(
            dataclasses.asdict(dataclasses.replace(self.settings, **synth)),
            n_pairs or self.n_pairs,
            self.seed,
            self.batch_size,
            self.cache_dir,
            self.workers,
            self.shuffle_seed,
        )

    def _generate(self) -> dict[str, np.ndarray]:
        start = time.perf_counter()
        arrays = generate_dataset(self.settings, self.seed, self.n_pairs, self.workers)
        log.info(
            "generated %d images in %.1f s -> %s",
            len(arrays["labels"]),
            time.perf_counter() - start,
            self.cache_path,
        )
        return arrays
