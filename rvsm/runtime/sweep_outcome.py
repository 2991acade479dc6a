"""How each job of a multirun ended, said at its end, with every launcher (basic, joblib, SLURM).

A launcher records each job it ran (``record``): the status its folder's ``metrics.json`` holds,
or ``missing`` when the job died without writing one. When the multirun ends,
``FailOnUnfinishedJobs`` (a Hydra callback, conf/hydra/default.yaml) prints one line per job
that did not finish (failed, crashed, killed, diverged, preempted) and, under Hydra's basic
sweeper, exits 1, so that a sweep never exits 0 with a dead job. A search sweeper keeps its own
rule (``hydra.sweeper.max_failure_rate``) for its exit status: failed trials are part of a search.
A run that finished at chance is a result, not a failure.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, open_dict

from rvsm.utils.io import write_json

# statuses of jobs that did what they were asked: ok, stopped (stop_after_epochs, on purpose),
# collapsed (stopped at chance: a result of the sweep, not a failure)
FINISHED = ("ok", "stopped", "collapsed", "pruned")
BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"

_launched: list[int] = []
_unfinished: list[str] = []


def sweep_config(launcher, overrides: Sequence[str], num: int) -> DictConfig:
    """The whole config of job ``num`` of a launcher's multirun, as the job itself sees it."""
    cfg = launcher.hydra_context.config_loader.load_sweep_config(launcher.config, list(overrides))
    with open_dict(cfg.hydra.job):
        cfg.hydra.job.num = num
    return cfg


def job_folder(launcher, overrides: Sequence[str], num: int) -> Path:
    """The run folder of job ``num`` of a launcher (``hydra.sweep.dir/hydra.sweep.subdir``)."""
    cfg = sweep_config(launcher, overrides, num)
    return Path(str(launcher.config.hydra.sweep.dir)) / str(cfg.hydra.sweep.subdir)


def failed_return(launcher, overrides: Sequence[str], num: int) -> JobReturn:
    """What the sweeper is given for a job that died without a result: its
    ``failed_objective``, as for a job that failed in its own process (rvsm/train.py)."""
    cfg = sweep_config(launcher, overrides, num)
    return JobReturn(
        overrides=list(overrides),
        cfg=cfg,
        hydra_cfg=cfg.hydra,
        task_name=str(cfg.hydra.job.name),
        status=JobStatus.COMPLETED,
        _return_value=float(cfg.failed_objective),
    )


def job_status(folder: Path) -> tuple[str, str]:
    """(status, error) from a job folder's metrics.json; ``missing`` if it has none."""
    try:
        metrics = json.loads((folder / "metrics.json").read_text())
    except (OSError, ValueError):
        return "missing", "no metrics.json (the job died without a result)"
    return metrics.get("status", "ok"), metrics.get("error", "")


def mark_failed(folder: Path, error: str) -> None:
    """Record a job that ended without a result: ``status: failed`` in its metrics.json (what it
    wrote before, e.g. a preemption's, is kept beside)."""
    try:
        metrics = json.loads((folder / "metrics.json").read_text())
    except (OSError, ValueError):
        metrics = {}
    write_json(folder / "metrics.json", {**metrics, "status": "failed", "error": error}, False)


def record(num: int, folder: Path) -> None:
    """Note how job ``num`` ended; its line is printed when the multirun ends."""
    _launched.append(num)
    status, error = job_status(folder)
    if status not in FINISHED:
        _unfinished.append(f"rvsm: error: job {num} ({folder}) {status}: {error}")


class FailOnUnfinishedJobs(Callback):
    """At the end of a multirun: one line per job that did not finish, then exit 1 (the basic
    sweeper; a search's sweeper applies its ``max_failure_rate``)."""

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        _launched.clear()
        _unfinished.clear()

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        if not _unfinished:
            return
        print("\n".join(_unfinished), file=sys.stderr, flush=True)
        print(f"rvsm: {len(_unfinished)} of {len(_launched)} jobs did not finish", file=sys.stderr)
        if config.hydra.sweeper.get("_target_") == BASIC_SWEEPER:
            sys.exit(1)
