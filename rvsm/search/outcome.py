"""What a finished job tells its trial: the objectives from the job's metrics.json, or why the
trial failed.

The task returns one number (``optimized_metric``, for single-objective sweepers); the search
reads every objective, and the test numbers beside them, from the metrics.json that the job
wrote in its run folder. A job that raised, wrote no metrics.json, did not end ``ok`` or
``collapsed`` (stopped at chance: its validation numbers are the trial's result; diverged,
failed, stopped) or lacks a finite objective fails its trial, with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hydra.core.utils import JobReturn, JobStatus

from rvsm.utils.arguments import number


def test_twin(key: str) -> str:
    """The test-set number reported beside a validation objective: ``val/acc`` -> ``test/acc``."""
    return "test/" + key.removeprefix("val/")


@dataclass(frozen=True)
class Outcome:
    """The objective values (None: the trial failed) and what the trial records beside them."""

    values: list[float] | None
    attrs: dict = field(default_factory=dict)


def _failed(status: str, error: str) -> Outcome:
    return Outcome(None, {"status": status, "error": error})


def outcome(job: JobReturn | None, run_dir: Path, objectives: Sequence[str]) -> Outcome:
    """The outcome of the job that ran in ``run_dir`` (``job`` None: the launcher returned
    nothing, so its metrics.json alone tells)."""
    if job is not None and job.status == JobStatus.FAILED:
        try:
            _ = job.return_value  # raises the job's exception
        except Exception as err:
            return _failed("failed", f"{type(err).__name__}: {err}")
    path = run_dir / "metrics.json"
    try:
        metrics = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        return _failed("failed", f"no readable metrics.json: {err}")
    status = metrics.get("status", "ok")
    if status == "pruned":  # stopped by the pruner: the sweeper tells the study so
        return Outcome(None, {"status": status, "error": str(metrics.get("error", "pruned"))})
    if status not in ("ok", "collapsed"):  # collapsed: stopped at chance, a result
        return _failed(status, str(metrics.get("error", f"run {status}")))
    values = [metrics.get(k) for k in objectives]
    bad = [k for k, v in zip(objectives, values, strict=True) if not number(v)]
    if bad:
        return _failed("failed", f"metrics.json has no finite {', '.join(bad)}")
    twins = {test_twin(k): metrics[test_twin(k)] for k in objectives if test_twin(k) in metrics}
    return Outcome([float(v) for v in values], {"status": status, **twins})
