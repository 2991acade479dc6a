"""``python -m rvsm.export ckpt_path=<checkpoint or run folder> out=model.pt``.

Writes the evaluated (sparse) network as a TorchScript file that runs with torch alone
(``torch.jit.load(out)(images)``: float images N x 1 x H x W, ink 1 on paper 0, logits of
regular / shaky). The split layers are stored compressed, as their nonzero values plus a bit
mask of where they sit, and decompressed in the forward pass; the other layers are stored as they
are. Prints the size of this file and of the same network stored dense.
"""

from __future__ import annotations

import copy
import io
from pathlib import Path

import torch
import torch.nn.functional as F
from hydra.errors import InstantiationException
from omegaconf import DictConfig
from torch import nn

from rvsm.module import SparseModule
from rvsm.runtime.checks import ConfigError
from rvsm.runtime.cli import fail, run_task
from rvsm.runtime.io import atomic_open
from rvsm.runtime.trained import prepare

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
    def __init__(self, layer: nn.Conv2d, weight: torch.Tensor) -> None:
        super().__init__()
        self.weight = CompressedWeight(weight)
        self.bias = layer.bias
        self.stride, self.padding = layer.stride, layer.padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight(), self.bias, self.stride, self.padding)


class ChannelsLast(nn.Module):
    """Feeds the network channels-last images, the layout its CPU convolutions are fast in
    (2.3x at batch 256 on this project's 2-core machine); callers pass ordinary tensors."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.contiguous(memory_format=torch.channels_last))


def standalone(model: SparseModule, compressed: bool = True) -> nn.Module:
    """A copy of the network with the evaluated weights in its split layers (compressed, or
    dense for comparison), in eval mode; the trained module is left as it is."""
    net = copy.deepcopy(model.net).eval()
    for name, weight in model.method.evaluated_weights().items():
        layer = getattr(net, name)
        if compressed:
            kind = SparseLinear if isinstance(layer, nn.Linear) else SparseConv2d
            setattr(net, name, kind(layer, weight))
        else:
            layer.weight = nn.Parameter(weight.detach().clone())
    return ChannelsLast(net.to(memory_format=torch.channels_last))


def script(net: nn.Module, image_size: list[int]) -> torch.jit.ScriptModule:
    example = torch.zeros(2, 1, *image_size)
    with torch.no_grad():
        return torch.jit.trace(net, example, check_trace=False)


def file_bytes(module: torch.jit.ScriptModule) -> bytes:
    buf = io.BytesIO()
    torch.jit.save(module, buf)
    return buf.getvalue()


def export(cfg: DictConfig) -> dict:
    try:
        if not cfg.get("out"):
            raise ConfigError("out: required, the file to write (e.g. out=model.pt)")
        path, model, _, _ = prepare(cfg)
    except (ValueError, InstantiationException) as err:
        fail(err)
    image_size = list(model.net.image_size)
    sparse = file_bytes(script(standalone(model), image_size))
    dense = file_bytes(script(standalone(model, compressed=False), image_size))
    out = Path(cfg.out)
    with atomic_open(out, "wb") as f:
        f.write(sparse)
    print(
        f"rvsm: exported the sparse network of {path} to {out}: {len(sparse):,} bytes "
        f"(stored dense: {len(dense):,} bytes); input float N x 1 x {image_size[0]} x "
        f"{image_size[1]}, ink 1 on paper 0; output logits (regular, shaky)",
        flush=True,
    )
    return {"sparse_bytes": len(sparse), "dense_bytes": len(dense)}


if __name__ == "__main__":
    run_task(export, "export_model")
