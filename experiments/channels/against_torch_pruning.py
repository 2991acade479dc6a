"""Torch-Pruning's dependency-graph removal of pruned filters against rvsm.slim, on the same runs.

    .venv/bin/pip install -e '.[compare]'   # torch-pruning
    .venv/bin/python experiments/channels/against_torch_pruning.py logs/channels_export

For each filter-pruned checkpoint of export_record.sh (``<root>/gmp/*``) and the default
network (``<root>/baseline``): the evaluated network with its all-zero filters removed by
Torch-Pruning (``DependencyGraph`` groups: a conv's output channels, its BatchNorm's, the next
layer's inputs) and by ``rvsm.slim`` (the same channels, their fixed values folded into the next
layer), each then as exported with and without ``rvsm.inference``'s levers. Reports the widths,
the largest logit difference from the evaluated network and the test accuracy on the run's test
split (each network run over the same images), and the batch-256 time of each, all files timed
in the same interleaved repeats in ``--processes`` fresh processes (latency.py's
``time_in_processes``). Writes ``experiments/channels/torch_pruning.md``.
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from rvsm.export import plain_copy, script, standalone
from rvsm.inference import ChannelsLast, for_inference
from rvsm.reporting.timing import duration_text as _ms
from rvsm.runtime.checks import CONF_DIR
from rvsm.slim import CONVS
from rvsm.trained import load_trained, prepare
from rvsm.utils.io import atomic_open

try:  # run as a script, latency.py sits beside this file
    from latency import record_args, time_in_processes
except ImportError:  # imported as experiments.channels.against_torch_pruning
    from experiments.channels.latency import record_args, time_in_processes

OUT = Path(__file__).with_name("torch_pruning.md")


def removed_by_torch_pruning(net: nn.Module, image_size: list[int]) -> nn.Module:
    """``net`` (the evaluated TremorCNN, a copy) with every all-zero filter of its convolutions
    removed by Torch-Pruning's dependency graph, in place."""
    import torch_pruning as tp

    graph = tp.DependencyGraph().build_dependency(
        net, example_inputs=torch.zeros(1, 1, *image_size)
    )
    for name in CONVS:
        conv = getattr(net, name)
        idxs = [i for i in range(conv.out_channels) if not bool(conv.weight[i].any())]
        if idxs and len(idxs) < conv.out_channels:
            group = graph.get_pruning_group(conv, tp.prune_conv_out_channels, idxs=idxs)
            if not graph.check_pruning_group(group):
                raise RuntimeError(f"Torch-Pruning refused to remove {len(idxs)} filters of {name}")
            group.prune()
    return net.eval()


def test_images(run: Path, trained: dict) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The run's test split, as ``python -m rvsm.eval`` builds it with the run's data seed (the
    runs of export_record.sh differ from the default data in nothing else)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        overrides = [f"ckpt_path={run}", f"seed={trained['data']['seed']}"]
        cfg = compose("eval", overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)  # the config's ${hydra:...} keys, as a job has them
    _, _, _, datamodule = prepare(cfg)
    datamodule.prepare_data()
    datamodule.setup("test")
    return [datamodule.on_after_batch_transfer(batch, 0) for batch in datamodule.test_dataloader()]


@torch.no_grad()
def compare(net: nn.Module, evaluated: nn.Module, batches: list) -> tuple[float, float]:
    """(largest logit difference from ``evaluated``, test accuracy) over ``batches``."""
    diff, right, seen = 0.0, 0, 0
    for x, y in batches:
        out = net(x)
        diff = max(diff, float((out - evaluated(x)).abs().max()))
        right += int((out.argmax(1) == y).sum())
        seen += len(y)
    return diff, right / seen


def widths(net: nn.Module) -> str:
    return "/".join(str(getattr(net, name).out_channels) for name in CONVS)


def main() -> None:
    args, runs = record_args(__doc__.split("\n")[0], OUT)
    try:
        import torch_pruning  # noqa: F401
    except ImportError:
        raise SystemExit(
            "against_torch_pruning.py: needs torch-pruning: pip install -e '.[compare]'"
        ) from None
    rows, files = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for run in [args.root / "baseline", *runs]:
            _, model, trained = load_trained(str(run))
            size = list(model.net.image_size)
            evaluated = plain_copy(model.net, model.method.evaluated_weights())
            pruned = removed_by_torch_pruning(plain_copy(evaluated, {}), size)
            batches = test_images(run, trained)
            nets = {
                "torch-pruning": ChannelsLast(pruned.to(memory_format=torch.channels_last)),
                "torch-pruning + levers": for_inference(plain_copy(pruned, {})),
                "rvsm.slim": standalone(model, levers=()),
                "rvsm.slim + levers (the export)": standalone(model, multiple=4),
            }
            for what, net in nets.items():
                diff, acc = compare(net, evaluated, batches)
                key = f"{run.name}|{what}"
                path = Path(tmp) / f"{len(files)}.pt"
                torch.jit.save(script(net, size), str(path))
                files[key] = path
                kept = (
                    widths(net.net) if what.startswith("torch") else widths(nets["rvsm.slim"].net)
                )
                seed = trained.get("seed")
                rows.append({"key": key, "run": run.name, "seed": seed, "what": what})
                rows[-1].update({"widths": kept, "diff": diff, "acc": acc})
        timings = time_in_processes(files, tuple(size), args.processes)
    text = report(rows, timings, args.processes)
    with atomic_open(args.out, "w") as f:
        f.write(text)
    print(text)


def report(rows: list[dict], timings: list, processes: int) -> str:
    med = statistics.median
    lines = [
        "# Torch-Pruning against rvsm.slim on the same runs (experiments/channels)",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
        f"{torch.__version__} with {torch.get_num_threads()} threads; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Regenerate with the command in "
        "experiments/channels/README.md. Each network's all-zero filters removed by "
        "Torch-Pruning or by rvsm.slim; logit difference: the largest over the test split "
        "against the evaluated network; test acc: this script's float32 pass over the run's "
        "test split (the training run's own test pass may differ by an image); batch 256: the "
        "median over "
        f"{processes} fresh processes of the median of 21 interleaved repeats.",
        "",
        "| run | seed | removed by | widths | largest logit difference | test acc | batch 256 |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        t = med(timing[256][r["key"]] for timing in timings)
        lines.append(
            f"| {r['run']} | {r['seed']} | {r['what']} | {r['widths']} | {r['diff']:.2g} | "
            f"{r['acc']:.4f} | {_ms(t)} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
