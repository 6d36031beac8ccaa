"""Normalizing flows: ``realnvp`` (Dinh et al. 2017) and ``glow`` (Kingma & Dhariwal 2018).

A flow is an invertible map f from data to a latent z of the same size, with p(z) = N(0, I). The
change-of-variables formula gives the exact log-density

    log p(x) = log p(z) + log |det dz/dx|,   z = f(x),

where f is a chain of layers f = f_K o ... o f_1 whose log-determinants add up (genzoo.nn.flows).
Training maximises it; sampling draws z ~ N(0, T^2 I) (T the temperature) and returns f^-1(z).

Images (C, H, W) of 8-bit data in [0, 1] go through, before the flow:
  1. uniform dequantization v = (255 x + u) / 256, u ~ U[0, 1)^D: a density p(v) on [0, 1]^D gives
     log P(x) = log E_u[p(v)] - D log 256 >= E_u[log p(v)] - D log 256 (Jensen), the reported bound;
  2. the logit transform y = logit(a + (1 - 2a) v), a = ``logit_alpha`` (RealNVP's 0.05), with
     log |det dy/dv| = sum [log(1 - 2a) - log p - log(1 - p)], p = a + (1 - 2a) v, counted in log p(v).
The image flow (multi-scale, RealNVP section 3.6): per level a squeeze (C, H, W) -> (4C, H/2, W/2),
``depth`` flow steps ([actnorm] [1x1 conv] coupling: affine, or ``coupling="spline"`` a neural
spline), then half of the channels is factored
out to the latent (all levels but the last). Vectors (B, D) (toy 2-D data) take an MLP coupling
flow over unbounded floats: no dequantization, log p(x) is a density in nats.

The flow's two directions are ``to_latent`` (x -> z, the density direction) and ``from_latent``
(z -> x, sampling); ``encode``/``decode`` are the same maps on whole examples, so the latent
toolkit (interpolation in z) works; ``forward`` is the trainer's entry (the loss), as in every family.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from genzoo.errors import ConfigError
from genzoo.gaussians import standard_normal_log_density
from genzoo.models.base import Batch, GenerativeModel, Output
from genzoo.models.capabilities import Capability
from genzoo.nn.flows import ActNorm, AffineCoupling, InvConv1x1, SplineCoupling, squeeze, unsqueeze
from genzoo.registry import register

LEVELS = 256  # 8-bit data: x in {0, 1/255, ..., 1}


@dataclass(kw_only=True)
class FlowConfig:
    arch: Literal["auto", "image", "mlp"] = "auto"  # auto: image for (C, H, W), mlp for vectors
    levels: int = 2  # image: scales; each squeezes 2x2 (height and width must divide by 2**levels)
    depth: int = 4  # image: flow steps per level (Glow's K); mlp: coupling layers in all
    # image coupling masks: checkerboard, channel halves, or both (the first half of each level's
    # depth checkerboard, the rest channel, as RealNVP)
    mask: Literal["checkerboard", "channel", "both"] = "both"
    channels: int = 32  # image: width of each coupling's residual network
    blocks: int = 2  # residual blocks (image) / hidden layers (mlp) of each coupling network
    hidden: int = 128  # mlp: width of the coupling MLPs
    actnorm: bool = False  # Glow's actnorm before each coupling
    permutation: Literal["none", "1x1conv"] = "none"  # image: Glow's invertible 1x1 conv before each coupling
    # the coupling's elementwise map: affine (RealNVP, Glow) or a rational-quadratic spline of
    # ``bins`` bins on [-spline_bound, spline_bound], the identity outside (Durkan et al. 2019)
    coupling: Literal["affine", "spline"] = "affine"
    bins: int = 8
    spline_bound: float = 4.0
    logit_alpha: float = 0.05  # images: y = logit(a + (1 - 2a) v)
    temperature: float = 1.0  # default T of sample(): z ~ N(0, T^2 I)


@dataclass(kw_only=True)
class GlowConfig(FlowConfig):
    mask: Literal["checkerboard", "channel", "both"] = "channel"
    actnorm: bool = True
    permutation: Literal["none", "1x1conv"] = "1x1conv"


@register
class RealNVP(GenerativeModel):
    """Affine coupling flow (RealNVP), multi-scale for images, an MLP coupling flow for vectors."""

    model_type = "realnvp"
    config_class = FlowConfig
    capabilities = frozenset(
        {Capability.SAMPLER, Capability.DECODER, Capability.ENCODER, Capability.LIKELIHOOD}
    )
    sample_options = frozenset({"temperature"})
    likelihood_k = None  # one dequantization draw, no importance samples
    # NCHW: the squeezes reshape the batch; bf16 autocast only reaches the coupling networks
    train_defaults = {"lr": 1e-3, "batch_size": 64, "channels_last": False}
    likelihood_bins = None  # log_likelihood already holds the 256-level term (see likelihood_kind)

    def bf16_default(self) -> bool:  # bench_precision: image 0.76-0.97x (8x8), 1.3-1.5x (28x28); mlp 0.85x
        return len(self.shape) == 3 and self.config.arch != "mlp" and min(self.shape[1:]) >= 16

    def __init__(self, config: FlowConfig, shape: tuple[int, ...]) -> None:
        super().__init__(config, shape)
        c = config
        rules = [
            (c.levels >= 1 and c.depth >= 1, f"levels and depth must be at least 1, got {c.levels} and {c.depth}"),
            (c.channels >= 1 and c.blocks >= 1 and c.hidden >= 1, "channels, blocks and hidden must be at least 1"),
            (0 < c.logit_alpha < 0.5, f"logit_alpha must be in (0, 0.5), got {c.logit_alpha}"),
            (c.temperature > 0, f"temperature must be > 0, got {c.temperature}"),
            (c.arch in ("auto", "image", "mlp"), f"arch must be auto, image or mlp, got {c.arch!r}"),
            (c.mask in ("checkerboard", "channel", "both"), f"mask must be checkerboard, channel or both, got {c.mask!r}"),
            (c.permutation in ("none", "1x1conv"), f"permutation must be none or 1x1conv, got {c.permutation!r}"),
            (c.coupling in ("affine", "spline"), f"coupling must be affine or spline, got {c.coupling!r}"),
            (c.bins >= 2, f"bins must be at least 2, got {c.bins}"),
            (c.spline_bound > 0, f"spline_bound must be > 0, got {c.spline_bound}"),
        ]  # fmt: skip
        if bad := [msg for ok, msg in rules if not ok]:
            raise ConfigError("; ".join(bad))
        self.images = len(self.shape) == 3  # 8-bit images: dequantized and logit-transformed
        self.arch = c.arch if c.arch != "auto" else ("image" if self.images else "mlp")
        self.dims = math.prod(self.shape)
        if self.arch == "image":
            self._build_image_flow(c)
        else:
            if self.dims < 2:
                raise ConfigError(
                    f"a coupling flow needs at least 2 dimensions, got data of shape {self.shape}"
                )
            self.flow_steps = nn.ModuleList(
                nn.ModuleList(
                    ([ActNorm(self.dims, image=False)] if c.actnorm else [])
                    + [self._coupling("half", self.dims, c.hidden, k)]
                )
                for k in range(c.depth)
            )

    def _build_image_flow(self, c: FlowConfig) -> None:
        if len(self.shape) != 3:
            raise ConfigError(
                f"arch 'image' needs image data (C, H, W), got shape {self.shape}; use --arch mlp"
            )
        ch, h, w = self.shape
        f = 2**c.levels
        if h % f or w % f:
            raise ConfigError(
                f"{self.model_type} squeezes {c.levels} time(s) by 2x2, so height and width must divide by {f}; "
                f"the data are {h}x{w} (change --levels or resize with --data-image-size)"
            )
        self.level_shapes: list[tuple[int, int, int]] = []  # (C, H, W) of each level after its squeeze
        self.levels_ = nn.ModuleList()
        for lvl in range(c.levels):
            ch, h, w = 4 * ch, h // 2, w // 2
            self.level_shapes.append((ch, h, w))
            steps = nn.ModuleList()
            for k in range(c.depth):
                mask = c.mask if c.mask != "both" else ("checkerboard" if k < c.depth // 2 else "channel")
                layers: list[nn.Module] = [ActNorm(ch, image=True)] if c.actnorm else []
                layers += [InvConv1x1(ch)] if c.permutation == "1x1conv" else []
                layers.append(self._coupling(mask, ch, c.channels, k))
                steps.append(nn.ModuleList(layers))
            self.levels_.append(steps)
            if lvl < c.levels - 1:
                ch //= 2  # half of the channels factored out to z

    def _coupling(self, mask: str, channels: int, width: int, parity: int) -> nn.Module:
        c = self.config
        if c.coupling == "spline":
            return SplineCoupling(mask, channels, width, c.blocks, parity, bins=c.bins, bound=c.spline_bound)
        return AffineCoupling(mask, channels, width, c.blocks, parity)

    @property
    def latent_dim(self) -> int:
        """The size of z: a flow keeps the data's dimension D."""
        return self.dims

    # -- the flow: x -> z and back ---------------------------------------------------------------
    @staticmethod
    def _run(
        layers: nn.ModuleList, h: torch.Tensor, logdet: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        for layer in layers:
            h, ld = layer(h)
            logdet = logdet + ld
        return h, logdet

    def to_latent(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The flow f: y (B, *shape) -> (z (B, D), log |det dz/dy| (B,)), in y's dtype."""
        logdet = y.new_zeros(y.shape[0])
        if self.arch == "mlp":
            h = y.flatten(1)  # (B, D)
            for step in self.flow_steps:
                h, logdet = self._run(step, h, logdet)
            return h, logdet
        h, parts = y, []
        for lvl, steps in enumerate(self.levels_):
            h = squeeze(h)  # (B, C_l, H_l, W_l)
            for step in steps:
                h, logdet = self._run(step, h, logdet)
            if lvl < len(self.levels_) - 1:  # factor out half: (B, C_l/2, H_l, W_l) goes to z
                h, z_out = h.chunk(2, dim=1)
                parts.append(z_out.flatten(1))
        return torch.cat([*parts, h.flatten(1)], dim=1), logdet

    def from_latent(self, z: torch.Tensor) -> torch.Tensor:
        """The inverse f^-1: z (B, D) -> y (B, *shape)."""
        b = z.shape[0]
        if self.arch == "mlp":
            h = z
            for step in reversed(self.flow_steps):
                for layer in reversed(step):
                    h = layer.inverse(h)
            return h.view(b, *self.shape)
        sizes = [math.prod(s) // 2 for s in self.level_shapes[:-1]] + [math.prod(self.level_shapes[-1])]
        pieces = z.split(sizes, dim=1)
        h = pieces[-1].reshape(b, *self.level_shapes[-1])
        for lvl in reversed(range(len(self.levels_))):
            if lvl < len(self.levels_) - 1:
                ch, hh, ww = self.level_shapes[lvl]
                h = torch.cat([h, pieces[lvl].reshape(b, ch // 2, hh, ww)], dim=1)
            for step in reversed(self.levels_[lvl]):
                for layer in reversed(step):
                    h = layer.inverse(h)
            h = unsqueeze(h)
        return h

    # -- images: dequantization and the logit transform -----------------------------------------------
    def _logit(self, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """v in [0, 1] -> y = logit(p), p = a + (1 - 2a) v, and log |det dy/dv| (B,)."""
        a = self.config.logit_alpha
        p = a + (1 - 2 * a) * v
        y = torch.log(p) - torch.log1p(-p)
        logdet = math.log(1 - 2 * a) - torch.log(p) - torch.log1p(-p)  # d logit(p)/dp = 1/(p(1-p))
        return y, logdet.flatten(1).sum(1)

    def _from_logit(self, y: torch.Tensor) -> torch.Tensor:
        """y -> v = (sigmoid(y) - a) / (1 - 2a), the inverse of ``_logit``."""
        a = self.config.logit_alpha
        return (torch.sigmoid(y) - a) / (1 - 2 * a)

    def log_density(self, v: torch.Tensor) -> torch.Tensor:
        """log p(v) (B,) nats by the change of variables: log p(z) + log |det dz/dv|, z = f(pre(v)),
        pre the logit transform for images (identity for vectors); fp32."""
        v = v.float()
        pre_logdet = v.new_zeros(v.shape[0])
        if self.images:
            v, pre_logdet = self._logit(v)
        z, logdet = self.to_latent(v)
        log_pz = standard_normal_log_density(z.float())  # log N(z; 0, I)
        return log_pz + logdet.float() + pre_logdet

    def _dequantize(self, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """v = (255 x + u) / 256: a point uniform in x's bin of width 1/256 (u in [0, 1)^D)."""
        return ((x * (LEVELS - 1)).round() + u) / LEVELS

    # -- the objective -----------------------------------------------------------------------------
    def loss(self, batch: Batch, player: str = "model") -> Output:
        """-log p(x) per dimension (nats/dim): images by the dequantized bound, vectors exactly."""
        x = batch[0].float()
        if self.images:
            nll = -(self.log_density(self._dequantize(x, torch.rand_like(x))) - self.dims * math.log(LEVELS))
        else:
            nll = -self.log_density(x)
        terms = {"nll": nll.mean().detach()}
        if self.images:
            terms["bits_per_dim"] = (nll.mean() / (self.dims * math.log(2))).detach()
        return Output(nll.mean() / self.dims, terms)

    # -- likelihood --------------------------------------------------------------------------------------
    @torch.no_grad()
    def log_likelihood(
        self,
        x: torch.Tensor,
        *,
        y: torch.Tensor | None = None,
        k: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """(B,) nats. Images: E_u[log p(v)] - D log 256 <= log P(x) of the 8-bit x, by one uniform
        draw u from ``generator``; vectors: the exact log-density log p(x). No importance samples (k)."""
        self.no_labels(y)
        if k is not None:
            raise ConfigError(f"{self.model_type}'s likelihood takes no importance samples (k); it is exact")
        x = x.float()
        if not self.images:
            return self.log_density(x)
        u = torch.rand(x.shape, generator=generator).to(x.device)
        return self.log_density(self._dequantize(x, u)) - self.dims * math.log(LEVELS)

    @property
    def likelihood_kind(self) -> str:
        if self.images:
            return "lower bound on log P(x) of the 8-bit data by uniform dequantization (one draw)"
        return "exact log-density by the change of variables (data are continuous: no bins)"

    # -- encode / decode / sample --------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """z = f(x), (B, D); images are taken at their bin centres v = (255 x + 1/2) / 256."""
        self.no_labels(y)
        x = x.float()
        if self.images:
            x = self._logit(self._dequantize(x, torch.full_like(x, 0.5)))[0]
        return self.to_latent(x)[0]

    @torch.no_grad()
    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """x = f^-1(z), (B, *shape); images come back on the 256 levels (decode(encode(x)) == x)."""
        self.no_labels(y)
        y = self.from_latent(z.float())
        if not self.images:
            return y
        v = self._from_logit(y)
        return (v * LEVELS).floor().clamp(0, LEVELS - 1) / (LEVELS - 1)

    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """decode(encode(x)): x itself on its 256 levels (a flow is invertible)."""
        return self.decode(self.encode(x, y))

    def _sample(
        self, seeds: list[int], y: torch.Tensor | None, temperature: float | None = None
    ) -> torch.Tensor:
        """f^-1(z), z ~ N(0, T^2 I), T = ``temperature`` (the config's by default; < 1 is sharper)."""
        t = self.config.temperature if temperature is None else temperature
        if t <= 0:
            raise ConfigError(f"temperature must be > 0, got {t}")
        return self.decode(self.sample_latent(len(seeds), seeds=seeds) * t)


@register
class Glow(RealNVP):
    """Glow: each flow step is actnorm -> invertible 1x1 convolution -> affine coupling (channel halves)."""

    model_type = "glow"
    config_class = GlowConfig


__all__ = ["FlowConfig", "Glow", "GlowConfig", "RealNVP"]
