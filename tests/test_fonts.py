"""Outline fonts by file (data.synth.font_files): the same data as by name, a cache that follows
the file's contents, refusals before any data (the shortcut checks on fonts by file are in
tests/test_data.py). Only fonts that the Python packages ship are used (matplotlib's TTFs, copied
or rebuilt with fontTools), so no system font package is needed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from fontTools.subset import Options, Subsetter
from fontTools.ttLib import TTCollection, TTFont
from omegaconf import OmegaConf

from rvsm.data.datamodule import TremorTextDataModule
from rvsm.data.fontfiles import expand
from rvsm.data.glyphs import OUTLINE_FONTS, TTF_DIR
from rvsm.data.synth import SynthSettings, generate_dataset
from rvsm.runtime.precheck import check_command_line
from tests.helpers import ROOT, TINY_DATA, run_cli
from tests.test_data import UNNAMED_FONT_FILES

SMALL = {"train": 6, "val": 2, "test": 4}
TINY_SYNTH = {"image_size": [32, 64], "body_px": [8.0, 12.0]}
UNNAMED = tuple(Path(f).stem for f in UNNAMED_FONT_FILES)  # the shortcut checks use them too


def _ttf(name: str) -> str:
    return str(TTF_DIR / f"{name}.ttf")


def _module(tmp_path: Path, **synth) -> TremorTextDataModule:
    return TremorTextDataModule(
        {"kind": "fonts", **TINY_SYNTH, **synth}, SMALL, seed=0, cache_dir=str(tmp_path), workers=1
    )


def test_unnamed_fonts_are_not_named_by_default():
    assert not set(UNNAMED) & set(OUTLINE_FONTS) and all(Path(_ttf(n)).is_file() for n in UNNAMED)


def test_a_font_by_its_file_gives_the_bytes_of_the_font_by_name():
    """Printed text in two matplotlib fonts, named or by path, in mixed data (Hershey fonts too):
    byte for byte the same; another font by path gives other images."""
    names = ["DejaVuSans", "cmr10"]
    by_name = SynthSettings.from_dict({"kind": "mixed", "fonts": names})
    by_file = SynthSettings.from_dict(
        {"kind": "mixed", "fonts": [], "font_files": [_ttf(n) for n in names]}
    )
    other = SynthSettings.from_dict(
        {"kind": "mixed", "fonts": [], "font_files": [_ttf(UNNAMED[0])]}
    )
    a, b, c = (
        generate_dataset(s, seed=5, n_pairs=SMALL, workers=1) for s in (by_name, by_file, other)
    )
    assert (a["images"] < 128).any()
    for key in a:
        assert a[key].tobytes() == b[key].tobytes(), key
    assert a["images"].tobytes() != c["images"].tobytes()


def test_a_font_rewritten_at_the_same_path_makes_a_new_cache(tmp_path):
    """The cache key follows the file's contents: the same path with another font regenerates,
    drawing the new font (as it draws by name); a copy at another path shares the cache."""
    font = tmp_path / "fonts" / "mine.ttf"
    font.parent.mkdir()
    shutil.copyfile(_ttf("DejaVuSans"), font)
    first = _module(tmp_path / "cache", fonts=[], font_files=[str(font)])
    first.prepare_data()
    before = first.cache_path.read_bytes()
    shutil.copyfile(_ttf("DejaVuSerif"), font)
    second = _module(tmp_path / "cache", fonts=[], font_files=[str(font)])
    assert second.cache_path != first.cache_path
    second.prepare_data()
    assert first.cache_path.read_bytes() == before  # the old file is left as it was
    serif = generate_dataset(
        SynthSettings.from_dict({"kind": "fonts", **TINY_SYNTH, "fonts": ["DejaVuSerif"]}), 0, SMALL
    )
    second.setup()
    assert np.array_equal(
        second.splits["train"].images.numpy(), serif["images"][serif["split"] == 0]
    )
    copy = tmp_path / "elsewhere.ttf"
    shutil.copyfile(font, copy)
    assert (
        _module(tmp_path / "cache", fonts=[], font_files=[str(copy)]).cache_path
        == second.cache_path
    )


def test_folders_globs_and_collection_faces_expand_sorted(tmp_path):
    for name in ("b.ttf", "a.otf", "sub/c.TTF", "notes.txt"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(Path(_ttf("DejaVuSans")).read_bytes())
    collection = TTCollection()
    collection.fonts = [TTFont(_ttf("DejaVuSans")), TTFont(_ttf("cmr10"))]
    collection.save(tmp_path / "sub" / "pair.ttc")
    d = str(tmp_path)
    assert expand([d]) == (
        f"{d}/a.otf",
        f"{d}/b.ttf",
        f"{d}/sub/c.TTF",
        *(f"{d}/sub/pair.ttc:{i}" for i in (0, 1)),
    )
    assert expand([f"{d}/*.?tf", f"{d}/b.ttf"]) == (f"{d}/a.otf", f"{d}/b.ttf")  # each once
    assert expand([f"{d}/**/*.ttc"]) == (f"{d}/sub/pair.ttc:0", f"{d}/sub/pair.ttc:1")
    # a face of a collection draws as the font it holds
    face = SynthSettings.from_dict(
        {"kind": "fonts", "fonts": [], "font_files": [f"{d}/sub/pair.ttc:1"]}
    )
    named = SynthSettings.from_dict({"kind": "fonts", "fonts": ["cmr10"]})
    a, b = (generate_dataset(s, seed=1, n_pairs=SMALL, workers=1) for s in (face, named))
    assert a["images"].tobytes() == b["images"].tobytes()


def _without(tmp_path: Path, drop: str) -> Path:
    """DejaVuSans without the glyphs of ``drop`` (fontTools' subsetter)."""
    font = TTFont(_ttf("DejaVuSans"))
    keep = [c for c in font.getBestCmap() if chr(c) not in drop]
    subsetter = Subsetter(Options(notdef_outline=True))
    subsetter.populate(unicodes=keep)
    subsetter.subset(font)
    path = tmp_path / "partial.ttf"
    font.save(path)
    return path


def _text(tmp_path: Path) -> Path:
    path = tmp_path / "readme.ttf"
    path.write_text("not a font\n")
    return path


def _truncated(tmp_path: Path) -> Path:
    path = tmp_path / "cut.ttf"
    path.write_bytes(Path(_ttf("DejaVuSans")).read_bytes()[:30000])
    return path


REFUSALS = {  # how the font is made, and what the one line says besides the file's name
    "missing": (lambda p: p / "nowhere.ttf", "no such file"),
    "not a font": (_text, "is not a readable outline font"),
    "truncated": (_truncated, "is not a readable outline font"),
    "glyphs missing": (lambda p: _without(p, "qJ"), "has no glyph for 2 character(s)"),
    "no x": (lambda p: _without(p, "x"), "has no glyph for 1 character(s) the text needs: 'x'"),
    "empty folder": (lambda p: (p / "empty").mkdir() or p / "empty", "holds no font file"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_a_font_that_cannot_draw_the_text_is_refused_in_one_line(tmp_path, case):
    make, named = REFUSALS[case]
    font = make(tmp_path)
    with pytest.raises(ValueError) as err:
        _module(tmp_path / "cache", font_files=[str(font)])
    message = str(err.value)
    assert message.startswith("data.synth.font_files: ") and "\n" not in message, message
    assert str(font) in message and named in message, message
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("case", ["glyphs missing", "not a font"])
def test_the_command_line_refuses_a_bad_font_file_before_any_data(tmp_path, cache_dir, case):
    make, named = REFUSALS[case]
    font = make(tmp_path)
    args = [*TINY_DATA, f"data.synth.font_files=[{font}]", f"hydra.run.dir={tmp_path / 'run'}"]
    result = run_cli(args, tmp_path, cache_dir)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rvsm: error: data.synth.font_files: "), lines
    assert str(font) in lines[0] and named in lines[0], lines
    assert not any(cache_dir.iterdir())


def test_export_and_preview_take_font_files(tmp_path):
    """The export of a font by file is the export of the font by name; preview draws it."""
    common = [
        "data=fonts",
        "seed=3",
        "n_pairs=12",
        *[f"data.synth.{k}={v}" for k, v in (("image_size", "[32,64]"), ("body_px", "[8.0,12.0]"))],
    ]
    outs = []
    for i, fonts in enumerate(
        (
            ["data.synth.fonts=[cmr10]"],
            ["data.synth.fonts=[]", f"data.synth.font_files=[{_ttf('cmr10')}]"],
        )
    ):
        out = tmp_path / f"{i}.npz"
        result = run_cli(
            [*common, *fonts, f"out={out}"], tmp_path, tmp_path / "cache", module="rvsm.data.export"
        )
        assert result.returncode == 0, result.stderr[-2000:]
        outs.append(np.load(out))
    assert outs[0]["images"].tobytes() == outs[1]["images"].tobytes()
    png = tmp_path / "p.png"
    result = run_cli(
        [
            "data=fonts",
            "data.synth.fonts=[]",
            f"data.synth.font_files=[{_ttf(UNNAMED[1])}]",
            f"out={png}",
        ],
        tmp_path,
        tmp_path / "cache",
        module="rvsm.data.preview",
    )
    assert result.returncode == 0 and png.stat().st_size > 1000, result.stderr[-2000:]
    bad = run_cli(
        ["data=fonts", f"data.synth.font_files=[{tmp_path / 'none.ttf'}]", f"out={png}"],
        tmp_path,
        tmp_path / "cache",
        module="rvsm.data.export",
    )
    assert bad.returncode != 0
    assert bad.stderr.strip().splitlines() == [
        f"rvsm: error: data.synth.font_files: no such file {tmp_path / 'none.ttf'}"
    ]


# ---- data=handwriting_fonts: checked where `make fonts` has installed its packages -------------

PRESET = OmegaConf.load(ROOT / "conf" / "data" / "handwriting_fonts.yaml").synth.font_files


@pytest.mark.skipif(
    not all(Path(f).is_file() for f in PRESET) or shutil.which("dpkg") is None,
    reason="the Debian font packages of `make fonts` are not installed",
)
def test_the_handwriting_preset_draws_in_fonts_that_make_fonts_installs():
    make = (ROOT / "Makefile").read_text()
    packages = set(
        make.split("FONT_PACKAGES :=")[1].split("\nfonts:")[0].replace("\\", " ").split()
    )
    owners = subprocess.run(["dpkg", "-S", *PRESET], capture_output=True, text=True, check=True)
    assert {line.split(":")[0] for line in owners.stdout.splitlines()} <= packages
    check_command_line(["data=handwriting_fonts"])  # every font can draw the text
