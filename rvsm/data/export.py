"""Export a synthesized data set: to .npz (``out=<file>.npz``: images uint8 N x H x W, ink dark on
light, labels 0 regular / 1 shaky, pair_id, split 0 train / 1 val / 2 test), or as a folder of
PNG files in the layout ``data=folder`` reads (any other ``out``: ``<out>/train|val|test/
regular|tremor/<pair>_<label>.png``), e.g. to check that a folder of images trains as the
synthesized data do."""

from __future__ import annotations

from pathlib import Path

import hydra
import numpy as np
from omegaconf import DictConfig
from PIL import Image

from rvsm.data.synth import generate_dataset, tool_settings
from rvsm.data.words import SPLITS
from rvsm.utils.io import atomic_open


def split_counts(total: int, proportions: dict[str, int]) -> dict[str, int]:
    """``total`` pairs shared among the splits in the given proportions (largest remainders)."""
    weights = np.array([proportions[s] for s in SPLITS], dtype=float)
    exact = total * weights / weights.sum()
    counts = np.floor(exact).astype(int)
    for i in np.argsort(counts - exact)[: total - counts.sum()]:
        counts[i] += 1
    return dict(zip(SPLITS, counts.tolist(), strict=True))


@hydra.main(version_base="1.3", config_path="../../conf", config_name="export_data")
def main(cfg: DictConfig) -> None:
    if cfg.n_pairs < 1:
        raise SystemExit(f"rvsm: error: n_pairs must be >= 1, got {cfg.n_pairs}")
    settings = tool_settings(cfg.data.synth)
    counts = split_counts(int(cfg.n_pairs), dict(cfg.data.n_pairs))
    arrays = generate_dataset(settings, int(cfg.seed), counts, cfg.data.get("workers"))
    if str(cfg.out).endswith(".npz"):
        with atomic_open(cfg.out, "wb") as f:
            np.savez_compressed(f, **arrays)
    else:
        write_folder(arrays, Path(cfg.out))
    print(f"rvsm: wrote {len(arrays['labels'])} images ({counts}) to {cfg.out}")


def write_folder(arrays: dict[str, np.ndarray], out: Path) -> None:
    """The images as PNG files in ImageFolder's layout, by split and class (the classes of the
    synthesized data: regular, tremor); a file is written whole or not at all."""
    classes = ("regular", "tremor")
    for image, label, pair, split in zip(
        arrays["images"], arrays["labels"], arrays["pair_id"], arrays["split"], strict=True
    ):
        folder = out / SPLITS[int(split)] / classes[int(label)]
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_open(folder / f"{int(pair):06d}_{int(label)}.png", "wb") as f:
            Image.fromarray(image).save(f, format="PNG")


if __name__ == "__main__":
    main()
