"""The search's Hydra sweeper (``hydra/sweeper=pareto``, which ``hparams_search=...`` selects).

Hydra accepts sweepers only from the ``hydra_plugins`` namespace package (pyproject.toml maps it
to this folder); this class hands Hydra's settings and launcher to ``rvsm.search.sweeper``, where
the search is. Its settings are ``conf/hydra/sweeper/pareto.yaml``.
"""

from __future__ import annotations

import sys

from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf


class ParetoSweeper(Sweeper):
    def __init__(self, sampler: object, **settings: object) -> None:
        """``sampler``: a sampler class (a partial) taking ``seed=``; ``settings``: the rest of
        ``hydra.sweeper``, as plain values."""
        plain = {
            k: OmegaConf.to_container(v) if OmegaConf.is_config(v) else v
            for k, v in settings.items()
        }
        self.settings = {"sampler": sampler, **plain}

    @staticmethod
    def precheck(cfg: DictConfig, overrides: list[str]) -> None:
        """The search's settings and space, checked by ``rvsm.runtime.precheck`` before Hydra
        starts (it finds this method through ``hydra.sweeper._target_``)."""
        from rvsm.search.checks import check_search

        check_search(cfg, overrides)

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function
        )

    def sweep(self, arguments: list[str]) -> None:
        from rvsm.search.sweeper import Search, SearchError, Settings  # optuna when searching

        try:
            Search(Settings(**self.settings), self.config, self.launcher).run(arguments)
        except SearchError as err:
            print(f"rvsm: error: search: {err}", file=sys.stderr, flush=True)
            sys.exit(2)
