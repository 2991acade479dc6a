"""The local launchers, ``hydra/launcher=local`` (the default) and ``hydra/launcher=joblib``, that
say how every job ended.

Both record each job for the end of the multirun (rvsm/runtime/sweep_outcome.py: one line per
job that did not finish, exit 1). The joblib launcher also runs each job in a process of its
own, forked for it from a server process that imported torch, Lightning and the module once
(``forkserver``, so a job does not pay the seconds of those imports), and watched by a thread
of joblib's pool: Hydra's plugin runs jobs in loky's worker processes, and when one of those is
killed (SIGKILL, as the out-of-memory killer does) loky kills the others too and the multirun
ends in a traceback, the healthy jobs lost mid-run. Here a killed job is that job's failure
alone (``status: failed`` in its metrics.json, its objective ``failed_objective``) and the others
run to their end.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path

import cloudpickle
from hydra._internal.core_plugins.basic_launcher import BasicLauncher
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, filter_overrides, setup_globals
from hydra_plugins.hydra_joblib_launcher._core import execute_job, process_joblib_cfg
from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher
from joblib import Parallel, delayed

from rvsm.runtime.sweep_outcome import failed_return, job_folder, job_status, mark_failed, record

log = logging.getLogger(__name__)


class RecordingBasicLauncher(BasicLauncher):
    """Hydra's basic launcher (one job after another, in this process), each job recorded."""

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        returns = super().launch(job_overrides, initial_job_idx)
        for ret in returns:
            hydra = ret.hydra_cfg.hydra
            record(int(hydra.job.num), Path(hydra.runtime.output_dir))
        return returns


def quiet_launcher_schema_warning() -> None:
    """conf/hydra/launcher/joblib.yaml takes the name of the plugin's own config, which Hydra
    checks it against (as wanted), warning each time that it does."""
    warnings.filterwarnings(
        "ignore", message=r"\n'hydra/launcher/joblib' is validated against ConfigStore"
    )


# what the job processes' server imports once: the heavy imports every job needs
PRELOAD = ("torch", "lightning", "rvsm.module", "rvsm.runtime.build")


def _job_process(payload: bytes, results) -> None:
    """A job's own process: run it as the joblib plugin does, send back its JobReturn."""
    quiet_launcher_schema_warning()
    ret = execute_job(*cloudpickle.loads(payload))
    results.send_bytes(cloudpickle.dumps(ret))


def _how_it_ended(exitcode: int) -> str:
    if exitcode < 0:
        return f"killed by {signal.Signals(-exitcode).name}"
    return f"exit status {exitcode}"


class IsolatedJoblibLauncher(JoblibLauncher):
    """hydra-joblib-launcher's settings (``n_jobs``, ...), each job in a process of its own."""

    _lock = threading.Lock()  # composing a job's config is not known to be thread-safe

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        setup_globals()
        # read when the server starts (at the first job), so set once for the whole multirun
        multiprocessing.get_context("forkserver").set_forkserver_preload(list(PRELOAD))
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        settings = dict(self.joblib)
        settings["backend"] = "threading"  # a thread per running job, waiting on its process
        process_joblib_cfg(settings)
        nums = range(initial_job_idx, initial_job_idx + len(job_overrides))
        log.info(f"Launching {len(job_overrides)} jobs, {settings.get('n_jobs')} at a time")
        for num, overrides in zip(nums, job_overrides, strict=True):
            log.info(f"\t#{num} : {' '.join(filter_overrides(overrides))}")
        state = Singleton.get_state()
        return Parallel(**settings)(
            delayed(self._run)(num, list(overrides), state)
            for num, overrides in zip(nums, job_overrides, strict=True)
        )

    def _run(self, num: int, overrides: list[str], state: dict) -> JobReturn:
        """Job ``num`` in a new process; a process that ends without a result (killed, or exited
        before the end) is recorded as that job's failure."""
        payload = cloudpickle.dumps(
            (num, overrides, self.hydra_context, self.config, self.task_function, state)
        )
        context = multiprocessing.get_context("forkserver")
        reader, writer = context.Pipe(duplex=False)
        process = context.Process(target=_job_process, args=(payload, writer), name=f"job {num}")
        process.start()
        writer.close()
        try:
            result = reader.recv_bytes()
        except EOFError:  # the process ended without sending its result
            result = None
        process.join()
        reader.close()
        with self._lock:
            folder = job_folder(self, overrides, num)
            ret = cloudpickle.loads(result) if result else failed_return(self, overrides, num)
        if result is None:
            status, _ = job_status(folder)
            ended = f"its process ended ({_how_it_ended(process.exitcode)}) without a result"
            if status == "missing":  # nothing written says why: the process died
                mark_failed(folder, ended)
            log.error(f"job {num} ({folder}): {ended}")
        record(num, folder)
        return ret
