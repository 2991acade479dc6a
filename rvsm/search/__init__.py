"""The multi-objective search over a method's knobs (``-m hparams_search=...``): the Hydra sweeper
``hydra_plugins.rvsm_search`` asks an optuna study for trials, launches each as a job and tells
the study the job's numbers from its metrics.json."""
