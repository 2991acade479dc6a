"""The network as it infers: rewrites of an evaluated TremorCNN that give the same logits faster.

Pure torch, applied by ``rvsm.export`` to the file it writes (``for_inference``), each measured by
``make bench``'s export section on this project's 2-core AMD EPYC:

- ``fold_batch_norm``: an eval-mode BatchNorm is an affine map per channel, folded into the
  convolution before it (exact up to rounding); through a max pooling only where its scale is
  not negative, since max(s y + t) = s max(y) + t holds for s >= 0 alone. One pass fewer a block.
- ``fuse_pooling``: a 3x3 convolution followed by 2x2 max pooling as one 4x4 convolution of
  stride 2 (``PooledConv2d``) where the convolution is narrower than ``FUSED_BELOW`` channels:
  the full-resolution map is never written.
- ``with_border_maps``: the fixed map that a filter-pruned layer adds to the next convolution
  (``rvsm.slim.ShiftedConv2d``) is one value per channel away from the borders; that value goes
  into the bias and only the border band is added (``BorderMap``), not a pass over the map.
- ``with_pair_pooling``: the remaining 2x2 poolings of large maps as two elementwise maxima
  (``PairMaxPool2d``).
- ``ChannelsLast``: channels-last images, a large batch in slices whose maps stay near
  ``SLICE_BYTES`` (``slice_images``).
"""

from __future__ import annotations

from collections.abc import Collection

import torch
import torch.nn.functional as F
from torch import nn

from rvsm.nets import slimmable
from rvsm.slim import CONVS, FixedMap, ShiftedConv2d


def _affine(norm: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift) per channel of an eval-mode BatchNorm: norm(x) = scale * x + shift (a
    norm without affine parameters: weight 1, bias 0)."""
    weight = norm.weight.detach() if norm.weight is not None else 1.0
    bias = norm.bias.detach() if norm.bias is not None else 0.0
    scale = weight / torch.sqrt(norm.running_var + norm.eps)
    return scale, bias - norm.running_mean * scale


@torch.no_grad()
def fold_batch_norm(net: nn.Module) -> nn.Module:
    """``net`` (an evaluated TremorCNN, eval mode) with each block's BatchNorm folded into its
    convolution (weights times the scale, bias times the scale plus the shift, a fixed map times
    the scale) and replaced by ``nn.Identity``: where the norm follows the convolution directly,
    or follows max pooling and no scale is negative. Other blocks and networks are unchanged."""
    if not slimmable(net):
        return net
    for k, name in enumerate(CONVS):
        conv, norm = getattr(net, name), net.norms[k]
        if type(conv) not in (nn.Conv2d, ShiftedConv2d) or conv.bias is None:
            continue
        if not isinstance(norm, nn.BatchNorm2d) or norm.running_var is None:
            continue
        scale, shift = _affine(norm)
        if net.pool_first and bool((scale < 0).any()):
            continue
        conv.weight.mul_(scale.view(-1, 1, 1, 1))
        conv.bias.mul_(scale).add_(shift)
        if isinstance(conv, ShiftedConv2d):
            conv.shift.table.mul_(scale.view(-1, 1, 1))
        net.norms[k] = nn.Identity()
    return net


def _inner(equal: torch.Tensor) -> tuple[int, int]:
    """(start, stop) of the run of True around the middle of ``equal`` (the middle included)."""
    flags, middle = equal.tolist(), len(equal) // 2
    start, stop = middle, middle + 1
    while start > 0 and flags[start - 1]:
        start -= 1
    while stop < len(flags) and flags[stop]:
        stop += 1
    return start, stop


class BorderMap(nn.Module):
    """A fixed map (channels x height x width) added to a layer's output in place, as its value
    at the middle (``center``, one per channel, for the caller to put into its bias) and the
    differences from it in a band of border rows (across the whole width) and border columns
    (down the inner rows): exact, since inside the band every row equals the middle row and every
    column the middle column. The inner rows and columns are found, not assumed."""

    def __init__(self, full: torch.Tensor) -> None:
        super().__init__()
        full = full.detach()
        _, height, width = full.shape
        mid_row, mid_col = height // 2, width // 2
        rows = (full == full[:, mid_row : mid_row + 1, :]).all(dim=2).all(dim=0)
        cols = (full == full[:, :, mid_col : mid_col + 1]).all(dim=1).all(dim=0)
        (self.top, self.bottom), (self.left, self.right) = _inner(rows), _inner(cols)
        self.height, self.width = height, width
        self.register_buffer("center", full[:, mid_row, mid_col].clone())
        diff = full - self.center[:, None, None]
        self.register_buffer("above", diff[:, : self.top].clone())
        self.register_buffer("below", diff[:, self.bottom :].clone())
        self.register_buffer("west", diff[:, mid_row : mid_row + 1, : self.left].clone())
        self.register_buffer("east", diff[:, mid_row : mid_row + 1, self.right :].clone())

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """``y`` (N x channels x height x width, ``center`` already in it) plus the band."""
        top, bottom, left, right = self.top, self.bottom, self.left, self.right
        if top > 0:
            y[:, :, :top].add_(self.above)
        if bottom < self.height:
            y[:, :, bottom:].add_(self.below)
        if left > 0:
            y[:, :, top:bottom, :left].add_(self.west)
        if right < self.width:
            y[:, :, top:bottom, right:].add_(self.east)
        return y


class ConvPlusMap(nn.Module):
    """A ``ShiftedConv2d`` as a convolution whose bias holds its map's inner value, then the
    map's border band (``BorderMap``)."""

    def __init__(self, shifted: ShiftedConv2d) -> None:
        super().__init__()
        self.out_channels = shifted.out_channels
        self.conv = nn.Conv2d(
            shifted.in_channels,
            shifted.out_channels,
            shifted.kernel_size,
            shifted.stride,
            shifted.padding,
            shifted.dilation,
            shifted.groups,
        )
        self.border = BorderMap(shifted.shift())
        with torch.no_grad():
            self.conv.weight.copy_(shifted.weight)
            self.conv.bias.copy_(shifted.bias + self.border.center)
        self.conv.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.border(self.conv(x))


class MapAdd(nn.Module):
    """A fixed map added to a layer's output in place, the whole map in one pass."""

    def __init__(self, full: torch.Tensor) -> None:
        super().__init__()
        self.map = FixedMap(full)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return y.add_(self.map())


@torch.no_grad()
def with_border_maps(net: nn.Module) -> nn.Module:
    """``net`` (an evaluated TremorCNN) with each ``ShiftedConv2d`` a ``ConvPlusMap``, and each
    ``PooledConv2d``'s map (``MapAdd``) a ``BorderMap``, its inner value in the bias."""
    if not slimmable(net):
        return net
    for name in CONVS:
        layer = getattr(net, name)
        if type(layer) is ShiftedConv2d:
            setattr(net, name, ConvPlusMap(layer))
        elif isinstance(layer, PooledConv2d) and isinstance(layer.shift, MapAdd):
            border = BorderMap(layer.shift.map())
            layer.conv.bias.add_(border.center)
            layer.shift = border
    return net


#: convolutions narrower than this are fused with their pooling (``fuse_pooling``): alone,
#: faster at 4 and 8 channels (0.74-0.84 of the time at batch 16-64), slower at 16 and 32
#: (1.3-1.5x); fusing the default network's conv1 (8 channels) made its export 1.65x faster at
#: batch 1 and 1.08x at 256 (AMD EPYC; experiments/channels/levers.md has the whole lever)
FUSED_BELOW = 16

#: where each of the four copies of a 3x3 filter sits in the 4x4 one: the pooling window's offsets
OFFSETS = ((0, 0), (0, 1), (1, 0), (1, 1))


class PooledConv2d(nn.Module):
    """A 3x3 convolution (stride 1, padding 1), plus the fixed map of a ``ShiftedConv2d``,
    followed by 2x2 max pooling, computed as one 4x4 convolution of stride 2 (``conv``) with four
    copies of each filter, one at each offset of the pooling window, and the maximum over the
    four copies. The map, taken at each offset, is added whole (``MapAdd``; ``with_border_maps``
    makes it a ``BorderMap``). The same numbers up to the order of the additions."""

    def __init__(self, conv: nn.Conv2d, size: tuple[int, int]) -> None:
        """``size``: the height and width of the convolution's input (its fixed map's)."""
        super().__init__()
        out = conv.out_channels
        self.out_channels = out
        self.conv = nn.Conv2d(conv.in_channels, 4 * out, 4, stride=2, padding=1)
        self.conv.requires_grad_(False)
        self.conv.weight.zero_()
        for k, (dy, dx) in enumerate(OFFSETS):
            self.conv.weight[k * out : (k + 1) * out, :, dy : dy + 3, dx : dx + 3] = conv.weight
        self.conv.bias.copy_(conv.bias.repeat(4))
        self.shift: nn.Module | None = None
        if isinstance(conv, ShiftedConv2d):
            full, (h, w) = conv.shift(), (size[0] // 2, size[1] // 2)
            self.shift = MapAdd(torch.cat([full[:, dy::2, dx::2][:, :h, :w] for dy, dx in OFFSETS]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, c = self.conv(x), self.out_channels
        if self.shift is not None:
            y = self.shift(y)
        half = torch.maximum(y[:, : 2 * c], y[:, 2 * c :])  # offsets (0, .) against (1, .)
        return torch.maximum(half[:, :c], half[:, c:])


def _fusable(conv: nn.Module, pool: nn.Module) -> bool:
    """Whether ``conv`` is a plain 3x3 convolution (stride 1, zero padding 1, with a bias) narrower
    than ``FUSED_BELOW`` and ``pool`` 2x2 max pooling."""
    if type(conv) not in (nn.Conv2d, ShiftedConv2d) or conv.bias is None or not _is_pair_pool(pool):
        return False
    geometry = (conv.kernel_size, conv.stride, conv.padding, conv.dilation, conv.groups)
    plain = geometry == ((3, 3), (1, 1), (1, 1), (1, 1), 1) and conv.padding_mode == "zeros"
    return plain and conv.out_channels < FUSED_BELOW


@torch.no_grad()
def fuse_pooling(net: nn.Module) -> nn.Module:
    """``net`` (an evaluated TremorCNN, eval mode, pooling first in its blocks) with each narrow
    convolution and its pooling as one ``PooledConv2d``; other networks unchanged."""
    if not slimmable(net) or not net.pool_first:
        return net
    height, width = net.image_size
    for k, name in enumerate(CONVS):
        if _fusable(getattr(net, name), net.pools[k]):
            setattr(net, name, PooledConv2d(getattr(net, name), (height, width)))
            net.pools[k] = nn.Identity()
        height, width = height // 2, width // 2
    return net


#: maps of fewer elements than this are pooled by torch's kernel (batch 1 and a few images)
PAIRS_FROM = 1 << 18


class PairMaxPool2d(nn.Module):
    """2x2 max pooling with stride 2 (``nn.MaxPool2d(2)``, an odd last row or column dropped) as
    two elementwise maxima over the channels-last map: of its row pairs, then of its column pairs.
    Exact, NaN included (both propagate it). At batch 256 these plain memory passes took a third
    to a tenth of oneDNN's channels-last pooling on this project's 2-core AMD EPYC, most on the
    narrow maps of a channel-pruned network; under ``PAIRS_FROM`` elements (an image or a few)
    their fixed cost of three operations is larger than the gain, and torch's kernel pools
    (``make bench``'s export section times both)."""

    def __init__(self, pairs_from: int = PAIRS_FROM) -> None:
        super().__init__()
        self.pairs_from = pairs_from

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.numel() < self.pairs_from:
            return F.max_pool2d(x, 2)
        n, c, h, w = x.shape
        rows = x.permute(0, 2, 3, 1)[:, : h // 2 * 2, : w // 2 * 2].reshape(
            n, h // 2, 2, w // 2 * 2, c
        )
        pairs = torch.maximum(rows[:, :, 0], rows[:, :, 1]).reshape(n, h // 2, w // 2, 2, c)
        return torch.maximum(pairs[:, :, :, 0], pairs[:, :, :, 1]).permute(0, 3, 1, 2)


def _is_pair_pool(module: nn.Module) -> bool:
    """Whether ``module`` is ``nn.MaxPool2d(2)``: kernel 2, stride 2, no padding or dilation."""
    if not isinstance(module, nn.MaxPool2d) or module.ceil_mode or module.return_indices:
        return False
    pair = [nn.modules.utils._pair(v) for v in (module.kernel_size, module.stride)]
    single = [nn.modules.utils._pair(v) for v in (module.padding, module.dilation)]
    return pair == [(2, 2), (2, 2)] and single == [(0, 0), (1, 1)]


def pools_in_pairs(module: nn.Module) -> bool:
    """Whether ``module`` is the (scripted) ``PairMaxPool2d`` that ``with_pair_pooling`` puts in."""
    return getattr(module, "original_name", None) == PairMaxPool2d.__name__


def with_pair_pooling(net: nn.Module) -> nn.Module:
    """``net`` with each ``nn.MaxPool2d(2)`` replaced by a ``PairMaxPool2d`` (the same outputs)."""
    for name, module in list(net.named_modules()):
        if _is_pair_pool(module):
            parent, _, leaf = name.rpartition(".")
            # scripted, so that a traced export keeps the choice by size
            setattr(net.get_submodule(parent), leaf, torch.jit.script(PairMaxPool2d()))
    return net


#: the most bytes one slice of the batch may give a feature map (``ChannelsLast``'s slices)
SLICE_BYTES = 4 << 20


class ChannelsLast(nn.Module):
    """Feeds the network channels-last images, the layout its CPU convolutions are fast in
    (2.3x at batch 256 on this project's 2-core machine), ``chunk`` images at a time; callers
    pass ordinary tensors of any batch size. Slices keep every feature map near ``SLICE_BYTES``,
    which a CPU's caches hold and its allocator reuses: a whole batch of 256 makes the full
    network's first map 64 MiB, fresh pages on every pass (the export section of
    ``make bench`` times both). Exact: in eval mode every image is computed on its own."""

    def __init__(self, net: nn.Module, chunk: int = 1 << 30) -> None:
        super().__init__()
        self.net = net
        self.chunk = chunk

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=torch.channels_last)
        if x.shape[0] <= self.chunk:
            return self.net(x)
        return torch.cat([self.net(part) for part in x.split(self.chunk)])


def slice_images(net: nn.Module, image_size: list[int]) -> int:
    """How many images keep the largest output of any of ``net``'s layers within
    ``SLICE_BYTES`` (at least one), found by running one image."""
    largest = [0]

    def note(_module: nn.Module, _args: tuple, out: object) -> None:
        if isinstance(out, torch.Tensor):
            largest[0] = max(largest[0], out.numel() * out.element_size())

    leaves = [m for m in net.modules() if not list(m.children())]  # a scripted pool takes none
    hooks = [
        m.register_forward_hook(note) for m in leaves if not isinstance(m, torch.jit.ScriptModule)
    ]
    try:
        with torch.no_grad():
            net(torch.zeros(1, 1, *image_size))
    finally:
        for hook in hooks:
            hook.remove()
    return max(1, SLICE_BYTES // max(1, largest[0]))


#: the rewrites by name, in the order ``for_inference`` applies them
LEVERS = ("fold", "fuse", "border", "pairs", "slices")


def for_inference(net: nn.Module, levers: Collection[str] = LEVERS) -> ChannelsLast:
    """``net`` (evaluated, eval mode) with the ``levers`` named (all by default), channels-last,
    in slices of ``slice_images`` images (or the whole batch without ``slices``)."""
    unknown = set(levers) - set(LEVERS)
    if unknown:
        raise ValueError(f"levers: unknown {sorted(unknown)}, choose from {list(LEVERS)}")
    steps = {
        "fold": fold_batch_norm,
        "fuse": fuse_pooling,
        "border": with_border_maps,
        "pairs": with_pair_pooling,
    }
    for name, step in steps.items():
        if name in levers:
            net = step(net)
    net = net.to(memory_format=torch.channels_last)
    if "slices" not in levers:
        return ChannelsLast(net)
    return ChannelsLast(net, slice_images(net, list(net.image_size)))
