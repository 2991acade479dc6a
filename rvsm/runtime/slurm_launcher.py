"""``hydra/launcher=slurm``: hydra-submitit-launcher's SLURM launcher, sized from the job's
settings, that waits for every job and says which did not finish.

The plugin's own launcher asks for whatever its config says (a GPU on a CPU partition is refused
or never scheduled) and returns as soon as the first job's result raises, leaving the others
running unseen. This one fills ``cpus_per_task``, ``gpus_per_node`` and ``mem_gb`` left null
from the run's settings (``threads``, ``trainer``) and runs one task per DDP process. It waits
for all jobs and marks a job that died without a result (killed, out of memory, node failure:
what SLURM accounting reports to submitit) as ``failed`` in its ``metrics.json``; the end of the
multirun names each job that did not finish and exits 1 (rvsm/runtime/sweep_outcome.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, filter_overrides
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher as _Plugin
from omegaconf import DictConfig, OmegaConf

from rvsm.runtime.sweep_outcome import failed_return, job_folder, mark_failed, record

CPUS_WITHOUT_THREADS = 2  # cpus_per_task when ``threads`` is null; the job then uses them all
MEM_GB_PER_PROCESS = 3  # a training process with the default data holds well under this


def resources(cfg: DictConfig) -> dict[str, int]:
    """What one job of ``cfg`` asks SLURM for: one task per DDP process, ``threads`` CPUs each
    (``CPUS_WITHOUT_THREADS`` if null), a GPU per device only on a GPU accelerator, and
    ``MEM_GB_PER_PROCESS`` per task."""
    trainer = cfg.trainer
    devices = trainer.devices if isinstance(trainer.devices, int) and trainer.devices > 0 else 1
    ddp = str(trainer.get("strategy") or "").startswith("ddp")
    tasks = devices if ddp else 1
    gpus = devices if str(trainer.accelerator) in ("gpu", "cuda") else 0
    return {
        "cpus_per_task": int(cfg.get("threads") or CPUS_WITHOUT_THREADS),
        "gpus_per_node": gpus,
        "tasks_per_node": tasks,
        "mem_gb": MEM_GB_PER_PROCESS * tasks,
    }


class SizedSlurmLauncher(_Plugin):
    """The plugin's SLURM launcher, sized from the run's settings; waits for every job."""

    def _executor(self):
        import submitit

        params, sized = dict(self.params), resources(self.config)
        params["tasks_per_node"] = max(params["tasks_per_node"], sized.pop("tasks_per_node"))
        for key, value in sized.items():
            if params.get(key) is None:
                params[key] = value
        executor = submitit.AutoExecutor(
            cluster="slurm",
            folder=params.pop("submitit_folder"),
            slurm_max_num_timeout=params.pop("max_num_timeout"),
        )
        common = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(
            **{k if k in common else f"slurm_{k}": v for k, v in params.items()}
        )
        return executor

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        executor = self._executor()
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        nums = range(initial_job_idx, initial_job_idx + len(job_overrides))
        for num, overrides in zip(nums, job_overrides, strict=True):
            print(f"rvsm: job {num}: {' '.join(filter_overrides(overrides))}", flush=True)
        state = Singleton.get_state()
        jobs = executor.map_array(
            self,
            [list(o) for o in job_overrides],
            ["hydra.sweep.dir"] * len(nums),
            list(nums),
            [f"job_id_for_{n}" for n in nums],
            [state] * len(nums),
        )
        returns = []
        for num, overrides, job in zip(nums, job_overrides, jobs, strict=True):
            folder = job_folder(self, overrides, num)
            try:
                returns.append(job.results()[0])
            except Exception:  # died without a result: SLURM's word, via accounting
                error = f"SLURM job {job.job_id} ended ({job.state}) without a result"
                mark_failed(folder, f"{error}; its log: {job.paths.stderr}")
                returns.append(failed_return(self, overrides, num))
            record(num, folder)
        return returns
