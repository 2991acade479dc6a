"""``hydra/launcher=slurm``'s class, here because Hydra loads launchers only from the
``hydra_plugins`` namespace (pyproject.toml maps rvsm/hydra_plugins onto it); the work is in
rvsm/runtime/slurm_launcher.py."""

from rvsm.runtime.slurm_launcher import SizedSlurmLauncher


class SlurmLauncher(SizedSlurmLauncher):
    """hydra-submitit-launcher's SLURM launcher, sized from the run, waiting for every job."""
