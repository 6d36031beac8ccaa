"""The variational bound of a Gaussian diffusion (Ho et al. 2020, Eq. 5), in nats per example:

    L_vlb = L_T + sum_{t>=1} L_{t-1} + L_0
    L_T     = KL(q(x_T | x_0) || N(0, I))                         (the prior term; no parameters)
    L_{t-1} = KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t))       (Gaussians with equal variance btilde_t)
    L_0     = -log p(x_0 | x_1)                                   (a discretized Gaussian over 256 levels)

With fixed variances it is an upper bound on -log p(x). Pure functions of a schedule and a denoiser
(x_t, t) -> (x0_hat, eps_hat), so any diffusion model with that denoiser gets its bound from here;
``DDPM.log_likelihood`` reports -L_vlb.
"""

from __future__ import annotations

import math

import torch

from genzoo import sampling
from genzoo.sampling import Schedule, discretized_gaussian_log_prob


def vlb_terms(
    sched: Schedule,
    x0: torch.Tensor,
    denoise: sampling.Denoiser,
    ts: torch.Tensor,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """Terms of L_vlb in nats per example for x0 (B, *shape) in the model's range ([-1, 1] for images): ``prior`` L_T (B,), ``decoder``
    L_0 (B,) and ``kl`` (B, len(ts)) = L_{t-1} at the 0-based steps ``ts``. Each term is estimated
    with one x_t ~ q(x_t | x_0), drawn from ``generator`` in the order of ``ts``, then x_1 for L_0."""
    b, dims = x0.shape[0], tuple(range(1, x0.dim()))
    ab_T = float(sched.abar[-1])  # L_T: KL(N(sqrt(abar_T) x_0, (1 - abar_T) I) || N(0, I))
    prior = 0.5 * ((1 - ab_T) + ab_T * x0.pow(2) - 1 - math.log(1 - ab_T)).sum(dims)
    kls = []
    for t in ts.tolist():
        tt = torch.full((b,), t, dtype=torch.long, device=x0.device)
        xt = sampling.q_sample(sched, x0, tt, torch.randn(x0.shape, generator=generator).to(x0))
        mean_q, var = sampling.q_posterior(sched, x0, xt, tt)
        x0_hat, _ = denoise(xt, tt)
        mean_p, _ = sampling.q_posterior(sched, x0_hat, xt, tt)
        kls.append(((mean_q - mean_p).pow(2) / (2 * var)).sum(dims))  # KL of equal-variance Gaussians
    t0 = torch.zeros(b, dtype=torch.long, device=x0.device)
    x1 = sampling.q_sample(sched, x0, t0, torch.randn(x0.shape, generator=generator).to(x0))
    x0_hat, _ = denoise(x1, t0)
    mean_p, _ = sampling.q_posterior(sched, x0_hat, x1, t0)
    # L_0 with p(x_0 | x_1)'s std sqrt(btilde_1), the posterior std of the first step
    decoder = -discretized_gaussian_log_prob(x0, mean_p, 0.5 * math.log(float(sched.posterior_var[1]))).sum(
        dims
    )
    return {"prior": prior, "decoder": decoder, "kl": torch.stack(kls, 1) if kls else torch.zeros(b, 0)}


def stratified_steps(T: int, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """k of the T-1 KL steps 1..T-1, one drawn uniformly from each of k equal strata (all of them when
    k >= T-1); sum_{t in ts} L_{t-1} * (T-1)/k is then an unbiased estimate of the full sum."""
    if k >= T - 1:
        return torch.arange(1, T)
    edges = torch.linspace(1, T, k + 1)
    ts = (edges[:-1] + torch.rand(k, generator=generator) * (edges[1:] - edges[:-1])).floor().long()
    return ts.clamp(1, T - 1)


def negative_vlb(terms: dict[str, torch.Tensor], T: int) -> torch.Tensor:
    """-L_vlb (B,) from ``vlb_terms`` at ``stratified_steps``: the KL sum scaled by (T-1)/len(ts)."""
    if terms["kl"].shape[1] == 0:
        raise ValueError("negative_vlb needs the KL terms of at least one step")
    kl = terms["kl"].sum(1) * ((T - 1) / terms["kl"].shape[1])
    return -(terms["prior"] + kl + terms["decoder"])
