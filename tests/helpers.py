"""Helpers shared by the test modules: tiny data settings, a subprocess runner for the real CLIs,
metrics.json comparisons, a tiny in-process module and trainer for the RVSM step, and exported
files run where rvsm cannot be imported."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import lightning as L
import pytest
import torch
from hydra.errors import InstantiationException
from omegaconf import OmegaConf
from torch.utils.data import DataLoader, TensorDataset

from rvsm.methods.rvsm import RVSM
from rvsm.module import SparseModule
from rvsm.nets import TremorCNN
from rvsm.runtime.build import build_model
from tests import processes

ROOT = Path(__file__).resolve().parent.parent

# Small, fast data for CLI runs: few pairs, small images, one torch thread (pytest-xdist runs one
# test a core; more threads a run oversubscribe the cores and make tiny runs several times slower)
TINY_DATA = [
    "threads=1",
    "data.n_pairs={train:64,val:32,test:32}",
    "data.synth.image_size=[32,64]",
    "data.synth.body_px=[8.0,12.0]",
    "data.batch_size=32",
    "data.workers=1",
    "trainer.max_epochs=1",
    "method.finetune_epochs=0",  # the default 1 needs 2 epochs or more
    "trainer.enable_progress_bar=false",
    "collapse.after_epochs=null",  # tiny data sit at chance for epochs: train them to the end
    "trainer.precision=32-true",  # the default follows the CPU; a test must not (test_compile.py)
]


# TINY_DATA without RVSM's own knob, for a run of any method (a run of RVSM then needs 2 epochs)
ANY_METHOD = [a for a in TINY_DATA if not a.startswith("method.")]


def tiny_data(args: Sequence[str] = ()) -> list[str]:
    """TINY_DATA for a command line with ``args``: RVSM's own knob (``method.finetune_epochs``)
    only where the method stays RVSM, since another method has no such setting."""
    other = any(a.startswith("method=") and a != "method=rvsm" for a in args)
    return ANY_METHOD if other else TINY_DATA


def _environment(cache_dir: Path, env: dict[str, str] | None) -> dict[str, str]:
    return {
        **os.environ,
        "RVSM_CACHE_DIR": str(cache_dir),
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
        **(env or {}),
    }


def run_cli(
    args: list[str],
    cwd: Path,
    cache_dir: Path,
    timeout: int = 240,
    module: str = "rvsm.train",
    env: dict[str, str] | None = None,
    fresh: bool = False,
):
    """Run ``python -m <module> args`` as a user would, in a process of its own with its own
    cache folder (and ``env`` added to the environment): forked from a server that has imported
    the package (tests/processes.py), or a new interpreter with ``fresh``."""
    env = _environment(cache_dir, env)
    if not fresh:
        return processes.run(module, args, cwd, env, timeout)
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start(
    args: list[str], cwd: Path, cache_dir: Path, log: Path, env: dict[str, str] | None = None
) -> processes.Run:
    """Start ``python -m rvsm.train args`` in the background (a process of its own, as in
    ``run_cli``), its output going to ``log`` (``env`` added to the environment)."""
    return processes.Run("rvsm.train", args, cwd, _environment(cache_dir, env), log, log)


def wandb_records(offline_run: Path) -> list[dict]:
    """The records of an offline W&B run, read back by the wandb package's own CLI."""
    wandb_cli = shutil.which("wandb", path=str(Path(sys.executable).parent))
    out = subprocess.run(
        [wandb_cli, "leet", "inspect", "--json", str(offline_run)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def wandb_history_keys(records: list[dict]) -> set[str]:
    keys: set[str] = set()
    for rec in records:
        if rec.get("type") == "history":
            keys |= set(rec["history"]["item"])
    return keys


# ---- runs compared by their metrics.json --------------------------------------------------
def metrics_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def assert_same_numbers(a: dict, b: dict) -> None:
    """Every number of two metrics.json files agrees to 1e-6, except wall times."""

    def numbers(m: dict) -> set[str]:
        return {k for k, v in m.items() if isinstance(v, float) and not k.startswith("time/")}

    keys = numbers(a)
    assert keys and keys == numbers(b)
    for key in sorted(keys):
        assert b[key] == pytest.approx(a[key], abs=1e-6, rel=0), key
    assert a["status"] == b["status"] == "ok" and a["epochs"] == b["epochs"] == 3


def plugin_folder(
    tmp_path: Path, module: str, source: str, group: str, option: str, config: str
) -> tuple[list[str], dict[str, str]]:
    """A user's own part from outside the package: ``<module>.py`` holding ``source`` and the
    config file ``<group>/<option>.yaml`` holding ``config``, in a temporary folder; the command
    line arguments (search path, ``group=option``) and the environment (PYTHONPATH) that use it."""
    (tmp_path / "py").mkdir()
    (tmp_path / "py" / f"{module}.py").write_text(source)
    (tmp_path / "conf" / group).mkdir(parents=True)
    (tmp_path / "conf" / group / f"{option}.yaml").write_text(config)
    args = [f"hydra.searchpath=[file://{tmp_path / 'conf'}]", f"{group}={option}"]
    return args, {"PYTHONPATH": str(tmp_path / "py")}


def signal_when_held(
    args: list[str], run_dir: Path, cwd: Path, cache_dir: Path, log: Path, sig: int
) -> subprocess.Popen:
    """Start a run held before a step (``hold.step`` in ``args``), send it ``sig`` once it is
    held, and wait for it to end; the ended process."""
    proc = start(args, cwd, cache_dir, log)
    try:
        wait_for(run_dir / "held", proc)
        proc.send_signal(sig)
    finally:
        proc.wait(timeout=120)
    return proc


def wait_for(path: Path, proc: subprocess.Popen, seconds: float = 300) -> None:
    """Until ``path`` exists; fails if ``proc`` ends first or ``seconds`` pass (a limit for a
    broken run, not a measure of speed: the event is what the test waits for)."""
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None, f"the process ended (exit {proc.returncode}) before {path}"
        assert time.monotonic() < deadline, f"no {path} after {seconds} s"
        time.sleep(0.01)


def sampler_position(ckpt: Path) -> tuple[int, int]:
    """(epoch, images of that epoch already trained on, by this rank) saved in a checkpoint."""
    state = torch.load(ckpt, weights_only=False)
    (loader,) = state["loops"]["fit_loop"]["state_dict"]["combined_loader"]
    return loader["epoch"], loader["position"]


def assert_one_wandb_run_with_continuing_steps(run_dir: Path) -> None:
    """A run folder resumed once logged into one W&B run, its steps continuing where they
    stopped."""
    runs = sorted((run_dir / "wandb").glob("offline-run-*"))
    assert len(runs) == 2
    assert len({r.name.rsplit("-", 1)[1] for r in runs}) == 1, "the resumed job opened a new run"
    steps = []
    for run in runs:
        records = [r for r in wandb_records(run) if r.get("type") == "history"]
        steps.append([r["history"]["item"].get("trainer/global_step") for r in records])
    first, second = ([s for s in part if s is not None] for part in steps)
    assert first and second and min(second) > max(first)


def whole_and_resumed(args: list[str], tmp_path: Path, cache_dir: Path) -> tuple[dict, dict]:
    """metrics.json of a run of ``args`` and of the same run stopped after its first epoch and
    resumed from that checkpoint (``<tmp_path>/whole``, ``<tmp_path>/stopped``)."""
    whole = run_cli([*args, f"hydra.run.dir={tmp_path / 'whole'}"], tmp_path, cache_dir)
    assert whole.returncode == 0, whole.stderr[-3000:]
    stopped = [*args, f"hydra.run.dir={tmp_path / 'stopped'}"]
    first = run_cli([*stopped, "stop_after_epochs=1"], tmp_path, cache_dir)
    assert first.returncode == 0, first.stderr[-3000:]
    resumed = run_cli([*stopped, "ckpt_path=last"], tmp_path, cache_dir)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    return metrics_of(tmp_path / "whole"), metrics_of(tmp_path / "stopped")


# ---- a tiny module and trainer, in process ---------------------------------------------
BETA = 0.5


def tiny_loader(n: int = 48) -> DataLoader:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, 16, 32, generator=gen)
    y = torch.randint(0, 2, (n,), generator=gen)
    return DataLoader(TensorDataset(x, y), batch_size=16)


def tiny_module(
    method,
    split_layers=("fc",),
    lr: float = 0.5,
    optimizer: str = "torch.optim.SGD",
    channels=(4, 4, 8),
    **knobs,
) -> SparseModule:
    """A small CNN for 16 x 32 images with ``method``, built by the runs' own builder
    (rvsm.runtime.build.build_model) from a model config: ``optimizer`` at ``lr`` (a dict for
    more of its settings), ``knobs`` for the module's other settings."""
    settings = optimizer if isinstance(optimizer, dict) else {"_target_": optimizer}
    model = {
        "_target_": "rvsm.module.SparseModule",
        "net": {"_target_": "rvsm.nets.TremorCNN", "channels": list(channels)},
        "optimizer": {"_partial_": True, "lr": lr, **settings},
        **knobs,
    }
    torch.manual_seed(0)
    try:
        return build_model(OmegaConf.create(model), method, list(split_layers), (16, 32))
    except InstantiationException as err:  # the module's own refusal, as when built directly
        raise err.__cause__ from None


def make_module(penalty, layers=("conv3", "fc"), **schedule) -> SparseModule:
    return tiny_module(RVSM(penalty, beta=BETA, **schedule), layers)


def fit(module, callbacks=(), **kwargs) -> L.Trainer:
    kwargs.setdefault("max_epochs", 1)
    trainer = L.Trainer(
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        callbacks=list(callbacks),
        **kwargs,
    )
    trainer.fit(module, tiny_loader(), tiny_loader(16))
    return trainer


# ---- exported files --------------------------------------------------------------------
# an exported file, run by a Python that cannot import rvsm
RUN_EXPORTED = """
import sys
sys.modules["rvsm"] = None  # importing the package now fails
try:
    import rvsm
    sys.exit("rvsm importable")
except ImportError:
    pass
import torch
model = torch.jit.load(sys.argv[1])
with torch.no_grad():
    torch.save(model(torch.load(sys.argv[2])), sys.argv[3])
"""


def run_exported(model_file: Path, x, tmp_path: Path):
    """The logits of the TorchScript ``model_file`` on ``x``, computed in an isolated Python
    (``-I``) where importing rvsm fails."""
    torch.save(x, tmp_path / "x.pt")
    run = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            RUN_EXPORTED,
            str(model_file),
            str(tmp_path / "x.pt"),
            str(tmp_path / "y.pt"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return torch.load(tmp_path / "y.pt")


def evaluated_network(state: dict, split_layers: list[str]):
    """A checkpoint's evaluated network assembled here from its state, in eval mode: the CNN
    of its settings with RVSM's u as the weight of each split layer."""
    net_args = state["hyper_parameters"]["run_config"]["model"]["net"]
    net = TremorCNN(**{k: v for k, v in net_args.items() if k != "_target_"})
    weights = {k[len("net.") :]: v for k, v in state["state_dict"].items() if k.startswith("net.")}
    for name in split_layers:
        weights[f"{name}.weight"] = state["state_dict"][f"method.u_{name}"]
    net.load_state_dict(weights)
    return net.eval()
