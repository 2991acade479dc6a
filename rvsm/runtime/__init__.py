"""The run's plumbing: checks, building, the command line, checkpoints, preemption, callbacks,
files."""
