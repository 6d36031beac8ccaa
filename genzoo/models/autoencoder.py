"""Autoencoders: plain (``ae``), deep/stacked with greedy layer-wise pretraining (``deep-ae``)
and denoising (``dae``).

An autoencoder learns an encoder f: x -> z (B, latent_dim) and a decoder g: z -> x_hat (B, *shape)
by minimising the reconstruction loss L(x, g(f(x))): binary cross-entropy on pixel intensities in
[0, 1] (the decoder emits logits) or mean squared error. A denoising autoencoder minimises
L(x, g(f(c(x)))) for a corruption c (Gaussian, masking, salt-and-pepper) so that it learns to
restore x. An autoencoder has no prior, so ``sample`` decodes z ~ N(mu, Sigma) with mu and Sigma
fitted to the training codes (``prepare_for_sampling``).

Near-binary codes for semantic hashing (Salakhutdinov & Hinton 2009), ``AEConfig.code``: the
encoder's output h (B, d) becomes z = sigmoid(h + s eps), eps ~ N(0, I), s = ``code_noise``, while
training ("sigmoid-noise": the noise pushes h away from 0, so z saturates near 0 or 1), or
z = sigmoid(h) + stopgrad(1[h > 0] - sigmoid(h)) ("straight-through": the decoder sees bits, the
gradient is the sigmoid's). In eval mode both give z = sigmoid(h) in (0, 1); the binary code is
z > 0.5 (``code_threshold``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from genzoo.data.corrupt import apply_noise, parse_noise
from genzoo.errors import ConfigError
from genzoo.models.base import Batch, FittedCodePrior, GenerativeModel, Output
from genzoo.models.capabilities import Capability
from genzoo.nn import check_layer_sizes, encoder_decoder
from genzoo.registry import register


@dataclass(kw_only=True)
class AEConfig:
    arch: Literal["conv", "mlp"] = "conv"
    latent_dim: int = 32
    channels: tuple[int, ...] = (32, 64)  # conv: channels of each stride-2 stage
    hidden: tuple[int, ...] = (512, 256)  # mlp: hidden sizes of the encoder (decoder mirrors)
    loss: Literal["bce", "mse"] = "bce"
    output: Literal["sigmoid", "identity"] = "sigmoid"  # identity for unbounded data (toy 2-D)
    # the code z: "real" (unbounded; the default, and what configs saved without the key load as),
    # or near-binary for semantic hashing: "sigmoid-noise" (sigmoid(h + code_noise * eps) while
    # training) or "straight-through" (bits forward, sigmoid gradient); eval-mode codes are
    # sigmoid(h) in (0, 1) and the bits are z > 0.5 (see the module docstring)
    code: Literal["real", "sigmoid-noise", "straight-through"] = "real"
    code_noise: float = 1.0  # sigmoid-noise: std s of the Gaussian added to h before the sigmoid


@dataclass(kw_only=True)
class DAEConfig(AEConfig):
    noise: str = "gaussian:0.5"  # gaussian:STD | mask:P | saltpepper:P


@dataclass(kw_only=True)
class DeepAEConfig:
    latent_dim: int = 32
    hidden: tuple[int, ...] = (512, 256, 128)
    loss: Literal["bce", "mse"] = "bce"
    output: Literal["sigmoid", "identity"] = "sigmoid"
    pretrain_steps: int = 0  # greedy layer-wise pretraining: steps per layer (0: end to end only)


class _AutoencoderBase(FittedCodePrior, GenerativeModel):
    """Reconstruction loss, code prior and the encode/decode/reconstruct API of every AE."""

    def bf16_default(self) -> bool:  # bench_precision: conv 1.5x (8x8) to 3.9x (28x28); mlp 0.97-1.14x
        return getattr(self.config, "arch", "mlp") == "conv"

    def __init__(self, config, shape: tuple[int, ...]) -> None:
        super().__init__(config, shape)
        if config.latent_dim < 1:
            raise ConfigError("latent_dim must be at least 1")
        check_layer_sizes(hidden=config.hidden)  # deep-ae's; encoder_decoder checks the others
        if getattr(config, "pretrain_steps", 0) < 0:
            raise ConfigError("pretrain_steps must be >= 0 (0: end to end only)")
        if config.loss == "bce" and config.output != "sigmoid":
            raise ConfigError("loss 'bce' needs output 'sigmoid' (data in [0, 1])")
        self.init_code_prior(config.latent_dim)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:  # (B, *shape) -> (B, d)
        raise NotImplementedError

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:  # (B, d) -> (B, *shape)
        raise NotImplementedError

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        self.no_labels(y)
        logits = self.decode_logits(z)
        return torch.sigmoid(logits) if self.config.output == "sigmoid" else logits

    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.decode(self.encode(x, y))

    def recon_loss(self, logits: torch.Tensor, x: torch.Tensor) -> Output:
        """Per-element mean BCE(x, sigmoid(logits)) or MSE(x, x_hat); MSE is always logged."""
        x_hat = torch.sigmoid(logits) if self.config.output == "sigmoid" else logits
        mse = F.mse_loss(x_hat, x)
        if self.config.loss == "bce":
            bce = F.binary_cross_entropy_with_logits(logits, x)
            return Output(bce, {"bce": bce.detach(), "mse": mse.detach()})
        return Output(mse, {"mse": mse.detach()})

    def loss(self, batch: Batch, player: str = "model") -> Output:
        x = batch[0]
        return self.recon_loss(self.decode_logits(self.encode(x)), x)

    @torch.no_grad()
    def progress_rows(self, x, generator=None) -> list[torch.Tensor]:
        return [x, self.reconstruct(x)]


@register
class Autoencoder(_AutoencoderBase):
    model_type = "ae"
    config_class = AEConfig

    def __init__(self, config: AEConfig, shape: tuple[int, ...]) -> None:
        super().__init__(config, shape)
        if not (math.isfinite(config.code_noise) and config.code_noise >= 0):
            raise ConfigError(f"code_noise must be a finite number >= 0, got {config.code_noise}")
        d = config.latent_dim
        self.encoder, self.decoder = encoder_decoder(
            config.arch, self.shape, config.channels, config.hidden, d, d
        )

    @property
    def code_threshold(self) -> float | None:
        """0.5 for a near-binary code (bits = encode(x) > 0.5), None for a real one."""
        return None if self.config.code == "real" else 0.5

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:  # (B, *shape) -> (B, d)
        self.no_labels(y)
        h = self.encoder(x if self.config.arch == "conv" else x.flatten(1))
        if self.config.code == "real":
            return h
        z = torch.sigmoid(h)
        if self.config.code == "sigmoid-noise":
            if not self.training:
                return z  # in (0, 1), near 0 or 1 after training; the bits are z > 0.5
            return torch.sigmoid(h + self.config.code_noise * torch.randn_like(h))  # z = sigmoid(h + s eps)
        bits = (h > 0).to(z.dtype)  # straight-through: the decoder always sees the bits
        return z + (bits - z).detach() if self.training else bits  # (sigmoid's gradient in training)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).view(z.shape[0], *self.shape)


@register
class DenoisingAutoencoder(Autoencoder):
    model_type = "dae"
    config_class = DAEConfig
    capabilities = Autoencoder.capabilities | {Capability.DENOISER}

    def __init__(self, config: DAEConfig, shape: tuple[int, ...]) -> None:
        parse_noise(config.noise)  # a bad spec fails here, naming the valid forms
        super().__init__(config, shape)

    def corrupt(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return apply_noise(x, self.config.noise, generator)

    def loss(self, batch: Batch, player: str = "model") -> Output:
        """L(x, g(f(c(x)))): reconstruct the clean x from its corruption c(x)."""
        x = batch[0]
        return self.recon_loss(self.decode_logits(self.encode(self.corrupt(x))), x)

    @torch.no_grad()
    def progress_rows(self, x, generator=None) -> list[torch.Tensor]:
        noisy = self.corrupt(x, generator)
        return [x, noisy, self.reconstruct(noisy)]


@register
class DeepAutoencoder(_AutoencoderBase):
    """Stacked MLP autoencoder, optionally pretrained greedily one layer pair at a time.

    Stage k (steps [k P, (k+1) P)) trains encoder layer k and its mirror decoder layer k to
    reconstruct h_k, the frozen output of the layers below (h_0 = x); then all layers are
    fine-tuned end to end.
    """

    model_type = "deep-ae"
    config_class = DeepAEConfig
    ddp_find_unused = True  # greedy stages leave the other layers without gradients

    def __init__(self, config: DeepAEConfig, shape: tuple[int, ...]) -> None:
        super().__init__(config, shape)
        dims = [math.prod(self.shape), *config.hidden, config.latent_dim]
        self.enc = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True))
        self.dec = nn.ModuleList(nn.Linear(b, a) for a, b in zip(dims[:-1], dims[1:], strict=True))
        self.register_buffer("step", torch.zeros((), dtype=torch.long), persistent=False)

    def set_step(self, step: int) -> None:
        self.step.fill_(step)

    def _enc_layer(self, k: int, h: torch.Tensor) -> torch.Tensor:
        h = self.enc[k](h)
        return F.silu(h) if k < len(self.enc) - 1 else h  # the code layer is linear

    def _dec_layer(self, k: int, h: torch.Tensor) -> torch.Tensor:
        h = self.dec[k](h)
        return F.silu(h) if k > 0 else h  # dec[0] emits logits

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        self.no_labels(y)
        h = x.flatten(1)
        for k in range(len(self.enc)):
            h = self._enc_layer(k, h)
        return h

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        h = z
        for k in reversed(range(len(self.dec))):
            h = self._dec_layer(k, h)
        return h.view(z.shape[0], *self.shape)

    def loss(self, batch: Batch, player: str = "model") -> Output:
        x = batch[0]
        p = self.config.pretrain_steps
        stage = int(self.step) // p if p > 0 else len(self.enc)
        if stage >= len(self.enc):
            return super().loss(batch, player)
        with torch.no_grad():  # h_k from the frozen layers below stage k
            h = x.flatten(1)
            for k in range(stage):
                h = self._enc_layer(k, h)
        out = self._dec_layer(stage, self._enc_layer(stage, h))
        if stage == 0:
            res = self.recon_loss(out.view_as(x), x)
        else:
            res = Output(F.mse_loss(out, h), {})
        res.terms["stage"] = torch.tensor(float(stage))
        return res
