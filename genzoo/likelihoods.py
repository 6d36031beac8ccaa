"""The decoder likelihoods p(x|z) of the VAEs, per pixel and in nats, as pure functions of the
decoder's output ``params`` and the data x in [0, 1]:

    bernoulli          -log p = -[x log p + (1 - x) log(1 - p)],  p = sigmoid(params)
    gaussian           -log p = 0.5 (x - mean)^2 / sigma^2 + log sigma + 0.5 log 2 pi   (sigma fixed or learned)
    logistic           -log P(x) of x on 256 levels under a logistic(mu, s) integrated over x's bin
    logistic-mixture   -log sum_k pi_k P_k(x)                  (Salimans et al. 2017, PixelCNN++)

The logistic kinds take params (B, P, *shape): P = 2 (mu, log s) or 3K (logit pi, mu, log s).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from genzoo.gaussians import LOG_2PI

LEVELS = 256  # the discretized logistic's bins: x in {0, 1/255, ..., 1}
LOG_SCALE_MIN = -7.0  # floor of a logistic's log-scale (as in PixelCNN++)


def discretized_logistic_logp(x: torch.Tensor, mu: torch.Tensor, log_s: torch.Tensor) -> torch.Tensor:
    """log P(x) of 8-bit x (values k/255, any shape) under a logistic(mu, s) discretized to 256 bins
    (Salimans et al. 2017, PixelCNN++): P(x) = sigma((x + h - mu)/s) - sigma((x - h - mu)/s), h = 1/510,
    with the edge bins taking the tails (x = 0: sigma((h - mu)/s); x = 1: 1 - sigma((1 - h - mu)/s)),
    so sum_k P(k/255) = 1. Elementwise; mu, log_s broadcast against x."""
    h = 0.5 / (LEVELS - 1)
    inv_s = torch.exp(-log_s)
    plus, minus = (x + h - mu) * inv_s, (x - h - mu) * inv_s
    log_cdf_plus = plus - F.softplus(plus)  # log sigma(plus): the x = 0 bin
    log_sf_minus = -F.softplus(minus)  # log (1 - sigma(minus)): the x = 1 bin
    delta = torch.sigmoid(plus) - torch.sigmoid(minus)
    # a bin far in a tail: the density at its centre times its width, 1/255 (no cancellation)
    mid = (x - mu) * inv_s
    log_mid = mid - log_s - 2.0 * F.softplus(mid) - math.log(LEVELS - 1)
    inner = torch.where(delta > 1e-5, torch.log(delta.clamp(min=1e-12)), log_mid)
    return torch.where(x < h, log_cdf_plus, torch.where(x > 1 - h, log_sf_minus, inner))


def logistic_params(params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(B, P, *shape) -> log mixture weights, means, log-scales, each (B, K, *shape): P = 2 is one
    logistic (K = 1, weight 1), P = 3K a mixture of K."""
    if params.shape[1] == 2:
        mu, log_s = params[:, :1], params[:, 1:]
        return torch.zeros_like(mu), mu, log_s.clamp(min=LOG_SCALE_MIN)
    logit_pi, mu, log_s = params.chunk(3, dim=1)
    return F.log_softmax(logit_pi, dim=1), mu, log_s.clamp(min=LOG_SCALE_MIN)


def logistic_mean(params: torch.Tensor) -> torch.Tensor:
    """E[x] (B, *shape) of the logistic kinds: sum_k pi_k mu_k, each mu_k clamped to [0, 1], the bins' range."""
    log_pi, mu, _ = logistic_params(params)
    return (log_pi.exp() * mu.clamp(0.0, 1.0)).sum(1)


def logistic_nll(params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log sum_k pi_k P_k(x) per pixel (B, *shape) of x in [0, 1] rounded to the 256-level grid."""
    log_pi, mu, log_s = logistic_params(params)
    xq = (x * (LEVELS - 1)).round().div(LEVELS - 1).unsqueeze(1)  # (B, 1, *shape)
    return -torch.logsumexp(log_pi + discretized_logistic_logp(xq, mu, log_s), dim=1)


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-[x log p + (1 - x) log(1 - p)] per pixel, p = sigmoid(logits); x in [0, 1]."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none")


def gaussian_nll(mean: torch.Tensor, x: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
    """0.5 (x - mean)^2 / sigma^2 + log sigma + 0.5 log 2 pi per pixel; log_sigma broadcasts against x."""
    return 0.5 * ((x - mean) * torch.exp(-log_sigma)).pow(2) + log_sigma + 0.5 * LOG_2PI
