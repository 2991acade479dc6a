"""rvsm's Hydra plugins: the search sweeper (``hydra/sweeper=pareto``)."""
