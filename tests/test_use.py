"""Using a trained model through the real CLIs: eval on other data, refusals, the severity curve,
and a standalone export that runs where this package cannot be imported."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from rvsm.data.glyphs import OUTLINE_FONTS, TTF_DIR
from tests.helpers import TINY_DATA, evaluated_network, run_cli, run_exported

# the tiny data settings of training, without the training-only keys
DATA = [a for a in TINY_DATA if a.startswith("data.")]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A run trained on printed fonts (1 epoch, tiny data)."""
    root = tmp_path_factory.mktemp("use")
    run_dir = root / "run"
    result = run_cli([*TINY_DATA, "data=fonts", f"hydra.run.dir={run_dir}"], root, root / "cache")
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


def _eval(args: list[str], tmp_path: Path, module: str = "rvsm.eval"):
    return run_cli(args, tmp_path, tmp_path / "cache", module=module)


def test_eval_on_the_training_data_repeats_the_runs_test_numbers(trained, tmp_path):
    out = tmp_path / "same"
    result = _eval([f"ckpt_path={trained}", "data=fonts", *DATA, f"hydra.run.dir={out}"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    evaluated = json.loads((out / "eval.json").read_text())
    recorded = json.loads((trained / "metrics.json").read_text())
    for key in ("test/acc", "test/acc_dense", "test/sparsity_fc"):
        assert evaluated[key] == pytest.approx(recorded[key], abs=1e-9), key
    assert evaluated["precision"] == "32-true"  # the run's own, whatever this CPU's default
    assert result.stdout.strip().splitlines()[-1].startswith("rvsm: eval ")


def test_eval_tests_in_the_precision_the_checkpoint_was_trained_in(tmp_path):
    """A run trained in bf16-mixed is tested in bf16-mixed by default (its own test numbers
    again), and in float32 when trainer.precision says so."""
    run_dir = tmp_path / "bf16"
    args = [a for a in TINY_DATA if not a.startswith("trainer.precision=")]
    result = run_cli(
        [*args, "trainer.precision=bf16-mixed", f"hydra.run.dir={run_dir}"],
        tmp_path,
        tmp_path / "cache",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    recorded = json.loads((run_dir / "metrics.json").read_text())
    for extra, precision in (([], "bf16-mixed"), (["trainer.precision=32-true"], "32-true")):
        out = tmp_path / precision
        result = _eval([f"ckpt_path={run_dir}", *DATA, *extra, f"hydra.run.dir={out}"], tmp_path)
        assert result.returncode == 0, result.stderr[-3000:]
        evaluated = json.loads((out / "eval.json").read_text())
        assert evaluated["precision"] == precision
        if not extra:
            assert evaluated["test/acc"] == pytest.approx(recorded["test/acc"], abs=1e-9)


def test_a_checkpoint_naming_the_old_module_paths_still_loads(trained, tmp_path):
    """Checkpoints written before the penalties moved to rvsm.methods name rvsm.penalties.*."""
    state = torch.load(trained / "checkpoints" / "last.ckpt", weights_only=False)
    penalty = state["hyper_parameters"]["run_config"]["penalty"]
    assert penalty["_target_"] == "rvsm.methods.penalties.L0"
    penalty["_target_"] = "rvsm.penalties.L0"
    old = tmp_path / "old.ckpt"
    torch.save(state, old)
    out = tmp_path / "old_eval"
    result = _eval([f"ckpt_path={old}", "data=fonts", *DATA, f"hydra.run.dir={out}"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    recorded = json.loads((trained / "metrics.json").read_text())
    evaluated = json.loads((out / "eval.json").read_text())
    assert evaluated["test/acc"] == pytest.approx(recorded["test/acc"], abs=1e-9)


def test_eval_on_handwriting_of_a_fonts_trained_checkpoint(trained, tmp_path):
    out = tmp_path / "other"
    ckpt = trained / "checkpoints" / "last.ckpt"
    args = [f"ckpt_path={ckpt}", "data=handwriting", *DATA, f"hydra.run.dir={out}"]
    result = _eval(args, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    evaluated = json.loads((out / "eval.json").read_text())
    assert 0.0 <= evaluated["test/acc"] <= 1.0 and 0.0 <= evaluated["test/acc_dense"] <= 1.0
    assert evaluated["data"]["synth"]["kind"] == "handwriting"
    assert evaluated["trained"]["data"]["synth"]["kind"] == "fonts"
    assert evaluated["checkpoint"] == str(ckpt)


def test_eval_per_font_on_font_files_never_seen_in_training(trained, tmp_path):
    """Two matplotlib fonts the fonts-trained model never saw, by file: the test text is drawn in
    them alone, one row per font; a row is the accuracy of that font's data set alone, as an
    evaluation on that single font file (with font_files_only off) measures it."""
    unseen = [
        str(TTF_DIR / f"{n}.ttf") for n in ("DejaVuSans-BoldOblique", "DejaVuSerif-BoldItalic")
    ]
    assert not {Path(f).stem for f in unseen} & set(OUTLINE_FONTS)
    out = tmp_path / "unseen"
    args = [f"ckpt_path={trained}", *DATA, f"data.synth.font_files=[{','.join(unseen)}]"]
    result = _eval([*args, "per_font=true", f"hydra.run.dir={out}"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    evaluated = json.loads((out / "eval.json").read_text())
    assert evaluated["fonts"] == unseen
    assert 0.0 <= evaluated["test/acc"] <= 1.0 and 0.0 <= evaluated["test/acc_dense"] <= 1.0
    with open(out / "per_font.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["font"] for r in rows] == unseen
    assert all(0.0 <= float(r[k]) <= 1.0 for r in rows for k in ("acc", "acc_dense"))
    alone = tmp_path / "alone"
    single = [
        f"ckpt_path={trained}",
        *DATA,
        "data=fonts",
        "data.synth.fonts=[]",
        "font_files_only=false",
        f"data.synth.font_files=[{unseen[1]}]",
        f"hydra.run.dir={alone}",
    ]
    result = _eval(single, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    one = json.loads((alone / "eval.json").read_text())
    assert one["fonts"] == unseen[1:]
    assert float(rows[1]["acc"]) == pytest.approx(one["test/acc"], abs=1e-9)


def _truncated(trained: Path, tmp_path: Path) -> Path:
    path = tmp_path / "truncated.ckpt"
    data = (trained / "checkpoints" / "last.ckpt").read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _text(trained: Path, tmp_path: Path) -> Path:
    path = tmp_path / "notes.ckpt"
    path.write_text("not a checkpoint\n")
    return path


REFUSALS = {
    "image size": (lambda t, p: t, ["data.synth.image_size=[64,128]"], "data.synth.image_size"),
    "truncated": (_truncated, [], "truncated.ckpt"),
    "not a checkpoint": (_text, [], "notes.ckpt"),
    "missing": (lambda t, p: p / "nowhere.ckpt", [], "nowhere.ckpt"),
    "font file": (
        lambda t, p: t,
        [f"data.synth.font_files=[{TTF_DIR / 'STIXSizOneSymReg.ttf'}]"],
        "STIXSizOneSymReg.ttf has no glyph for",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_bad_checkpoint_or_unfitting_data_is_one_line_before_any_data(trained, tmp_path, case):
    make, extra, named = REFUSALS[case]
    ckpt = make(trained, tmp_path)
    args = [f"ckpt_path={ckpt}", *DATA, *extra, f"hydra.run.dir={tmp_path / 'out'}"]
    result = _eval(args, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rvsm: error: ") and named in lines[0], lines
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_severity_curve_files(trained, tmp_path):
    out = tmp_path / "severity"
    args = [f"ckpt_path={trained}", "data=fonts", *DATA, "severities=[0.1,0.5,1.0]"]
    result = _eval([*args, f"hydra.run.dir={out}"], tmp_path, module="rvsm.severity")
    assert result.returncode == 0, result.stderr[-3000:]
    with open(out / "severity.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["severity"]) for r in rows] == [0.1, 0.5, 1.0]
    assert all(0.0 <= float(r[k]) <= 1.0 for r in rows for k in ("acc", "acc_dense"))
    assert (out / "severity.png").read_bytes()[:4] == b"\x89PNG"
    assert "sparse accuracy reaches 0.9 at severity" in result.stdout


def test_crossing_is_read_off_linearly():
    from rvsm.severity import crossing

    assert crossing([0.1, 0.5, 1.0], [0.5, 0.8, 1.0]) == pytest.approx(0.5 + 0.1 / 0.2 * 0.5)
    assert crossing([0.1, 0.5], [0.6, 0.7]) is None
    assert crossing([0.2, 0.1], [0.95, 0.92]) == 0.1


def test_export_runs_without_the_package_and_predicts_as_the_sparse_network(trained, tmp_path):
    out = tmp_path / "model.pt"
    result = _eval([f"ckpt_path={trained}", f"out={out}"], tmp_path, module="rvsm.export")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "bytes (stored dense:" in result.stdout

    # the checkpoint's sparse network, assembled here from its state: the CNN with u as FC weight
    state = torch.load(trained / "checkpoints" / "last.ckpt", weights_only=False)
    assert (state["state_dict"]["method.u_fc"] == 0).any()
    x = torch.rand(5, 1, 32, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = evaluated_network(state, ["fc"])(x)
    logits = run_exported(out, x, tmp_path)
    assert torch.allclose(logits, expected, atol=1e-5, rtol=0)
