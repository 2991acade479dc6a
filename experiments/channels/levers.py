"""What each inference lever of the export gives, on the trained networks of export_record.sh.

    .venv/bin/python experiments/channels/levers.py logs/channels_export

Exports the checkpoints of ``<root>/baseline`` (the default network) and ``<root>/gmp/*``
(filter pruning, 4/8/16 channels) as ``python -m rvsm.export`` does (``width_multiple`` 4), once
with every lever of ``rvsm.inference.LEVERS``, once without each lever in turn and once without
any, and times all the files in the same interleaved repeats (latency.py's ``time_all``) in
``--processes`` fresh processes. Writes ``experiments/channels/levers.md``: per variant, the
default network's time at batch 1 and 256, the filter-pruned networks' mean time at 256, and
each time against the variant with every lever (> 1: slower without the lever).
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from rvsm.export import script, standalone
from rvsm.inference import LEVERS
from rvsm.reporting.timing import duration_text as _ms
from rvsm.trained import load_trained
from rvsm.utils.io import atomic_open

try:  # run as a script, latency.py sits beside this file
    from latency import record_args, time_in_processes
except ImportError:  # imported as experiments.channels.levers
    from experiments.channels.latency import record_args, time_in_processes

OUT = Path(__file__).with_name("levers.md")
ALL = "every lever"
NONE = "no lever"


def variants() -> dict[str, tuple[str, ...]]:
    """Variant name -> the levers it applies: all, all but one (each in turn), none."""
    out = {ALL: LEVERS}
    out.update({f"without {name}": tuple(x for x in LEVERS if x != name) for name in LEVERS})
    out[NONE] = ()
    return out


def export_all(root: Path, folder: Path) -> tuple[dict[str, Path], list[int]]:
    """Every variant of every network written under ``folder``: (``<variant>|<network>`` ->
    file, the image size)."""
    networks = {"default": root / "baseline"}
    networks.update({f"gmp/{p.name}": p for p in sorted((root / "gmp").glob("[0-9]*"))})
    files, size = {}, None
    for network, run in networks.items():
        _, model, _ = load_trained(str(run))
        size = list(model.net.image_size)
        for variant, levers in variants().items():
            path = folder / f"{len(files)}.pt"
            torch.jit.save(script(standalone(model, multiple=4, levers=levers), size), str(path))
            files[f"{variant}|{network}"] = path
    return files, size


def report(timings: list[dict[int, dict[str, float]]], networks: list[str]) -> str:
    """The page from per-process timings: each time is the median over processes, each ratio
    the median over processes of the variant's time / every lever's, in the same repeats."""
    med = statistics.median
    pruned = [n for n in networks if n != "default"]

    def time_of(variant: str, batch: int, nets: list[str]) -> list[float]:  # one per process
        return [statistics.fmean(t[batch][f"{variant}|{n}"] for n in nets) for t in timings]

    def ratio(variant: str, batch: int, nets: list[str]) -> float:
        mine, base = time_of(variant, batch, nets), time_of(ALL, batch, nets)
        return med(m / b for m, b in zip(mine, base, strict=True))

    lines = [
        "# What each inference lever of the export gives (experiments/channels)",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
        f"{torch.__version__} with {torch.get_num_threads()} threads; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Regenerate with the command in "
        "experiments/channels/README.md. The default network and the filter-pruned ones of "
        "export_record.sh, each exported with every lever of rvsm.inference, without one, or "
        f"without any, all timed in the same interleaved repeats in {len(timings)} fresh "
        "processes; a time is the median over processes (the filter-pruned networks' mean), a "
        "ratio the median over processes of the time against every lever's (> 1: the lever "
        "helps).",
        "",
        "| variant | default, batch 1 | ratio | default, batch 256 | ratio | "
        f"filter-pruned ({len(pruned)}), batch 256 | ratio |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for variant in variants():
        cells = []
        for batch, nets in ((1, ["default"]), (256, ["default"]), (256, pruned)):
            cells += [_ms(med(time_of(variant, batch, nets))), f"{ratio(variant, batch, nets):.2f}"]
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    args, _ = record_args(__doc__.split("\n")[0], OUT)
    with tempfile.TemporaryDirectory() as tmp:
        files, size = export_all(args.root, Path(tmp))
        timings = time_in_processes(files, tuple(size), args.processes)
    networks = list(dict.fromkeys(key.split("|")[1] for key in files))
    text = report(timings, networks)
    with atomic_open(args.out, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
