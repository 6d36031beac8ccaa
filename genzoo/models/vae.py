"""Variational autoencoders: ``vae``, ``beta-vae`` (KL weight, warm-up, free bits) and ``cvae``.

The encoder gives q(z|x) = N(mu(x), diag(exp(logvar(x)))), the decoder p(x|z), the prior is
p(z) = N(0, I). Training maximises the evidence lower bound (Kingma & Welling 2014)

    log p(x) >= ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || p(z)),

i.e. minimises loss = reconstruction NLL + KL, both summed over the example (nats) and averaged
over the batch. ``log_likelihood`` tightens the bound by importance sampling (the IWAE bound,
Burda et al. 2015); ``iwae_k`` > 1 trains on that bound instead,

    L_k(x) = E[log (1/k) sum_i p(x, z_i) / q(z_i|x)],  z_1..z_k ~ q(z|x),  ELBO = L_1 <= L_k <= log p(x).

``prior 'vamp'`` replaces N(0, I) by the VampPrior (Tomczak & Welling 2018), a mixture of the
encoder's own posteriors at K learned pseudo-inputs u_k,

    p(z) = (1/K) sum_k q(z|u_k),

so the prior can follow the aggregate posterior; its KL has no closed form and is the one-sample
estimate log q(z|x) - log p(z) at the reparameterised z (unbiased, so the ELBO stays exact in
expectation, and the IWAE bound uses log p(z) as it is).

The cvae conditions encoder and decoder on a one-hot label: as extra constant
input channels of the conv encoder (or appended to the flattened input for ``arch mlp``) and
appended to z for the decoder.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from genzoo import likelihoods
from genzoo.conditional import ClassConditional
from genzoo.errors import ConfigError, GenzooError
from genzoo.gaussians import (
    gaussian_kl,
    mixture_log_density,
    mixture_sample,
    posterior_log_density,
    standard_normal_log_density,
)
from genzoo.likelihoods import LEVELS, LOG_SCALE_MIN, discretized_logistic_logp  # noqa: F401 (re-exported)
from genzoo.models.base import Batch, GenerativeModel, Output, device_of, evaluating
from genzoo.models.capabilities import Capability
from genzoo.nn import encoder_decoder
from genzoo.registry import register
from genzoo.seeds import Noise, resolve_seeds

SIGMA_MIN = 1e-3  # floor of a learned decoder std (a density on 256 levels must not collapse)


@dataclass(kw_only=True)
class VAEConfig:
    arch: Literal["conv", "mlp"] = "conv"
    latent_dim: int = 16
    channels: tuple[int, ...] = (32, 64)  # conv: channels of each stride-2 stage
    hidden: tuple[int, ...] = (512, 256)  # mlp: hidden sizes of the encoder (decoder mirrors)
    activation: Literal["silu", "relu"] = "silu"
    # p(x|z): bernoulli (pixels in [0, 1]), gaussian with fixed std `sigma` or a learned std per
    # pixel, or for 8-bit images a discretized logistic per pixel or a mixture of `mixtures` of them
    likelihood: Literal["bernoulli", "gaussian", "gaussian-learned", "logistic", "logistic-mixture"] = (
        "bernoulli"
    )
    sigma: float = 0.1  # gaussian: the fixed std; gaussian-learned: its initial value
    mixtures: int = 5  # logistic-mixture: components per pixel
    output: Literal["sigmoid", "identity"] = "sigmoid"  # decoder mean; identity for unbounded data
    # the training objective: 1 the ELBO; k > 1 the IWAE bound with k importance samples (Burda et al.
    # 2015), tighter, at k decoder passes per example
    iwae_k: int = 1
    # p(z): 'normal' N(0, I); 'vamp' the VampPrior, a mixture of q(z|u_k) over `prior_components`
    # learned pseudo-inputs u_k (vae and beta-vae)
    prior: Literal["normal", "vamp"] = "normal"
    prior_components: int = 500


@dataclass(kw_only=True)
class BetaVAEConfig(VAEConfig):
    beta: float = 4.0  # weight of the KL term
    kl_warmup_steps: int = 0  # KL weight rises linearly 0 -> beta over these steps (0: no warm-up)
    free_bits: float = 0.0  # floor (nats) on the batch-mean KL of each latent unit (Kingma et al. 2016)


@dataclass(kw_only=True)
class CVAEConfig(VAEConfig):
    num_classes: int = 10
    class_names: tuple[str, ...] = ()  # () -> "0", "1", ..., str(num_classes - 1)


@register
class VAE(GenerativeModel):
    model_type = "vae"
    config_class = VAEConfig
    capabilities = frozenset(
        {
            Capability.SAMPLER,
            Capability.DECODER,
            Capability.ENCODER,
            Capability.LIKELIHOOD,
            Capability.VARIATIONAL,
        }
    )
    cond_dim = 0  # size of the one-hot label given to encoder and decoder (cvae)
    likelihood_k = 1000  # importance samples of the IWAE bound by default
    likelihood_kind = "IWAE bound: a lower bound on log p(x) that tightens as k grows"
    priors: tuple[str, ...] = ("normal", "vamp")  # the config's `prior` values this family takes

    def bf16_default(self) -> bool:  # bench_precision: conv 1.1-1.5x (8x8), 2.6-3.0x (28x28); mlp 0.96x
        return self.config.arch == "conv"

    def __init__(self, config: VAEConfig, shape: tuple[int, ...]) -> None:
        super().__init__(config, shape)
        c = config
        if c.latent_dim < 1:
            raise ConfigError("latent_dim must be at least 1")
        if c.sigma <= 0:
            raise ConfigError(f"sigma must be > 0, got {c.sigma}")
        if c.likelihood == "bernoulli" and c.output != "sigmoid":
            raise ConfigError("likelihood 'bernoulli' needs output 'sigmoid' (data in [0, 1])")
        if c.mixtures < 1:
            raise ConfigError(f"mixtures must be at least 1, got {c.mixtures}")
        if c.iwae_k < 1:
            raise ConfigError(
                f"iwae_k (importance samples of the training bound) must be >= 1, got {c.iwae_k}"
            )
        if c.prior not in self.priors:
            raise ConfigError(
                f"{self.model_type}'s prior is N(0, I); prior {c.prior!r} is for vae and beta-vae"
            )
        d = self.bottom_dim
        # decoder outputs per pixel: 1 (Bernoulli logit / Gaussian mean), 2 (logistic mu, log s),
        # 3K (mixture logits, mu, log s of K components)
        self.n_params = {"logistic": 2, "logistic-mixture": 3 * c.mixtures}.get(c.likelihood, 1)
        # encoder -> (B, 2d) = [mu, logvar]; the cvae's one-hot label goes to both networks
        self.encoder, self.decoder = encoder_decoder(
            c.arch,
            self.shape,
            c.channels,
            c.hidden,
            2 * d,
            d + self.cond_dim,
            cond=self.cond_dim,
            activation=c.activation,
            out_mult=self.n_params,
        )
        if c.likelihood == "gaussian-learned":  # one log-std per pixel, shape (*shape)
            self.log_sigma = nn.Parameter(torch.full(self.shape, math.log(c.sigma)))
        if c.prior_components < 1:  # refused under every prior, as every option is
            raise ConfigError(f"prior_components must be at least 1, got {c.prior_components}")
        if c.prior == "vamp":
            # the K pseudo-inputs (K, *shape), through a sigmoid into [0, 1] for sigmoid-output data
            # (they start as grey images near 0.5 and are learned with the rest)
            self.pseudo_inputs = nn.Parameter(0.1 * torch.randn(c.prior_components, *self.shape))

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def bottom_dim(self) -> int:
        """The size of the latent the decoder p(x|z) reads (a hierarchical VAE's lowest layer)."""
        return self.config.latent_dim

    # -- networks ----------------------------------------------------------------------------
    def _enc_input(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        self.no_labels(y)
        return x if self.config.arch == "conv" else x.flatten(1)

    def _dec_input(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        self.no_labels(y)
        return z

    def posterior(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar) of q(z|x), each (B, d)."""
        mu, logvar = self.encoder(self._enc_input(x, y)).chunk(2, dim=1)
        return mu, logvar

    def decode_logits(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """(B, d) -> the decoder's parameters of p(x|z): (B, *shape) Bernoulli logits or the Gaussian
        mean before ``output``; for the logistic likelihoods (B, n_params, *shape)."""
        out = self.decoder(self._dec_input(z, y))
        if self.n_params == 1:
            return out.view(z.shape[0], *self.shape)
        return out.view(z.shape[0], self.n_params, *self.shape)

    def _mean(self, logits: torch.Tensor) -> torch.Tensor:
        """E[x|z] (B, *shape) from the decoder's parameters (``likelihoods.logistic_mean`` for the
        logistic kinds)."""
        if self.n_params > 1:
            return likelihoods.logistic_mean(logits)
        return torch.sigmoid(logits) if self.config.output == "sigmoid" else logits

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The posterior mean mu(x), (B, d): the deterministic code."""
        return self.posterior(x, y)[0]

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The decoder mean E[x|z], (B, *shape), in [0, 1] for output 'sigmoid'."""
        return self._mean(self.decode_logits(z, y))

    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.decode(self.encode(x, y), y)

    # -- the prior -----------------------------------------------------------------------------
    def prior_mixture(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The VampPrior's components: (mu, logvar) of q(z|u_k), each (K, d), in fp32."""
        u = self.pseudo_inputs
        u = torch.sigmoid(u) if self.config.output == "sigmoid" else u
        mu, logvar = self.posterior(u)
        return mu.float(), logvar.float()

    def log_prior(
        self, z: torch.Tensor, mixture: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """log p(z) of codes z (..., d), shape (...): N(0, I), or the VampPrior's
        log (1/K) sum_k N(z; mu_k, diag(exp(logvar_k))) (``mixture``: its components when the
        caller has them, as ``prior_mixture`` gives them)."""
        if self.config.prior == "normal":
            return standard_normal_log_density(z)
        mu, logvar = self.prior_mixture() if mixture is None else mixture  # (K, d) each
        return mixture_log_density(z, mu, logvar)

    @torch.no_grad()
    def sample_latent(
        self, n: int, generator: torch.Generator | None = None, *, seeds: Sequence[int] | None = None
    ) -> torch.Tensor:
        """Codes z (n, d) from the prior, z_i from seed i alone; the VampPrior draws component k_i
        uniformly (from the seed's first normal through its CDF), then z_i ~ q(z|u_k_i)."""
        if self.config.prior == "normal":
            return super().sample_latent(n, generator, seeds=seeds)
        seeds = resolve_seeds(n, generator, seeds)
        noise = Noise(seeds, device_of(self)).randn(self.latent_dim + 1)  # (n, 1 + d)
        with evaluating(self):
            mu, logvar = self.prior_mixture()  # (K, d)
        return mixture_sample(noise, mu, logvar)

    def kl_units(self, mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """KL(q(z|x) || p(z)) of (mu, logvar) (B, d): per unit in closed form for N(0, I), (B, d);
        for a learned prior the one-sample estimate log q(z|x) - log p(z) at z = mu + sigma * eps,
        (B, 1) (it does not split by unit)."""
        if self.config.prior == "normal":
            return gaussian_kl(mu, logvar)
        z = mu + torch.exp(0.5 * logvar) * eps
        return (posterior_log_density(eps, logvar) - self.log_prior(z)).unsqueeze(1)

    # -- the objective -------------------------------------------------------------------------
    def recon_nll(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """-log p(x|z) summed over the example, (B,), in nats (in fp32 under bf16 autocast: a
        difference of two sigmoids, or a sum over 784 pixels, is lost in bf16's 8-bit mantissa)."""
        return self.pixel_nll(logits, x).flatten(1).sum(1)

    def pixel_nll(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """-log p(x_i|z) of each element, (B, *shape), nats (``genzoo.likelihoods``): p(x|z) factorises
        over the pixels, so a subset of them (inpainting's known pixels) has the sum of their terms as its NLL."""
        logits = logits.float()
        if self.config.likelihood == "bernoulli":
            return likelihoods.bernoulli_nll(logits, x)
        if self.n_params > 1:  # x on the 256-level grid
            return likelihoods.logistic_nll(logits, x)
        if self.config.likelihood == "gaussian":
            log_sigma = torch.full_like(x, math.log(self.config.sigma))
        else:
            log_sigma = self.log_sigma.clamp(min=math.log(SIGMA_MIN)).expand_as(x)
        return likelihoods.gaussian_nll(self._mean(logits), x, log_sigma)

    def kl_objective(self, kl_units: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The KL part of the loss from the per-unit KL (B, d); vae: the batch mean of sum_j KL_j."""
        return kl_units.sum(1).mean(), {}

    def _labels(self, batch: Batch) -> torch.Tensor | None:
        return None

    def _elbo_parts(self, x: torch.Tensor, y: torch.Tensor | None, eps: torch.Tensor | None = None):
        """One-sample ELBO parts: (mu, logvar (B, d), logits (B, *shape), recon (B,), KL per unit (B, d),
        or (B, 1) for a learned prior: ``kl_units``)."""
        mu, logvar = self.posterior(x, y)  # (B, d) each
        mu, logvar = mu.float(), logvar.float()  # under bf16 autocast: the KL and z in fp32
        # the reparameterization trick: z = mu + sigma * eps, eps ~ N(0, I), so the gradient
        # reaches mu and logvar through z (eps carries none)
        eps = torch.randn_like(mu) if eps is None else eps
        z = mu + torch.exp(0.5 * logvar) * eps
        logits = self.decode_logits(z, y)
        return mu, logvar, logits, self.recon_nll(logits, x), self.kl_units(mu, logvar, eps)

    def _log_weights(
        self,
        x: torch.Tensor,
        y: torch.Tensor | None,
        mu: torch.Tensor,
        logvar: torch.Tensor,
        eps: torch.Tensor,
        mixture: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x) of z_i = mu + sigma * eps_i, (n, B), for
        x (B, *shape), mu and logvar (B, d), eps (n, B, d) (``mixture``: the VampPrior's components)."""
        n, b = eps.shape[:2]
        z = mu + torch.exp(0.5 * logvar) * eps  # (n, B, d)
        log_q = posterior_log_density(eps, logvar)  # log q(z|x), (n, B)
        log_pz = self.log_prior(z, mixture)  # log p(z), (n, B)
        yy = None if y is None else y.repeat(n)
        logits = self.decode_logits(z.flatten(0, 1), yy)  # (n B, *shape)
        log_px = -self.recon_nll(logits, x.repeat(n, *([1] * (x.dim() - 1)))).view(n, b)
        return log_px + log_pz - log_q

    def _proposal(self, x: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
        """What the log weights need from x, computed once for every importance sample: (mu, logvar)
        of q(z|x), then for a VampPrior its components' (mu_k, logvar_k) (an encoder pass over the K
        pseudo-inputs, not repeated for every chunk of samples)."""
        mixture = self.prior_mixture() if self.config.prior == "vamp" else ()
        return (*self.posterior(x, y), *mixture)

    def _draw_log_weights(
        self,
        x: torch.Tensor,
        y: torch.Tensor | None,
        proposal: tuple[torch.Tensor, ...],
        n: int,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """log w_i of n fresh draws z_i ~ q(z|x) (``generator`` or the global stream), (n, B);
        ``proposal`` as ``_proposal`` gives it, or (mu, logvar) alone (the prior computed here)."""
        mu, logvar, *mixture = proposal
        eps = torch.randn(n, *mu.shape, generator=generator, dtype=mu.dtype).to(mu.device)
        return self._log_weights(x, y, mu, logvar, eps, tuple(mixture) or None)

    def _iwae_loss(self, x: torch.Tensor, y: torch.Tensor | None) -> Output:
        """-L_k averaged over the batch, k = iwae_k; the gradient reaches the encoder through the
        reparameterised z_i (Burda et al. 2015, eq. 8: each sample weighted by its normalised w_i)."""
        k = self.config.iwae_k
        mu, logvar = (t.float() for t in self.posterior(x, y))  # (B, d) each
        log_w = self._draw_log_weights(x, y, (mu, logvar), k)  # (k, B)
        bound = torch.logsumexp(log_w, 0) - math.log(k)  # L_k per example, (B,)
        terms = {
            "iwae": bound.mean().detach(),
            "elbo": log_w.mean().detach(),
        }
        if self.config.prior == "normal":
            terms["kl"] = gaussian_kl(mu, logvar).sum(1).mean().detach()
        return Output(-bound.mean(), terms)

    def loss(self, batch: Batch, player: str = "model") -> Output:
        x, y = batch[0], self._labels(batch)
        if self.config.iwae_k > 1:
            return self._iwae_loss(x, y)
        _, _, logits, recon, kl_units = self._elbo_parts(x, y)  # recon (B,) nats; KL: kl_units
        kl = kl_units.sum(1)
        kl_loss, extra = self.kl_objective(kl_units)
        loss = recon.mean() + kl_loss
        terms = {
            "recon": recon.mean().detach(),
            "kl": kl.mean().detach(),
            "elbo": -(recon + kl).mean().detach(),
            "mse": F.mse_loss(self._mean(logits), x).detach(),
        }
        return Output(loss, terms | extra)

    @torch.no_grad()
    def elbo_terms(
        self, x: torch.Tensor, y: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """For evaluation, per example: ``recon`` -log p(x|z) (B,) at one z ~ q(z|x), ``kl`` (B,)
        (closed form for N(0, I), the estimate at that z for a VampPrior; -ELBO = recon + kl, nats), and ``mu`` (B, d), the posterior mean."""
        eps = torch.randn(x.shape[0], self.config.latent_dim, generator=generator).to(x.device)
        mu, _, _, recon, kl_units = self._elbo_parts(x, y, eps)
        return {"recon": recon, "kl": kl_units.sum(1), "mu": mu}

    # -- likelihood ------------------------------------------------------------------------------
    @torch.no_grad()
    def log_likelihood(
        self,
        x: torch.Tensor,
        *,
        y: torch.Tensor | None = None,
        k: int | None = None,
        generator: torch.Generator | None = None,
        chunk_rows: int = 2048,
    ) -> torch.Tensor:
        """The IWAE bound on log p(x), (B,) nats: log (1/k) sum_i p(x, z_i) / q(z_i|x), z_i ~ q(z|x).

        k = 1 is an unbiased one-sample estimate of the ELBO; the bound rises to log p(x) as k grows.
        The k samples are drawn in chunks of about ``chunk_rows`` decoder rows, so memory stays
        bounded. Bernoulli: a probability of binary x (bits/dim need no 256-level term).
        """
        k = self.likelihood_k if k is None else k
        if k < 1:
            raise GenzooError(f"the number of importance samples k must be >= 1, got {k}")
        proposal, b = self._proposal(x, y), x.shape[0]  # q's parameters, computed once
        kc = max(1, min(k, chunk_rows // max(b, 1)))
        log_w = [  # chunks of (kc, B)
            self._draw_log_weights(x, y, proposal, min(kc, k - start), generator) for start in range(0, k, kc)
        ]
        return torch.logsumexp(torch.cat(log_w), dim=0) - math.log(k)  # (B,)

    @property
    def likelihood_bins(self) -> int | None:
        """For bits/dim: None when log p(x) is already a probability of discrete x (Bernoulli, the
        discretized logistics), else 256 levels (the Gaussians are densities)."""
        return 256 if self.config.likelihood.startswith("gaussian") else None

    @torch.no_grad()
    def progress_rows(self, x, generator=None) -> list[torch.Tensor]:
        return [x, self.reconstruct(x), self.sample(x.shape[0], generator=generator)]


@register
class BetaVAE(VAE):
    """beta-VAE (Higgins et al. 2017): loss = recon + w(t) * sum_j max(lambda, mean_batch KL_j),
    w(t) = beta * min(1, t / kl_warmup_steps) (linear warm-up), lambda = free_bits."""

    model_type = "beta-vae"
    config_class = BetaVAEConfig

    def __init__(self, config: BetaVAEConfig, shape: tuple[int, ...]) -> None:
        if config.beta < 0 or config.kl_warmup_steps < 0 or config.free_bits < 0:
            raise ConfigError("beta, kl_warmup_steps and free_bits must be >= 0")
        if config.iwae_k != 1:  # the IWAE bound has no separate KL term to weight
            raise ConfigError(f"beta-vae weights the ELBO's KL term; iwae_k must be 1, got {config.iwae_k}")
        if config.free_bits > 0 and config.prior != "normal":  # a mixture's KL has no per-unit split
            raise ConfigError(f"free_bits needs prior 'normal' (its KL per unit), got prior {config.prior!r}")
        super().__init__(config, shape)
        self.register_buffer("step", torch.zeros((), dtype=torch.long), persistent=False)

    def set_step(self, step: int) -> None:
        self.step.fill_(step)

    def kl_weight(self) -> torch.Tensor:
        c = self.config
        if c.kl_warmup_steps == 0:
            return torch.tensor(float(c.beta))
        return c.beta * (self.step.float() / c.kl_warmup_steps).clamp(max=1.0)

    def kl_objective(self, kl_units: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        per_unit = kl_units.mean(0).clamp(min=self.config.free_bits)  # (d,) free bits floor
        w = self.kl_weight()
        return w * per_unit.sum(), {"kl_weight": w.detach()}


@register
class CVAE(ClassConditional, VAE):
    """Conditional VAE: q(z|x, y) and p(x|z, y) with a one-hot label y; the prior stays N(0, I)."""

    model_type = "cvae"
    config_class = CVAEConfig
    capabilities = VAE.capabilities | {Capability.CONDITIONAL}
    priors = ("normal",)  # a VampPrior's pseudo-inputs would need labels

    def __init__(self, config: CVAEConfig, shape: tuple[int, ...]) -> None:
        self.check_class_config(config)
        super().__init__(config, shape)

    @property
    def cond_dim(self) -> int:  # the one-hot label's size
        return self.config.num_classes

    def _labels(self, batch: Batch) -> torch.Tensor:
        return self.batch_labels(batch)

    def _one_hot(self, y: torch.Tensor, n: int, like: torch.Tensor) -> torch.Tensor:
        """(n, K) one-hot of y; y None gives the default labels 0, 1, ..., K-1 repeating."""
        if y is None:
            y = torch.arange(n) % self.num_classes
        return F.one_hot(self.check_labels(y, n).to(like.device), self.num_classes).to(like.dtype)

    def _enc_input(self, x, y):
        if y is None:
            y = self.infer_labels(x)
        h = self._one_hot(y, x.shape[0], x)  # (B, K)
        if self.config.arch == "conv":  # as K constant channels: (B, C + K, H, W)
            return torch.cat([x, h[:, :, None, None].expand(-1, -1, *x.shape[2:])], dim=1)
        return torch.cat([x.flatten(1), h], dim=1)

    def _dec_input(self, z, y):
        return torch.cat([z, self._one_hot(y, z.shape[0], z)], dim=1)  # (B, d + K)

    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        y = self.infer_labels(x) if y is None else y
        return self.decode(self.encode(x, y), y)

    @torch.no_grad()
    def infer_labels(self, x: torch.Tensor) -> torch.Tensor:
        """For unlabelled x: argmax_y of log p(x|mu, y) - KL, the ELBO at the posterior mean."""
        scores = []
        for c in range(self.num_classes):
            y = torch.full((x.shape[0],), c, dtype=torch.long)
            mu, logvar = self.posterior(x, y)
            nll = self.recon_nll(self.decode_logits(mu, y), x)
            scores.append(-(nll + gaussian_kl(mu, logvar).sum(1)))
        return torch.stack(scores, 1).argmax(1)

    @torch.no_grad()
    def log_likelihood(self, x, *, y=None, k=None, generator=None, chunk_rows=2048) -> torch.Tensor:
        """log p(x|y) by the IWAE bound; without y, log p(x) = log mean_y p(x|y) (uniform p(y))."""
        kw = {"k": k, "generator": generator, "chunk_rows": chunk_rows}
        if y is not None:
            return super().log_likelihood(x, y=self.check_labels(y, x.shape[0]), **kw)
        per_class = [
            super(CVAE, self).log_likelihood(x, y=torch.full((x.shape[0],), c, dtype=torch.long), **kw)
            for c in range(self.num_classes)
        ]
        return torch.logsumexp(torch.stack(per_class), 0) - math.log(self.num_classes)
