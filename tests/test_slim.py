"""The channel-pruned network rebuilt smaller (rvsm/slim.py): the same logits as the evaluated
network, the widths and FLOPs of a network built by hand at those widths, and the fixed values
of pruned filters folded (not dropped), borders included."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rvsm.methods.penalties import GroupL0
from rvsm.methods.structure import LayerSpec
from rvsm.nets import TremorCNN
from rvsm.slim import CONVS, FixedMap, ShiftedConv2d, flops, slim

SIZE = (32, 64)


def trained_like(block_order: str = "pool_first") -> TremorCNN:
    """A TremorCNN with BatchNorm statistics and shifts away from their initial values."""
    torch.manual_seed(0)
    net = TremorCNN(SIZE, block_order=block_order)
    with torch.no_grad():
        for norm in net.norms:
            norm.running_mean.uniform_(-0.2, 0.2)
            norm.running_var.uniform_(0.5, 2.0)
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.uniform_(-0.5, 0.5)
        for conv in (net.conv1, net.conv2, net.conv3):
            conv.bias.uniform_(-0.5, 0.5)
    return net.eval()


def weights_of(net: TremorCNN) -> dict[str, torch.Tensor]:
    return {name: layer.weight.detach().clone() for name, layer in net.weighted_layers().items()}


def evaluated(net: TremorCNN, weights: dict[str, torch.Tensor]) -> TremorCNN:
    """The network with ``weights`` put in, as the module evaluates it."""
    with torch.no_grad():
        for name, layer in net.weighted_layers().items():
            layer.weight.copy_(weights[name])
    return net


def by_hand_flops(channels: tuple[int, int, int]) -> int:
    """2 x multiply-adds of the three 3x3 convs and the classifier at the given widths."""
    h, w = SIZE
    c0, total = 1, 0
    for k, c in enumerate(channels):
        total += 2 * c * c0 * 9 * (h >> k) * (w >> k)
        c0 = c
    return total + 2 * 2 * channels[2] * (h // 8) * (w // 8)


def test_unread_channels_are_removed_with_identical_logits_and_hand_built_widths():
    """Zero conv2's input slices 0 and 3 (conv1 loses 2 channels), conv3's 5 slices (conv2 loses
    5) and the FC columns of 10 channels (conv3 loses 10)."""
    net = trained_like()
    weights = weights_of(net)
    weights["conv2"][:, [0, 3]] = 0
    weights["conv3"][:, [1, 2, 7, 8, 15]] = 0
    fc = weights["fc"].view(2, 32, -1)
    fc[:, 10:20] = 0
    small = slim(net, weights)
    x = torch.rand(6, 1, *SIZE, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(small(x), evaluated(net, weights)(x), atol=1e-5, rtol=0)
    widths = (small.conv1.out_channels, small.conv2.out_channels, small.conv3.out_channels)
    assert widths == (6, 11, 22)
    assert flops(small, SIZE) == by_hand_flops(widths) == flops(TremorCNN(SIZE, widths), SIZE)
    assert flops(net, SIZE) == by_hand_flops((8, 16, 32))


@pytest.mark.parametrize("block_order", ["pool_first", "pool_last"])
def test_pruned_filters_fold_their_fixed_value_exactly_into_the_next_layer(block_order):
    """Filters pruned whole (as filter pruning does) leave relu(BN(bias)) > 0: that value reaches
    conv2 and conv3 (whose zero padding makes it differ at the borders) and the classifier."""
    net = trained_like(block_order)
    weights = weights_of(net)
    with torch.no_grad():
        for name, norm, pruned in zip(CONVS, net.norms, ([2, 5], [0, 9], [4]), strict=True):
            weights[name][pruned] = 0
            norm.bias[pruned] = 1.0  # well above the ReLU for any bias and statistics above
    small = slim(net, weights)
    assert (small.conv1.out_channels, small.conv2.out_channels, small.conv3.out_channels) == (
        6,
        14,
        31,
    )
    x = torch.rand(6, 1, *SIZE, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = evaluated(net, weights)(x)
        torch.testing.assert_close(small(x), expected, atol=1e-5, rtol=0)
        # dropping the fold instead would be visibly wrong: the constants matter here
        maps = {name: getattr(small, name).shift() for name in ("conv2", "conv3")}
        small.conv2.shift.table.zero_()
        assert (small(x) - expected).abs().max() > 1e-3
    shift = maps["conv3"][0]
    assert (shift[0, 0] - shift[2, 2]).abs() > 1e-6  # a border sees fewer taps
    # each map is kept as its distinct rows and columns: few of each
    for name, full in maps.items():
        assert getattr(small, name).shift.table.numel() * 4 <= full.numel()


def test_a_fixed_map_is_kept_as_its_distinct_rows_and_columns_and_rebuilt_exactly():
    gen = torch.Generator().manual_seed(3)
    for _ in range(20):
        channels, kinds_r, kinds_c = (int(v) for v in torch.randint(1, 5, (3,), generator=gen))
        base = torch.randn(channels, kinds_r, kinds_c, generator=gen)
        rows = torch.randint(0, kinds_r, (int(torch.randint(1, 12, (1,), generator=gen)),))
        cols = torch.randint(0, kinds_c, (int(torch.randint(1, 12, (1,), generator=gen)),))
        full = base[:, rows][:, :, cols]
        kept = FixedMap(full)
        assert torch.equal(kept(), full)
        distinct_rows = {tuple(full[:, y].flatten().tolist()) for y in range(full.shape[1])}
        distinct_cols = {tuple(full[:, :, x].flatten().tolist()) for x in range(full.shape[2])}
        assert kept.table.shape == (channels, len(distinct_rows), len(distinct_cols))


def test_a_zeroed_group_removes_exactly_one_channel():
    """The group prox on conv3 (input slices) and on the FC layer (per-channel columns), as the
    method applies it, then the rebuilt network: one group, one channel fewer."""
    net = trained_like()
    weights = weights_of(net)
    weights["conv3"][:, 6] *= 1e-4
    weights["fc"].view(2, 32, -1)[:, 17] *= 1e-4
    penalty = GroupL0(1e-6)  # threshold sqrt(2e-6 / 0.1) = 0.0045 on a group's norm
    specs = {
        "conv3": LayerSpec("conv3", (32, 16, 3, 3), (16,)),
        "fc": LayerSpec("fc", (2, 1024), net.feature_shape),
    }
    for name, spec in specs.items():
        weights[name] = penalty.prox(weights[name], 0.1, spec)
    small = slim(net, weights)
    assert (small.conv1.out_channels, small.conv2.out_channels, small.conv3.out_channels) == (
        8,
        15,
        31,
    )
    kept = [c for c in range(16) if c != 6]
    torch.testing.assert_close(small.conv2.weight, net.conv2.weight[kept])
    torch.testing.assert_close(small.norms[1].running_mean, net.norms[1].running_mean[kept])


def test_counting_flops_leaves_a_training_network_in_training_mode():
    net = TremorCNN(SIZE).train()
    flops(net, SIZE)
    assert net.training


def test_a_network_whose_classifier_reads_nothing_keeps_one_channel_a_layer():
    """Every FC weight zero (a penalty far too strong): the logits are the FC bias, and one
    channel per layer is left so that the network still has its shape."""
    net = trained_like()
    weights = weights_of(net)
    weights["fc"].zero_()
    small = slim(net, weights)
    assert (small.conv1.out_channels, small.conv2.out_channels, small.conv3.out_channels) == (
        1,
        1,
        1,
    )
    x = torch.rand(3, 1, *SIZE)
    with torch.no_grad():
        torch.testing.assert_close(small(x), net.fc.bias.expand(3, 2), atol=1e-6, rtol=0)


def test_a_compressed_convolution_keeps_its_fixed_map_also_when_traced():
    from rvsm.export import SparseConv2d

    torch.manual_seed(4)
    conv = nn.Conv2d(3, 4, 3, padding=1)
    with torch.no_grad():
        conv.weight[conv.weight.abs() < 0.1] = 0  # enough zeros to be stored compressed
    shift = torch.randn(4, 6, 8)
    shift[:, 1:-1, 1:-1] = 0.5  # constant inside, as a folded channel's map
    sparse = SparseConv2d(ShiftedConv2d(conv, shift), conv.weight)
    x = torch.rand(2, 3, 6, 8)
    with torch.no_grad():
        expected = F.conv2d(x, conv.weight, conv.bias, padding=1) + shift
        torch.testing.assert_close(sparse(x), expected, atol=1e-6, rtol=0)
        torch.testing.assert_close(torch.jit.trace(sparse, x)(x), expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("multiple", [1, 4, 8])
def test_rounded_widths_are_multiples_of_the_setting_with_identical_logits(multiple):
    """Odd kept widths (5, 9, 13 of 8, 16, 32) rounded up to the multiple, capped at the full
    width; the logits are those of the unslimmed network either way."""
    net = trained_like()
    weights = weights_of(net)
    weights["conv2"][:, [0, 3, 6]] = 0  # conv1 keeps 5 of 8
    weights["conv3"][:, [1, 2, 4, 7, 8, 11, 15]] = 0  # conv2 keeps 9 of 16
    fc = weights["fc"].view(2, 32, -1)
    fc[:, 13:] = 0  # conv3 keeps 13 of 32
    small = slim(net, weights, multiple)
    widths = tuple(getattr(small, name).out_channels for name in CONVS)
    expected = tuple(
        min(full, -(-kept // multiple) * multiple)
        for kept, full in zip((5, 9, 13), (8, 16, 32), strict=True)
    )
    assert widths == expected
    x = torch.rand(6, 1, *SIZE, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(small(x), evaluated(net, weights)(x), atol=1e-5, rtol=0)
