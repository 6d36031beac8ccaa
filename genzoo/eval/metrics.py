"""Sample-quality metrics on feature vectors: FID, KID, precision/recall, class coverage, and
``sample_scores``, the table of all of them that ``genzoo eval`` reports.

FID is computed by torchmetrics (``FrechetInceptionDistance``) fed with features we extract once:
a pass-through module stands in for its feature network, so the same features serve every metric
and cached reference features can be reused. KID is torchmetrics' computation (the same subsets,
checked in the tests) in a loop of our own that computes a side's kernel sums once when its
subset is the whole set. Precision and recall (k-nearest-neighbour manifolds, Kynkaenniemi et
al. 2019) are not in torchmetrics and are implemented here.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance


class PassThrough(nn.Module):
    """Lets torchmetrics take precomputed features (N, d) in place of images."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def fid(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Frechet distance ||mu_r - mu_f||^2 + Tr(S_r + S_f - 2 (S_r S_f)^(1/2)) of two feature sets."""
    m = FrechetInceptionDistance(feature=PassThrough(real.shape[1]), normalize=False)
    m.update(real.double(), real=True)
    m.update(fake.double(), real=False)
    return float(m.compute())


def kid(
    real: torch.Tensor, fake: torch.Tensor, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """Unbiased MMD^2 with the cubic polynomial kernel k(a, b) = (a.b / d + 1)^3, mean and std over
    ``subsets`` random subsets of ``subset_size`` of each side (Binkowski et al. 2018), as
    torchmetrics' KernelInceptionDistance computes it, with the same subsets for the same seed:

        MMD^2 = sum_{i!=j} k(x_i, x_j) / (m(m-1)) + sum_{i!=j} k(y_i, y_j) / (m(m-1)) - 2 sum_ij k(x_i, y_j) / m^2

    Our own loop (checked against torchmetrics in tests/test_eval.py) because a side whose subset
    is the whole set (e.g. 1,000 samples against 10,000 reference images) has the same kernel
    sums in every subset: they are computed once, about 3x faster."""
    size = min(subset_size, len(real), len(fake))
    x, y = real.double(), fake.double()
    gamma = 1.0 / x.shape[1]

    def kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a @ b.T * gamma + 1.0) ** 3

    def off_diagonal(a: torch.Tensor) -> torch.Tensor:
        k = kernel(a, a)
        return k.sum() - k.diagonal().sum()

    whole_x, whole_y = size == len(x), size == len(y)  # a subset is then a permutation of all
    xx = off_diagonal(x) if whole_x else None
    yy = off_diagonal(y) if whole_y else None
    xy_rows = kernel(x, y).sum(1) if whole_y else None  # (N_real,): each real row against all fakes
    g = torch.Generator().manual_seed(seed)  # the draws torchmetrics makes after manual_seed(seed)
    scores = []
    for _ in range(subsets):
        px = torch.randperm(len(x), generator=g)[:size]
        py = torch.randperm(len(y), generator=g)[:size]
        s_xx = xx if xx is not None else off_diagonal(x[px])
        s_yy = yy if yy is not None else off_diagonal(y[py])
        s_xy = xy_rows[px].sum() if xy_rows is not None else kernel(x[px], y[py]).sum()
        scores.append((s_xx + s_yy) / (size * (size - 1)) - 2 * s_xy / size**2)
    t = torch.stack(scores)
    return float(t.mean()), float(t.std(unbiased=False))


def _kth_nn_radius(x: torch.Tensor, k: int, chunk: int = 1024) -> torch.Tensor:
    """Distance from each row of x (N, d) to its k-th nearest other row: (N,)."""
    out = []
    for c in x.split(chunk):
        d = torch.cdist(c, x)  # (c, N); the row itself is at distance 0 and ranks first
        out.append(d.kthvalue(k + 1, dim=1).values)
    return torch.cat(out)


def _inside(
    points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, chunk: int = 1024
) -> torch.Tensor:
    """Fraction of points lying inside at least one ball B(centre_j, radius_j)."""
    hits = [(torch.cdist(p, centres) <= radii[None]).any(1) for p in points.split(chunk)]
    return torch.cat(hits).float().mean()


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """Precision: share of fake samples inside the real manifold (union of k-NN balls of the real
    features); recall: share of real samples inside the fake manifold."""
    real, fake = real.float(), fake.float()
    precision = _inside(fake, real, _kth_nn_radius(real, k))
    recall = _inside(real, fake, _kth_nn_radius(fake, k))
    return float(precision), float(recall)


def class_shares(logits: torch.Tensor) -> list[float]:
    """Share of samples assigned to each class by the classifier."""
    counts = torch.bincount(logits.argmax(1), minlength=logits.shape[1]).float()
    return (counts / counts.sum()).tolist()


def class_coverage(shares: list[float]) -> float:
    """Effective number of classes exp(H(shares)) over the number of classes: 1 = balanced."""
    h = -sum(p * math.log(p) for p in shares if p > 0)
    return math.exp(h) / len(shares)


def sample_scores(real: torch.Tensor, fake: torch.Tensor, logits: torch.Tensor | None) -> dict[str, Any]:
    """The sample scores of features fake (M, d) against real (N, d): FID, KID, precision/recall
    (k=3), the counts, and with the feature network's logits (M, K) the class shares and coverage."""
    p, r = precision_recall(real, fake)
    kid_mean, kid_std = kid(real, fake)
    out: dict[str, Any] = {
        "fid": fid(real, fake),
        "kid": kid_mean,
        "kid_std": kid_std,
        "precision": p,
        "recall": r,
        "n_samples": len(fake),
        "n_reference": len(real),
    }
    if logits is not None:
        shares = class_shares(logits)
        out |= {
            "class_shares": [round(s, 4) for s in shares],
            "class_coverage": class_coverage(shares),
        }
    return out


def psnr(x_hat: torch.Tensor, x: torch.Tensor, peak: float = 1.0) -> float:
    """Mean over images of 10 log10(peak^2 / MSE_i); images in [0, peak]."""
    mse = (x_hat - x).pow(2).flatten(1).mean(1).clamp_min(1e-12)
    return float((10 * torch.log10(peak**2 / mse)).mean())
