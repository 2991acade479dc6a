"""The floors hold: no import circle, pure math without Lightning or Hydra, nothing referring
outside the repository, and a new method is one module plus one config file, demonstrated with
one added from a temporary folder through train, a multirun, the pre-check and the report."""

from __future__ import annotations

import ast
import json
import subprocess
from pathlib import Path

import pytest

from rvsm.utils.floors import FLOORS, floor_of, picture
from tests.helpers import ROOT, plugin_folder, run_cli, tiny_data

PACKAGE = ROOT / "rvsm"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: _imports(path) & set(modules) - {name} for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A path that comes back to where it started, by depth-first search, or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt, [*path, nxt])):
                return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


def test_no_module_imports_one_that_imports_it_back():
    graph = _graph()
    assert "rvsm.reporting.settings" in graph["rvsm.reporting.stats"]  # the graph is read
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_the_cycle_check_finds_a_circle():
    """The check above can fail: the old report <-> plots circle is caught."""
    graph = {"rvsm.report": {"rvsm.plots", "rvsm.io"}, "rvsm.plots": {"rvsm.report"}}
    assert find_cycle(graph) == ["rvsm.plots", "rvsm.report", "rvsm.plots"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every import from a floor to a higher one, and every module on no floor, as text."""
    found = []
    for module, imported in sorted(graph.items()):
        here = floor_of(module)
        if here is None:
            found.append(f"{module} is on no floor (rvsm/utils/floors.py)")
            continue
        found += [
            f"{module} ({FLOORS[here][0]}) imports {other} ({FLOORS[floor_of(other)][0]})"
            for other in sorted(imported)
            if (floor_of(other) or 0) > here
        ]
    return found


def _package_imports() -> dict[str, set[str]]:
    """The graph over every rvsm module, with the names of hydra_plugins as installed (the
    plugins live in rvsm/hydra_plugins, imported as hydra_plugins.*)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    assert not _imports(modules.pop("rvsm")), "rvsm/__init__.py imports nothing"
    ours = ("rvsm", "hydra_plugins.rvsm_launcher", "hydra_plugins.rvsm_search")
    return {
        name: {
            m for m in _imports(path) if m == "rvsm" or m.startswith(tuple(f"{o}." for o in ours))
        }
        for name, path in modules.items()
    }


def test_no_import_runs_from_a_floor_to_a_higher_one():
    graph = _package_imports()
    assert "rvsm.utils.io" in graph["rvsm.data.cache"]  # the graph is read
    assert not upward_imports(graph), "\n".join(upward_imports(graph))


def test_the_floor_check_finds_an_upward_import_and_a_module_on_no_floor():
    graph = {"rvsm.data.cache": {"rvsm.utils.io", "rvsm.runtime.io"}, "rvsm.loose": set()}
    assert upward_imports(graph) == [
        "rvsm.data.cache (parts) imports rvsm.runtime.io (runtime)",
        "rvsm.loose is on no floor (rvsm/utils/floors.py)",
    ]


def test_the_layout_picture_in_readme_is_the_declared_floors():
    text = (ROOT / "README.md").read_text()
    begin, end = "<!-- floors: begin -->\n```\n", "\n```\n<!-- floors: end -->"
    assert begin in text and end in text, "README.md lacks the floors markers"
    shown = text.split(begin, 1)[1].split(end, 1)[0]
    assert shown == picture(), "README's floors differ: python -m rvsm.utils.floors prints them"


def test_the_math_floor_imports_neither_lightning_nor_hydra():
    for path in (PACKAGE / "methods").glob("*.py"):
        outside = {m.split(".")[0] for m in _imports(path)} & {"lightning", "hydra", "omegaconf"}
        assert not outside, f"{path.name} imports {outside}"


def test_nothing_in_the_repository_refers_to_files_outside_it():
    needles = ("shared" + "/reference", ".." + "/shared")
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    texts = [f for f in files if f.endswith((".py", ".md", ".yaml", ".toml", "Makefile", ".sh"))]
    assert len(texts) > 50
    offenders = [f for f in texts if any(n in (ROOT / f).read_text() for n in needles)]
    assert not offenders


# ---- a fourth method, added from outside the package --------------------------------------------
METHOD = '''
import torch

from rvsm.utils.arguments import non_negative, require
from rvsm.methods.base import SparsityMethod


class ZeroSmall(SparsityMethod):
    """Evaluates the split layers with every weight at or below ``cutoff`` in magnitude zeroed."""

    name = "zerosmall"
    main_knobs = ("cutoff",)

    def __init__(self, cutoff: float = 0.01) -> None:
        super().__init__()
        require("method.cutoff", cutoff, non_negative, "a number >= 0")
        self.cutoff = float(cutoff)

    def evaluated_weights(self):
        return {
            n: torch.where(l.weight.abs() > self.cutoff, l.weight, torch.zeros_like(l.weight))
            for n, l in self.layers.items()
        }

    def describe(self):
        return {"method": self.name, "cutoff": self.cutoff}
'''


@pytest.fixture
def plugin(tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    """One module and one config file in a temporary folder: the search path and PYTHONPATH."""
    config = "_target_: zero_small.ZeroSmall\ncutoff: 0.01\n"
    return plugin_folder(tmp_path, "zero_small", METHOD, "method", "zerosmall", config)


def test_a_new_method_from_one_module_and_one_config_runs_everywhere(tmp_path, cache_dir, plugin):
    args, env = plugin
    refused = run_cli(
        ["-m", *args, "method.cutoff=0.01,-1", *tiny_data(args)], tmp_path, cache_dir, env=env
    )
    assert refused.returncode == 2
    assert refused.stderr.strip() == "rvsm: error: method.cutoff must be a number >= 0, got -1"
    assert not any(cache_dir.iterdir())  # refused before any data was generated

    single = run_cli(
        [*args, *tiny_data(args), f"hydra.run.dir={tmp_path / 'one'}"], tmp_path, cache_dir, env=env
    )
    assert single.returncode == 0, single.stderr[-3000:]
    assert "rvsm: method=zerosmall cutoff=0.01 seed=12345 |" in single.stdout
    metrics = json.loads((tmp_path / "one" / "metrics.json").read_text())
    assert metrics["method"] == "zerosmall" and metrics["cutoff"] == 0.01
    assert metrics["main_knobs"] == ["cutoff"] and 0.0 < metrics["test/sparsity_fc"] < 1.0

    sweep = tmp_path / "sweep"
    multi = run_cli(
        ["-m", *args, "method.cutoff=0.005,0.02", *tiny_data(args), f"hydra.sweep.dir={sweep}"],
        tmp_path,
        cache_dir,
        env=env,
    )
    assert multi.returncode == 0, multi.stderr[-3000:]
    sparsity = [
        json.loads((sweep / j / "metrics.json").read_text())["test/sparsity_fc"] for j in "01"
    ]
    assert sparsity[0] < sparsity[1]  # a larger cutoff zeroes more of the same trained weights
    report = run_cli([str(sweep)], tmp_path, cache_dir, module="rvsm.report", env=env)
    assert report.returncode == 0, report.stderr[-3000:]
    text = (sweep / "report.md").read_text()
    assert "| zerosmall cutoff=0.005 |" in text and "| zerosmall cutoff=0.02 |" in text
