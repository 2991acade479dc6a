"""Reports of many runs: collecting them, naming their settings, statistics, tables and plots."""
