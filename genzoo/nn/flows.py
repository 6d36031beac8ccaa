"""Invertible layers for normalizing flows; each maps x -> (y, log|det dy/dx|) and back.

Every layer has ``forward(x) -> (y, logdet)`` (x towards the latent z, logdet (B,) per example)
and ``inverse(y) -> x`` (the latent towards the data): named for the direction, never ``backward``.
The stream x stays in the dtype it came in (fp32 under bf16 autocast: only the coupling networks'
convolutions run in bf16, their outputs s, t are cast back before the affine map), so that
inverse(forward(x)) == x and the log-determinants are summed in full precision.

- ``AffineCoupling`` (Dinh et al. 2017, RealNVP): y_A = x_A, y_B = x_B * exp(s(x_A)) + t(x_A),
  log|det| = sum s; the split A/B is a checkerboard (images), a channel half (images) or a
  half of the coordinates (vectors).
- ``SplineCoupling`` (Durkan et al. 2019, neural spline flows): the same split, y_B = g(x_B) with g
  a monotonic rational-quadratic spline per element whose knots come from net(x_A).
- ``ActNorm`` (Kingma & Dhariwal 2018, Glow): y = (x - b) * exp(logs) per channel, initialised from
  the first batch to zero mean and unit variance (rank 0's first batch in a distributed run,
  broadcast to the others); log|det| = H W sum logs.
- ``InvConv1x1`` (Glow): y = W x at every pixel, a learned channel mixing; log|det| = H W log|det W|.
- ``squeeze`` / ``unsqueeze``: (C, H, W) <-> (4C, H/2, W/2), a permutation (log|det| = 0).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from genzoo.nn.splines import params_per_dim, rq_spline

Mask = Literal["checkerboard", "channel", "half"]


def squeeze(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, 4C, H/2, W/2): each 2x2 patch becomes 4 channels (RealNVP's squeeze)."""
    b, c, h, w = x.shape
    x = x.reshape(b, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4)
    return x.reshape(b, 4 * c, h // 2, w // 2)


def unsqueeze(x: torch.Tensor) -> torch.Tensor:
    """(B, 4C, H, W) -> (B, C, 2H, 2W): the inverse of ``squeeze``."""
    b, c4, h, w = x.shape
    x = x.reshape(b, c4 // 4, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3)
    return x.reshape(b, c4 // 4, 2 * h, 2 * w)


def _sum_per_example(a: torch.Tensor) -> torch.Tensor:
    return a.flatten(1).sum(1)


class ResNetST(nn.Module):
    """The coupling network for images: conv3x3 -> ``blocks`` residual blocks -> conv3x3 giving
    ``outputs`` (B, outputs, H, W) (an affine coupling's s_raw and t; a spline's parameters); the
    last conv starts at zero, so the layer starts as the identity."""

    def __init__(self, c_in: int, outputs: int, width: int, blocks: int) -> None:
        super().__init__()
        self.inp = nn.Conv2d(c_in, width, 3, padding=1)
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.ReLU(), nn.Conv2d(width, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, width, 1)
            )
            for _ in range(blocks)
        )
        self.out = nn.Sequential(nn.ReLU(), nn.Conv2d(width, outputs, 3, padding=1))
        nn.init.zeros_(self.out[1].weight)
        nn.init.zeros_(self.out[1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        for block in self.blocks:
            h = h + block(h)
        return self.out(h)


class MLPST(nn.Module):
    """The coupling network for vectors: an MLP d_in -> width (x ``blocks`` hidden layers) ->
    ``outputs``; the last layer starts at zero (the identity map)."""

    def __init__(self, d_in: int, outputs: int, width: int, blocks: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(d_in, width), nn.ReLU()]
        for _ in range(blocks - 1):
            layers += [nn.Linear(width, width), nn.ReLU()]
        last = nn.Linear(width, outputs)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.net = nn.Sequential(*layers, last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Coupling(nn.Module):
    """y_A = x_A, y_B = g(x_B; net(x_A)), an elementwise invertible g whose parameters come from the
    other part; log|det dy/dx| = sum_B log g'. Subclasses give g (``_g``) and its parameter count.

    mask 'checkerboard' (images): A = the pixels with (i + j + parity) even, all channels (the net
    sees x * mask and the mask; g acts on B only); 'channel' (images): A = one half of the channels
    (``parity`` picks which); 'half' (vectors (B, D)): A = one half of the coordinates."""

    per_element = 2  # parameters of g per transformed element

    def __init__(self, mask: Mask, channels: int, width: int, blocks: int, parity: int) -> None:
        super().__init__()
        self.mask, self.parity = mask, parity % 2
        if mask == "checkerboard":
            self.net: nn.Module = ResNetST(channels + 1, self.per_element * channels, width, blocks)
            self.n_b = channels
        else:
            self.n_a = channels // 2 if self.parity == 0 else channels - channels // 2
            self.n_b = channels - self.n_a
            net_cls = ResNetST if mask == "channel" else MLPST
            self.net = net_cls(self.n_a, self.per_element * self.n_b, width, blocks)

    def _checker(self, x: torch.Tensor) -> torch.Tensor:
        """(1, 1, H, W) of 1 on A, 0 on B."""
        h, w = x.shape[-2:]
        i, j = torch.arange(h, device=x.device)[:, None], torch.arange(w, device=x.device)[None, :]
        return ((i + j + self.parity) % 2 == 0).to(x.dtype)[None, None]

    def _split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x -> (x_A, x_B) along the channel/coordinate axis (parity 1 puts A last)."""
        k = self.n_a if self.parity == 0 else x.shape[1] - self.n_a
        a, b = x[:, :k], x[:, k:]
        return (a, b) if self.parity == 0 else (b, a)

    def _join(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.cat([a, b] if self.parity == 0 else [b, a], dim=1)

    def _g(self, b: torch.Tensor, raw: torch.Tensor, inverse: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """g (or g^-1) on b (B, n_b[, H, W]) with the net's output raw (B, per_element n_b[, H, W]):
        (the result, log|g'| elementwise), in b's dtype."""
        raise NotImplementedError

    def _run(self, x: torch.Tensor, inverse: bool) -> tuple[torch.Tensor, torch.Tensor]:
        if self.mask == "checkerboard":
            m = self._checker(x)  # (1, 1, H, W)
            raw = self.net(torch.cat([x * m, m.expand(x.shape[0], 1, *x.shape[2:])], 1))
            y, ld = self._g(x, raw, inverse)
            return m * x + (1 - m) * y, _sum_per_example(ld * (1 - m))  # A unchanged, nothing from A
        a, b = self._split(x)
        y, ld = self._g(b, self.net(a), inverse)
        return self._join(a, y), _sum_per_example(ld)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._run(x, inverse=False)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return self._run(y, inverse=True)[0]


class AffineCoupling(Coupling):
    """g(x_B) = x_B * exp(s) + t, log g' = s, with s = scale * tanh(s_raw) bounded (RealNVP) and
    ``scale`` a learned per-channel (per-coordinate) factor; the inverse is (y_B - t) * exp(-s)."""

    def __init__(self, mask: Mask, channels: int, width: int, blocks: int, parity: int) -> None:
        super().__init__(mask, channels, width, blocks, parity)
        self.scale = nn.Parameter(torch.ones(self.n_b, *((1, 1) if mask != "half" else ())))

    def _g(self, b: torch.Tensor, raw: torch.Tensor, inverse: bool) -> tuple[torch.Tensor, torch.Tensor]:
        s_raw, t = raw.chunk(2, dim=1)
        s = self.scale * torch.tanh(s_raw.to(b.dtype))  # back in the stream's dtype (fp32)
        t = t.to(b.dtype)
        if inverse:
            return (b - t) * torch.exp(-s), -s
        return b * torch.exp(s) + t, s


class SplineCoupling(Coupling):
    """g = a monotonic rational-quadratic spline of ``bins`` bins on [-bound, bound] per element,
    the identity outside (Durkan et al. 2019; ``genzoo.nn.splines``). The spline runs in the
    stream's dtype (fp32 under bf16 autocast), its parameters cast back from the net."""

    def __init__(
        self,
        mask: Mask,
        channels: int,
        width: int,
        blocks: int,
        parity: int,
        bins: int = 8,
        bound: float = 4.0,
    ) -> None:
        self.per_element = params_per_dim(bins)
        super().__init__(mask, channels, width, blocks, parity)
        self.bins, self.bound = bins, bound

    def _g(self, b: torch.Tensor, raw: torch.Tensor, inverse: bool) -> tuple[torch.Tensor, torch.Tensor]:
        n, c = b.shape[:2]
        p = raw.to(b.dtype).reshape(n, c, self.per_element, *b.shape[2:])  # (B, n_b, 3K - 1[, H, W])
        p = p.movedim(2, -1).reshape(-1, self.per_element)  # (B n_b [H W], 3K - 1), b's element order
        y, ld = rq_spline(b.reshape(-1), p, self.bound, inverse=inverse)
        return y.view_as(b), ld.view_as(b)


class ActNorm(nn.Module):
    """y = (x - b) * exp(logs), per channel of (B, C, H, W) or per coordinate of (B, D); b and logs
    set from the first batch seen in training so that y has zero mean and unit variance."""

    def __init__(self, channels: int, image: bool) -> None:
        super().__init__()
        shape = (1, channels, 1, 1) if image else (1, channels)
        self.bias = nn.Parameter(torch.zeros(shape))
        self.logs = nn.Parameter(torch.zeros(shape))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))

    def _positions(self, x: torch.Tensor) -> int:
        return x.shape[2] * x.shape[3] if x.dim() == 4 else 1

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.training and not bool(self.initialized):
            with torch.no_grad():  # data-dependent init (Glow, section 3.1)
                dims = [0, 2, 3] if x.dim() == 4 else [0]
                self.bias.copy_(x.mean(dims, keepdim=True))
                self.logs.copy_(-torch.log(x.std(dims, keepdim=True) + 1e-6))
                if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
                    # every process saw its own first batch: take rank 0's statistics everywhere,
                    # or the replicas of a distributed run would start (and stay) different
                    dist.broadcast(self.bias.data, src=0)
                    dist.broadcast(self.logs.data, src=0)
                self.initialized.fill_(True)
        y = (x - self.bias) * torch.exp(self.logs)
        logdet = self._positions(x) * self.logs.sum()
        return y, logdet.expand(x.shape[0]).to(x.dtype)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y * torch.exp(-self.logs) + self.bias


class InvConv1x1(nn.Module):
    """y = W x per pixel (Glow's invertible 1x1 convolution), W (C, C) from a random rotation;
    log|det| = H W log|det W|. Computed in fp32 (autocast off): it is part of the stream."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        q, _ = torch.linalg.qr(torch.randn(channels, channels))
        self.weight = nn.Parameter(q)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.autocast(x.device.type, enabled=False):
            w = self.weight.to(x.dtype)
            y = F.conv2d(x, w[:, :, None, None])
            logdet = x.shape[2] * x.shape[3] * torch.linalg.slogdet(w)[1]
        return y, logdet.expand(x.shape[0])

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        with torch.autocast(y.device.type, enabled=False):
            w_inv = torch.linalg.inv(self.weight.double()).to(y.dtype)
            return F.conv2d(y, w_inv[:, :, None, None])
