"""One home for each knob: a method's settings object checks, describes and summarises its knobs,
a new knob is one field and one config line, old names are refused naming the new ones, and a
checkpoint written before RVSM's knobs moved still loads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rvsm.methods.penalties import L0
from rvsm.methods.rvsm import RVSM
from rvsm.utils.arguments import ArgumentError
from tests.helpers import ROOT, TINY_DATA, plugin_folder, run_cli

# ---- a knob added from outside the package: its settings field and one config file -----------
PLUS = """
from dataclasses import dataclass

from rvsm.methods.rvsm import RVSM, RVSMSettings
from rvsm.utils.arguments import non_negative
from rvsm.utils.settings import knob


@dataclass(frozen=True)
class PlusSettings(RVSMSettings):
    jitter: float = knob(0.0, non_negative, "a number >= 0", summary=True)


class RVSMPlus(RVSM):
    Settings = PlusSettings
"""


@pytest.fixture
def plus(tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    """RVSM with one more knob: a settings subclass and a config file over conf/method/rvsm."""
    config = "defaults:\n  - rvsm\n  - _self_\n_target_: rvsm_plus.RVSMPlus\njitter: 0.0\n"
    return plugin_folder(tmp_path, "rvsm_plus", PLUS, "method", "rvsm_plus", config)


def test_a_knob_added_to_the_settings_is_checked_described_and_summarised(
    tmp_path, cache_dir, plus
):
    args, env = plus
    refused = run_cli([*args, "method.jitter=-1", *TINY_DATA], tmp_path, cache_dir, env=env)
    assert refused.returncode == 2
    assert refused.stderr.strip() == "rvsm: error: method.jitter must be a number >= 0, got -1"
    assert not any(cache_dir.iterdir())  # refused before any data was generated

    run_dir = tmp_path / "run"
    line = [*args, "method.jitter=0.25", "method.beta=0.05", *TINY_DATA]
    result = run_cli([*line, f"hydra.run.dir={run_dir}"], tmp_path, cache_dir, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["method"] == "rvsm" and metrics["jitter"] == 0.25 and metrics["beta"] == 0.05
    assert "max_epochs" not in metrics  # a run-time input, not a setting
    assert "rvsm: method=rvsm penalty=l0 lam=1.5e-05 beta=0.05 jitter=0.25 seed=" in result.stdout


# ---- pure code names its arguments; the config layer names the key ------------------------------
def test_built_from_python_an_error_names_the_argument_and_from_the_config_its_key():
    with pytest.raises(ArgumentError, match=r"^beta must be a number > 0, got -1$"):
        RVSM(L0(1e-5), beta=-1)
    with pytest.raises(ArgumentError, match=r"^beta_max must be a number >= beta \(0.1\)"):
        RVSM(L0(1e-5), beta=0.1, beta_max=0.05)
    with pytest.raises(ArgumentError, match=r"^betta is not a setting of this method"):
        RVSM(L0(1e-5), betta=0.1)
    from rvsm.runtime.build import build_method

    with pytest.raises(ArgumentError, match=r"^method.beta must be a number > 0, got -1$"):
        build_method({"_target_": "rvsm.methods.rvsm.RVSM", "beta": -1}, {"_target_": L0_TARGET})
    with pytest.raises(ArgumentError, match=r"^penalty.lam must be a number >= 0, got -1"):
        build_method({"_target_": "rvsm.methods.rvsm.RVSM"}, {"_target_": L0_TARGET, "lam": -1})


L0_TARGET = "rvsm.methods.penalties.L0"


# ---- names that moved ----------------------------------------------------------------------------
def test_an_old_name_is_refused_in_one_line_naming_the_new_one(tmp_path, cache_dir):
    on_line = run_cli(["splitting.beta=0.2", *TINY_DATA], tmp_path, cache_dir)
    assert on_line.returncode == 2
    assert on_line.stderr.strip() == (
        "rvsm: error: splitting.beta is now method.beta (a method's settings are in "
        "conf/method/<name>.yaml): use method.beta=0.2"
    )
    swept = run_cli(
        ["-m", "splitting.coupling=gradient,decoupled", *TINY_DATA], tmp_path, cache_dir
    )
    assert swept.returncode == 2
    assert (
        swept.stderr.strip().startswith("rvsm: error: splitting.coupling is now method.coupling")
        and len(swept.stderr.strip().splitlines()) == 1
    )
    # in a preset of the user's own config folder, which composes without a complaint by Hydra
    (tmp_path / "conf" / "experiment").mkdir(parents=True)
    (tmp_path / "conf" / "experiment" / "mine.yaml").write_text(
        "# @package _global_\nsplitting:\n  finetune_epochs: 0\n"
    )
    searchpath = f"hydra.searchpath=[file://{tmp_path / 'conf'}]"
    in_file = run_cli([searchpath, "experiment=mine", *TINY_DATA], tmp_path, cache_dir)
    assert in_file.returncode == 2
    assert in_file.stderr.strip().startswith(
        "rvsm: error: splitting.finetune_epochs is now method.finetune_epochs"
    )
    assert not any(cache_dir.iterdir())


# ---- a checkpoint of the old layout --------------------------------------------------------------
OLD = ROOT / "tests" / "data" / "old_layout"


def test_a_checkpoint_written_before_the_knobs_moved_still_loads(tmp_path, cache_dir):
    """tests/data/old_layout: a run of b1a11aa (RVSM's knobs under ``splitting``, the penalty
    inside ``method``), its checkpoint and metrics; eval rebuilds it and gets its test numbers."""
    run_dir = tmp_path / "old"
    shutil.copytree(OLD, run_dir)
    saved = json.loads((run_dir / "metrics.json").read_text())
    result = run_cli(
        [f"ckpt_path={run_dir}", *EVAL_DATA, f"hydra.run.dir={tmp_path / 'eval'}"],
        tmp_path,
        cache_dir,
        module="rvsm.eval",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    evaluated = json.loads((tmp_path / "eval" / "eval.json").read_text())
    assert evaluated["test/acc"] == pytest.approx(saved["test/acc"], abs=1e-6)
    assert evaluated["test/sparsity_fc"] == pytest.approx(saved["test/sparsity_fc"], abs=1e-6)


EVAL_DATA = [a for a in TINY_DATA if a.startswith("data.")]
