"""Sample-quality metrics on feature vectors: FID, KID, precision/recall, class coverage, and
``sample_scores``, the table of all of them that ``genzoo eval`` reports.

FID and KID are computed by torchmetrics (``FrechetInceptionDistance``,
``KernelInceptionDistance``) fed with features we extract once: a pass-through module stands in
for their feature network, so the same features serve every metric and cached reference
features can be reused. Precision and recall (k-nearest-neighbour manifolds, Kynkaenniemi et
al. 2019) are not in torchmetrics and are implemented here.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance


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
    """Unbiased MMD^2 with the cubic polynomial kernel, mean and std over random subsets."""
    size = min(subset_size, len(real), len(fake))
    with warnings.catch_warnings():  # it warns that it keeps all features: that is what we want
        warnings.simplefilter("ignore", UserWarning)
        m = KernelInceptionDistance(feature=PassThrough(real.shape[1]), subsets=subsets, subset_size=size)
    m.update(real.double(), real=True)
    m.update(fake.double(), real=False)
    state = torch.get_rng_state()
    torch.manual_seed(seed)  # torchmetrics draws the subsets from the global RNG
    try:
        mean, std = m.compute()
    finally:
        torch.set_rng_state(state)
    return float(mean), float(std)


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
