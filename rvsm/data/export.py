"""Export a synthesized data set to .npz: images (uint8 N x H x W, ink dark on light), labels
(0 regular, 1 shaky), pair_id, split (0 train, 1 val, 2 test)."""

from __future__ import annotations

import hydra
import numpy as np
from omegaconf import DictConfig

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


@hydra.main(version_base="1.3", config_path="../../conf", config_name="export")
def main(cfg: DictConfig) -> None:
    if cfg.n_pairs < 1:
        raise SystemExit(f"rvsm: error: n_pairs must be >= 1, got {cfg.n_pairs}")
    settings = tool_settings(cfg.data.synth)
    counts = split_counts(int(cfg.n_pairs), dict(cfg.data.n_pairs))
    arrays = generate_dataset(settings, int(cfg.seed), counts, cfg.data.get("workers"))
    with atomic_open(cfg.out, "wb") as f:
        np.savez_compressed(f, **arrays)
    print(f"rvsm: wrote {len(arrays['labels'])} images ({counts}) to {cfg.out}")


if __name__ == "__main__":
    main()
