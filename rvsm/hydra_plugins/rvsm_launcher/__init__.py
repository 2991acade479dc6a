"""The launchers' classes (``hydra/launcher=local|joblib|slurm``), here because Hydra loads
launchers only from the ``hydra_plugins`` namespace (pyproject.toml maps rvsm/hydra_plugins onto
it); the work is in rvsm/runtime/local_launchers.py and rvsm/runtime/slurm_launcher.py.

conf/hydra/launcher/joblib.yaml takes the name of the plugin's own config, so that
``hydra/launcher=joblib`` is this class; Hydra checks the file against the plugin's schema of
the same name (rvsm.runtime.cli silences its warning about that).
"""

from rvsm.runtime.local_launchers import IsolatedJoblibLauncher, RecordingBasicLauncher
from rvsm.runtime.slurm_launcher import SizedSlurmLauncher


class BasicLauncher(RecordingBasicLauncher):
    """Hydra's basic launcher, saying at the multirun's end which jobs did not finish."""


class JoblibLauncher(IsolatedJoblibLauncher):
    """hydra-joblib-launcher's settings, each job in its own process: a killed job fails alone."""


class SlurmLauncher(SizedSlurmLauncher):
    """hydra-submitit-launcher's SLURM launcher, sized from the run, waiting for every job."""
