"""Every command the README, the manual (docs/) and the experiments' notes and scripts show still
composes: each ``python -m rvsm.<task> ...`` in a code block or a shell script, its config groups
and keys taken through Hydra's compose of that task's config (a sweep at its first values), so a
renamed key, group or preset in the code fails here before a reader types it."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Glob
from hydra.errors import HydraException

from rvsm.runtime.checks import CONF_DIR
from tests.helpers import ROOT

COMMAND = re.compile(r"(?:\.venv/bin/)?python3? -m (rvsm(?:\.\w+)+)((?:[^\n\\]|\\\n)*)")
# the Hydra config a task composes (tasks without one, e.g. rvsm.report, are not composed)
CONFIG = re.compile(r'(?:run_task\(\w+, "(\w+)"\)|config_name="(\w+)")')


def _documents() -> list[Path]:
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return docs + sorted(p for p in (ROOT / "experiments").rglob("*") if _notes(p))


def _notes(path: Path) -> bool:
    return path.suffix in (".md", ".sh") and "runs" not in path.relative_to(ROOT).parts


def _code(path: Path) -> str:
    """Code blocks of a markdown file (indented or fenced); all of a shell script."""
    text = path.read_text()
    if path.suffix == ".sh":  # its commands, not its comments
        return "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("#"))
    fenced = re.findall(r"```[a-z]*\n(.*?)```", text, re.S)
    indented = re.findall(
        r"(?:^(?: {4}|\t).*\n?)+", re.sub(r"```.*?```", "", text, flags=re.S), re.M
    )
    return "\n".join(fenced + indented)


def _config_name(module: str) -> str | None:
    source = ROOT / Path(*module.split(".")).with_suffix(".py")
    found = CONFIG.search(source.read_text()) if source.is_file() else None
    return (found.group(1) or found.group(2)) if found else None


def _arguments(tail: str) -> list[str]:
    """The overrides of a command line as written: comments, continuations, shell variables,
    optional parts in [brackets] and placeholders (<run>) dropped or filled."""
    tail = tail.replace("\\\n", " ").split("  #")[0].split(" # ")[0]
    tail = re.sub(r"<[^>]*>", "x", tail)
    try:
        words = shlex.split(tail)
    except ValueError:
        words = tail.split()
    keep = []
    for word in words:
        if word.startswith(("$", "-", "[")) or "=" not in word or "$" in word or "..." in word:
            continue
        if word.startswith(("hydra.run.dir", "hydra.sweep.dir", "ckpt_path", "out=", "inputs=")):
            continue  # where files go or come from: not the config's shape
        keep.append(word)
    return keep


def _commands() -> list[tuple[str, str, list[str]]]:
    found = {}
    for path in _documents():
        for module, tail in COMMAND.findall(_code(path)):
            name = _config_name(module)
            if name is not None:
                args = _arguments(tail)
                found.setdefault(
                    (module, " ".join(args)), (str(path.relative_to(ROOT)), name, args)
                )
    return [
        (f"{where}: {module}", name, args)
        for (module, _), (where, name, args) in sorted(found.items())
    ]


COMMANDS = _commands()


def _first_values(args: list[str]) -> list[str]:
    """A sweep's first point: each swept override at its first value (a glob over a group's
    choices, which needs Hydra's config loader, left out)."""
    out = []
    for override in OverridesParser.create().parse_overrides(args):
        if isinstance(override.value(), Glob):
            continue
        if override.is_sweep_override():
            first = next(iter(override.sweep_string_iterator()))
            out.append(f"{override.get_key_element()}={first}")
        else:
            out.append(override.input_line)
    return out


def test_the_documents_show_commands_of_every_task():
    tasks = {where.split(": ")[1] for where, _, _ in COMMANDS}
    assert {"rvsm.train", "rvsm.eval", "rvsm.severity", "rvsm.export", "rvsm.predict"} <= tasks


@pytest.mark.parametrize("where,config_name,args", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_a_documented_command_composes(where, config_name, args):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        try:
            compose(config_name=config_name, overrides=_first_values(args))
        except HydraException as err:
            pytest.fail(f"{where} {' '.join(args)}: {' '.join(str(err).split())}")
