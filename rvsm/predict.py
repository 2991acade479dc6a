"""``python -m rvsm.predict ckpt_path=<run folder, checkpoint or exported file> inputs=<image,
folder or glob>``: each image's class and the probability of every class.

The images are prepared as the trained model's data were (``rvsm.data.images``: grey, dark ink on
light paper, the network's size with the aspect ratio kept), with the settings read from the
checkpoint (or from the ``rvsm.json`` that ``rvsm.export`` puts in its file), so nothing else is
passed. Writes ``predictions.csv`` (``path``, ``label``, ``prob_<class>`` per class) in the run
folder and prints one line: the count per class and, when every image sits in a folder named
after a class, the accuracy against those folders.
"""

from __future__ import annotations

import glob
import json
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig

from rvsm.data.images import UnreadableImage, as_batch, check_readable, is_image_name, preprocess
from rvsm.export import PREPROCESSING, preprocessing
from rvsm.runtime.checks import ConfigError
from rvsm.runtime.cli import fail, run_task
from rvsm.trained import load_trained
from rvsm.utils.io import write_csv


def image_files(inputs: str) -> list[Path]:
    """The images ``inputs`` names: a file, every image under a folder, or a glob's matches."""
    path = Path(inputs).expanduser()
    if path.is_file():
        found = [path]
    elif path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.is_file() and is_image_name(p))
    else:
        found = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
    if not found:
        raise ConfigError(f"inputs: {inputs} names no image file (an image, a folder or a glob)")
    for file in found:
        try:
            check_readable(file)
        except UnreadableImage as err:
            raise ConfigError(f"inputs: {err}") from None
    return found


def load_model(ckpt_path: str) -> tuple[Path, torch.nn.Module, dict]:
    """The network to predict with and how to prepare its input, from a run folder or checkpoint
    (the evaluated sparse network) or from an exported TorchScript file."""
    path = Path(str(ckpt_path))
    if path.is_file() and path.suffix != ".ckpt":
        files = {PREPROCESSING: ""}
        try:
            net = torch.jit.load(str(path), map_location="cpu", _extra_files=files)
        except RuntimeError as err:
            raise ConfigError(f"ckpt_path: {path} is not a model file ({err})") from None
        if not files[PREPROCESSING]:
            raise ConfigError(f"ckpt_path: {path} holds no {PREPROCESSING} (export it again)")
        return path, net.eval(), json.loads(files[PREPROCESSING])
    path, model, trained = load_trained(str(ckpt_path))
    return path, model, preprocessing(model, trained)


@torch.no_grad()
def probabilities(net: torch.nn.Module, files: list[Path], settings: dict, batch: int):
    """Class probabilities of each file, in batches."""
    out = []
    for start in range(0, len(files), batch):
        chunk = files[start : start + batch]
        images = [preprocess(p, settings["image_size"], settings["invert"]) for p in chunk]
        x = as_batch(torch.from_numpy(np.stack(images)))
        out.append(torch.softmax(net(x), dim=1))
    return torch.cat(out)


def predict(cfg: DictConfig) -> dict:
    try:
        if not cfg.get("ckpt_path"):
            raise ConfigError("ckpt_path: required, a run folder, checkpoint or exported model")
        if not cfg.get("inputs"):
            raise ConfigError("inputs: required, an image, a folder of images or a glob")
        files = image_files(str(cfg.inputs))
        path, net, settings = load_model(cfg.ckpt_path)
    except ValueError as err:
        fail(err)
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    classes = list(settings["classes"])
    probs = probabilities(net, files, settings, int(cfg.batch_size))
    labels = [classes[i] for i in probs.argmax(dim=1).tolist()]
    columns = [f"prob_{c}" for c in classes]
    rows = [
        {"path": str(f), "label": label, **dict(zip(columns, map(float, p), strict=True))}
        for f, label, p in zip(files, labels, probs, strict=True)
    ]
    out = Path(cfg.paths.output_dir)
    write_csv(out / "predictions.csv", rows, ["path", "label", *columns])
    counts = ", ".join(f"{c} {labels.count(c)}" for c in classes)
    result = {"count": len(files), "per_class": {c: labels.count(c) for c in classes}}
    truth = [f.parent.name for f in files]
    line = f"rvsm: predict {len(files)} images with {path} -> {out / 'predictions.csv'} | {counts}"
    if all(t in classes for t in truth):
        result["accuracy"] = sum(t == p for t, p in zip(truth, labels, strict=True)) / len(files)
        line += f" | accuracy {result['accuracy']:.4f} (against their class folders)"
    print(line, flush=True)
    return result


if __name__ == "__main__":
    run_task(predict, "predict")
