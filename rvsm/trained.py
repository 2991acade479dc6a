"""A trained model from its checkpoint: found, read once, rebuilt from the settings saved in it,
and tested on any data setting (shared by ``rvsm.eval``, ``rvsm.severity`` and ``rvsm.export``)."""

from __future__ import annotations

from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from rvsm.data.source import InFonts
from rvsm.module import SparseModule
from rvsm.runtime.build import build_data, build_model
from rvsm.runtime.checkpointing import checkpoint_path, read_checkpoint
from rvsm.runtime.checks import ConfigError, validate

# modules whose classes moved since checkpoints were first written: a checkpoint's run_config
# names its parts by ``_target_``, so an old one is read with the new names
MOVED_TARGETS = {
    "rvsm.penalties.": "rvsm.methods.penalties.",
    "rvsm.runtime.callbacks.ZeroPatternImage": "rvsm.reporting.zero_pattern.ZeroPatternImage",
}


def current_targets(node):
    """A run_config with every ``_target_`` of a moved module renamed to where it lives now."""
    if isinstance(node, dict):
        return {k: current_targets(v) for k, v in node.items()}
    if isinstance(node, list):
        return [current_targets(v) for v in node]
    if isinstance(node, str):
        for old, new in MOVED_TARGETS.items():
            if node.startswith(old):
                return new + node[len(old) :]
    return node


def run_checkpoint(folder: Path) -> Path:
    """A run folder's ``checkpoints/last.ckpt``; a folder without one (a sweep's, or no run's) is
    refused naming the run folders under it that hold one."""
    last = folder / "checkpoints" / "last.ckpt"
    if last.is_file():
        return last
    runs = sorted(p.parent.parent for p in folder.rglob("checkpoints/last.ckpt"))
    if not runs:
        raise ConfigError(
            f"ckpt_path: no checkpoint in {folder} nor in any folder under it (no "
            "checkpoints/last.ckpt): pass a checkpoint file or the folder of a run of rvsm.train"
        )
    names = [str(r.relative_to(folder)) for r in runs]
    shown = ", ".join(names[:10]) + (f", ... ({len(names)} in all)" if len(names) > 10 else "")
    raise ConfigError(
        f"ckpt_path: {folder} is a sweep folder, not a run (no checkpoints/last.ckpt): pass one "
        f"of its runs, e.g. ckpt_path={runs[0]} (runs with a checkpoint: {shown})"
    )


def load_trained(ckpt_path: str) -> tuple[Path, SparseModule, dict]:
    """The checkpoint a path names (the file itself, or ``<run folder>/checkpoints/last.ckpt``),
    read once; the trained module rebuilt from the settings saved in it; those settings."""
    path = Path(str(ckpt_path))
    path = run_checkpoint(path) if path.is_dir() else checkpoint_path(str(path), path)
    state = read_checkpoint(path)
    trained = state.get("hyper_parameters", {}).get("run_config")
    if not trained:
        raise ConfigError(f"ckpt_path: {path} has no run_config (not written by rvsm.train)")
    trained = current_targets(trained)
    settings = OmegaConf.create(trained)
    image_size = settings.model.net.image_size
    layers = settings.splitting.layers
    model = build_model(settings.model, settings.method, layers, image_size, settings.penalty)
    model.load_state_dict(state["state_dict"])
    return path, model.eval(), trained


def check_fits(model: SparseModule, datamodule, path: Path, classes: list[str]) -> None:
    """The network reads images of one size and tells its classes apart: refuse data of another
    size or other classes before making any."""
    expected, chosen = list(model.net.image_size), list(datamodule.image_size)
    if chosen != expected:
        raise ConfigError(
            f"{datamodule.image_size_key}: {chosen} does not fit the network of {path}, "
            f"trained on {expected} images"
        )
    if list(datamodule.classes) != list(classes):
        raise ConfigError(
            f"data: its classes {list(datamodule.classes)} are not those the network of {path} "
            f"was trained on, {list(classes)}"
        )


def trained_classes(trained: dict) -> list[str]:
    """The class names a trained run's network tells apart (runs before they were recorded:
    the synthesized data's)."""
    return list(trained.get("classes") or ("regular", "tremor"))


def test_accuracy(model: SparseModule, datamodule, trainer_cfg: DictConfig) -> dict:
    """``test/*`` numbers of the module on the test split of ``datamodule`` (generated if
    needed)."""
    trainer = instantiate(trainer_cfg, logger=False, callbacks=[], enable_checkpointing=False)
    (tested,) = trainer.test(model, datamodule=datamodule, verbose=False)
    return {k: float(v) for k, v in tested.items()}


def accuracies(tested: dict) -> dict:
    """The sparse and dense-twin accuracy of ``test_accuracy`` numbers, as a table row's cells
    (``acc_dense`` None for a method without a dense twin)."""
    return {"acc": tested["test/acc"], "acc_dense": tested.get("test/acc_dense")}


#: ``trainer.precision`` of eval and severity by default: the checkpoint's own
TRAINED = "trained"


def trained_precision(trained: dict) -> str:
    """The precision a run was trained in, from its config (float32 where it does not say: every
    CPU default before bf16-mixed, and every GPU one)."""
    return str((trained.get("trainer") or {}).get("precision") or "32-true")


def prepare(cfg: DictConfig):
    """Checks and loading shared by eval, severity and export, all before any data exist: the
    checkpoint's path, the trained module, its settings, and the data module of ``cfg.data``
    (None without one), drawn in its font files alone where ``font_files_only`` asks.
    ``trainer.precision`` ``trained`` becomes the checkpoint's own, in ``cfg``."""
    validate(cfg)
    if not cfg.get("ckpt_path"):
        raise ConfigError("ckpt_path: required, a checkpoint file or a run folder")
    path, model, trained = load_trained(cfg.ckpt_path)
    if cfg.get("trainer") is not None and cfg.trainer.get("precision") == TRAINED:
        cfg.trainer.precision = trained_precision(trained)
    datamodule = None
    if "data" in cfg:
        datamodule = build_data(cfg.data)  # checks the data settings; generates nothing
        if isinstance(datamodule, InFonts) and cfg.get("font_files_only", False):
            datamodule = datamodule.font_files_only()
        datamodule = datamodule.test_only()  # only the test split is used
        invert = trained["data"].get("invert", "auto")  # images read as the network's data were
        datamodule = datamodule.prepared_as(model.net.image_size, invert)
        check_fits(model, datamodule, path, trained_classes(trained))
    return path, model, trained, datamodule
