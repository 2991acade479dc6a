"""A PNG grid of regular / shaky pairs, to look at what the synthesizer makes."""

from __future__ import annotations

import hydra
import numpy as np
from omegaconf import DictConfig
from PIL import Image

from rvsm.data.synth import SynthSettings, render_pair, tool_settings
from rvsm.utils.io import atomic_open


def pair_grid(settings: SynthSettings, seed: int, n_pairs: int, columns: int) -> np.ndarray:
    """Rows of pairs: each pair is regular | shaky; grey rules separate twins and pairs."""
    height, width = settings.image_size
    gap = 4
    rows = -(-n_pairs // columns)
    pair_w = 2 * width + gap
    grid = np.full((rows * (height + gap), columns * (pair_w + 2 * gap)), 160, np.uint8)
    for i in range(n_pairs):
        regular, shaky = render_pair(settings, seed, "train", i)
        r, c = divmod(i, columns)
        y, x = r * (height + gap), c * (pair_w + 2 * gap)
        grid[y : y + height, x : x + width] = regular
        grid[y : y + height, x + width + gap : x + pair_w] = shaky
    return grid


@hydra.main(version_base="1.3", config_path="../../conf", config_name="preview")
def main(cfg: DictConfig) -> None:
    settings = tool_settings(cfg.data.synth)
    grid = pair_grid(settings, int(cfg.seed), int(cfg.n_pairs), int(cfg.columns))
    image = Image.fromarray(grid)
    image = image.resize((image.width * cfg.zoom, image.height * cfg.zoom), Image.NEAREST)
    with atomic_open(cfg.out, "wb") as f:
        image.save(f, format="PNG")
    print(f"rvsm: wrote {cfg.n_pairs} regular | shaky pairs to {cfg.out}")


if __name__ == "__main__":
    main()
