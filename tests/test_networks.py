"""Any network: model/net=resnet under RVSM and gmp with pattern-chosen layers, resumed exactly from
a mid-epoch preemption, its sparsity and FLOPs reported, exported (at full width, with a note);
a tiny custom nn.Module given by _target_ trains with no other file touched."""

from __future__ import annotations

import json
import signal

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from rvsm.nets import select_layers
from rvsm.resnet import SmallResNet
from rvsm.runtime.preemption import PREEMPTED_EXIT
from tests.helpers import (
    ANY_METHOD,
    TINY_DATA,
    assert_same_numbers,
    metrics_of,
    run_cli,
    signal_when_held,
)

RESNET = ["model/net=resnet", "model.net.channels=[4,8,8]"]
RUN = [*TINY_DATA, "data.n_pairs={train:96,val:32,test:32}", "trainer.max_epochs=3"]
RUN += ["trainer.deterministic=true", *RESNET, "splitting.layers=[stages.2.*,fc]"]
IN_EPOCH_2 = 6 + 3  # held before the fourth of the six batches of the second epoch


def test_patterns_pick_layers_in_forward_order_and_a_pattern_matching_nothing_is_refused():
    names = list(SmallResNet((16, 32)).weighted_layers())
    assert select_layers(names, ["fc", "stages.0.*"]) == [
        "stages.0.conv1",
        "stages.0.conv2",
        "fc",
    ]
    assert select_layers(names, ["*skip"]) == ["stages.1.skip", "stages.2.skip"]
    with pytest.raises(ValueError, match=r"^layers: '\*nothing\*' matches no layer"):
        select_layers(names, ["*nothing*"])
    with pytest.raises(ValueError, match="named twice"):
        select_layers(names, ["fc", "fc"])


def test_resnet_under_rvsm_resumes_exactly_from_a_mid_epoch_preemption(tmp_path, cache_dir):
    whole = run_cli([*RUN, f"hydra.run.dir={tmp_path / 'whole'}"], tmp_path, cache_dir)
    assert whole.returncode == 0, whole.stderr[-3000:]
    run_dir = tmp_path / "preempted"
    args = [*RUN, f"hold.step={IN_EPOCH_2}", f"hydra.run.dir={run_dir}"]
    log = tmp_path / "preempted.log"
    proc = signal_when_held(args, run_dir, tmp_path, cache_dir, log, signal.SIGTERM)
    assert proc.returncode == PREEMPTED_EXIT, (tmp_path / "preempted.log").read_text()[-3000:]
    resumed = run_cli(args, tmp_path, cache_dir)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a, b = metrics_of(tmp_path / "whole"), metrics_of(run_dir)
    assert_same_numbers(a, b)
    # the split layers are the pattern's, sparsified; FLOPs counted for this network
    assert a["split_layers"] == ["stages.2.*", "fc"]
    assert 0.0 < a["test/sparsity"] <= 1.0 and "test/sparsity_stages.2.conv1" in a
    net = SmallResNet((32, 64), (4, 8, 8)).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(torch.zeros(1, 1, 32, 64))
    assert a["test/flops"] == counter.get_total_flops() and a["test/flops_fraction"] == 1.0


def test_resnet_under_gmp_reaches_its_sparsity_and_exports_at_full_width_with_a_note(
    tmp_path, cache_dir
):
    run_dir = tmp_path / "gmp"
    args = [*ANY_METHOD, "trainer.max_epochs=2", *RESNET, "method=gmp", "method.sparsity=0.5"]
    args += ["splitting.layers=[*conv*]", f"hydra.run.dir={run_dir}"]
    trained = run_cli(args, tmp_path, cache_dir)
    assert trained.returncode == 0, trained.stderr[-3000:]
    metrics = metrics_of(run_dir)
    convs = [k for k in metrics if k.startswith("test/sparsity_stages.")]
    assert len(convs) == 6  # conv1 and conv2 of three stages, not the skips
    assert all(metrics[k] == pytest.approx(0.5, abs=0.01) for k in convs)
    out = tmp_path / "model.pt"
    exported = run_cli(
        [f"ckpt_path={run_dir}", f"out={out}"], tmp_path, cache_dir, module="rvsm.export"
    )
    assert exported.returncode == 0, exported.stderr[-3000:]
    assert "rvsm: note: SmallResNet is exported at its full widths" in exported.stdout
    from rvsm.trained import load_trained

    _, model, _ = load_trained(str(run_dir))
    x = torch.rand(3, 1, 32, 64)
    with torch.no_grad():
        torch.testing.assert_close(torch.jit.load(str(out))(x), model(x), atol=1e-5, rtol=0)


# ---- a network of the user's, from a module outside the package ---------------------------------
TINY_NET = '''
import torch
from torch import nn

class TwoLayers(nn.Module):
    """One conv, one linear layer: meets rvsm.nets.SplittableNet."""

    head_name = "head"

    def __init__(self, image_size, num_classes=2, width=4):
        super().__init__()
        self.image_size, self.num_classes = tuple(image_size), num_classes
        self.conv = nn.Conv2d(1, width, 3, padding=1)
        self.pool = nn.MaxPool2d(4)
        self.feature_shape = (width, image_size[0] // 4, image_size[1] // 4)
        self.head = nn.Linear(width * (image_size[0] // 4) * (image_size[1] // 4), num_classes)

    def weighted_layers(self):
        return {"conv": self.conv, "head": self.head}

    def features(self, x):
        return self.pool(torch.relu(self.conv(x))).flatten(1)

    def forward(self, x):
        return self.head(self.features(x))
'''


def test_a_custom_network_by_target_trains_with_no_other_file_touched(tmp_path, cache_dir):
    (tmp_path / "py").mkdir()
    (tmp_path / "py" / "my_net.py").write_text(TINY_NET)
    run_dir = tmp_path / "run"
    args = [*TINY_DATA, "~model/net", "+model.net._target_=my_net.TwoLayers"]
    args += ["+model.net.width=3", "splitting.layers=[head]", f"hydra.run.dir={run_dir}"]
    env = {"PYTHONPATH": str(tmp_path / "py")}
    result = run_cli(args, tmp_path, cache_dir, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "ok" and 0.0 < metrics["test/sparsity_fc"] <= 1.0
    assert metrics["test/channels_conv"] <= 3 and metrics["test/flops_fraction"] == 1.0
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    assert state["state_dict"]["net.conv.weight"].shape == (3, 1, 3, 3)
    assert state["hyper_parameters"]["run_config"]["model"]["net"]["_target_"] == "my_net.TwoLayers"
