"""Shared fixtures and the markers' behaviour (markers are declared in pyproject.toml)."""

from __future__ import annotations

import types
from pathlib import Path

import pytest
import torch

# what starts a process of its own (a command line, an exported file in a bare Python, a
# cluster command): a test that calls one, itself or through its fixtures, is marked ``slow``
STARTS_A_PROCESS = {
    "run_cli", "start", "whole_and_resumed", "run_exported", "cluster_cli", "subprocess",
}  # fmt: skip


def pytest_configure(config) -> None:
    """One torch thread for in-process training, as TINY_DATA gives the CLI runs: pytest-xdist
    runs one test a core, and more threads oversubscribe them."""
    torch.set_num_threads(1)


def _names(code: types.CodeType) -> set[str]:
    """The global and attribute names a function's code uses, nested functions' too."""
    nested = (c for c in code.co_consts if isinstance(c, types.CodeType))
    return set(code.co_names).union(*map(_names, nested))


def _calls_a_starter(function, seen: set) -> bool:
    """Whether ``function`` uses a name of ``STARTS_A_PROCESS``, itself or through the functions
    of the tests' own modules that it calls."""
    if not hasattr(function, "__code__") or function in seen:
        return False
    seen.add(function)
    names = _names(function.__code__)
    if STARTS_A_PROCESS & names:
        return True
    helpers = (function.__globals__.get(n) for n in names)
    return any(
        _calls_a_starter(h, seen)
        for h in helpers
        if isinstance(h, types.FunctionType) and h.__module__.startswith("tests")
    )


def _starts_a_process(item: pytest.Item) -> bool:
    functions = [getattr(item, "function", None)]
    for defs in item._fixtureinfo.name2fixturedefs.values():
        functions += [d.func for d in defs]
    seen: set = set()
    return any(_calls_a_starter(f, seen) for f in functions)


def pytest_collection_modifyitems(config, items) -> None:
    """A test that starts a process is ``slow`` (``-m 'not slow'`` runs the others, in process,
    in under a minute); ``gpu`` tests skip where no CUDA device is present (CI has none)."""
    for item in items:
        if _starts_a_process(item):
            item.add_marker(pytest.mark.slow)
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
