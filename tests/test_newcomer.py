"""A newcomer's mistakes, through the real command lines: each is answered by one line on stderr
that says what to do, a non-zero exit and no traceback (issue 28)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.helpers import TINY_DATA, run_cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """A sweep folder as a multirun leaves it: job folders 0/ and 1/, each with
    checkpoints/last.ckpt (one tiny run, copied), and no checkpoint of its own."""
    root = tmp_path_factory.mktemp("newcomer")
    folder = root / "sweep"
    result = run_cli([*TINY_DATA, f"hydra.run.dir={folder / '0'}"], root, root / "cache")
    assert result.returncode == 0, result.stderr[-3000:]
    shutil.copytree(folder / "0", folder / "1")
    (folder / "multirun.yaml").write_text("{}\n")
    return folder


def _one_line(result, code: int = 2) -> str:
    """The single stderr line of a refused command (no traceback, nothing else)."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == code and len(lines) == 1, result.stderr[-3000:]
    return lines[0]


@pytest.mark.parametrize("module", ["rvsm.eval", "rvsm.severity", "rvsm.export"])
def test_a_sweep_folder_as_checkpoint_names_its_runs(sweep, tmp_path, cache_dir, module):
    args = [f"ckpt_path={sweep}", f"hydra.run.dir={tmp_path / 'out'}"]
    if module == "rvsm.export":
        args = [f"ckpt_path={sweep}", f"out={tmp_path / 'model.pt'}"]
    line = _one_line(run_cli(args, tmp_path, cache_dir, module=module))
    assert line == (
        f"rvsm: error: ckpt_path: {sweep} is a sweep folder, not a run (no checkpoints/last.ckpt):"
        f" pass one of its runs, e.g. ckpt_path={sweep / '0'} (runs with a checkpoint: 0, 1)"
    )
    assert not (tmp_path / "out").exists() and not (tmp_path / "model.pt").exists()
    assert not list(cache_dir.iterdir())


TYPOS = [
    (
        ["experment=extreme_l0"],
        "experment: unknown key; did you mean experiment=extreme_l0? "
        "(to add a new key: +experment=...)",
    ),
    (
        ["method.betta=0.2"],
        "method.betta: unknown key; did you mean method.beta=0.2? "
        "(to add a new key: +method.betta=...)",
    ),
    (
        ["penalty.lamm=1e-4"],
        "penalty.lamm: unknown key; did you mean penalty.lam=1e-4? "
        "(to add a new key: +penalty.lamm=...)",
    ),
    (
        ["penalty=tl2"],
        "penalty=tl2 is not a known choice; did you mean penalty=tl1? choose from "
        "['group_l0', 'group_l1', 'group_tl1', 'l0', 'l1', 'none', 'tl1']",
    ),
]


@pytest.mark.parametrize("args,expected", TYPOS, ids=[t[0][0] for t in TYPOS])
def test_a_misspelt_group_key_or_choice_gets_the_nearest_name(tmp_path, cache_dir, args, expected):
    result = run_cli([*TINY_DATA, *args, f"hydra.run.dir={tmp_path / 'run'}"], tmp_path, cache_dir)
    assert _one_line(result) == f"rvsm: error: {expected}"
    assert not (tmp_path / "run").exists() and not list(cache_dir.iterdir())


def test_eval_refuses_a_training_group_saying_the_checkpoint_holds_it(sweep, tmp_path, cache_dir):
    args = [f"ckpt_path={sweep / '0'}", "method=gmp", f"hydra.run.dir={tmp_path / 'out'}"]
    line = _one_line(run_cli(args, tmp_path, cache_dir, module="rvsm.eval"))
    assert line == (
        "rvsm: error: method=gmp: rvsm.eval takes no method group: it reads the trained model's "
        "settings (method, penalty, model...) from its checkpoint; the groups it takes: data, "
        "paths, trainer"
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "module,groups",
    [("rvsm.eval", ["data", "paths", "trainer"]), ("rvsm.severity", ["data", "paths", "trainer"])]
    + [("rvsm.export", [])],
)
def test_help_lists_only_the_groups_the_task_takes(tmp_path, cache_dir, module, groups):
    result = run_cli(["--help"], tmp_path, cache_dir, module=module)
    assert result.returncode == 0, result.stderr[-3000:]
    section = result.stdout.split("== Configuration groups ==")[1].split("== Config ==")[0]
    listed = re.findall(r"^([a-z_/]+): ", section, flags=re.MULTILINE)
    assert listed == groups, section
    assert "from its checkpoint" in section
    if groups:
        assert "\ndata: folder, fonts, handwriting, handwriting_fonts, mixed\n" in section


def test_train_help_still_lists_every_training_group(tmp_path, cache_dir):
    result = run_cli(["--help"], tmp_path, cache_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "\nmethod: " in result.stdout and "\nexperiment: " in result.stdout


def test_cfg_with_multirun_is_one_line_naming_the_single_job_command(tmp_path, cache_dir):
    result = run_cli(["-m", "penalty=l0,tl1", "--cfg", "job"], tmp_path, cache_dir)
    assert _one_line(result) == (
        "rvsm: error: --cfg prints the config of one job, not of a sweep (-m): drop -m and give "
        "each swept key one value, e.g. python -m rvsm.train penalty=l0 --cfg job"
    )
    single = run_cli(["penalty=l0", "--cfg", "job"], tmp_path, cache_dir)
    assert single.returncode == 0 and "task_name: train" in single.stdout, single.stderr


def test_report_on_a_folder_without_runs_says_so_and_writes_nothing(tmp_path, cache_dir):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_cli([str(empty)], tmp_path, cache_dir, module="rvsm.report")
    assert _one_line(result) == (
        f"rvsm: error: {empty} holds no runs (no run folder, no metrics.json under it): pass the "
        "folder of a run or of a sweep, e.g. logs/train/multiruns/<date>"
    )
    assert not list(empty.iterdir()) and result.stdout == ""


def test_a_refused_start_leaves_no_run_folder_but_keeps_one_with_files(tmp_path, cache_dir):
    new = tmp_path / "new"
    result = run_cli([*TINY_DATA, "ckpt_path=last", f"hydra.run.dir={new}"], tmp_path, cache_dir)
    assert _one_line(result).startswith("rvsm: error: ckpt_path=last: no checkpoint at ")
    assert not new.exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "notes.txt").write_text("mine\n")
    result = run_cli([*TINY_DATA, "ckpt_path=last", f"hydra.run.dir={kept}"], tmp_path, cache_dir)
    assert result.returncode == 2 and (kept / "notes.txt").read_text() == "mine\n"
    # eval in the default run folder (logs/eval/runs/<time> under the working folder)
    work = tmp_path / "work"
    work.mkdir()
    result = run_cli(["ckpt_path=nowhere.ckpt"], work, cache_dir, module="rvsm.eval")
    assert _one_line(result) == "rvsm: error: ckpt_path: no checkpoint file at nowhere.ckpt"
    assert not list(work.iterdir())
