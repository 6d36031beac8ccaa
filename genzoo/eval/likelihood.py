"""Likelihood in nats and bits per dimension, for every family that has one.

A model takes part by defining ``log_likelihood(x) -> (B,)``: log p(x) in nats of a continuous
density on data scaled to [0, 1] (VAEs give a lower bound, flows the exact value). Pixel data
come from 256 levels; a density on [0, 1]^D assigns each bin about p(x) / 256^D, so the
discrete negative log-likelihood is -log p(x) + D ln 256 and bits/dim = that / (D ln 2).
A model whose log p(x) is already a probability of discrete data (a Bernoulli VAE on binary
pixels) says so with ``likelihood_bins = None``; the model's declaration wins over ``n_bins``.
"""

from __future__ import annotations

import math

import torch


def has_likelihood(model: object) -> bool:
    return callable(getattr(model, "log_likelihood", None))


def bits_per_dim(nll_nats: torch.Tensor, dims: int, n_bins: int | None = 256) -> torch.Tensor:
    """Bits/dim of a continuous NLL (nats per example); n_bins=None for truly continuous data."""
    discrete = nll_nats + (dims * math.log(n_bins) if n_bins else 0.0)
    return discrete / (dims * math.log(2))


@torch.no_grad()
def evaluate_likelihood(
    model, x: torch.Tensor, batch: int = 500, n_bins: int | None = 256
) -> dict[str, float]:
    """Mean NLL (nats per example) and bits/dim of x (N, *shape) under ``model``."""
    n_bins = getattr(model, "likelihood_bins", n_bins)
    nll = torch.cat([-model.log_likelihood(c) for c in x.split(batch)])  # (N,)
    dims = math.prod(x.shape[1:])
    return {
        "nll_nats": float(nll.mean()),
        "bits_per_dim": float(bits_per_dim(nll, dims, n_bins).mean()),
        "n": len(x),
    }
