"""MLP and convolutional encoder/decoder for any (C, H, W), not only 28x28."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from genzoo.errors import ConfigError

ACTIVATIONS: dict[str, type[nn.Module]] = {"silu": nn.SiLU, "relu": nn.ReLU}


def mlp(sizes: Sequence[int], act: type[nn.Module] = nn.SiLU, final_act: bool = False) -> nn.Sequential:
    """Linear layers sizes[0] -> sizes[1] -> ... with ``act`` between them (and after, if asked)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or final_act:
            layers.append(act())
    return nn.Sequential(*layers)


def spatial_sizes(h: int, w: int, n_down: int) -> list[tuple[int, int]]:
    """Feature-map sizes after each stride-2 stage: [(H, W), (ceil(H/2), ceil(W/2)), ...]."""
    sizes = [(h, w)]
    for _ in range(n_down):
        h, w = math.ceil(h / 2), math.ceil(w / 2)
        sizes.append((h, w))
    return sizes


class ConvEncoder(nn.Module):
    """(B, C, H, W) -> (B, out_dim): stride-2 conv stages, then a linear head."""

    def __init__(
        self, shape: Sequence[int], channels: Sequence[int], out_dim: int, act: type[nn.Module] = nn.SiLU
    ) -> None:
        super().__init__()
        c, h, w = shape
        self.sizes = spatial_sizes(h, w, len(channels))
        layers: list[nn.Module] = []
        for c_out in channels:
            layers += [nn.Conv2d(c, c_out, 3, stride=2, padding=1), act()]
            c = c_out
        self.convs = nn.Sequential(*layers)
        hl, wl = self.sizes[-1]
        self.head = nn.Linear(c * hl * wl, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.convs(x).flatten(1))  # (B, out_dim)


class ConvDecoder(nn.Module):
    """(B, in_dim) -> (B, C * out_mult, H, W) logits: linear, then per stage upsample to the
    encoder's size + conv; ``out_mult`` outputs per pixel (e.g. a mixture's parameters)."""

    def __init__(
        self,
        in_dim: int,
        channels: Sequence[int],
        shape: Sequence[int],
        act: type[nn.Module] = nn.SiLU,
        out_mult: int = 1,
    ) -> None:
        super().__init__()
        c_img, h, w = shape
        c_img *= out_mult
        self.act = act()
        self.sizes = spatial_sizes(h, w, len(channels))[::-1]  # smallest first
        rev = list(channels)[::-1]
        self.c0 = rev[0]
        hl, wl = self.sizes[0]
        self.head = nn.Linear(in_dim, self.c0 * hl * wl)
        self.stages = nn.ModuleList()
        c = self.c0
        for c_out in rev[1:] + [rev[-1]]:
            self.stages.append(nn.Conv2d(c, c_out, 3, padding=1))
            c = c_out
        self.out = nn.Conv2d(c, c_img, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        hl, wl = self.sizes[0]
        h = self.act(self.head(z)).view(z.shape[0], self.c0, hl, wl)  # (B, c0, h_L, w_L)
        for conv, size in zip(self.stages, self.sizes[1:], strict=True):
            h = self.act(conv(F.interpolate(h, size=size, mode="nearest")))
        return self.out(h)  # (B, C * out_mult, H, W)


def check_layer_sizes(**sizes: Sequence[int]) -> None:
    """ConfigError naming the first option whose layer sizes are not all positive."""
    for name, values in sizes.items():
        if any(v < 1 for v in values):
            raise ConfigError(f"{name} must be positive layer sizes, got {','.join(map(str, values))}")


def encoder_decoder(
    arch: str,
    shape: Sequence[int],
    channels: Sequence[int],
    hidden: Sequence[int],
    enc_out: int,
    dec_in: int,
    cond: int = 0,
    activation: str = "silu",
    out_mult: int = 1,
) -> tuple[nn.Module, nn.Module]:
    """The encoder/decoder pair of the autoencoder-like families, conv or MLP.

    encoder: (B, *shape) (+ ``cond`` extra input channels (conv) or features (mlp)) -> (B, enc_out);
    decoder: (B, dec_in) -> (B, C * out_mult, H, W) logits (conv) or (B, prod(shape) * out_mult)
    (mlp; callers view it). ``activation``: a key of ACTIVATIONS.
    """
    check_layer_sizes(channels=channels, hidden=hidden)
    if activation not in ACTIVATIONS:
        raise ConfigError(f"unknown activation {activation!r}; choose from {', '.join(ACTIVATIONS)}")
    act = ACTIVATIONS[activation]
    if arch == "conv":
        if not channels:
            raise ConfigError("arch 'conv' needs at least one entry in channels, e.g. --channels 32,64")
        if len(shape) != 3:
            raise ConfigError(
                f"arch 'conv' needs image data (C, H, W), got shape {tuple(shape)}; use --arch mlp"
            )
        c, h, w = shape
        return (
            ConvEncoder((c + cond, h, w), channels, enc_out, act),
            ConvDecoder(dec_in, channels, shape, act, out_mult),
        )
    n_in = math.prod(shape)
    return mlp([n_in + cond, *hidden, enc_out], act), mlp([dec_in, *hidden[::-1], n_in * out_mult], act)
