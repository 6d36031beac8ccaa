"""Generative adversarial networks: ``gan`` (MLP), ``dcgan`` (convolutional), ``cgan``/``acgan``.

Two players, a generator G: z -> x and a discriminator D: x -> logit l (D(x) = sigmoid(l) is the
probability that x is real), play the minimax game of Goodfellow et al. (2014)

    min_G max_D  V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))].

The one trainer alternates them (players ``disc`` then ``gen``, each with its own Adam): D ascends
V (minimises ``d_loss``), then G descends it (minimises ``g_loss``). With ``d_steps`` k > 1 D plays
every step and G every k-th. Generator losses (``loss``):
  minimax  E[log(1 - D(G(z)))]        the lecture's; saturates (no gradient) while D wins easily
  ns       -E[log D(G(z))]            non-saturating (default): same fixed point, strong early gradient
  hinge    -E[l(G(z))]                with D's hinge loss E[relu(1 - l(x))] + E[relu(1 + l(G(z)))]
The conditional models give G the one-hot label beside z; D sees it by concatenation, by a projection
(Miyato & Koyama 2018: l(x, y) = psi(phi(x)) + <embed(y), phi(x)>) or, in AC-GAN (Odena et al. 2017),
through an auxiliary classifier on phi(x) trained on real and fake images by both players.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from genzoo.conditional import ClassConditional
from genzoo.errors import ConfigError
from genzoo.models.base import Batch, GenerativeModel, Output, device_of, evaluating
from genzoo.models.capabilities import Capability
from genzoo.nn import check_layer_sizes, mlp
from genzoo.nn.dcgan import ConvFeatures, ConvGenerator, activation, mlp_features, with_spectral_norm
from genzoo.registry import register

STAT_BATCHES, STAT_BATCH = 8, 256  # batch-norm statistics re-estimated for sampling (see below)


@dataclass(kw_only=True)
class GANConfig:
    arch: Literal["mlp", "conv"] = "mlp"
    latent_dim: int = 64
    hidden: tuple[int, ...] = (256, 512)  # mlp: G's hidden sizes; D uses them reversed
    channels: tuple[int, ...] = (64, 128)  # conv: D's stride-2 stages (= G's number of 2x upsamplings)
    # conv: G's channels after the linear projection, then one 5x5 transposed conv per later entry
    # (stride 1 for the first len(g_channels) - len(channels) of them, then stride 2) and one to C
    g_channels: tuple[int, ...] = (128, 64)
    g_activation: Literal["relu", "leaky-relu"] = "relu"
    d_batch_norm: bool = True  # conv: batch norm after every D conv but the first
    d_dropout: float = 0.0  # dropout after every D layer
    spectral_norm: bool = False  # spectral normalisation of every D weight (then no batch norm in D)
    loss: Literal["ns", "minimax", "hinge"] = "ns"
    d_steps: int = 1  # D updates per G update
    label_smoothing: float = 0.0  # one-sided: D's target for real images is 1 - s (ns/minimax)
    output: Literal["auto", "tanh", "sigmoid", "identity"] = "auto"  # auto: tanh for images, else identity


@dataclass(kw_only=True)
class DCGANConfig(GANConfig):
    arch: Literal["mlp", "conv"] = "conv"
    latent_dim: int = 100


@dataclass(kw_only=True)
class CGANConfig(DCGANConfig):
    num_classes: int = 10
    class_names: tuple[str, ...] = ()  # () -> the data's class names, else "0", "1", ...
    conditioning: Literal["projection", "concat", "acgan"] = "projection"


@dataclass(kw_only=True)
class ACGANConfig(CGANConfig):
    conditioning: Literal["projection", "concat", "acgan"] = "acgan"


# -- the losses, on D's logits l (any shape); each is averaged over the batch ------------------------
def d_loss(kind: str, l_real: torch.Tensor, l_fake: torch.Tensor, smoothing: float = 0.0) -> torch.Tensor:
    """D's loss. ns/minimax: -E[log D(x)] - E[log(1 - D(G(z)))], i.e. binary cross-entropy with
    target 1 - smoothing for real and 0 for fake (log sigmoid(l) = -softplus(-l), log(1 - sigmoid(l))
    = -softplus(l)). hinge: E[relu(1 - l(x))] + E[relu(1 + l(G(z)))]."""
    if kind == "hinge":
        return F.relu(1 - l_real).mean() + F.relu(1 + l_fake).mean()
    real = (1 - smoothing) * F.softplus(-l_real) + smoothing * F.softplus(l_real)
    return real.mean() + F.softplus(l_fake).mean()


def g_loss(kind: str, l_fake: torch.Tensor) -> torch.Tensor:
    """G's loss. minimax: E[log(1 - D(G(z)))] = -E[softplus(l)]; ns: -E[log D(G(z))] = E[softplus(-l)];
    hinge: -E[l]."""
    if kind == "minimax":
        return -F.softplus(l_fake).mean()
    if kind == "ns":
        return F.softplus(-l_fake).mean()
    return -l_fake.mean()


@register
class GAN(GenerativeModel):
    """GAN with MLP generator and discriminator (Goodfellow et al. 2014)."""

    model_type = "gan"
    capabilities = frozenset({Capability.SAMPLER, Capability.DECODER})
    config_class = GANConfig

    def bf16_default(self) -> bool:  # bench_precision: conv 0.55-1.15x (8x8), 1.5-1.7x (28x28); mlp 0.7-1.06x
        return self.config.arch == "conv" and min(self.shape[1:]) >= 16

    players = ("disc", "gen")
    ddp_find_unused = True  # G's weights get no gradient in D's step and D's none in G's
    train_defaults = {  # Radford et al.'s Adam, constant rate, an EMA of the weights for sampling
        "lr": 2e-4,
        "betas": (0.5, 0.999),
        "batch_size": 64,
        "warmup_steps": 0,
        "schedule": "constant",
        "grad_clip": 0.0,
        "ema_decay": 0.999,
    }
    min_useful_steps = 1000  # the players need a while to leave their initial noise
    n_classes_in = 0  # size of the one-hot label given to G (conditional models)

    def __init__(self, config: GANConfig, shape: tuple[int, ...]) -> None:
        super().__init__(config, shape)
        c = config
        check_layer_sizes(hidden=c.hidden, channels=c.channels, g_channels=c.g_channels)
        rules = [
            (c.latent_dim >= 1, f"latent_dim must be at least 1, got {c.latent_dim}"),
            (c.d_steps >= 1, f"d_steps must be at least 1, got {c.d_steps}"),
            (0 <= c.label_smoothing < 0.5, f"label_smoothing must be in [0, 0.5), got {c.label_smoothing}"),
            (0 <= c.d_dropout < 1, f"d_dropout must be in [0, 1), got {c.d_dropout}"),
            (
                not (c.loss == "hinge" and c.label_smoothing > 0),
                "label_smoothing applies to the ns/minimax losses, not hinge",
            ),
        ]
        if bad := [msg for ok, msg in rules if not ok]:
            raise ConfigError("; ".join(bad))
        if c.arch == "conv" and len(self.shape) != 3:
            raise ConfigError(
                f"arch 'conv' needs image data (C, H, W), got shape {self.shape}; use --arch mlp"
            )
        if c.arch == "conv" and len(c.g_channels) < len(c.channels):
            raise ConfigError(
                f"g_channels needs at least as many entries as channels ({len(c.channels)} upsamplings), "
                f"got {','.join(map(str, c.g_channels))}"
            )
        self.out_fn = c.output if c.output != "auto" else ("tanh" if len(self.shape) == 3 else "identity")
        g_in = c.latent_dim + self.n_classes_in
        n_pix = math.prod(self.shape)
        if c.arch == "conv":
            self.gen = ConvGenerator(g_in, c.g_channels, len(c.channels), self.shape, c.g_activation)
            body = ConvFeatures(
                self._d_input_shape(), c.channels, c.d_batch_norm and not c.spectral_norm, c.d_dropout
            )
            feat_dim = body.out_dim
        else:
            self.gen = mlp([g_in, *c.hidden, n_pix], activation(c.g_activation))
            d_sizes = [n_pix + self._d_input_extra(), *c.hidden[::-1]]
            body = nn.Sequential(nn.Flatten(), mlp_features(d_sizes, c.d_dropout))
            feat_dim = d_sizes[-1]
        self.disc = nn.ModuleDict({"body": body, "head": nn.Linear(feat_dim, 1)})
        self._build_conditioning(feat_dim)
        if c.spectral_norm:
            with_spectral_norm(self.disc)
        self._step = -1  # the trainer's step (set_step); -1 outside the trainer
        self._fake: tuple[torch.Tensor, torch.Tensor | None] | None = None  # G(z) shared by D's and G's steps

    # -- conditioning hooks (the conditional models override them) -------------------------------
    def _d_input_shape(self) -> tuple[int, ...]:
        return self.shape

    def _d_input_extra(self) -> int:
        return 0

    def _build_conditioning(self, feat_dim: int) -> None:
        pass

    def _g_input(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return z

    def _labels(self, batch: Batch) -> torch.Tensor | None:
        return None

    def _disc(self, xg: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """D on input in G's range: the logit l (B,) and auxiliary class logits (B, K) (AC-GAN) or None."""
        return self.disc["head"](self.disc["body"](xg)).squeeze(1), None

    def discriminate(
        self, x: torch.Tensor, y: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """D's logit (B,) for x (B, *shape) in the data's range (D(x) = sigmoid(logit)), and AC-GAN's
        class logits (None for the other models)."""
        return self._disc(self._to_d(x), y)

    # -- networks ------------------------------------------------------------------------------
    def _to_d(self, x: torch.Tensor) -> torch.Tensor:
        """Data-range x -> the generator's output range (tanh: [0, 1] -> [-1, 1])."""
        return x * 2 - 1 if self.out_fn == "tanh" else x

    def generate_raw(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """G(z): (B, d) -> (B, *shape) in G's own range ([-1, 1] for tanh)."""
        h = self.gen(self._g_input(z, y)).view(z.shape[0], *self.shape)
        if self.out_fn == "tanh":
            return torch.tanh(h)
        return torch.sigmoid(h) if self.out_fn == "sigmoid" else h

    def _from_g(self, x: torch.Tensor) -> torch.Tensor:
        return (x + 1) / 2 if self.out_fn == "tanh" else x

    def _noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, self.config.latent_dim, generator=generator).to(next(self.parameters()).device)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    # -- training ------------------------------------------------------------------------------
    def set_step(self, step: int) -> None:
        self._step = step

    def players_at(self, step: int) -> tuple[str, ...]:
        """D every step, G every ``d_steps``-th step."""
        return self.players if (step + 1) % self.config.d_steps == 0 else ("disc",)

    def player_parameters(self, player: str) -> list[nn.Parameter]:
        return list((self.disc if player == "disc" else self.gen).parameters())

    def loss(self, batch: Batch, player: str = "disc") -> Output:
        x = batch[0]
        y = self._labels(batch)
        if player == "disc":
            g_follows = self._step >= 0 and "gen" in self.players_at(self._step)
            with torch.set_grad_enabled(g_follows and torch.is_grad_enabled()):
                fake = self.generate_raw(self._noise(x.shape[0]), y)
            # as in the PyTorch DCGAN example: G's step of this training step reuses this G(z)
            self._fake = (fake, y) if g_follows else None
            l_real, aux_real = self._disc(self._to_d(x), y)
            l_fake, aux_fake = self._disc(fake.detach(), y)
            loss = d_loss(self.config.loss, l_real, l_fake, self.config.label_smoothing)
            terms = {
                "D_x": torch.sigmoid(l_real.detach()).mean(),
                "D_G_z": torch.sigmoid(l_fake.detach()).mean(),
            }
            if aux_real is not None:
                aux = F.cross_entropy(aux_real, y) + F.cross_entropy(aux_fake, y)
                loss = loss + aux
                terms["aux_ce"] = aux.detach()
            return Output(loss, terms)
        fake, y = self._fake if self._fake is not None else (self.generate_raw(self._noise(x.shape[0]), y), y)
        self._fake = None
        # D's weights get no gradient in G's step (gradients flow through D to G only)
        for p in self.disc.parameters():
            p.requires_grad_(False)
        try:
            l_fake, aux_fake = self._disc(fake, y)
        finally:
            for p in self.disc.parameters():
                p.requires_grad_(True)
        loss = g_loss(self.config.loss, l_fake)
        terms = {"D_G_z": torch.sigmoid(l_fake.detach()).mean()}
        if aux_fake is not None:
            aux = F.cross_entropy(aux_fake, y)
            loss = loss + aux
            terms["aux_ce"] = aux.detach()
        return Output(loss, terms)

    @torch.no_grad()
    def prepare_for_sampling(self, x: torch.Tensor) -> None:
        """Re-estimate G's batch-norm statistics for its current (e.g. averaged) weights: the
        population mean/variance over STAT_BATCHES x STAT_BATCH fixed-noise batches, so that
        sampling in eval mode matches these weights (BigGAN's 'standing statistics')."""
        bns = [m for m in self.gen.modules() if isinstance(m, _BatchNorm)]
        if not bns:
            return
        momenta, was_training = [m.momentum for m in bns], self.gen.training
        for m in bns:
            m.reset_running_stats()
            m.momentum = None  # cumulative average
        self.gen.train()
        g = torch.Generator().manual_seed(0)
        for _ in range(STAT_BATCHES):
            z = self._noise(STAT_BATCH, g)
            self.gen(self._g_input(z, self._random_labels(STAT_BATCH, g)))
        for m, mom in zip(bns, momenta, strict=True):
            m.momentum = mom
        self.gen.train(was_training)

    def _random_labels(self, n: int, generator: torch.Generator | None) -> torch.Tensor | None:
        return None

    # -- using the model -----------------------------------------------------------------------
    @torch.no_grad()
    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The generator as a decoder: G(z) (G(z, y) for a conditional model, y (B,) long) for latents
        z (B, latent_dim) ~ N(0, I) (``sample_latent``), in the data's range, (B, *shape); G in eval mode
        (its batch norm's statistics)."""
        if Capability.CONDITIONAL not in self.capabilities:
            self.no_labels(y)
        with evaluating(self.gen):
            x = self._from_g(self.generate_raw(z.to(device_of(self)), y))
        return x.clamp(0, 1) if self.out_fn != "identity" else x

    def progress_rows(self, x: torch.Tensor, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        """Four rows of eight samples from the same fixed noise at every call."""
        return list(self.sample(32, generator=generator).split(8))


@register
class DCGAN(GAN):
    """Deep convolutional GAN (Radford et al. 2016): strided convs, batch norm, Adam 2e-4, beta1 0.5."""

    model_type = "dcgan"
    config_class = DCGANConfig


@register
class CGAN(ClassConditional, DCGAN):
    """Class-conditional GAN: G(z, y), D with a projection, concatenation or AC-GAN classifier."""

    model_type = "cgan"
    config_class = CGANConfig
    capabilities = GAN.capabilities | {Capability.CONDITIONAL}

    def __init__(self, config: CGANConfig, shape: tuple[int, ...]) -> None:
        self.check_class_config(config)
        super().__init__(config, shape)

    @property
    def n_classes_in(self) -> int:
        return self.config.num_classes

    def _d_input_shape(self) -> tuple[int, ...]:  # concat: the one-hot as K constant channels
        c, *hw = self.shape
        return (c + self.config.num_classes, *hw) if self.config.conditioning == "concat" else self.shape

    def _d_input_extra(self) -> int:
        return self.config.num_classes if self.config.conditioning == "concat" else 0

    def _build_conditioning(self, feat_dim: int) -> None:
        if self.config.conditioning == "projection":
            # embed(y) at the scale of the head's weights, U(-1/sqrt(F), 1/sqrt(F)): with PyTorch's
            # N(0, 1) the projection of an F-dim phi starts ~sqrt(F) times larger than psi(phi) and D
            # wins at once (measured: G loss 62 at step 200 on Fashion-MNIST, F = 6272)
            self.disc["embed"] = nn.Embedding(self.config.num_classes, feat_dim)
            bound = 1 / math.sqrt(feat_dim)
            nn.init.uniform_(self.disc["embed"].weight, -bound, bound)
        elif self.config.conditioning == "acgan":
            self.disc["aux"] = nn.Linear(feat_dim, self.config.num_classes)

    def _labels(self, batch: Batch) -> torch.Tensor:
        return self.batch_labels(batch)

    def _one_hot(self, y: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return F.one_hot(y.to(like.device), self.config.num_classes).to(like.dtype)  # (B, K)

    def _g_input(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if y is None:
            raise ConfigError("cgan's generator needs class labels y")
        return torch.cat([z, self._one_hot(y, z)], dim=1)  # (B, d + K)

    def _disc(self, xd: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        mode = self.config.conditioning
        if mode == "concat":
            h = self._one_hot(y, xd)
            if self.config.arch == "conv":
                xd = torch.cat([xd, h[:, :, None, None].expand(-1, -1, *xd.shape[2:])], dim=1)
            else:
                xd = torch.cat([xd.flatten(1), h], dim=1)
        phi = self.disc["body"](xd)  # (B, F)
        logit = self.disc["head"](phi).squeeze(1)  # (B,)
        if mode == "projection":  # + <embed(y), phi(x)>
            logit = logit + (self.disc["embed"](y) * phi).sum(1)
        return logit, (self.disc["aux"](phi) if mode == "acgan" else None)

    def _random_labels(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        return torch.randint(self.config.num_classes, (n,), generator=generator)

    def progress_rows(self, x: torch.Tensor, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        """One row per class (up to 10), the same eight noise vectors in every row."""
        z = self.sample_latent(8, generator)
        return [
            self.decode(z, torch.full((8,), c, dtype=torch.long)) for c in range(min(10, self.num_classes))
        ]


@register
class ACGAN(CGAN):
    """AC-GAN (Odena et al. 2017): a cgan whose D also classifies real and generated images."""

    model_type = "acgan"
    config_class = ACGANConfig
