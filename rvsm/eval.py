"""``python -m rvsm.eval ckpt_path=<checkpoint or run folder> [data=...] [data.* overrides]``.

Tests a trained model, its sparse (evaluated) network and, where the method has one, its dense
twin, on the test split of any data setting: the data are chosen as for training (the same
``data`` group, defaults and overrides), generated and cached as usual. Only the test split is
generated (``data.n_pairs.train`` and ``val`` are 1 here; a split's pairs do not depend on the
others' counts, so the test images are those of a training run with the same data settings).
With ``data.synth.font_files`` the test text is drawn in those fonts alone (``font_files_only``,
on by default), e.g. fonts never seen in training; ``per_font=true`` also tests each font of the
data alone and writes one row per font to ``per_font.csv`` (and ``eval.json``'s ``per_font``).
Writes ``eval.json`` in the run folder and prints one line.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf

from rvsm.data import describe_data
from rvsm.data.source import InFonts, capable
from rvsm.runtime.cli import fail, run_task
from rvsm.trained import accuracies, prepare, test_accuracy
from rvsm.utils.io import write_csv, write_json


def evaluate(cfg: DictConfig) -> dict:
    """Test the checkpoint on the chosen data; write ``eval.json``; return what it holds."""
    try:
        path, model, trained, datamodule = prepare(cfg)
        if cfg.per_font:
            capable(datamodule, InFonts, "per_font=true")
        fonts = datamodule.per_font() if cfg.per_font else []  # checked before any data exist
    except (ValueError, InstantiationException) as err:
        fail(err)
    out = Path(cfg.paths.output_dir)
    L.seed_everything(cfg.seed, verbose=False)
    result = {
        **test_accuracy(model, datamodule, cfg.trainer),
        "checkpoint": str(path),
        "precision": str(cfg.trainer.precision),
        "data": OmegaConf.to_container(cfg.data, resolve=True),
        "fonts": list(datamodule.fonts) if isinstance(datamodule, InFonts) else [],
        "trained": trained,
    }
    if fonts:
        rows = []
        for font, alone in fonts:
            L.seed_everything(cfg.seed, verbose=False)
            rows.append({"font": font, **accuracies(test_accuracy(model, alone, cfg.trainer))})
        write_csv(out / "per_font.csv", rows, ["font", "acc", "acc_dense"])
        result["per_font"] = rows
    write_json(out / "eval.json", result)
    numbers = " ".join(
        f"{k}={result[k]:.4f}"
        for k in ("test/acc", "test/acc_dense", "test/sparsity_fc")
        if k in result
    )
    data = datamodule.describe()
    drawn = (
        f" in {len(result['fonts'])} fonts, severity {data['severity']:g}"
        if isinstance(datamodule, InFonts)
        else ""
    )
    print(
        f"rvsm: eval {path} on {data['data']} data{drawn}"
        f"{' (per font: per_font.csv)' if fonts else ''} "
        f"(trained on {describe_data(trained['data'])['data']}) | {numbers}",
        flush=True,
    )
    return result


if __name__ == "__main__":
    run_task(evaluate, "eval")
