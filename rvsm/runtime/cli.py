"""The command lines' error handling: bad settings as one line and exit status 2, before Hydra.

Shared by every entry point (``rvsm.train``, ``rvsm.eval``, ``rvsm.severity``, ``rvsm.export``),
so that none of them imports another to report an error.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import hydra
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from rvsm.runtime.checks import CONF_DIR, ConfigError, root_message
from rvsm.runtime.local_launchers import quiet_launcher_schema_warning
from rvsm.runtime.precheck import check_command_line, task_groups

# what Hydra writes in a run folder when a job starts: its saved config and the job's log
HYDRA_FILES = {"config.yaml", "hydra.yaml", "overrides.yaml"}
# the grids' subgroups, once prefixes of their names (grid=sweep_l0 is grid=sweep/l0)
MOVED_GRIDS = ("sweep", "compare")


def fail(err: BaseException) -> None:
    """Report a bad setting as one line on stderr and exit with status 2; the run folder Hydra
    made for this refused start is removed if nothing but Hydra's start wrote in it."""
    print(f"rvsm: error: {root_message(err)}", file=sys.stderr, flush=True)
    _remove_unused_run_folder()
    sys.exit(2)


def _remove_unused_run_folder() -> None:
    """The run folder of a single run (not a sweep's job) holding only what Hydra wrote at start:
    ``<output_subdir>/`` with Hydra's files and an empty ``<job name>.log``; then its parents
    inside the working folder that are left empty (``logs/train/runs``). Any other file, or no
    ``output_subdir`` (a folder Hydra did not make, e.g. ``.``), keeps it."""
    if not HydraConfig.initialized():
        return
    hc = HydraConfig.get()
    if hc.mode != RunMode.RUN or not hc.output_subdir:
        return
    folder = Path(str(hc.runtime.output_dir)).resolve()
    if folder in (cwd := Path.cwd().resolve(), *cwd.parents):
        return
    log, saved = folder / f"{hc.job.name}.log", folder / str(hc.output_subdir)
    try:
        if not saved.is_dir() or {p.name for p in saved.iterdir()} - HYDRA_FILES:
            return
        if any(p not in (log, saved) for p in folder.iterdir()):
            return
        if log.exists() and (not log.is_file() or log.stat().st_size):
            return
        shutil.rmtree(folder)
        for parent in folder.parents:
            if cwd not in parent.parents or any(parent.iterdir()):
                break
            parent.rmdir()
    except OSError:  # kept: not this run's to tidy
        return


def _groups_help(*, _root_: DictConfig) -> str:
    """The help's config groups: those the task takes, with their options (Hydra's
    ``$APP_CONFIG_GROUPS`` lists every group of the config folder, training's too)."""
    loader = GlobalHydra.instance().config_loader()
    lines = [f"{g}: {', '.join(sorted(loader.get_group_options(g)))}" for g in task_groups(_root_)]
    return "\n".join(lines) or "(none)"


def _refuse_moved_grid(argv: list[str]) -> None:
    """``grid=sweep_<x>`` and ``grid=compare_<x>``, the grids' names before they moved into
    subgroups, refused in one line that names the new one (``grid=sweep/<x>``)."""
    for arg in argv:
        key, eq, value = arg.partition("=")
        if not eq or key.lstrip("+~") != "grid":
            continue
        for choice in value.split(","):
            kind, sep, name = choice.strip().partition("_")
            if (
                kind in MOVED_GRIDS
                and sep
                and (CONF_DIR / "grid" / kind / f"{name}.yaml").is_file()
            ):
                raise ConfigError(
                    f"grid={choice.strip()} is now grid={kind}/{name} (the {kind} grids are in "
                    f"conf/grid/{kind}/)"
                )


OmegaConf.register_new_resolver("rvsm.task_groups", _groups_help, replace=True)


def _command() -> str:
    """The module run as ``python -m``, e.g. ``rvsm.eval``."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return spec.name if spec is not None else os.path.basename(sys.argv[0])


def run_task(task: Callable[[DictConfig], object], config_name: str) -> None:
    """A command line: checked in one line per problem, then Hydra runs ``task`` on
    ``conf/<config_name>.yaml``."""
    quiet_launcher_schema_warning()
    try:
        _refuse_moved_grid(sys.argv[1:])
        check_command_line(sys.argv[1:], config_name=config_name, command=_command())
    except ConfigError as err:
        fail(err)
    hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name=config_name)(task)()
