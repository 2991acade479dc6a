"""Config composition with Hydra's compose API: presets resolve to what they promise."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from rvsm.config_checks import CONF_DIR, group_options, validate
from rvsm.penalties import L0, L1, TL1, NoPenalty

EXPECTED = {
    "paper_l0": (L0, 1e-5, None),
    "paper_tl1": (TL1, 1.8e-5, 0.01),
    "paper_l1": (L1, 1.4e-3, None),
    "dense": (NoPenalty, 0.0, None),
}


def test_every_preset_is_expected_here():
    assert set(group_options("experiment")) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_experiment_preset_composes_and_validates(name):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[f"experiment={name}"])
    validate(cfg)
    kind, lam, a = EXPECTED[name]
    penalty = instantiate(cfg.penalty)
    assert type(penalty) is kind and penalty.lam == lam
    assert getattr(penalty, "a", None) == a
    assert cfg.task_name == name and cfg.splitting.beta == 0.1


def test_command_line_overrides_win_over_a_preset():
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["experiment=paper_tl1", "penalty.a=0.5"])
    assert cfg.penalty.a == 0.5 and cfg.penalty.lam == 1.8e-5
