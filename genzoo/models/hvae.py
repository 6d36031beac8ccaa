"""A hierarchical VAE: ``hvae``, two stochastic layers with top-down inference.

The generative model is p(z2) p(z1|z2) p(x|z1): z2 ~ N(0, I) (d2 = ``latent_dim``), z1 | z2 ~
N(mu_p(z2), diag(sigma_p(z2)^2)) (d1 = ``bottom_dim``), and the VAE's decoder p(x|z1). Inference
runs top-down, as the generative model does (Sønderby et al. 2016, the ladder VAE; Vahdat & Kautz
2020, NVAE): a bottom-up network reads x once into features h, then

    q(z2|x) = N(mu_2(h), sigma_2(h)^2),    q(z1|x, z2) = N(mu_1(h, z2), sigma_1(h, z2)^2),

so both KL terms of the ELBO have closed forms given a draw of z2:

    ELBO(x) = E_q[log p(x|z1)] - KL(q(z2|x) || p(z2)) - E_q(z2|x)[KL(q(z1|x, z2) || p(z1|z2))].

``iwae_k`` > 1 trains on the IWAE bound with the log weights
log w = log p(x|z1) + log p(z1|z2) + log p(z2) - log q(z2|x) - log q(z1|x, z2), as for ``vae``.

The code the latent tools use (encode, decode, interpolate, sliders) is (z2, e1), d2 + d1 numbers,
with e1 the standard-normal noise of z1 = mu_p(z2) + sigma_p(z2) * e1: its prior is N(0, I), so
``sample`` = decode(N(0, I)) is ancestral sampling of both layers, and encode(x) = (mu_2, (mu_1 -
mu_p) / sigma_p) at the posterior means decodes to x's reconstruction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from genzoo.errors import ConfigError
from genzoo.gaussians import (
    gaussian_kl,
    gaussian_kl_between,
    log_normal,
    posterior_log_density,
    standard_normal_log_density,
)
from genzoo.models.base import Batch, Output
from genzoo.models.vae import VAE, VAEConfig
from genzoo.nn.blocks import mlp
from genzoo.registry import register

LOGVAR_RANGE = (-8.0, 8.0)  # the upper layers' log-variances (std 0.018 .. 55): no collapse, no blow-up


@dataclass(kw_only=True)
class HVAEConfig(VAEConfig):
    latent_dim: int = 16  # z2, the top layer (prior N(0, I))
    bottom_dim: int = 32  # z1, the layer the decoder p(x|z1) reads
    top_hidden: tuple[int, ...] = (256,)  # hidden sizes of the networks between the layers


@register
class HVAE(VAE):
    model_type = "hvae"
    config_class = HVAEConfig
    priors = ("normal",)  # p(z2) = N(0, I), p(z1|z2) learned

    def __init__(self, config: HVAEConfig, shape: tuple[int, ...]) -> None:
        if config.bottom_dim < 1:
            raise ConfigError(f"bottom_dim (the size of z1) must be at least 1, got {config.bottom_dim}")
        if not config.top_hidden or min(config.top_hidden) < 1:
            raise ConfigError(f"top_hidden needs at least one size >= 1, got {config.top_hidden}")
        super().__init__(config, shape)  # encoder x -> h (B, 2 d1), decoder z1 -> p(x|z1)
        d1, d2, hid = config.bottom_dim, config.latent_dim, list(config.top_hidden)
        act = {"silu": nn.SiLU, "relu": nn.ReLU}[config.activation]
        self.q_top = mlp([2 * d1, *hid, 2 * d2], act)  # h -> (mu_2, logvar_2) of q(z2|x)
        self.q_bottom = mlp([2 * d1 + d2, *hid, 2 * d1], act)  # (h, z2) -> (mu_1, logvar_1) of q(z1|x, z2)
        self.p_bottom = mlp([d2, *hid, 2 * d1], act)  # z2 -> (mu_p, logvar_p) of p(z1|z2)

    @property
    def latent_dim(self) -> int:  # the code (z2, e1)
        return self.config.latent_dim + self.config.bottom_dim

    @property
    def bottom_dim(self) -> int:
        return self.config.bottom_dim

    # -- the layers ----------------------------------------------------------------------------------
    @staticmethod
    def _gaussian(params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(..., 2d) -> (mu, logvar), each (..., d), in fp32, logvar clamped to LOGVAR_RANGE."""
        mu, logvar = params.float().chunk(2, dim=-1)
        return mu, logvar.clamp(*LOGVAR_RANGE)

    def features(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The bottom-up pass h (B, 2 d1), read once per x by both inference layers."""
        return self.encoder(self._enc_input(x, y)).float()

    def q_z2(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._gaussian(self.q_top(h))

    def q_z1(self, h: torch.Tensor, z2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z1|x, z2) for h (..., 2 d1) and z2 (..., d2)."""
        return self._gaussian(self.q_bottom(torch.cat([h, z2], dim=-1)))

    def p_z1(self, z2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._gaussian(self.p_bottom(z2))

    def posterior(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar) of q(z1|x, z2) at z2 = the mean of q(z2|x), each (B, d1)."""
        h = self.features(x, y)
        return self.q_z1(h, self.q_z2(h)[0])

    # -- the code (z2, e1) -----------------------------------------------------------------------------
    def _split(self, code: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return code.split([self.config.latent_dim, self.config.bottom_dim], dim=1)

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """(z2, e1) at the posterior means: z2 = mu_2(x), e1 = (mu_1(x, z2) - mu_p(z2)) / sigma_p(z2); (B, d2 + d1)."""
        return self._code(self.features(x, y))

    def _code(self, h: torch.Tensor) -> torch.Tensor:
        """encode's code from the bottom-up features h (B, 2 d1)."""
        z2 = self.q_z2(h)[0]
        mu_p, logvar_p = self.p_z1(z2)
        return torch.cat([z2, (self.q_z1(h, z2)[0] - mu_p) * torch.exp(-0.5 * logvar_p)], dim=1)

    def decode_logits(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """A code (B, d2 + d1) -> z1 = mu_p(z2) + sigma_p(z2) e1 -> the decoder's parameters of p(x|z1)."""
        z2, e1 = self._split(z.float())
        mu_p, logvar_p = self.p_z1(z2)
        return self._bottom_logits(mu_p + torch.exp(0.5 * logvar_p) * e1, y)

    def _bottom_logits(self, z1: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return super().decode_logits(z1, y)

    # -- the objective ---------------------------------------------------------------------------------
    def _one_draw(self, x: torch.Tensor, h: torch.Tensor, e2: torch.Tensor, e1: torch.Tensor):
        """One draw z2 ~ q(z2|x), z1 ~ q(z1|x, z2) from the noises e2 (B, d2), e1 (B, d1):
        (-log p(x|z1) (B,), KL of z2 per unit (B, d2), KL of z1 given z2 (B,))."""
        mu2, logvar2 = self.q_z2(h)
        z2 = mu2 + torch.exp(0.5 * logvar2) * e2
        mu1, logvar1 = self.q_z1(h, z2)
        z1 = mu1 + torch.exp(0.5 * logvar1) * e1
        kl1 = gaussian_kl_between(mu1, logvar1, *self.p_z1(z2)).sum(1)
        kl2 = gaussian_kl(mu2, logvar2)  # KL(q(z2|x) || N(0, I)) per unit
        return self.recon_nll(self._bottom_logits(z1), x), kl2, kl1

    def loss(self, batch: Batch, player: str = "model") -> Output:
        x = batch[0]
        if self.config.iwae_k > 1:
            return self._iwae_loss(x, None)
        h = self.features(x)
        e2 = torch.randn(x.shape[0], self.config.latent_dim, device=x.device)
        e1 = torch.randn(x.shape[0], self.config.bottom_dim, device=x.device)
        recon, kl2, kl1 = self._one_draw(x, h, e2, e1)
        kl = kl2.sum(1) + kl1
        terms = {
            "recon": recon.mean().detach(),
            "kl": kl.mean().detach(),
            "kl_top": kl2.sum(1).mean().detach(),
        }
        return Output((recon + kl).mean(), terms | {"elbo": -(recon + kl).mean().detach()})

    def _iwae_loss(self, x: torch.Tensor, y: torch.Tensor | None) -> Output:
        """-L_k averaged over the batch, k = iwae_k (as ``vae``'s, with both layers in the weights)."""
        k = self.config.iwae_k
        log_w = self._draw_log_weights(x, y, self._proposal(x, y), k)  # (k, B)
        bound = torch.logsumexp(log_w, 0) - math.log(k)
        return Output(-bound.mean(), {"iwae": bound.mean().detach(), "elbo": log_w.mean().detach()})

    def _proposal(self, x: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
        return (self.features(x, y),)

    def _draw_log_weights(
        self,
        x: torch.Tensor,
        y: torch.Tensor | None,
        proposal: tuple[torch.Tensor, ...],
        n: int,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """log w of n draws (z2, z1) ~ q(z2|x) q(z1|x, z2), (n, B); e2 is drawn before e1."""
        (h,) = proposal  # (B, 2 d1)
        b, (d2, d1) = h.shape[0], (self.config.latent_dim, self.config.bottom_dim)
        e2 = torch.randn(n, b, d2, generator=generator).to(h.device)
        e1 = torch.randn(n, b, d1, generator=generator).to(h.device)
        hn = h.expand(n, *h.shape)  # (n, B, 2 d1)
        mu2, logvar2 = self.q_z2(h)  # (B, d2)
        z2 = mu2 + torch.exp(0.5 * logvar2) * e2  # (n, B, d2)
        mu1, logvar1 = self.q_z1(hn, z2)  # (n, B, d1)
        z1 = mu1 + torch.exp(0.5 * logvar1) * e1
        # log q(z2|x) q(z1|x, z2)
        log_q = posterior_log_density(e2, logvar2) + posterior_log_density(e1, logvar1)
        log_p2 = standard_normal_log_density(z2)  # log p(z2), N(0, I)
        log_prior = log_p2 + log_normal(z1, *self.p_z1(z2))  # log p(z2) p(z1|z2)
        logits = self._bottom_logits(z1.flatten(0, 1))  # (n B, *shape)
        log_px = -self.recon_nll(logits, x.repeat(n, *([1] * (x.dim() - 1)))).view(n, b)
        return log_px + log_prior - log_q

    @torch.no_grad()
    def elbo_terms(
        self, x: torch.Tensor, y: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """Per example at one draw: ``recon`` -log p(x|z1), ``kl`` = KL(q(z2|x) || p(z2)) + KL(q(z1|x, z2)
        || p(z1|z2)), both closed forms given the drawn z2 (so kl >= 0), and ``mu`` = encode(x)."""
        self.no_labels(y)
        b = x.shape[0]
        e2 = torch.randn(b, self.config.latent_dim, generator=generator).to(x.device)
        e1 = torch.randn(b, self.config.bottom_dim, generator=generator).to(x.device)
        h = self.features(x)  # one bottom-up pass for the draw and the code
        recon, kl2, kl1 = self._one_draw(x, h, e2, e1)
        return {"recon": recon, "kl": kl2.sum(1) + kl1, "mu": self._code(h)}


__all__ = ["HVAE", "HVAEConfig", "gaussian_kl_between", "log_normal"]
