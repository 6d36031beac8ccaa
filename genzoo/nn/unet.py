"""Denoisers for diffusion models: a U-Net for images of any (C, H, W) and an MLP for vectors.

Both take (x_t, t[, y]) and return a tensor shaped like x_t. The timestep enters as a sinusoidal
embedding (Vaswani et al. 2017, as in DDPM) passed through an MLP; a class label, when the model has
classes, adds a learned embedding (index ``num_classes`` is the "no label" of classifier-free guidance).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from genzoo.nn.blocks import spatial_sizes


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """(B,) timesteps -> (B, dim): [cos(t w_k), sin(t w_k)], w_k = max_period^(-k / (dim/2))."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]  # (B, half)
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=1)
    return F.pad(emb, (0, dim % 2))


class Conditioning(nn.Module):
    """(t, y) -> (B, emb_dim): MLP(sinusoid(t)) + embed(y) (y = num_classes: no label)."""

    def __init__(self, base: int, emb_dim: int, num_classes: int = 0) -> None:
        super().__init__()
        self.base = base
        self.mlp = nn.Sequential(nn.Linear(base, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.classes = nn.Embedding(num_classes + 1, emb_dim) if num_classes else None

    def forward(self, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.mlp(timestep_embedding(t, self.base))
        if self.classes is not None:
            if y is None:
                y = torch.full_like(t, self.classes.num_embeddings - 1)
            emb = emb + self.classes(y)
        return emb


def _norm(c: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(c, 8), c)


def _zero(m: nn.Module) -> nn.Module:
    """Zero-initialise a layer, so that a residual branch starts as the identity."""
    for p in m.parameters():
        nn.init.zeros_(p)
    return m


class ResBlock(nn.Module):
    """h = conv(act(norm(x))) + proj(emb); out = skip(x) + conv(dropout(act(norm(h))))."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.in_layers = nn.Sequential(_norm(c_in), nn.SiLU(), nn.Conv2d(c_in, c_out, 3, padding=1))
        self.emb = nn.Sequential(nn.SiLU(), nn.Linear(emb_dim, c_out))
        self.out_layers = nn.Sequential(
            _norm(c_out), nn.SiLU(), nn.Dropout(dropout), _zero(nn.Conv2d(c_out, c_out, 3, padding=1))
        )
        self.skip = nn.Identity() if c_in == c_out else nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.in_layers(x) + self.emb(emb)[:, :, None, None]  # (B, c_out, H, W)
        return self.skip(x) + self.out_layers(h)


class SelfAttention(nn.Module):
    """Multi-head self-attention over the H*W positions of a feature map, as a residual."""

    def __init__(self, c: int, heads: int = 4) -> None:
        super().__init__()
        self.heads = heads if c % heads == 0 else 1
        self.norm = _norm(c)
        self.qkv = nn.Conv2d(c, 3 * c, 1)
        self.proj = _zero(nn.Conv2d(c, c, 1))

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None = None) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, h * w).unbind(1)
        # (B, heads, HW, c/heads) each
        o = F.scaled_dot_product_attention(q.transpose(-1, -2), k.transpose(-1, -2), v.transpose(-1, -2))
        return x + self.proj(o.transpose(-1, -2).reshape(b, c, h, w))


class UNet(nn.Module):
    """A DDPM-style U-Net: per level ``num_res_blocks`` residual blocks (timestep/class embedding added
    in each), a stride-2 conv down between levels, a middle (res, attention, res) at the lowest
    resolution, and an up path that concatenates the skips and upsamples to the exact skip size, so
    any H x W works (28 -> 14 -> 7 -> 14 -> 28). ``attention``: self-attention at the lowest level too."""

    def __init__(
        self,
        shape: Sequence[int],
        channels: int = 32,
        channel_mult: Sequence[int] = (1, 2, 2),
        num_res_blocks: int = 1,
        attention: bool = True,
        dropout: float = 0.0,
        num_classes: int = 0,
        out_channels: int | None = None,
    ) -> None:
        super().__init__()
        c_img, h, w = shape
        emb_dim = 4 * channels
        self.cond = Conditioning(channels, emb_dim, num_classes)
        self.sizes = spatial_sizes(h, w, len(channel_mult) - 1)  # per level, (H, W) first
        self.conv_in = nn.Conv2d(c_img, channels, 3, padding=1)
        widths = [channels * m for m in channel_mult]
        last = len(widths) - 1
        self.down = nn.ModuleList()
        skips, c = [channels], channels
        for lvl, wd in enumerate(widths):
            for _ in range(num_res_blocks):
                blocks = [ResBlock(c, wd, emb_dim, dropout)]
                if attention and lvl == last:
                    blocks.append(SelfAttention(wd))
                self.down.append(nn.ModuleList(blocks))
                c = wd
                skips.append(c)
            if lvl < last:
                self.down.append(nn.ModuleList([nn.Conv2d(c, c, 3, stride=2, padding=1)]))
                skips.append(c)
        mid = [ResBlock(c, c, emb_dim, dropout)] + ([SelfAttention(c)] if attention else [])
        self.mid = nn.ModuleList([*mid, ResBlock(c, c, emb_dim, dropout)])
        self.up = nn.ModuleList()
        self.up_sizes: list[tuple[int, int] | None] = []
        for lvl in range(last, -1, -1):
            for i in range(num_res_blocks + 1):
                blocks = [ResBlock(c + skips.pop(), widths[lvl], emb_dim, dropout)]
                c = widths[lvl]
                if attention and lvl == last:
                    blocks.append(SelfAttention(c))
                up = lvl > 0 and i == num_res_blocks
                if up:  # nearest-neighbour to the next level's exact size, then a 3x3 conv
                    blocks.append(nn.Conv2d(c, c, 3, padding=1))
                self.up.append(nn.ModuleList(blocks))
                self.up_sizes.append(self.sizes[lvl - 1] if up else None)
        self.out = nn.Sequential(
            _norm(c), nn.SiLU(), _zero(nn.Conv2d(c, out_channels or c_img, 3, padding=1))
        )

    @staticmethod
    def _run(blocks: nn.ModuleList, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        for b in blocks:
            h = b(h, emb) if isinstance(b, ResBlock | SelfAttention) else b(h)
        return h

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.cond(t, y)  # (B, 4 * channels)
        h = self.conv_in(x)
        hs = [h]
        for blocks in self.down:
            h = self._run(blocks, h, emb)
            hs.append(h)
        h = self._run(self.mid, h, emb)
        for blocks, size in zip(self.up, self.up_sizes, strict=True):
            h = torch.cat([h, hs.pop()], dim=1)
            if size is None:
                h = self._run(blocks, h, emb)
            else:
                h = self._run(blocks[:-1], h, emb)
                h = blocks[-1](F.interpolate(h, size=size, mode="nearest"))
        return self.out(h)


class MLPDenoiser(nn.Module):
    """For vectors (e.g. 2-D toy data) or flattened images: residual MLP blocks h += W2 act(W1 act(h) + emb);
    x (B, *shape) with prod(shape) = dim, the output the same shape."""

    def __init__(self, dim: int, hidden: int = 128, blocks: int = 3, num_classes: int = 0) -> None:
        super().__init__()
        self.cond = Conditioning(hidden, hidden, num_classes)
        self.inp = nn.Linear(dim, hidden)
        self.blocks = nn.ModuleList(
            nn.ModuleDict({"fc1": nn.Linear(hidden, hidden), "fc2": nn.Linear(hidden, hidden)})
            for _ in range(blocks)
        )
        self.out = nn.Sequential(nn.SiLU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.cond(t, y)  # (B, hidden)
        h = self.inp(x.flatten(1))  # (B, hidden)
        for b in self.blocks:
            h = h + b["fc2"](F.silu(b["fc1"](F.silu(h)) + emb))
        return self.out(h).view(x.shape)
