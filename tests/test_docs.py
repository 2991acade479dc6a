"""The front page and the manual: the site builds strictly, every relative link resolves, every
preset is documented, and the headline table is the one the recordings give now."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT

PRESETS_PAGE = ROOT / "docs" / "usage.md"
# [text](target) and ![alt](target), the target up to a space or the closing parenthesis
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)


def load_headline():
    path = ROOT / "experiments" / "headline.py"
    spec = importlib.util.spec_from_file_location("experiment_headline", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mkdocs_build(config: Path, site: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config)]
    return subprocess.run(
        [*command, "--site-dir", str(site)], capture_output=True, text=True, timeout=300
    )


def relative_links(markdown: str) -> list[str]:
    """The relative link and image targets of a Markdown text, outside code blocks and spans,
    without their #fragment."""
    text = re.sub(r"`[^`\n]*`", "", FENCE.sub("", markdown))
    targets = []
    for target in LINK.findall(text):
        if re.match(r"(https?:|mailto:|#)", target):
            continue
        targets.append(target.split("#", 1)[0])
    return targets


def broken_links(files: list[Path]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}: {target}"
        for path in files
        for target in relative_links(path.read_text())
        if not (path.parent / target).exists()
    ]


def markdown_files() -> list[Path]:
    return [
        ROOT / "README.md",
        *sorted((ROOT / "docs").glob("*.md")),
        *sorted((ROOT / "experiments").rglob("*.md")),
    ]


def test_the_manual_builds_with_mkdocs_strict(tmp_path):
    result = mkdocs_build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "usage" / "index.html").is_file()


def test_the_strict_build_refuses_a_page_missing_from_nav_and_a_broken_link(tmp_path):
    """A copy of the manual with one fault at a time: the build that passes above would fail."""
    for name, fault in [
        ("orphan", lambda docs: (docs / "orphan.md").write_text("# Not in nav\n")),
        ("broken", lambda docs: (docs / "usage.md").write_text("[x](no_such_page.md)\n")),
    ]:
        copy = tmp_path / name
        shutil.copytree(ROOT / "docs", copy / "docs")
        shutil.copy(ROOT / "mkdocs.yml", copy / "mkdocs.yml")
        fault(copy / "docs")
        result = mkdocs_build(copy / "mkdocs.yml", copy / "site")
        assert result.returncode != 0, name


def test_every_relative_link_of_the_readme_docs_and_experiments_resolves():
    files = markdown_files()
    assert ROOT / "docs" / "usage.md" in files and len(files) > 10
    assert broken_links(files) == []


def test_the_link_check_finds_a_broken_link_and_ignores_urls_anchors_and_code(tmp_path):
    page = tmp_path / "page.md"
    (tmp_path / "there.md").write_text("")
    page.write_text(
        "[ok](there.md#part) ![img](missing.png) [web](https://x.org/a.md) [top](#top)\n"
        "`[code](nowhere.md)` [mail](mailto:a@b.c)\n```\n[fenced](gone.md)\n```\n"
    )
    assert relative_links(page.read_text()) == ["there.md", "missing.png"]
    assert [t for t in relative_links(page.read_text()) if not (tmp_path / t).exists()] == [
        "missing.png"
    ]


def test_every_preset_is_named_on_the_presets_page():
    presets = {p.stem for p in (ROOT / "conf" / "experiment").glob("*.yaml")}
    assert len(presets) >= 10
    section = PRESETS_PAGE.read_text().split("## Presets", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^- `([a-z0-9_]+)`", section, re.M))
    assert listed == presets


def test_the_headline_table_in_the_readme_is_the_one_the_recordings_give():
    headline = load_headline()
    readme = (ROOT / "README.md").read_text()
    assert readme.count(headline.BEGIN) == 1 and readme.count(headline.END) == 1
    assert headline.block(readme) == readme, "run .venv/bin/python experiments/headline.py"
    assert "| **default, l0**" in readme.split(headline.BEGIN, 1)[1]


def test_the_headline_block_is_rewritten_from_stale_numbers():
    headline = load_headline()
    readme = (ROOT / "README.md").read_text()
    stale = re.sub(r"0\.99\d\d ±", "0.1234 ±", readme)
    assert stale != readme
    assert headline.block(stale) == readme
