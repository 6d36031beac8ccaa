"""The deep convolutional generator and discriminator (Radford et al. 2016) for any (C, H, W).

Generator: z (B, d) -> linear -> (B, g0, h_L, w_L) -> transposed-conv stages -> (B, C, H, W),
batch norm + activation after every stage but the last. Of the stages (``g_channels[1:]`` and
then C), the last ``n_up`` have stride 2 and the earlier ones stride 1; a stride-2 stage maps
h -> 2h or 2h - 1 (5x5 kernels, padding 2, output_padding 1 or 0), so odd and non-square sizes
come out exactly. Discriminator features: stride-2 5x5 convs (h -> ceil(h / 2)) with LeakyReLU(0.2),
batch norm after every conv but the first (optional), dropout (optional), flattened to (B, F).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from genzoo.nn.blocks import spatial_sizes

KERNEL = 5


def activation(name: str) -> Callable[[], nn.Module]:
    """A factory of G's activation: 'relu' or 'leaky-relu' (slope 0.2)."""
    return (lambda: nn.LeakyReLU(0.2)) if name == "leaky-relu" else nn.ReLU


class ConvGenerator(nn.Module):
    """(B, in_dim) -> (B, C, H, W) pre-activation outputs (the model applies tanh/sigmoid)."""

    def __init__(
        self, in_dim: int, g_channels: Sequence[int], n_up: int, shape: Sequence[int], act: str = "relu"
    ) -> None:
        super().__init__()
        c_img, h, w = shape
        sizes = spatial_sizes(h, w, n_up)[::-1]  # smallest first: (h_L, w_L), ..., (H, W)
        outs = [*g_channels[1:], c_img]
        strides = [1] * (len(outs) - n_up) + [2] * n_up
        self.c0, self.size0 = g_channels[0], sizes[0]
        self.head = nn.Sequential(
            nn.Linear(in_dim, self.c0 * sizes[0][0] * sizes[0][1], bias=False),
            nn.BatchNorm1d(self.c0 * sizes[0][0] * sizes[0][1]),
            activation(act)(),
        )
        layers: list[nn.Module] = []
        c, i = self.c0, 0
        for k, (c_out, s) in enumerate(zip(outs, strides, strict=True)):
            last = k == len(outs) - 1
            if s == 2:
                (hi, wi), (ho, wo) = sizes[i], sizes[i + 1]
                i += 1
                pad = (ho - (2 * hi - 1), wo - (2 * wi - 1))  # output_padding: 0 (odd) or 1 (even)
                layers.append(nn.ConvTranspose2d(c, c_out, KERNEL, 2, 2, output_padding=pad, bias=last))
            else:
                layers.append(nn.ConvTranspose2d(c, c_out, KERNEL, 1, 2, bias=last))
            if not last:
                layers += [nn.BatchNorm2d(c_out), activation(act)()]
            c = c_out
        self.stages = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.head(z).view(z.shape[0], self.c0, *self.size0)  # (B, g0, h_L, w_L)
        return self.stages(h)  # (B, C, H, W)


class ConvFeatures(nn.Module):
    """(B, C, H, W) -> (B, F): the discriminator's body (its heads live in the model)."""

    def __init__(
        self, shape: Sequence[int], channels: Sequence[int], batch_norm: bool = True, dropout: float = 0.0
    ) -> None:
        super().__init__()
        c, h, w = shape
        layers: list[nn.Module] = []
        for k, c_out in enumerate(channels):
            layers.append(nn.Conv2d(c, c_out, KERNEL, 2, 2))
            if batch_norm and k > 0:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.LeakyReLU(0.2))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            c = c_out
        self.body = nn.Sequential(*layers, nn.Flatten())
        hl, wl = spatial_sizes(h, w, len(channels))[-1]
        self.out_dim = c * hl * wl

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def mlp_features(sizes: Sequence[int], dropout: float = 0.0) -> nn.Sequential:
    """Linear layers sizes[0] -> ... -> sizes[-1], each followed by LeakyReLU(0.2) (and dropout)."""
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(a, b), nn.LeakyReLU(0.2)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def with_spectral_norm(module: nn.Module) -> nn.Module:
    """Every conv and linear weight of ``module`` divided by its largest singular value, estimated
    by one power iteration per forward pass (Miyato et al. 2018); returns ``module``."""
    for m in list(module.modules()):
        if isinstance(m, nn.Conv2d | nn.Linear | nn.Embedding):
            spectral_norm(m)
    return module
