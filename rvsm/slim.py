"""Channel pruning made physical: the evaluated TremorCNN rebuilt at the widths it really uses.

A channel of a conv block can be removed when nothing downstream depends on the input through
it: either the next layer reads none of it (its input-channel group, ``channel_groups``, is
all zero: what group splitting produces), or its own filter reads nothing that is kept (a
pruned filter: what filter pruning produces). In the second case the channel is not zero but
a fixed map, the block (max pooling, BatchNorm, ReLU) applied to the conv's bias: with a
positive BatchNorm shift it survives the ReLU and must not be dropped. It is folded exactly
into the next layer: into the classifier's bias (a vector), or, for the next convolution, into
an additive map of that conv's output. The map is not constant: zero padding makes the border
outputs see fewer taps of the fixed channel, so it is added per position (``ShiftedConv2d``),
which is exact and costs one addition over that conv's output (and the map's rebuilding, two
gathers of its size, batch-independent), only where some removed channel is nonzero after its
ReLU. It is stored as its distinct rows and columns (``FixedMap``): constant inside, it has
only a few kinds of each, so it takes a few values per channel, not one per position.

``slim(net, weights)`` gives the smaller dense network (a ``TremorCNN`` at the kept widths, in
eval mode); ``flops`` counts a network's multiply-adds with torch's FlopCounterMode.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from rvsm.nets import TremorCNN, slimmable

CONVS = ("conv1", "conv2", "conv3")


def _kinds(lines: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(index of the first line of each kind, the kind of every line) for the rows of ``lines``,
    two lines being of one kind when all their values are equal (-0.0 and 0.0 count as one)."""
    _, kind = torch.unique(lines, dim=0, return_inverse=True)
    first = torch.full((int(kind.max()) + 1,), len(kind), dtype=torch.long)
    first.scatter_reduce_(0, kind, torch.arange(len(kind)), reduce="amin")
    return first, kind


class FixedMap(nn.Module):
    """A map (channels x height x width) kept as ``table`` (channels x row kinds x column kinds)
    and the kind of each row and column: exact, since rows (and columns) of one kind are equal
    across all channels; ``forward`` gives the map."""

    def __init__(self, full: torch.Tensor) -> None:
        super().__init__()
        full = full.detach()
        first_row, rows = _kinds(full.transpose(0, 1).flatten(1))
        first_col, cols = _kinds(full.permute(2, 0, 1).flatten(1))
        self.register_buffer("table", full[:, first_row][:, :, first_col])
        self.register_buffer("rows", rows)
        self.register_buffer("cols", cols)

    def forward(self) -> torch.Tensor:
        return self.table.index_select(1, self.rows).index_select(2, self.cols)


class ShiftedConv2d(nn.Conv2d):
    """A convolution plus a fixed map (outputs x height x width): the exact contribution of
    removed input channels whose values did not depend on the input."""

    def __init__(self, conv: nn.Conv2d, shift: torch.Tensor) -> None:
        super().__init__(
            conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding
        )
        self.load_state_dict(conv.state_dict())
        self.shift = FixedMap(shift)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x).add_(self.shift())  # in place: no new map


def _norm_subset(norm: nn.Module, keep: torch.Tensor) -> nn.Module:
    """The BatchNorm (or Identity) of ``norm`` restricted to the channels ``keep`` (indices)."""
    if not isinstance(norm, nn.BatchNorm2d):
        return copy.deepcopy(norm)
    out = nn.BatchNorm2d(len(keep), eps=norm.eps, momentum=norm.momentum)
    out.load_state_dict(
        {k: v[keep] if v.dim() else v for k, v in norm.state_dict().items()}, strict=True
    )
    return out.eval()


def _block(net: TremorCNN, k: int, norm: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """What conv block ``k`` does after its convolution (eval mode), in the network's order."""
    if net.pool_first:
        return torch.relu(norm(net.pools[k](x)))
    return net.pools[k](torch.relu(norm(x)))


def _read(weights: dict[str, torch.Tensor], head: torch.Tensor) -> list[torch.Tensor]:
    """Per conv layer, which output channels reach the logits: read (a nonzero weight) by an
    output of the next layer that itself reaches them (found from the classifier backwards)."""
    rows = torch.ones(head.shape[0], dtype=torch.bool)
    reads, following = [], head
    for name in reversed(CONVS):
        channels = weights[name].shape[0]
        grouped = following.reshape(following.shape[0], channels, -1)[rows]
        rows = (grouped != 0).any(dim=2).any(dim=0)
        reads.insert(0, rows)
        following = weights[name]
    return reads


def _conv(
    like: nn.Conv2d, weight: torch.Tensor, bias: torch.Tensor, shift: torch.Tensor | None
) -> nn.Conv2d:
    """A convolution of ``like``'s geometry with these weights (plus ``shift``, if any)."""
    conv = nn.Conv2d(weight.shape[1], weight.shape[0], like.kernel_size, like.stride, like.padding)
    conv.weight.copy_(weight)
    conv.bias.copy_(bias)
    return conv if shift is None else ShiftedConv2d(conv, shift)


def _fold(
    net: TremorCNN,
    k: int,
    folded: torch.Tensor,
    bias: torch.Tensor,
    shift: torch.Tensor | None,
    following: torch.Tensor,
    size: tuple[int, int],
    fc_bias: torch.Tensor,
) -> torch.Tensor | None:
    """The fixed values of conv block ``k``'s removed channels ``folded`` (its conv's bias plus
    the map already folded into it, through pooling, BatchNorm and ReLU), added to what the next
    layer computes: the map to add to the next conv's output, returned (None if nothing), or, for
    the classifier (``following`` its weight as outputs x channels x positions), added to
    ``fc_bias`` in place."""
    if not len(folded):
        return None
    pre = bias[folded, None, None].expand(len(folded), *size)
    if shift is not None:
        pre = pre + shift[folded]
    value = _block(net, k, _norm_subset(norm=net.norms[k], keep=folded), pre[None])[0]
    nonzero = value.flatten(1).ne(0).any(dim=1)
    folded, value = folded[nonzero], value[nonzero]
    if not len(folded):
        return None
    if k + 1 == len(CONVS):
        fc_bias += torch.einsum("ocp,cp->o", following[:, folded], value.flatten(1))
        return None
    nxt = getattr(net, CONVS[k + 1])
    return F.conv2d(value[None], following[:, folded], None, nxt.stride, nxt.padding)[0]


def rounded(keep: torch.Tensor, multiple: int) -> torch.Tensor:
    """``keep`` (a bool per channel) with the first channels it drops kept again until their
    count is a multiple of ``multiple`` (or all are kept): a kept channel is computed as in the
    full network, so keeping more is exact."""
    short = -int(keep.sum()) % multiple
    dropped = torch.nonzero(~keep).flatten()[:short]
    return keep.clone().index_fill_(0, dropped, True)


@torch.no_grad()
def slim(net: TremorCNN, weights: dict[str, torch.Tensor], multiple: int = 1) -> TremorCNN:
    """The network with ``weights`` (each layer's evaluated weight, by name) and every removable
    channel removed, its fixed value folded into the next layer: the same logits, in eval mode.
    At least one channel is kept per layer, and with ``multiple`` each width is rounded up to a
    multiple of it (or the full width): oneDNN's CPU convolutions work on blocks of 8 or 16
    channels, so an odd width pays for the padded one anyway."""
    if not slimmable(net):
        raise ValueError(
            f"model.net: channel pruning rebuilds rvsm.nets.TremorCNN, not {type(net).__name__}"
        )
    weights = {name: w.detach().float() for name, w in weights.items()}
    head = weights["fc"].view(net.fc.out_features, net.feature_shape[0], -1)
    keep_in = torch.arange(net.conv1.in_channels)
    shift: torch.Tensor | None = None  # the fixed map folded into this conv's output
    fc_bias = net.fc.bias.detach().clone()
    convs, norms = [], []
    height, width = net.image_size
    reads = _read(weights, head)
    for k, name in enumerate(CONVS):
        last = k + 1 == len(CONVS)
        conv, norm = getattr(net, name), net.norms[k]
        w, bias = weights[name][:, keep_in], conv.bias.detach()
        following = head if last else weights[CONVS[k + 1]]
        read = reads[k]
        fixed = ~(w != 0).flatten(1).any(dim=1)  # its filter reads nothing that is kept
        keep = read & ~fixed
        if not keep.any():
            keep[0] = True
        keep = rounded(keep, multiple)
        folded, keep = torch.nonzero(read & ~keep).flatten(), torch.nonzero(keep).flatten()
        convs.append(_conv(conv, w[keep], bias[keep], None if shift is None else shift[keep]))
        norms.append(_norm_subset(norm, keep))
        shift = _fold(net, k, folded, bias, shift, following, (height, width), fc_bias)
        keep_in = keep
        height, width = height // 2, width // 2
    out = TremorCNN(
        net.image_size,
        tuple(c.out_channels for c in convs),
        net.fc.out_features,
        batch_norm=isinstance(net.norms[0], nn.BatchNorm2d),
        block_order="pool_first" if net.pool_first else "pool_last",
    )
    out.conv1, out.conv2, out.conv3 = convs
    out.norms = nn.ModuleList(norms)
    out.fc.weight.copy_(head[:, keep_in].flatten(1))
    out.fc.bias.copy_(fc_bias)
    return out.eval()


def kept_channels(net: TremorCNN) -> dict[str, int]:
    """``channels_<conv>``: the output channels of each conv layer of ``net``."""
    return {f"channels_{name}": getattr(net, name).out_channels for name in CONVS}


def flops(net: nn.Module, image_size: tuple[int, int] | list[int]) -> int:
    """FLOPs of one grey image through ``net`` (convolutions and matrix products, 2 per
    multiply-add; BatchNorm, ReLU, pooling and additions are not counted), by torch's
    FlopCounterMode."""
    training = net.training
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net.eval()(torch.zeros(1, 1, *image_size))
    net.train(training)
    return counter.get_total_flops()
