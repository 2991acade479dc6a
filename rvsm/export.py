"""``python -m rvsm.export ckpt_path=<checkpoint or run folder> out=model.pt``.

Writes the evaluated (sparse) network as a TorchScript file that runs with torch alone
(``torch.jit.load(out)(images)``: float images N x 1 x H x W, ink 1 on paper 0, logits of
regular / shaky). The network is first rebuilt at the channels it uses (``rvsm.slim``: channels
nothing reads are removed, pruned filters' fixed values folded into the next layer), a smaller
dense network with the same logits; then each split layer with enough zeros left for it to pay
(more than 1 in 32) is stored as its nonzero values plus a bit mask of where they sit, and
decompressed in the forward pass. Prints the channels kept, and the bytes and FLOPs of this file
against the full network stored dense.
"""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Collection
from pathlib import Path

import torch
import torch.nn.functional as F
from hydra.errors import InstantiationException
from omegaconf import DictConfig
from torch import nn
from torch.nn.utils import prune

from rvsm.inference import LEVERS, ChannelsLast, fold_batch_norm, for_inference
from rvsm.module import SparseModule
from rvsm.nets import slimmable
from rvsm.runtime.checks import ConfigError
from rvsm.runtime.cli import fail, run_task
from rvsm.slim import CONVS, flops, slim
from rvsm.trained import prepare, trained_classes
from rvsm.utils.io import atomic_open

BITS = torch.tensor([128, 64, 32, 16, 8, 4, 2, 1], dtype=torch.uint8)


def pack_mask(mask: torch.Tensor) -> torch.Tensor:
    """A bool tensor as bits, eight to a byte (most significant first), flattened."""
    flat = mask.flatten()
    padded = torch.zeros(-(-flat.numel() // 8) * 8, dtype=torch.uint8)
    padded[: flat.numel()] = flat.to(torch.uint8)
    return (padded.view(-1, 8) * BITS).sum(dim=1, dtype=torch.uint8)


class CompressedWeight(nn.Module):
    """A weight kept as its nonzero values and a bit mask; ``forward`` gives the dense weight."""

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        weight = weight.detach().contiguous()
        kept = weight != 0
        self.shape = list(weight.shape)
        self.numel = weight.numel()
        self.register_buffer("values", weight[kept].clone())
        self.register_buffer("bits", pack_mask(kept))
        self.register_buffer("place", BITS.clone())

    def forward(self) -> torch.Tensor:
        mask = (self.bits.unsqueeze(1) & self.place) != 0
        mask = mask.flatten()[: self.numel]
        dense = torch.zeros(self.numel, dtype=self.values.dtype, device=self.values.device)
        return dense.masked_scatter(mask, self.values).view(self.shape)


class SparseLinear(nn.Module):
    def __init__(self, layer: nn.Linear, weight: torch.Tensor) -> None:
        super().__init__()
        self.weight = CompressedWeight(weight)
        self.bias = layer.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight(), self.bias)


class SparseConv2d(nn.Module):
    """A convolution with a compressed weight, and the fixed map of a ``ShiftedConv2d``."""

    def __init__(self, layer: nn.Conv2d, weight: torch.Tensor) -> None:
        super().__init__()
        self.weight = CompressedWeight(weight)
        self.bias = layer.bias
        self.shift = getattr(layer, "shift", None)
        self.stride, self.padding = layer.stride, layer.padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.conv2d(x, self.weight(), self.bias, self.stride, self.padding)
        return out if self.shift is None else out.add_(self.shift())  # in place: no new map


def plain_copy(net: nn.Module, split: dict[str, torch.Tensor]) -> nn.Module:
    """A copy of ``net`` in eval mode with each split layer's weight a plain parameter holding
    its evaluated value ``split[name]``. A layer pruned with torch's prune (gmp) computes its
    weight from ``weight_orig`` and ``weight_mask``: that tensor cannot be deep-copied, so the
    copy is given the evaluated value in its place and the reparametrisation is removed."""
    fresh = {name: nn.Parameter(w.detach().clone()) for name, w in split.items()}
    memo = {id(net.get_submodule(name).weight): fresh[name] for name in split}
    out = copy.deepcopy(net, memo).eval()
    for name, weight in fresh.items():
        layer = out.get_submodule(name)
        if hasattr(layer, "weight_orig"):
            prune.remove(layer, "weight")
        layer.weight = weight
    return out


def worth_compressing(weight: torch.Tensor) -> bool:
    """Values + bit mask (4 bytes a nonzero, 1 bit an entry) are smaller than the dense weight
    (4 bytes an entry) when more than 1 entry in 32 is zero."""
    return int((weight == 0).sum()) * 32 > weight.numel()


def standalone(
    model: SparseModule,
    compressed: bool = True,
    multiple: int = 1,
    levers: Collection[str] = LEVERS,
) -> nn.Module:
    """The evaluated network as exported: rebuilt at the channels it uses (a TremorCNN; another
    network keeps its widths), its split layers compressed where that is smaller; or
    (``compressed=False``, for comparison) the network at full width with its evaluated weights
    stored dense. Then the inference levers of ``rvsm.inference`` named in ``levers`` (all by
    default, none with ``levers=()``, what ``make bench`` compares with); BatchNorm is folded
    before compression, which a compressed conv would escape. In eval mode; the trained module
    is left as it is."""
    split = model.method.evaluated_weights()
    if not compressed or not slimmable(model.net):
        net = plain_copy(model.net, split)
    else:
        net = slim(model.net, model.evaluated_weights(), multiple)
    if "fold" in levers:
        net = fold_batch_norm(net)
    rest = [lever for lever in levers if lever != "fold"]
    for name in split if compressed else ():
        layer = net.get_submodule(name)
        if worth_compressing(layer.weight):
            kind = SparseLinear if isinstance(layer, nn.Linear) else SparseConv2d
            parent, _, leaf = name.rpartition(".")
            setattr(net.get_submodule(parent), leaf, kind(layer, layer.weight))
    return for_inference(net, rest)


def script(net: ChannelsLast, image_size: list[int]) -> torch.jit.ScriptModule:
    """The export as TorchScript: the network traced, the slicing around it scripted (a trace
    would fix the number of slices)."""
    example = torch.zeros(2, 1, *image_size).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        traced = torch.jit.trace(net.net, example, check_trace=False)
    return torch.jit.script(ChannelsLast(traced, net.chunk))


#: the file inside an exported model that says how to prepare its input (rvsm.predict reads it)
PREPROCESSING = "rvsm.json"


def preprocessing(model: nn.Module, trained: dict) -> dict:
    """What a new image needs to be read as the trained model's data: size, classes, invert."""
    return {
        "image_size": list(model.net.image_size),
        "classes": trained_classes(trained),
        "invert": trained["data"].get("invert", "auto"),
    }


def file_bytes(module: torch.jit.ScriptModule, extra: dict | None = None) -> bytes:
    """The TorchScript file, with ``extra`` as its ``rvsm.json``."""
    buf = io.BytesIO()
    files = {PREPROCESSING: json.dumps(extra)} if extra is not None else {}
    torch.jit.save(module, buf, _extra_files=files)
    return buf.getvalue()


def export(cfg: DictConfig) -> dict:
    try:
        if not cfg.get("out"):
            raise ConfigError("out: required, the file to write (e.g. out=model.pt)")
        multiple = cfg.get("width_multiple")
        if not isinstance(multiple, int) or isinstance(multiple, bool) or multiple < 1:
            raise ConfigError(f"width_multiple must be an integer >= 1, got {multiple!r}")
        path, model, trained, _ = prepare(cfg)
    except (ValueError, InstantiationException) as err:
        fail(err)
    image_size = list(model.net.image_size)
    exported = standalone(model, multiple=int(cfg.width_multiple))
    full = standalone(model, compressed=False)
    sparse = file_bytes(script(exported, image_size), preprocessing(model, trained))
    dense = file_bytes(script(full, image_size))
    out = Path(cfg.out)
    with atomic_open(out, "wb") as f:
        f.write(sparse)
    if not slimmable(model.net):
        print(
            f"rvsm: note: {type(model.net).__name__} is exported at its full widths, its sparse "
            "layers compressed (removing channels rebuilds only the paper's network, "
            "rvsm.nets.TremorCNN)",
            flush=True,
        )
    # the network's FLOPs as trained (a fused block computes more, faster)
    small = flops(standalone(model, multiple=int(cfg.width_multiple), levers=()), image_size)
    large = flops(standalone(model, compressed=False, levers=()), image_size)
    print(
        f"rvsm: exported the sparse network of {path} to {out}: "
        f"{channels_line(exported.net, full.net)}{len(sparse):,} bytes (stored dense: "
        f"{len(dense):,} bytes); {small:,} FLOPs an image (dense: {large:,}, "
        f"{small / large:.3f}x); input float N x 1 x {image_size[0]} x {image_size[1]}, "
        f"ink 1 on paper 0; output logits ({', '.join(trained_classes(trained))})",
        flush=True,
    )
    return {
        "sparse_bytes": len(sparse),
        "dense_bytes": len(dense),
        "sparse_flops": small,
        "dense_flops": large,
    }


def channels_line(exported: nn.Module, full: nn.Module) -> str:
    """``channels conv1 5/8, conv2 9/16, conv3 12/32; `` for a TremorCNN, else nothing."""
    if not slimmable(full):
        return ""
    kept = [f"{n} {_width(getattr(exported, n))}/{getattr(full, n).out_channels}" for n in CONVS]
    return "channels " + ", ".join(kept) + "; "


def _width(layer: nn.Module) -> int:
    """Output channels of a conv layer as exported (a compressed one keeps only its bias)."""
    return getattr(layer, "out_channels", None) or layer.bias.shape[0]


if __name__ == "__main__":
    run_task(export, "export_model")
