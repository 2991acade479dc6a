"""Shared fixtures and the markers' behaviour (markers are declared in pyproject.toml)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


def pytest_configure(config) -> None:
    """One torch thread for in-process training, as TINY_DATA gives the CLI runs: pytest-xdist
    runs one test a core, and more threads oversubscribe them."""
    torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items) -> None:
    """``gpu`` tests skip where no CUDA device is present (the CI machine has none)."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    path = tmp_path / "cache"
    path.mkdir()
    return path
