"""Sliders over a latent space, with locks: the maths behind the explorer's attribute panel.

A slider is a linear read-out of a code z (d,): its value

    v_a(z) = w_a . z + b_a                                                   (w_a (d,), b_a scalar)

- from an attribute vector (``genzoo.apps.attributes``) with centroids hi (d,) and lo (d,):
  w_a = (hi - lo) / ||hi - lo||^2 and b_a = -w_a . lo, so v_a = 0 at the low group's mean code and
  1 at the high group's (a class c: hi = mean(z | c), lo = mean(z | not c));
- from principal components (GANSpace, Harkonen et al. 2020): for a model that encodes, the PCA of
  real codes, v_k = u_k . (z - mu) / s_k (unit direction u_k, std s_k); for a GAN, the PCA of its
  images G(z) and, per component, the least-squares linear read-out of that coefficient from z.

Moving slider a to a value t while the sliders L are locked (the transparent-latent-GAN demo,
Guan 2018) is the smallest change of z that sets v_a = t and keeps every locked value:

    z' = z + W_S^T (W_S W_S^T)^+ (t_S - W_S z - b_S),     S = {a} + L       (W_S (|S|, d))

which moves along w_a made orthogonal to every locked w_j. Redrawing z with locks applies the same
correction with S = L to the new code, so the locked values come back exactly. When w_a lies in
the span of the locked read-outs, no move sets v_a without moving them: ``LockedOut``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from genzoo.errors import GenzooError


class LockedOut(GenzooError):
    """The slider cannot move without moving a locked one."""


@dataclass
class Sliders:
    """Named linear read-outs of codes: values (N,) = z (N, d) @ w[k] + b[k]. ``low``/``high`` name
    what 0 and 1 mean (e.g. "thin"/"thick"), ``group`` where they come from ("attributes",
    "principal directions")."""

    names: list[str]
    w: torch.Tensor  # (K, d) float64
    b: torch.Tensor  # (K,) float64
    low: list[str]
    high: list[str]
    group: list[str]

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        if name not in self.names:
            raise GenzooError(f"unknown slider {name!r}; this model has: {', '.join(self.names)}")
        return self.names.index(name)

    def values(self, z: torch.Tensor) -> torch.Tensor:
        """The sliders' values of one code z (d,) -> (K,)."""
        return self.w @ z.double() + self.b

    def __add__(self, other: Sliders) -> Sliders:
        return Sliders(
            self.names + other.names,
            torch.cat([self.w, other.w]),
            torch.cat([self.b, other.b]),
            self.low + other.low,
            self.high + other.high,
            self.group + other.group,
        )


def correct(z: torch.Tensor, w: torch.Tensor, b: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The least-norm change of z (d,) that makes w z + b = target (w (S, d), b and target (S,)):
    z + w^T (w w^T)^+ (target - w z - b); z itself when S is empty."""
    if len(w) == 0:
        return z
    zd = z.double()
    r = target.double() - (w @ zd + b)
    return (zd + w.T @ (torch.linalg.pinv(w @ w.T) @ r)).to(z.dtype)


def move(
    sliders: Sliders, z: torch.Tensor, name: str, value: float, locked: Sequence[str] = ()
) -> torch.Tensor:
    """z (d,) with slider ``name`` at ``value`` and every ``locked`` slider where it was."""
    a = sliders.index(name)
    keep = [sliders.index(n) for n in locked if n != name]
    rows = [a, *keep]
    now = sliders.values(z)
    target = now[rows].clone()
    target[0] = value
    out = correct(z, sliders.w[rows], sliders.b[rows], target)
    got = sliders.values(out)[a]
    if abs(float(got) - value) > 1e-3 * max(1.0, abs(value)):
        raise LockedOut(f"{name} is fixed by the locked sliders ({', '.join(locked)}): unlock one to move it")
    return out


def restore(sliders: Sliders, z: torch.Tensor, values: dict[str, float]) -> torch.Tensor:
    """A new code z (d,) corrected so that the sliders in ``values`` take those values (locks
    kept across a redraw)."""
    rows = [sliders.index(n) for n in values]
    target = torch.tensor([values[n] for n in values], dtype=torch.float64)
    return correct(z, sliders.w[rows], sliders.b[rows], target)


def from_centroids(
    names: Sequence[str], hi: torch.Tensor, lo: torch.Tensor, low: Sequence[str], high: Sequence[str]
) -> Sliders:
    """Sliders from high and low centroids (K, d): 0 at lo, 1 at hi."""
    d = hi.double() - lo.double()  # (K, d)
    norm2 = (d * d).sum(1, keepdim=True).clamp_min(1e-12)
    w = d / norm2
    b = -(w * lo.double()).sum(1)
    return Sliders(list(names), w, b, list(low), list(high), ["attributes"] * len(names))


def principal_codes(z: torch.Tensor, k: int) -> Sliders:
    """The first k principal directions of codes z (N, d), in standard deviations: v = u.(z - mu)/s."""
    zd = z.double()
    mu = zd.mean(0)
    _, s, vt = torch.linalg.svd(zd - mu, full_matrices=False)
    k = min(k, len(s))
    std = (s[:k] / max(len(z) - 1, 1) ** 0.5).clamp_min(1e-12)
    w = vt[:k] / std[:, None]
    return _pcs(w, -(w @ mu), k)


def principal_images(z: torch.Tensor, x: torch.Tensor, k: int, ridge: float = 1e-3) -> Sliders:
    """GANSpace for a model that cannot encode: the first k principal components of its images x
    (N, ...) from codes z (N, d), each coefficient c (N,) read out of z by ridge regression
    c ~ z w + b, in the coefficient's standard deviations."""
    xf = x.reshape(len(x), -1).double()
    xc = xf - xf.mean(0)
    _, s, vt = torch.linalg.svd(xc, full_matrices=False)
    k = min(k, len(s))
    coef = xc @ vt[:k].T  # (N, k)
    coef = coef / coef.std(0).clamp_min(1e-12)
    zd = z.double()
    mu = zd.mean(0)
    zc = zd - mu
    gram = zc.T @ zc + ridge * len(z) * torch.eye(z.shape[1], dtype=torch.float64)
    w = torch.linalg.solve(gram, zc.T @ coef).T  # (k, d)
    return _pcs(w, -(w @ mu), k)


def _pcs(w: torch.Tensor, b: torch.Tensor, k: int) -> Sliders:
    names = [f"PC{i + 1}" for i in range(k)]
    return Sliders(names, w, b, ["-1 std"] * k, ["+1 std"] * k, ["principal directions"] * k)
