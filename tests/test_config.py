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
    "extreme_l0": (L0, 2.8e-5, None),
    "extreme_tl1": (TL1, 3.6e-5, 0.01),
}


SWEEPS = {
    "sweep_default": ("l0", {"seed": "1,2,3,4,5"}),
    "sweep_l0": ("l0", {"penalty.lam": "5e-6,1e-5,2.5e-5,4e-5", "seed": "1,2,3"}),
    "sweep_tl1": (
        "tl1",
        {"penalty.lam": "9e-6,1.8e-5,3.6e-5,7.2e-5", "penalty.a": "0.01", "seed": "1,2,3"},
    ),
    "sweep_l1": ("l1", {"penalty.lam": "3.5e-4,7e-4,1.4e-3,2.8e-3", "seed": "1,2,3"}),
}


COMPARISONS = {
    "compare_rvsm_l0": ("RVSM", "penalty.lam"),
    "compare_rvsm_tl1": ("RVSM", "penalty.lam"),
    "compare_gmp": ("GMP", "method.sparsity"),
    "compare_hardconcrete": ("HardConcrete", "method.lam"),
}


def compose_preset(name: str):
    """The train config with ``experiment=<name>``, Hydra's own keys (the sweep grid) included."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(
            config_name="train", overrides=[f"experiment={name}"], return_hydra_config=True
        )


def test_every_preset_is_expected_here():
    expected = set(EXPECTED) | set(SWEEPS) | set(COMPARISONS) | {"compare_dense"}
    assert set(group_options("experiment")) == expected


@pytest.mark.parametrize("name", sorted(COMPARISONS))
def test_compare_presets_sweep_their_method_knob_over_three_seeds(name):
    cfg = compose_preset(name)
    method, knob = COMPARISONS[name]
    assert cfg.method._target_.endswith(method)
    params = {k: str(v) for k, v in cfg.hydra.sweeper.params.items()}
    assert params["seed"] == "1,2,3" and len(params[knob].split(",")) >= 4
    assert cfg.data.seed == 12345
    validate(cfg)


@pytest.mark.parametrize("name", sorted(SWEEPS))
def test_sweep_presets_hold_their_grid_on_fixed_data(name):
    cfg = compose_preset(name)
    penalty, grid = SWEEPS[name]
    assert cfg.penalty._target_.endswith({"l0": "L0", "tl1": "TL1", "l1": "L1"}[penalty])
    assert {k: str(v) for k, v in cfg.hydra.sweeper.params.items()} == grid
    assert cfg.data.seed == 12345  # seeds move init and batch order, not the data


@pytest.mark.parametrize(
    "launcher,target", [("joblib", "JoblibLauncher"), ("slurm", "SlurmLauncher")]
)
def test_parallel_and_slurm_launchers_compose(launcher, target):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            config_name="train", overrides=[f"hydra/launcher={launcher}"], return_hydra_config=True
        )
    assert cfg.hydra.launcher._target_.endswith(target)


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
