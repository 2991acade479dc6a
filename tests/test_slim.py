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


def _pool_input(shape: tuple[int, ...], layout: torch.memory_format) -> torch.Tensor:
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(5))
    x[..., 0, 0] = x[..., 0, 1]  # ties
    x.view(-1)[7 % x.numel()] = float("nan")
    return x.contiguous(memory_format=layout)


def _same_pooling(out: torch.Tensor, x: torch.Tensor) -> None:
    expected = F.max_pool2d(x, 2)
    assert out.shape == expected.shape
    assert torch.equal(out.isnan(), expected.isnan())
    assert torch.equal(out.nan_to_num(), expected.nan_to_num())


@pytest.mark.parametrize("layout", [torch.channels_last, torch.contiguous_format])
@pytest.mark.parametrize("shape", [(3, 5, 8, 16), (2, 3, 7, 9), (1, 1, 2, 2)])
def test_pair_pooling_equals_max_pool2d_bit_for_bit_nan_and_odd_sizes_included(shape, layout):
    """The export's pooling in pairs (at every size here) against torch's max_pool2d."""
    from rvsm.export import PairMaxPool2d

    pool = torch.jit.script(PairMaxPool2d(pairs_from=0))
    _same_pooling(pool(_pool_input(shape, layout)), _pool_input(shape, layout))


@pytest.mark.parametrize("batch", [1, 9])
def test_a_traced_export_pools_by_size_as_max_pool2d_does(batch):
    """Traced at one image, as the export traces, and run at a batch above ``PAIRS_FROM``."""
    from rvsm.export import PAIRS_FROM, with_pair_pooling

    shape = (batch, 3, 301, 117)  # odd sizes; 9 images are above PAIRS_FROM elements, 1 below
    assert (batch * 3 * 301 * 117 >= PAIRS_FROM) == (batch > 1)
    net = torch.jit.trace(
        with_pair_pooling(nn.Sequential(nn.MaxPool2d(2))), torch.zeros(1, 3, 8, 8)
    )
    x = _pool_input(shape, torch.channels_last)
    _same_pooling(net(x), x)


def test_the_export_pools_in_pairs_only_where_a_pool_is_2x2_with_stride_2():
    from rvsm.export import pools_in_pairs, with_pair_pooling

    net = nn.Sequential(nn.MaxPool2d(2), nn.MaxPool2d(3), nn.MaxPool2d(2, stride=1))
    net.add_module("inner", nn.Sequential(nn.MaxPool2d((2, 2), (2, 2)), nn.MaxPool2d(2, padding=1)))
    with_pair_pooling(net)
    pairs = [pools_in_pairs(m) for m in (net[0], net[1], net[2], net.inner[0], net.inner[1])]
    assert pairs == [True, False, False, True, False]
    assert pools_in_pairs(with_pair_pooling(trained_like()).pools[0])


def test_the_export_runs_a_batch_in_slices_with_the_whole_batchs_logits():
    """Slices of ``slice_images`` images (the first conv's output of one image, 8 x 32 x 64
    floats, is the largest map: SLICE_BYTES / 64 KiB of them); any batch size, also traced."""
    from rvsm.export import SLICE_BYTES, ChannelsLast, script, slice_images

    net = trained_like()
    assert slice_images(net, list(SIZE)) == SLICE_BYTES // (8 * 32 * 64 * 4)
    sliced = script(ChannelsLast(net, chunk=3), list(SIZE))
    for batch in (10, 3, 1):
        x = torch.rand(batch, 1, *SIZE, generator=torch.Generator().manual_seed(batch))
        with torch.no_grad():
            torch.testing.assert_close(sliced(x), net(x), atol=1e-5, rtol=0)


@pytest.mark.parametrize("size", [(32, 64), (7, 9)])
def test_a_pooled_convolution_is_the_convolution_then_2x2_max_pooling(size):
    from rvsm.slim import PooledConv2d

    torch.manual_seed(6)
    conv = nn.Conv2d(3, 5, 3, padding=1)
    x = torch.randn(4, 3, *size)
    with torch.no_grad():
        expected = F.max_pool2d(F.conv2d(x, conv.weight, conv.bias, padding=1), 2)
        torch.testing.assert_close(PooledConv2d(conv)(x), expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("kept,fused", [(4, True), (8, False)])
def test_the_export_fuses_a_narrow_first_block_with_the_unslimmed_logits(kept, fused):
    from rvsm.export import ChannelsLast, script
    from rvsm.slim import PooledConv2d, fuse_first_block

    net = trained_like()
    weights = weights_of(net)
    weights["conv2"][:, kept:] = 0  # conv1 keeps `kept` of 8
    small = fuse_first_block(slim(net, weights, 4))
    assert isinstance(small.conv1, PooledConv2d) == fused
    assert isinstance(small.pools[0], nn.Identity) == fused
    exported = script(ChannelsLast(small.to(memory_format=torch.channels_last), 2), list(SIZE))
    x = torch.rand(5, 1, *SIZE, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        torch.testing.assert_close(exported(x), evaluated(net, weights)(x), atol=1e-5, rtol=0)
