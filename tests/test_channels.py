"""Channel sparsity through the real CLIs: a group-l0 run interrupted and resumed keeps its
groups, reports the channels it keeps and their FLOPs, and exports a smaller dense network that
gives the checkpoint's logits in a Python that cannot import rvsm."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from rvsm.inference import FUSED_BELOW
from rvsm.nets import TremorCNN
from rvsm.runtime.checks import CONF_DIR
from rvsm.slim import flops
from tests.helpers import TINY_DATA, evaluated_network, run_cli, run_exported

SPLIT = ["conv2", "conv3", "fc"]
# 2 epochs, the last fine-tuning on u's support; threshold sqrt(2e-3 / 0.1) = 0.14 on a group's
# norm, about the norm of one channel's FC columns at initialisation
RUN = [
    *TINY_DATA,
    "data=fonts",
    "penalty=group_l0",
    "penalty.lam=1e-3",
    f"splitting.layers=[{','.join(SPLIT)}]",
    "trainer.max_epochs=2",
    "method.finetune_epochs=1",
]


def zero_groups(u: torch.Tensor, channels: int) -> set[int]:
    """Input channels whose weights in ``u`` are all zero."""
    grouped = u.reshape(u.shape[0], channels, -1)
    return {i for i in range(channels) if not grouped[:, i].any()}


@pytest.fixture(scope="module")
def resumed(tmp_path_factory) -> tuple[Path, dict]:
    """The run stopped after epoch 1 (its checkpoint's state kept), then resumed to the end."""
    root = tmp_path_factory.mktemp("channels")
    run_dir = root / "run"
    first = run_cli([*RUN, "stop_after_epochs=1", f"hydra.run.dir={run_dir}"], root, root / "c")
    assert first.returncode == 0, first.stderr[-3000:]
    mid = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    second = run_cli([*RUN, "ckpt_path=last", f"hydra.run.dir={run_dir}"], root, root / "c")
    assert second.returncode == 0, second.stderr[-3000:]
    return run_dir, {"mid": mid, "stdout": second.stdout}


def test_a_run_resumed_mid_run_keeps_its_groups(resumed):
    run_dir, seen = resumed
    mid = seen["mid"]
    final = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    assert bool(mid["method.finetuning"])  # stopped inside the phase with the support fixed
    widths = {"conv2": 8, "conv3": 16, "fc": 32}
    pruned = 0
    for name in SPLIT:
        at_stop = zero_groups(mid[f"method.mask_{name}"], widths[name])
        assert zero_groups(mid[f"method.u_{name}"], widths[name]) == at_stop
        assert zero_groups(final[f"method.u_{name}"], widths[name]) == at_stop, name
        pruned += len(at_stop)
    assert pruned > 0  # some channels were pruned, so the comparison covers them


def widths_by_hand(state: dict) -> tuple[int, int, int]:
    """The channels the evaluated network reads, from the classifier backwards: conv3's channels
    with a nonzero FC column, conv2's read by a kept conv3 filter, conv1's by a kept conv2
    filter (no filter of this run is all zero, so none is a fixed value)."""
    fc = state["method.u_fc"].reshape(2, 32, -1)
    kept3 = [c for c in range(32) if fc[:, c].any()]
    conv3 = state["method.u_conv3"][kept3]
    kept2 = [c for c in range(16) if conv3[:, c].any()]
    conv2 = state["method.u_conv2"][kept2]
    kept1 = [c for c in range(8) if conv2[:, c].any()]
    for name, kept in (("conv2", kept2), ("conv3", kept3)):
        assert state[f"method.u_{name}"][kept].flatten(1).any(dim=1).all()
    return len(kept1), len(kept2), len(kept3)


def test_metrics_and_summary_report_the_kept_channels_and_their_flops(resumed):
    run_dir, seen = resumed
    metrics = json.loads((run_dir / "metrics.json").read_text())
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    widths = widths_by_hand(state)
    assert widths[2] < 32
    reported = tuple(int(metrics[f"test/channels_conv{k}"]) for k in (1, 2, 3))
    assert reported == widths
    size = (32, 64)
    by_hand = flops(TremorCNN(size, widths), size) / flops(TremorCNN(size), size)
    assert metrics["test/flops_fraction"] == pytest.approx(by_hand, rel=1e-6)  # logged as float32
    line = [ln for ln in seen["stdout"].splitlines() if ln.startswith("rvsm: method=rvsm")][-1]
    assert "channels=" + "/".join(map(str, widths)) in line
    assert f"test/flops_fraction={by_hand:.4f}" in line


def test_export_is_the_smaller_dense_network_with_the_checkpoints_logits(resumed, tmp_path):
    run_dir, _ = resumed
    out = tmp_path / "model.pt"
    result = run_cli(
        [f"ckpt_path={run_dir}", f"out={out}"], tmp_path, tmp_path / "c", module="rvsm.export"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    # the default rounding (conf/export_model.yaml): each width up to a multiple, at most full
    multiple = OmegaConf.load(CONF_DIR / "export_model.yaml").width_multiple
    widths = tuple(
        min(full, -(-w // multiple) * multiple)
        for w, full in zip(widths_by_hand(state["state_dict"]), (8, 16, 32), strict=True)
    )
    assert widths != (8, 16, 32), "the rounded export must still remove channels to test slim"
    said = ", ".join(
        f"conv{k} {w}/{full}" for k, w, full in zip((1, 2, 3), widths, (8, 16, 32), strict=True)
    )
    assert f"channels {said};" in result.stdout
    size = (32, 64)
    small, large = flops(TremorCNN(size, widths), size), flops(TremorCNN(size), size)
    assert f"{small:,} FLOPs an image (dense: {large:,}," in result.stdout

    # the checkpoint's evaluated network, assembled here: the full CNN with u in the split layers
    x = torch.rand(5, 1, *size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = evaluated_network(state, SPLIT)(x)
    logits = run_exported(out, x, tmp_path)
    torch.testing.assert_close(logits, expected, atol=1e-5, rtol=0)
    exported = torch.jit.load(out)
    conv_weights = [p for n, p in exported.named_parameters() if n.endswith("weight")]
    # a conv narrower than FUSED_BELOW is fused with its pooling: four copies of its filters
    fused = [4 * w if w < FUSED_BELOW else w for w in widths]
    assert [w.shape[0] for w in conv_weights if w.dim() == 4] == fused


def test_a_group_penalty_on_the_first_conv_is_refused_before_any_data(tmp_path):
    args = [
        *TINY_DATA,
        "penalty=group_l1",
        "splitting.layers=[conv1,fc]",
        f"hydra.run.dir={tmp_path / 'r'}",
    ]
    result = run_cli(args, tmp_path, tmp_path / "cache")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rvsm: error: splitting.layers: "), lines
    assert "conv1 reads 1 channel" in lines[0]
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())
