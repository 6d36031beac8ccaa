"""Likelihood in nats and bits per dimension, for every family that has one.

A model takes part by declaring the Likelihood capability (``genzoo.models.capabilities``):
``log_likelihood(x, *, y, k, generator) -> (B,)``, log p(x) in nats of a continuous
density on data scaled to [0, 1] (VAEs give a lower bound, flows the exact value). Pixel data
come from 256 levels; a density on [0, 1]^D assigns each bin about p(x) / 256^D, so the
discrete negative log-likelihood is -log p(x) + D ln 256 and bits/dim = that / (D ln 2).
A model whose log p(x) is already a probability of discrete data (a Bernoulli VAE on binary
pixels, a discretized logistic) says so with ``likelihood_bins = None``.

Models with the Variational capability also give ``elbo_terms(x, y, generator) -> {recon, kl, mu}``
(per example); then the evidence lower bound, its two terms and the active latent units are
reported too. A model whose bound takes importance samples (``likelihood_k`` not None) gets ``k``.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch

from genzoo import progress
from genzoo.errors import ConfigError
from genzoo.models import capabilities as caps
from genzoo.models.capabilities import Capability

ACTIVE_UNIT_THRESHOLD = 1e-2  # Burda et al. 2015: unit u is active if Cov_x(E_q[z_u|x]) > 1e-2


def has_likelihood(model: object) -> bool:
    return caps.has(model, Capability.LIKELIHOOD)


def takes_samples(model: object) -> bool:
    """True when the model's likelihood is an importance-sampled bound that takes ``k``."""
    return has_likelihood(model) and model.likelihood_k is not None  # type: ignore[attr-defined]


def bits_per_dim(nll_nats: torch.Tensor, dims: int, n_bins: int | None = 256) -> torch.Tensor:
    """Bits/dim of a continuous NLL (nats per example); n_bins=None for truly continuous data."""
    discrete = nll_nats + (dims * math.log(n_bins) if n_bins else 0.0)
    return discrete / (dims * math.log(2))


def active_units(mu: torch.Tensor, threshold: float = ACTIVE_UNIT_THRESHOLD) -> int:
    """Latent units whose posterior mean varies over the data: Var_x(mu_u(x)) > threshold; mu (N, d)."""
    if len(mu) < 2:
        return 0
    return int((mu.double().var(0) > threshold).sum())


def _chunks(x: torch.Tensor, y: torch.Tensor | None, batch: int) -> list[tuple]:
    xs = x.split(batch)
    return list(zip(xs, [None] * len(xs) if y is None else y.split(batch), strict=True))


@torch.no_grad()
def per_example_nll(
    model: Any,
    x: torch.Tensor,
    batch: int = 500,
    *,
    k: int | None = None,
    y: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    desc: str = "eval likelihood",
    hint: str | None = "--n to use fewer",
) -> tuple[torch.Tensor, int | None]:
    """-log p(x) of each example of x (N, *shape) in nats, (N,), by the model's ``log_likelihood``
    (an exact value, or a bound: see its ``likelihood_kind``), and the importance samples k used
    (None for a model that takes none); ``y`` labels make it -log p(x|y). Progress (``genzoo.progress``)
    calls the loop ``desc`` and names ``hint`` as the way to make it shorter."""
    if k is not None and k < 1:
        raise ConfigError(f"the number of importance samples (--iwae-k) must be at least 1, got {k}")
    caps.require(model, Capability.LIKELIHOOD, "a likelihood")
    k = (k if k is not None else model.likelihood_k) if takes_samples(model) else None
    what = f"{'IWAE ' if k is not None else ''}likelihood{f' k={k}' if k is not None else ''} on {len(x):,} images"
    chunks = progress.track(
        _chunks(x, y, batch), len(x), desc, size=lambda c: len(c[0]), what=what, hint=hint
    )
    nll = torch.cat([-model.log_likelihood(c, y=yc, k=k, generator=generator) for c, yc in chunks])
    return nll, k


@torch.no_grad()
def evaluate_likelihood(
    model: Any,
    x: torch.Tensor,
    batch: int = 500,
    *,
    k: int | None = None,
    y: torch.Tensor | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Mean NLL (nats per example) and bits/dim of x (N, *shape) under ``model``, with a fixed
    seed; ``k`` importance samples for models that take them (their default if None); ``y``
    labels for class-conditional models (then it is -log p(x|y)). Adds -ELBO, its reconstruction
    and KL terms and the active units for models with ``elbo_terms``; ``seconds`` times it all."""
    caps.require(model, Capability.LIKELIHOOD, "a likelihood")
    n_bins = model.likelihood_bins  # the model's declaration: None for a probability of discrete data
    dims = math.prod(x.shape[1:])
    g = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    nll, k = per_example_nll(model, x, batch, k=k, y=y, generator=g)
    out: dict[str, Any] = {
        "nll_nats": float(nll.mean()),
        "bits_per_dim": float(bits_per_dim(nll, dims, n_bins).mean()),
        "n": len(x),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    if k is not None:
        out["k"] = k
    out["kind"] = model.likelihood_kind  # exact, or a bound and on which side of log p(x)
    if y is not None:
        out["given_labels"] = True
    if caps.has(model, Capability.VARIATIONAL):
        chunks = progress.track(_chunks(x, y, batch), len(x), "eval ELBO terms", size=lambda c: len(c[0]))
        parts = [model.elbo_terms(c, yc, generator=g) for c, yc in chunks]
        recon, kl = torch.cat([p["recon"] for p in parts]), torch.cat([p["kl"] for p in parts])
        out |= {
            "neg_elbo_nats": float((recon + kl).mean()),
            "neg_elbo_bits_per_dim": float(bits_per_dim(recon + kl, dims, n_bins).mean()),
            "recon_nats": float(recon.mean()),
            "kl_nats": float(kl.mean()),
            "active_units": active_units(torch.cat([p["mu"] for p in parts])),
            "latent_dim": int(parts[0]["mu"].shape[1]),
        }
    return out
