"""Diagonal Gaussians and their mixtures: the densities, KLs and draws the latent-variable models share
(vae's posterior and priors, hvae's layers, the flows' base density). Every log density is in nats and
sums over the last dim (d).

    log N(z; mu, diag(var)) = -0.5 * sum_j ((z_j - mu_j)^2 / var_j + log var_j + log 2 pi)
    KL(N(mu_q, var_q) || N(mu_p, var_p)) = 0.5 * (log var_p - log var_q + (var_q + (mu_q - mu_p)^2) / var_p - 1)
    mixture (1/K) sum_k N(z; mu_k, diag(var_k)): log density by logsumexp over k
"""

from __future__ import annotations

import math

import torch

LOG_2PI = math.log(2 * math.pi)


def standard_normal_log_density(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I), z (..., d) -> (...)."""
    return -0.5 * (z.pow(2) + LOG_2PI).sum(-1)


def log_normal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag(exp(logvar))), broadcasting, summed over the last dim."""
    return -0.5 * ((z - mu).pow(2) * torch.exp(-logvar) + logvar + LOG_2PI).sum(-1)


def posterior_log_density(eps: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log q(z|x) of z = mu + sigma * eps under q = N(mu, diag(exp(logvar))), summed over the last
    dim: -0.5 * sum (eps^2 + logvar + log 2 pi); eps (..., d), logvar broadcasting against it."""
    return -0.5 * (eps.pow(2) + logvar + LOG_2PI).sum(-1)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) per latent unit, (B, d):
    0.5 * (mu^2 + sigma^2 - 1 - log sigma^2)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def gaussian_kl_between(
    mu_q: torch.Tensor, logvar_q: torch.Tensor, mu_p: torch.Tensor, logvar_p: torch.Tensor
) -> torch.Tensor:
    """KL(N(mu_q, var_q) || N(mu_p, var_p)) per unit, any shape:
    0.5 * (logvar_p - logvar_q + (var_q + (mu_q - mu_p)^2) / var_p - 1)."""
    return 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p).pow(2)) * torch.exp(-logvar_p) - 1.0)


def mixture_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log (1/K) sum_k N(z; mu_k, diag(exp(logvar_k))) of codes z (..., d) under K equally weighted
    components (mu, logvar: (K, d) each), shape (...), in fp32.

    sum_j (z_j - mu_kj)^2 / var_kj is expanded into three matmuls, (N, K) for the N = prod(...) codes:
    6x faster than broadcasting (N, K, d) at N = 256, K = 500, d = 50 (the VampPrior's training step)."""
    zf, ivar = z.reshape(-1, z.shape[-1]).float(), torch.exp(-logvar)  # (N, d), (K, d)
    sq = zf.pow(2) @ ivar.T - 2 * zf @ (mu * ivar).T + (mu.pow(2) * ivar).sum(1)  # (N, K)
    log_nk = -0.5 * (sq + logvar.sum(1) + mu.shape[1] * LOG_2PI)  # log N(z; mu_k, var_k), (N, K)
    return (torch.logsumexp(log_nk, -1) - math.log(mu.shape[0])).view(z.shape[:-1])


def mixture_sample(noise: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Draws (n, d) from the equally weighted mixture of (mu, logvar) (K, d each), one per row of the
    standard normals ``noise`` (n, 1 + d): the component k = floor(K Phi(noise_0)) (uniform on 0..K-1),
    then mu_k + sigma_k * noise_{1:}, so a draw depends on its own row alone."""
    k = (torch.special.ndtr(noise[:, 0]) * mu.shape[0]).long().clamp(max=mu.shape[0] - 1)  # (n,)
    return mu[k] + torch.exp(0.5 * logvar[k]) * noise[:, 1:]
