"""Config composition with Hydra's compose API: presets resolve to what they promise."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from hydra_plugins.rvsm_search.pareto_sweeper import ParetoSweeper

from rvsm.methods.dense import Dense
from rvsm.methods.penalties import L0, L1, TL1
from rvsm.runtime.build import build_method
from rvsm.runtime.checks import CONF_DIR, ConfigError, composed, root_message, validate
from rvsm.runtime.precheck import check_command_line, group_options
from tests.helpers import tiny_data

EXPECTED = {
    "paper_l0": (L0, 1e-5, None),
    "paper_tl1": (TL1, 1.8e-5, 0.01),
    "paper_l1": (L1, 1.4e-3, None),
    "extreme_l0": (L0, 1.5e-5, None),  # the penalty unused: an l0 constraint (below)
    "extreme_tl1": (TL1, 3.6e-5, 0.01),
}


# the recorded runs' learning rate (batch 64) of each optimizer
RECORDED_LR = {"torch.optim.Adam": 1e-3, "torch.optim.SGD": 0.05}

SWEEPS = {
    "sweep/default": ("l0", {"seed": "1,2,3,4,5"}),
    "sweep/l0": ("l0", {"penalty.lam": "5e-6,1e-5,2.5e-5,4e-5", "seed": "1,2,3"}),
    "sweep/tl1": (
        "tl1",
        {"penalty.lam": "9e-6,1.8e-5,3.6e-5,7.2e-5", "penalty.a": "0.01", "seed": "1,2,3"},
    ),
    "sweep/l1": ("l1", {"penalty.lam": "3.5e-4,7e-4,1.4e-3,2.8e-3", "seed": "1,2,3"}),
}


# every grid, those of the subgroups as sweep/l0; conf/grid/base.yaml is what they share, no grid
GRIDS = sorted(
    p.relative_to(CONF_DIR / "grid").with_suffix("").as_posix()
    for p in (CONF_DIR / "grid").rglob("*.yaml")
    if p != CONF_DIR / "grid" / "base.yaml"
)


def compose_train(overrides: list[str]):
    """The train config with ``overrides``, Hydra's own keys (the sweep grid) included."""
    return composed(overrides, hydra_keys=True)


@pytest.mark.parametrize(
    "choice",
    [f"experiment={n}" for n in group_options("experiment")]
    + [f"grid={n}" for n in GRIDS]
    + [f"hparams_search={n}" for n in group_options("hparams_search")],
)
def test_every_preset_and_grid_builds_on_every_sweep_point(choice):
    """Discovered from conf/: a new preset, grid or search is checked without being listed here
    (a search: each bound and choice of its space, a conditional key under its condition)."""
    check_command_line(["-m", choice])  # raises ConfigError on any point that cannot build
    cfg = compose_train([choice])
    # the recorded budget, whatever make train's default: 7 epochs at batch 64 in float32, the
    # optimizer's lr of the recorded runs (Adam 1e-3; SGD 0.05, the authors' 0.1 at batch 128)
    assert cfg.trainer.max_epochs == 7 and cfg.data.batch_size == 64
    assert cfg.trainer.precision == "32-true"
    assert cfg.model.optimizer.lr == RECORDED_LR[cfg.model.optimizer._target_]
    if choice.startswith("grid="):  # a grid sweeps seeds on one fixed data set (its base)
        assert "seed" in cfg.hydra.sweeper.params and cfg.data.seed == 12345
        assert cfg.trainer.enable_progress_bar is False
    if choice.startswith("hparams_search="):  # a search, on one fixed data set and seed
        assert (
            cfg.hydra.sweeper._target_ == f"{ParetoSweeper.__module__}.ParetoSweeper"
            and cfg.data.seed == 12345
        )
        assert cfg.hydra.sweeper.params and cfg.hydra.sweeper.objectives == {
            "val/acc": "maximize",
            "val/sparsity_fc": "maximize",
        }


@pytest.mark.parametrize("optimizer,lr,per_batch", [("adam", 1e-3, 64), ("sgd", 0.1, 128)])
def test_the_learning_rate_scales_linearly_with_the_batch_unless_given(optimizer, lr, per_batch):
    for batch in (16, 64, 128, 256):
        cfg = composed([f"model/optimizer={optimizer}", f"data.batch_size={batch}"])
        assert cfg.model.optimizer.lr == pytest.approx(lr * batch / per_batch, rel=1e-12)
    given = composed([f"model/optimizer={optimizer}", "model.optimizer.lr=0.3"])
    assert given.model.optimizer.lr == 0.3


def test_dense_preset_is_the_dense_method():
    cfg = compose_train(["experiment=dense"])
    assert type(instantiate(cfg.method)) is Dense and cfg.task_name == "dense"


@pytest.mark.parametrize("name", sorted(SWEEPS))
def test_sweep_presets_hold_their_grid_on_fixed_data(name):
    cfg = compose_train([f"grid={name}"])
    penalty, grid = SWEEPS[name]
    assert cfg.penalty._target_.endswith({"l0": "L0", "tl1": "TL1", "l1": "L1"}[penalty])
    assert {k: str(v) for k, v in cfg.hydra.sweeper.params.items()} == grid
    assert cfg.data.seed == 12345  # seeds move init and batch order, not the data


def test_the_grids_are_subgroups_and_an_old_name_is_refused_naming_the_new_one():
    from rvsm.runtime.cli import _refuse_moved_grid

    assert {g.split("/")[0] for g in GRIDS} == {"channels", "compare", "sweep"}
    assert "sweep/default" in GRIDS and "compare/gmp" in GRIDS
    for old, new in (("sweep_default", "sweep/default"), ("compare_gmp", "compare/gmp")):
        with pytest.raises(ConfigError, match=f"^grid={old} is now grid={new} "):
            _refuse_moved_grid(["-m", f"grid=channels,{old}"])
    _refuse_moved_grid(["-m", "grid=sweep/default", "seed=1"])  # the new names pass


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
    assert cfg.task_name == name and cfg.method.beta == 0.1
    if name.startswith("extreme"):  # the recorded comparison's budget
        assert cfg.trainer.max_epochs == 7 and cfg.method.finetune_epochs == 1
    if name == "extreme_l0":  # exactly 97% zeros, beta doubling each epoch
        method = build_method(cfg.method, cfg.penalty)
        assert method.settings.target_sparsity == 0.97 and method.settings.beta_growth == 2.0


def test_command_line_overrides_win_over_a_preset():
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["experiment=paper_tl1", "penalty.a=0.5"])
    assert cfg.penalty.a == 0.5 and cfg.penalty.lam == 1.8e-5


# Every rule of the command-line check that the commands run before Hydra starts a job, each
# refused naming its key (tests/test_cli.py runs one of each kind through the real command line)
BAD_SETTINGS = [
    (["penalty=foo"], "penalty=foo"),
    (["penalty.lam=-1"], "penalty.lam"),
    (["method.beta=0"], "method.beta"),
    (["penalty=tl1", "penalty.a=0"], "penalty.a"),
    (["splitting.layers=[fc,conv9]"], "splitting.layers"),
    (["trainer=tpu"], "trainer=tpu"),
    (["data.batch_size=0"], "data.batch_size"),
    (["data.batch_size=many"], "data.batch_size"),
    (["skip_finished=maybe"], "skip_finished must be true or false"),
    (["model.optimizer.lr=-0.1"], "model.optimizer.lr"),
    (["data.synth.image_size=[4,64]"], "data.synth.image_size"),
    (["data.synth.fonts=[NoSuchFont]"], "data.synth.fonts"),
    (["penalty.lamm=1e-5"], "penalty.lamm: unknown key"),
    (["-m", "penalty.lam=1e-5,-1e-5"], "penalty.lam"),  # a bad value anywhere in a sweep
    (["stop_after_epochs=0"], "stop_after_epochs"),
    (["data.synth.supersample=0"], "data.synth.supersample"),
    (["trainer.max_epochs=0"], "trainer.max_epochs"),
    (["method.beta_growth=0"], "method.beta_growth"),
    (["method.beta_max=0.05"], "method.beta_max"),  # below method.beta = 0.1
    (["method.finetune_epochs=-1"], "method.finetune_epochs"),
    (["trainer.max_epochs=3", "method.finetune_epochs=3"], "method.finetune_epochs"),
    (["method.sync_every_epoch=maybe"], "method.sync_every_epoch"),
    (["method=gmp", "method.sparsity=1.0"], "method.sparsity"),
    (["method=gmp", "method.start=0.5", "method.end=0.2"], "method.end"),
    (["method=hardconcrete", "method.lam=-1"], "method.lam"),
    (["method=hardconcrete", "method.gate_lr=0"], "method.gate_lr"),
    (["method=lasso"], "method=lasso"),
    (["data.cache_dir=/dev/null/cache"], "data.cache_dir: cannot create or write"),
    (["method.coupling=foo"], "method.coupling"),
    (["method.decoupled_form=implicit"], "method.decoupled_form"),
    (["method.target_sparsity=1.0"], "method.target_sparsity"),
    (["method.target_sparsity=0"], "method.target_sparsity"),
    (
        ["method.target_sparsity=0.9", "method.target_end=0.9"]
        + ["trainer.max_epochs=4", "method.finetune_epochs=1"],  # finetune from 0.75 on
        "method.target_end",
    ),
    (["method=admm", "method.rho_growth=-1.3"], "method.rho_growth"),
    (["method=admm", "method.sparsity=1.5"], "method.sparsity"),
    (["model/optimizer=lbfgs"], "model/optimizer=lbfgs"),
    # Hydra's sweep syntax: intervals need a search sweeper, globs must match a choice
    (["-m", "penalty.lam=interval(1e-6,1e-4)"], "interval is sampled only by a search sweeper"),
    (["-m", "penalty.lam=tag(log,interval(1e-6,1e-4))"], "only by a search sweeper"),
    (["-m", "penalty=glob(nothing*)"], "glob matches no choice"),
    (["-m", "seed=range(1,3)", "penalty.lam=choice(1e-5,-2)"], "penalty.lam"),
    # a search: its space (a bound no distribution takes, a bound that fails the build, composed
    # under its condition penalty=tl1) and its own settings
    (["-m", "hparams_search=pareto_rvsm", "penalty.lam=tag(log,interval(0,1e-4))"], "penalty.lam"),
    (["-m", "hparams_search=pareto_rvsm", "penalty.a=interval(0.0,0.1)"], "penalty.a"),
    (["-m", "hparams_search=pareto_rvsm", "hydra.sweeper.n_trials=0"], "hydra.sweeper.n_trials"),
]


@pytest.mark.parametrize("args,key", BAD_SETTINGS, ids=[a[0][-1] for a in BAD_SETTINGS])
def test_the_command_line_check_refuses_each_bad_setting_in_one_line_before_any_data(
    tmp_path, monkeypatch, args, key
):
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("RVSM_CACHE_DIR", str(cache))
    with pytest.raises(ConfigError) as refused:
        check_command_line([*tiny_data(args), *args, f"hydra.run.dir={tmp_path / 'run'}"])
    line = root_message(refused.value)  # what the command line prints after "rvsm: error: "
    assert key in line and "\n" not in line
    assert not list(cache.iterdir()), "data was generated before the error"
