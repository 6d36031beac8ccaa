"""Monotonic rational-quadratic splines (Durkan et al. 2019, "Neural Spline Flows"), elementwise.

On [-B, B] the map is a spline of K bins whose knots (x_k, y_k), k = 0..K, and knot derivatives
delta_k > 0 come from unconstrained parameters (a coupling network's output); outside it is the
identity (linear tails, delta_0 = delta_K = 1, so the map is continuously differentiable). In bin k,
with w_k = x_{k+1} - x_k, h_k = y_{k+1} - y_k, s_k = h_k / w_k and xi = (x - x_k) / w_k in [0, 1]
(the paper's equations 4 and 5):

    g(x)  = y_k + h_k [s_k xi^2 + delta_k xi (1 - xi)] / [s_k + (delta_{k+1} + delta_k - 2 s_k) xi (1 - xi)]
    g'(x) = s_k^2 [delta_{k+1} xi^2 + 2 s_k xi (1 - xi) + delta_k (1 - xi)^2]
            / [s_k + (delta_{k+1} + delta_k - 2 s_k) xi (1 - xi)]^2

The inverse solves the quadratic a xi^2 + b xi + c = 0 for xi in [0, 1] (the paper's appendix A.3),
with the root written as 2c / (-b - sqrt(b^2 - 4ac)), the form that does not cancel.

Zero parameters give equal bins and every delta = 1, which is the identity: a coupling whose last
layer starts at zero starts as the identity map, as the affine coupling does.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

MIN_BIN = 1e-3  # the smallest bin width and height, as a fraction of 2B
MIN_DERIVATIVE = 1e-3
_SHIFT = math.log(math.expm1(1 - MIN_DERIVATIVE))  # softplus(0 + _SHIFT) + MIN_DERIVATIVE = 1


def params_per_dim(bins: int) -> int:
    """The coupling network's outputs per transformed element: K widths, K heights, K - 1 derivatives."""
    return 3 * bins - 1


def _knots(raw: torch.Tensor, bound: float) -> torch.Tensor:
    """raw (N, K) -> the knots (N, K + 1) from -B to B, bins at least MIN_BIN 2B wide: a softmax
    floored at MIN_BIN, summed. The ends are exact (-B + 2B * c_K / c_K), so searching never falls
    off the end. The softmax is written out: torch's kernel is slow for a last dim of 8-16."""
    k = raw.shape[-1]
    e = torch.exp(raw - raw.amax(-1, keepdim=True).detach())
    frac = MIN_BIN + (1 - MIN_BIN * k) * (e / e.sum(-1, keepdim=True))
    cum = F.pad(torch.cumsum(frac, dim=-1), (1, 0))
    return -bound + (2 * bound) * (cum / cum[..., -1:])


def rq_spline(
    x: torch.Tensor, params: torch.Tensor, bound: float, inverse: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """The spline g applied elementwise: x (N,), params (N, 3K - 1) -> (g(x), log g'(x)), both (N,);
    with ``inverse``, (g^-1(x), log (g^-1)'(x)) = (g^-1(x), -log g'(g^-1(x))). Identity outside [-B, B]."""
    k = (params.shape[-1] + 1) // 3
    xk = _knots(params[..., :k], bound)  # (N, K + 1)
    yk = _knots(params[..., k : 2 * k], bound)
    inner = MIN_DERIVATIVE + F.softplus(params[..., 2 * k :] + _SHIFT)  # (N, K - 1): delta_1 .. delta_{K-1}
    delta = F.pad(inner, (1, 1), value=1.0)  # (N, K + 1): the tails' slope 1 at -B and B

    inside = (x >= -bound) & (x <= bound)
    xc = x.clamp(-bound, bound)
    search = yk if inverse else xk
    idx = torch.searchsorted(search.detach().contiguous(), xc.detach()[..., None].contiguous(), right=True)
    idx = (idx - 1).clamp(0, k - 1)  # (N, 1): the bin
    # one gather for the bin's two ends of the three knot arrays: (N, 3, K + 1) at (idx, idx + 1)
    ends = torch.stack([xk, yk, delta], dim=1).gather(
        -1, torch.cat([idx, idx + 1], -1)[:, None, :].expand(-1, 3, -1)
    )
    x0, y0, d0 = ends[:, 0, 0], ends[:, 1, 0], ends[:, 2, 0]
    w, h, d1 = ends[:, 0, 1] - x0, ends[:, 1, 1] - y0, ends[:, 2, 1]
    s = h / w
    if inverse:
        dy = xc - y0
        a = h * (s - d0) + dy * (d1 + d0 - 2 * s)
        b = h * d0 - dy * (d1 + d0 - 2 * s)
        c = -s * dy
        disc = (b.pow(2) - 4 * a * c).clamp_min(0)
        xi = (2 * c / (-b - disc.sqrt())).clamp(0, 1)
        out = x0 + xi * w
    else:
        xi = ((xc - x0) / w).clamp(0, 1)
        num = h * (s * xi.pow(2) + d0 * xi * (1 - xi))
        out = y0 + num / (s + (d1 + d0 - 2 * s) * xi * (1 - xi))
    one_m = 1 - xi
    denom = s + (d1 + d0 - 2 * s) * xi * one_m
    log_grad = (
        2 * torch.log(s)
        + torch.log(d1 * xi.pow(2) + 2 * s * xi * one_m + d0 * one_m.pow(2))
        - 2 * torch.log(denom)
    )
    if inverse:
        log_grad = -log_grad
    return torch.where(inside, out, x), torch.where(inside, log_grad, torch.zeros_like(log_grad))


__all__ = ["params_per_dim", "rq_spline"]
