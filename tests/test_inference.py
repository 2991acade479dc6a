"""The exported network's rewrites (rvsm/inference.py): each gives the logits of the evaluated
network it rewrites, checked against torch's own layers (max_pool2d, batch_norm, conv2d) or the
unrewritten network, and each applies only where its conditions hold."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rvsm.inference import (
    FUSED_BELOW,
    PAIRS_FROM,
    SLICE_BYTES,
    ChannelsLast,
    PairMaxPool2d,
    PooledConv2d,
    fold_batch_norm,
    for_inference,
    fuse_pooling,
    pools_in_pairs,
    slice_images,
    with_border_maps,
    with_pair_pooling,
)
from rvsm.slim import CONVS, ShiftedConv2d, slim
from tests.test_slim import SIZE, evaluated, trained_like, weights_of


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


def _images(batch: int, seed: int = 3) -> torch.Tensor:
    return torch.rand(batch, 1, *SIZE, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("layout", [torch.channels_last, torch.contiguous_format])
@pytest.mark.parametrize("shape", [(3, 5, 8, 16), (2, 3, 7, 9), (1, 1, 2, 2)])
def test_pair_pooling_equals_max_pool2d_bit_for_bit_nan_and_odd_sizes_included(shape, layout):
    """The export's pooling in pairs (at every size here) against torch's max_pool2d."""
    pool = torch.jit.script(PairMaxPool2d(pairs_from=0))
    _same_pooling(pool(_pool_input(shape, layout)), _pool_input(shape, layout))


@pytest.mark.parametrize("batch", [1, 9])
def test_a_traced_export_pools_by_size_as_max_pool2d_does(batch):
    """Traced at one image, as the export traces, and run at a batch above ``PAIRS_FROM``."""
    shape = (batch, 3, 301, 117)  # odd sizes; 9 images are above PAIRS_FROM elements, 1 below
    assert (batch * 3 * 301 * 117 >= PAIRS_FROM) == (batch > 1)
    net = torch.jit.trace(
        with_pair_pooling(nn.Sequential(nn.MaxPool2d(2))), torch.zeros(1, 3, 8, 8)
    )
    x = _pool_input(shape, torch.channels_last)
    _same_pooling(net(x), x)


def test_the_export_pools_in_pairs_only_where_a_pool_is_2x2_with_stride_2():
    net = nn.Sequential(nn.MaxPool2d(2), nn.MaxPool2d(3), nn.MaxPool2d(2, stride=1))
    net.add_module("inner", nn.Sequential(nn.MaxPool2d((2, 2), (2, 2)), nn.MaxPool2d(2, padding=1)))
    with_pair_pooling(net)
    pairs = [pools_in_pairs(m) for m in (net[0], net[1], net[2], net.inner[0], net.inner[1])]
    assert pairs == [True, False, False, True, False]
    assert pools_in_pairs(with_pair_pooling(trained_like()).pools[0])


def test_the_export_runs_a_batch_in_slices_with_the_whole_batchs_logits():
    """Slices of ``slice_images`` images (the first conv's output of one image, 8 x 32 x 64
    floats, is the largest map: SLICE_BYTES / 64 KiB of them); any batch size, also traced."""
    from rvsm.export import script

    net = trained_like()
    assert slice_images(net, list(SIZE)) == SLICE_BYTES // (8 * 32 * 64 * 4)
    sliced = script(ChannelsLast(net, chunk=3), list(SIZE))
    for batch in (10, 3, 1):
        x = _images(batch, seed=batch)
        with torch.no_grad():
            torch.testing.assert_close(sliced(x), net(x), atol=1e-5, rtol=0)


@pytest.mark.parametrize("size", [(32, 64), (7, 9)])
@pytest.mark.parametrize("shifted", [False, True])
def test_a_pooled_convolution_is_the_convolution_then_2x2_max_pooling(size, shifted):
    """Against conv2d (plus the fixed map of a ShiftedConv2d) then max_pool2d, odd sizes too."""
    torch.manual_seed(6)
    conv = nn.Conv2d(3, 5, 3, padding=1)
    shift = torch.randn(5, *size)
    layer = ShiftedConv2d(conv, shift) if shifted else conv
    x = torch.randn(4, 3, *size)
    with torch.no_grad():
        full = F.conv2d(x, conv.weight, conv.bias, padding=1) + (shift if shifted else 0)
        torch.testing.assert_close(
            PooledConv2d(layer, size)(x), F.max_pool2d(full, 2), atol=1e-5, rtol=0
        )


def test_batch_norm_is_folded_into_the_convolutions_with_the_same_logits():
    """Every block's norm (positive scales) becomes an Identity; the folded conv1 then pooled
    equals torch's batch_norm of the pooled original conv1, and the logits are unchanged."""
    net = trained_like()
    original = trained_like()
    fold_batch_norm(net)
    assert all(isinstance(norm, nn.Identity) for norm in net.norms)
    x = _images(5)
    norm = original.norms[0]
    with torch.no_grad():
        expected = F.batch_norm(
            F.max_pool2d(original.conv1(x), 2),
            norm.running_mean,
            norm.running_var,
            norm.weight,
            norm.bias,
            eps=norm.eps,
        )
        torch.testing.assert_close(F.max_pool2d(net.conv1(x), 2), expected, atol=1e-5, rtol=0)
        torch.testing.assert_close(net(x), original(x), atol=1e-5, rtol=0)


@pytest.mark.parametrize("block_order", ["pool_first", "pool_last"])
def test_a_negative_scale_is_folded_only_where_no_pooling_sits_between(block_order):
    """max(s y) != s max(y) for s < 0: with pooling first, conv2's norm (one negative scale)
    stays; with pooling last it folds like the others; the logits are unchanged either way."""
    net = trained_like(block_order)
    with torch.no_grad():
        net.norms[1].weight[3] = -0.7
    original = trained_like(block_order)
    original.load_state_dict(net.state_dict())
    fold_batch_norm(net)
    folded = [isinstance(norm, nn.Identity) for norm in net.norms]
    assert folded == ([True, False, True] if block_order == "pool_first" else [True, True, True])
    x = _images(4)
    with torch.no_grad():
        torch.testing.assert_close(net(x), original(x), atol=1e-5, rtol=0)


def test_narrow_blocks_are_fused_with_their_pooling_with_the_unslimmed_logits():
    """conv1 kept at 4 and conv2 at 8 channels (narrower than FUSED_BELOW) are fused, conv3 at
    32 is not; the fixed map of conv1's pruned filters folded into conv2 travels with it; the
    export's slices count fused conv1's own map (4 copies x 4 channels at half resolution)."""
    from rvsm.export import script

    assert 8 < FUSED_BELOW <= 32
    net = trained_like()
    weights = weights_of(net)
    weights["conv1"][4:] = 0  # pruned filters: fixed maps, folded into conv2
    weights["conv3"][:, 8:] = 0  # conv2 keeps 8 of 16
    small = slim(net, weights, 4)
    assert isinstance(small.conv2, ShiftedConv2d)
    small = fuse_pooling(small)
    fused = [isinstance(getattr(small, name), PooledConv2d) for name in CONVS]
    assert fused == [True, True, False]
    assert [isinstance(pool, nn.Identity) for pool in small.pools] == fused
    assert slice_images(small, list(SIZE)) == SLICE_BYTES // (4 * 4 * 16 * 32 * 4)
    x = _images(5)
    expected = evaluated(net, weights)(x).detach()
    for bordered in (False, True):  # conv2's map added whole, then at its borders only
        if bordered:
            small = with_border_maps(small)
        assert type(small.conv2.shift).__name__ == ("BorderMap" if bordered else "MapAdd")
        exported = script(ChannelsLast(small.to(memory_format=torch.channels_last), 2), list(SIZE))
        with torch.no_grad():
            torch.testing.assert_close(exported(x), expected, atol=1e-5, rtol=0)


def test_pooling_last_is_not_fused_and_every_lever_keeps_the_logits():
    """With pooling after BatchNorm and ReLU no block is fused; ``for_inference`` of either
    order gives the evaluated network's logits at a batch larger than its slices."""
    for block_order in ("pool_first", "pool_last"):
        net = trained_like(block_order)
        weights = weights_of(net)
        weights["conv2"][:, 4:] = 0  # conv1 keeps 4 of 8
        small = slim(net, weights, 4)
        exported = for_inference(small)
        fused = isinstance(exported.net.conv1, PooledConv2d)
        assert fused == (block_order == "pool_first")
        x = _images(exported.chunk + 3)
        with torch.no_grad():
            torch.testing.assert_close(exported(x), evaluated(net, weights)(x), atol=1e-5, rtol=0)


@pytest.mark.parametrize("band", [0, 1, 2, None])
def test_a_border_map_adds_the_whole_map_as_its_center_and_its_band(band):
    """A map of a folded channel's kind (a value per kind of row and kind of column: ``band``
    border rows and columns each of its own kind, one kind inside; None: random everywhere),
    added as BorderMap adds it, equals adding the whole map; the band found is the one built,
    and nothing is assumed of a random map."""
    from rvsm.inference import BorderMap

    g = torch.Generator().manual_seed(7)
    full = torch.randn(3, 9, 12, generator=g)
    if band is not None:
        table = torch.randn(3, 2 * band + 1, 2 * band + 1, generator=g)

        def kinds(n: int) -> torch.Tensor:  # border lines each their own kind, one inside
            inner = torch.full((n - 2 * band,), band)
            return torch.cat([torch.arange(band), inner, torch.arange(band + 1, 2 * band + 1)])

        full = table[:, kinds(9)][:, :, kinds(12)]
    border = BorderMap(full)
    if band is not None:
        assert (border.top, border.bottom, border.left, border.right) == (
            band,
            9 - band,
            band,
            12 - band,
        )
    y = torch.randn(4, 3, 9, 12, generator=g)
    expected = y + full
    got = border((y + border.center[:, None, None]).contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)


def test_a_pruned_filters_map_into_an_unfused_conv_is_added_at_its_borders_only():
    """conv2's pruned filters (8 of 16) fold a fixed map into conv3 (32 channels, not fused):
    the export adds its inner value in conv3's bias and only its border band, with the
    unslimmed logits."""
    from rvsm.inference import ConvPlusMap

    net = trained_like()
    weights = weights_of(net)
    weights["conv2"][8:] = 0
    small = slim(net, weights, 4)
    assert isinstance(small.conv3, ShiftedConv2d)
    exported = for_inference(small)
    assert isinstance(exported.net.conv3, ConvPlusMap)
    border = exported.net.conv3.border
    assert 0 < border.top and border.bottom < SIZE[0] // 4  # a band, not the whole map
    x = _images(exported.chunk + 2)
    with torch.no_grad():
        torch.testing.assert_close(exported(x), evaluated(net, weights)(x), atol=1e-5, rtol=0)


def test_levers_are_chosen_by_name_and_an_unknown_one_is_refused_naming_the_choices():
    from rvsm.inference import LEVERS

    net = for_inference(trained_like(), ("fold",))
    assert all(isinstance(norm, nn.Identity) for norm in net.net.norms)
    assert not any(isinstance(getattr(net.net, name), PooledConv2d) for name in CONVS)
    assert net.chunk == 1 << 30  # no slices
    with pytest.raises(ValueError, match="levers: unknown \\['fast'\\]") as refused:
        for_inference(trained_like(), ("fold", "fast"))
    assert all(name in str(refused.value) for name in LEVERS)


def test_a_reflect_padded_conv_is_not_fused_and_a_norm_without_affine_folds():
    """Fusing assumes zero padding; a BatchNorm without weight and bias is x - mean over the
    root of var + eps, folded like any other."""
    net = trained_like()
    net.conv1.padding_mode = "reflect"
    assert not isinstance(fuse_pooling(net).conv1, PooledConv2d)
    net, original = trained_like(), trained_like()
    plain = nn.BatchNorm2d(16, affine=False).eval()
    plain.running_mean.uniform_(-0.2, 0.2)
    plain.running_var.uniform_(0.5, 2.0)
    net.norms[1], original.norms[1] = plain, copy.deepcopy(plain)
    fold_batch_norm(net)
    assert isinstance(net.norms[1], nn.Identity)
    x = _images(3)
    with torch.no_grad():
        torch.testing.assert_close(net(x), original(x), atol=1e-5, rtol=0)
