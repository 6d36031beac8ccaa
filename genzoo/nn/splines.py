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


def _knots(raw: torch.Tensor, bound: float) -> tuple[torch.Tensor, torch.Tensor]:
    """raw (N, K) -> bin sizes (N, K) summing to 2B, each >= MIN_BIN 2B, and the knots (N, K + 1)
    from -B to B (the last set exactly, so searching never falls off the end)."""
    k = raw.shape[-1]
    size = 2 * bound * (MIN_BIN + (1 - MIN_BIN * k) * torch.softmax(raw, dim=-1))
    knots = F.pad(torch.cumsum(size, dim=-1), (1, 0)) - bound
    knots = torch.cat(
        [knots[..., :1].clamp(-bound, -bound), knots[..., 1:-1], knots[..., -1:].clamp(bound, bound)], -1
    )
    return knots[..., 1:] - knots[..., :-1], knots


def _gather(t: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    return t.gather(-1, idx[..., None])[..., 0]


def rq_spline(
    x: torch.Tensor, params: torch.Tensor, bound: float, inverse: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """The spline g applied elementwise: x (N,), params (N, 3K - 1) -> (g(x), log g'(x)), both (N,);
    with ``inverse``, (g^-1(x), log (g^-1)'(x)) = (g^-1(x), -log g'(g^-1(x))). Identity outside [-B, B]."""
    k = (params.shape[-1] + 1) // 3
    w_raw, h_raw, d_raw = params[..., :k], params[..., k : 2 * k], params[..., 2 * k :]
    widths, xk = _knots(w_raw, bound)  # (N, K), (N, K + 1)
    heights, yk = _knots(h_raw, bound)
    inner = MIN_DERIVATIVE + F.softplus(d_raw + _SHIFT)  # (N, K - 1): delta_1 .. delta_{K-1}
    ones = torch.ones_like(inner[..., :1])
    delta = torch.cat([ones, inner, ones], dim=-1)  # (N, K + 1): the tails' slope 1 at -B and B

    inside = (x >= -bound) & (x <= bound)
    xc = x.clamp(-bound, bound)
    search = yk if inverse else xk
    idx = (torch.searchsorted(search.contiguous(), xc[..., None].contiguous(), right=True)[..., 0] - 1).clamp(
        0, k - 1
    )
    x0, w, y0, h = _gather(xk, idx), _gather(widths, idx), _gather(yk, idx), _gather(heights, idx)
    d0, d1 = _gather(delta, idx), _gather(delta[..., 1:], idx)
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
