"""Your own images: data=folder trains, evals, exports and predicts through the real command line
on folders written here (PNG and JPEG, RGB and grey, two sizes, with and without split folders);
each bad folder is refused in one line before any data are cached; the preprocessing is checked
against arrays computed by hand."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from rvsm.data.folder import stratified
from rvsm.data.images import dark_paper, fit, preprocess, to_grey
from tests.helpers import run_cli

TRAIN = [
    "threads=1",
    "data=folder",
    "data.image_size=[32,48]",
    "data.batch_size=16",
    "trainer.max_epochs=2",
    "trainer.enable_progress_bar=false",
    "collapse.after_epochs=null",
]


def draw(path: Path, shape: str, size: tuple[int, int], mode: str, rng, light_on_dark=False):
    """A ring or a box in dark ink on light paper (or the reverse), of ``size`` (w, h)."""
    paper, ink = (20, 245) if light_on_dark else (245, 20)
    image = Image.new("RGB", size, (paper, paper, paper - 5))
    d = ImageDraw.Draw(image)
    s = min(size) // 2
    x, y = rng.integers(2, size[0] - s - 2), rng.integers(2, size[1] - s - 2)
    box = [int(x), int(y), int(x) + s, int(y) + s]
    (d.ellipse if shape == "ring" else d.rectangle)(box, outline=(ink, ink, ink), width=3)
    (image.convert("L") if mode == "L" else image).save(path)


def write_folder(root: Path, per_class: int, split_folders: bool, seed: int = 0) -> Path:
    """Two classes (ring, box) of mixed formats, modes and sizes; one light-on-dark image each."""
    rng = np.random.default_rng(seed)
    splits = {"train": per_class, "val": max(2, per_class // 4), "test": max(2, per_class // 4)}
    for split, n in splits.items() if split_folders else [("", per_class)]:
        for shape in ("box", "ring"):
            folder = root / split / shape
            folder.mkdir(parents=True)
            for i in range(n):
                suffix, mode = (".png", "RGB") if i % 2 else (".jpg", "L")
                size = (60, 40) if i % 3 else (96, 48)
                draw(folder / f"{i}{suffix}", shape, size, mode, rng, light_on_dark=i == 1)
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path, Path]:
    """A run trained on a folder with train/ val/ test/ folders: (run folder, data, cache)."""
    base = tmp_path_factory.mktemp("own")
    data = write_folder(base / "scans", per_class=24, split_folders=True)
    cache = base / "cache"
    run = base / "run"
    result = run_cli([*TRAIN, f"data.root={data}", f"hydra.run.dir={run}"], base, cache)
    assert result.returncode == 0, result.stderr[-3000:]
    return run, data, cache


def test_a_folder_trains_and_predict_agrees_with_eval_on_the_same_images(trained, tmp_path):
    run, data, cache = trained
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "ok" and metrics["data"] == "folder:scans"
    assert 0.0 <= metrics["test/acc"] <= 1.0 and "test/sparsity_fc" in metrics
    # eval takes the size and ink from the checkpoint: only the folder is named
    evaluated = run_cli(
        [f"ckpt_path={run}", "data=folder", f"data.root={data}", f"hydra.run.dir={tmp_path / 'e'}"],
        tmp_path,
        cache,
        module="rvsm.eval",
    )
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    eval_acc = json.loads((tmp_path / "e" / "eval.json").read_text())["test/acc"]
    assert eval_acc == pytest.approx(metrics["test/acc"], abs=1e-9)
    predicted = run_cli(
        [f"ckpt_path={run}", f"inputs={data / 'test'}", f"hydra.run.dir={tmp_path / 'p'}"],
        tmp_path,
        cache,
        module="rvsm.predict",
    )
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    with open(tmp_path / "p" / "predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["path", "label", "prob_box", "prob_ring"]
    files = sorted(p for p in (data / "test").rglob("*") if p.is_file())
    assert sorted(Path(r["path"]) for r in rows) == files
    for r in rows:
        p = (float(r["prob_box"]), float(r["prob_ring"]))
        assert sum(p) == pytest.approx(1.0, abs=1e-5)
        assert r["label"] == ("box" if p[0] > p[1] else "ring")
    accuracy = sum(Path(r["path"]).parent.name == r["label"] for r in rows) / len(rows)
    assert accuracy == pytest.approx(eval_acc, abs=1e-9)
    boxes = sum(r["label"] == "box" for r in rows)
    assert f"box {boxes}, ring {len(rows) - boxes} | accuracy {accuracy:.4f}" in predicted.stdout


def test_the_exported_file_predicts_as_the_checkpoint(trained, tmp_path):
    run, data, cache = trained
    out = tmp_path / "model.pt"
    exported = run_cli([f"ckpt_path={run}", f"out={out}"], tmp_path, cache, module="rvsm.export")
    assert exported.returncode == 0, exported.stderr[-3000:]
    assert "output logits (box, ring)" in exported.stdout
    tables = {}
    for name, model in (("ckpt", run), ("pt", out)):
        args = [
            f"ckpt_path={model}",
            f"inputs={data}/val/*/*.png",
            f"hydra.run.dir={tmp_path / name}",
        ]
        result = run_cli(args, tmp_path, cache, module="rvsm.predict")
        assert result.returncode == 0, result.stderr[-3000:]
        with open(tmp_path / name / "predictions.csv", newline="") as f:
            tables[name] = list(csv.DictReader(f))
    assert [r["path"] for r in tables["pt"]] == [r["path"] for r in tables["ckpt"]]
    assert all(r["path"].endswith(".png") for r in tables["pt"])
    for a, b in zip(tables["pt"], tables["ckpt"], strict=True):
        assert a["label"] == b["label"]
        assert float(a["prob_box"]) == pytest.approx(float(b["prob_box"]), abs=1e-5)


def test_a_folder_without_split_folders_is_split_by_class_and_severity_is_refused(tmp_path):
    data = write_folder(tmp_path / "flat", per_class=20, split_folders=False)
    cache, run = tmp_path / "cache", tmp_path / "run"
    result = run_cli([*TRAIN, f"data.root={data}", f"hydra.run.dir={run}"], tmp_path, cache)
    assert result.returncode == 0, result.stderr[-3000:]
    refused = run_cli(
        [f"ckpt_path={run}", "data=folder", f"data.root={data}", f"hydra.run.dir={tmp_path / 's'}"],
        tmp_path,
        cache,
        module="rvsm.severity",
    )
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "tremor severity" in refused.stderr and "folder:flat" in refused.stderr


def test_the_split_is_stratified_and_seeded():
    labels = [0] * 40 + [1] * 20
    split = stratified(labels, {"val": 0.15, "test": 0.25}, seed=3)
    for label, n in ((0, 40), (1, 20)):
        mine = split[np.asarray(labels) == label]
        assert [(mine == s).sum() for s in (1, 2)] == [round(0.15 * n), round(0.25 * n)]
    assert np.array_equal(split, stratified(labels, {"val": 0.15, "test": 0.25}, seed=3))
    assert not np.array_equal(split, stratified(labels, {"val": 0.15, "test": 0.25}, seed=4))


# ---- preprocessing, against arrays computed by hand ---------------------------------------------
def test_a_wide_image_is_fitted_keeping_its_aspect_and_padded_with_paper():
    bar = np.zeros((10, 40), dtype=np.uint8)  # all ink, 1:4
    out = fit(bar, (32, 64))  # scale min(32/10, 64/40) = 1.6: 16 x 64, rows 8..23
    assert out.shape == (32, 64)
    assert (out[:8] == 255).all() and (out[24:] == 255).all() and (out[9:23] < 10).all()


def test_modes_become_grey_dark_ink_on_light_paper(tmp_path):
    wide = np.full((20, 40), 60000, dtype=np.uint16)  # 16-bit light paper, one dark line
    wide[10] = 1000
    Image.fromarray(wide).save(tmp_path / "deep.tif")
    grey = preprocess(tmp_path / "deep.tif", (20, 40))
    assert grey[0, 0] == round(60000 * 255 / 65535) and grey[10, 5] == round(1000 * 255 / 65535)
    clear = Image.new("RGBA", (8, 8), (0, 0, 0, 0))  # transparent: white paper, not black
    assert (to_grey(clear) == 255).all()
    night = np.full((16, 16), 15, dtype=np.uint8)  # light ink on dark paper: inverted
    night[8] = 240
    assert dark_paper(night)
    Image.fromarray(night).save(tmp_path / "night.png")
    flipped = preprocess(tmp_path / "night.png", (16, 16))
    assert flipped[0, 0] == 240 and flipped[8, 3] == 15
    kept = preprocess(tmp_path / "night.png", (16, 16), invert=False)
    assert kept[0, 0] == 15


# ---- bad folders: one line, before any data are cached ------------------------------------------
def _bad(root: Path, kind: str) -> Path:
    rng = np.random.default_rng(1)
    if kind == "missing root":
        return root / "nowhere"
    (root / "a").mkdir(parents=True)
    for i in range(6):
        draw(root / "a" / f"{i}.png", "box", (40, 30), "L", rng)
    if kind == "one class":
        return root
    (root / "b").mkdir()
    if kind == "empty class":
        return root
    for i in range(6):
        draw(root / "b" / f"{i}.png", "ring", (40, 30), "L", rng)
    if kind == "not an image":
        (root / "b" / "3.png").write_bytes(b"not a png at all")
    elif kind == "split without a class":
        for p in list((root / "b").iterdir())[1:]:
            p.unlink()  # one image of b: the val split gets none
    return root


BAD = {
    "missing root": "is not a folder",
    "one class": "two or more are needed",
    "empty class": "(class 'b') holds no image",
    "not an image": "3.png is not a readable image",
    "split without a class": "gets no image of class 'b'",
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_a_bad_folder_is_refused_in_one_line_before_any_data(tmp_path, kind):
    root = _bad(tmp_path / "data", kind)
    cache = tmp_path / "cache"
    result = run_cli([*TRAIN, f"data.root={root}"], tmp_path, cache)
    assert result.returncode == 2
    line = result.stderr.strip()
    assert line.startswith("rvsm: error: data.root: ") and BAD[kind] in line, line
    assert len(line.splitlines()) == 1
    assert not cache.exists() or not any(cache.iterdir())


def test_synthesized_data_written_as_png_files_read_back_as_the_same_images(tmp_path):
    """rvsm.data.export to .npz and to a folder from one seed; data=folder's decoded arrays are
    the .npz's images, split for split and class for class."""
    common = ["seed=3", "n_pairs=12", "data.workers=1", "data.synth.image_size=[32,64]"]
    common.append("data.synth.body_px=[8.0,12.0]")
    for out in ("d.npz", "d"):
        done = run_cli(
            [*common, f"out={tmp_path / out}"], tmp_path, tmp_path / "c", module="rvsm.data.export"
        )
        assert done.returncode == 0, done.stderr[-3000:]
    saved = np.load(tmp_path / "d.npz")
    from rvsm.data.folder import FolderDataModule

    folder = FolderDataModule(str(tmp_path / "d"), [32, 64], cache_dir=str(tmp_path / "c2"))
    assert folder.classes == ("regular", "tremor")
    arrays = folder._generate()
    for split in range(3):
        for label in range(2):
            mine = (arrays["split"] == split) & (arrays["labels"] == label)
            theirs = (saved["split"] == split) & (saved["labels"] == label)
            order = np.argsort(saved["pair_id"][theirs], kind="stable")
            assert np.array_equal(arrays["images"][mine], saved["images"][theirs][order])
