"""``python -m rvsm.eval ckpt_path=<checkpoint or run folder> [data=...] [data.* overrides]``.

Tests a trained model, its sparse (evaluated) network and, where the method has one, its dense
twin, on the test split of any data setting: the data are chosen as for training (the same
``data`` group, defaults and overrides), generated and cached as usual. Only the test split is
generated (``data.n_pairs.train`` and ``val`` are 1 here; a split's pairs do not depend on the
others' counts, so the test images are those of a training run with the same data settings).
Writes ``eval.json`` in the run folder and prints one line.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf

from rvsm.data import describe_data
from rvsm.runtime.cli import fail, run_task
from rvsm.runtime.io import write_json
from rvsm.runtime.trained import prepare, test_accuracy


def evaluate(cfg: DictConfig) -> dict:
    """Test the checkpoint on the chosen data; write ``eval.json``; return what it holds."""
    try:
        path, model, trained, datamodule = prepare(cfg)
    except (ValueError, InstantiationException) as err:
        fail(err)
    L.seed_everything(cfg.seed, verbose=False)
    result = {
        **test_accuracy(model, datamodule, cfg.trainer),
        "checkpoint": str(path),
        "data": OmegaConf.to_container(cfg.data, resolve=True),
        "trained": trained,
    }
    write_json(Path(cfg.paths.output_dir) / "eval.json", result)
    numbers = " ".join(
        f"{k}={result[k]:.4f}"
        for k in ("test/acc", "test/acc_dense", "test/sparsity_fc")
        if k in result
    )
    data = datamodule.describe()
    print(
        f"rvsm: eval {path} on {data['data']} data, severity {data['severity']:g} "
        f"(trained on {describe_data(trained['data'])['data']}) | {numbers}",
        flush=True,
    )
    return result


if __name__ == "__main__":
    run_task(evaluate, "eval")
