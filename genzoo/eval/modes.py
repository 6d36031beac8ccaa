"""Mode coverage of 2-D toy data: mode collapse made visible and countable.

Following the unrolled-GAN / VEEGAN protocol: a sample is *high quality* when it lies within
3 standard deviations of a mode, and a mode is *covered* when at least 1% of the samples fall
within 3 standard deviations of it. Modes (in the datasets' normalised coordinates, genzoo.data.toy2d):
  eight-gaussians  the 8 component means (std 0.1 / sqrt 2 per coordinate)
  rings            each of the 3 rings cut into 8 arcs of 45 degrees (24 modes): a point is near a
                   ring when its radius is within 3 std (0.08 / scale) of the ring's radius, so
                   a generator that collapses onto part of a ring covers only some of its arcs
"""

from __future__ import annotations

import math

import numpy as np
import torch

from genzoo.data import toy2d
from genzoo.errors import ConfigError

ARCS = 8
RING_STD = 0.08  # toy2d._rings: radius noise, before scaling
GAUSS_STD = 0.1  # toy2d._eight_gaussians: per-coordinate noise, before scaling


def _ring_scale() -> float:
    return float(np.sqrt(np.mean(np.square(toy2d.RING_RADII)) / 2.0))


def assign_modes(points: torch.Tensor, dataset: str) -> tuple[torch.Tensor, int]:
    """For points (N, 2): the mode index of each (-1 if not within 3 std of any) and the number of modes."""
    p = points.detach().double().cpu()
    if dataset == "eight-gaussians":
        angle = torch.arange(8, dtype=torch.float64) * (math.pi / 4)
        centers = 2.0 * torch.stack([angle.cos(), angle.sin()], 1) / math.sqrt(2.0)  # (8, 2)
        dist, idx = torch.cdist(p, centers).min(1)
        return torch.where(dist <= 3 * GAUSS_STD / math.sqrt(2.0), idx, -1), 8
    if dataset == "rings":
        scale = _ring_scale()
        radii = torch.tensor(toy2d.RING_RADII, dtype=torch.float64) / scale  # (3,)
        dist, ring = (p.norm(dim=1, keepdim=True) - radii).abs().min(1)
        arc = (
            ((torch.atan2(p[:, 1], p[:, 0]) % (2 * math.pi)) // (2 * math.pi / ARCS))
            .long()
            .clamp(max=ARCS - 1)
        )
        return torch.where(dist <= 3 * RING_STD / scale, ring * ARCS + arc, -1), len(radii) * ARCS
    raise ConfigError(f"mode coverage is defined for eight-gaussians and rings, not {dataset!r}")


def mode_coverage(points: torch.Tensor, dataset: str, min_share: float = 0.01) -> dict:
    """modes_covered (of n_modes), high_quality (share of samples near a mode), per-mode shares."""
    idx, n_modes = assign_modes(points, dataset)
    counts = torch.bincount(idx[idx >= 0], minlength=n_modes).double()
    shares = counts / max(1, len(idx))
    return {
        "modes_covered": int((shares >= min_share).sum()),
        "n_modes": n_modes,
        "high_quality": round(float((idx >= 0).double().mean()), 4),
        "mode_shares": [round(float(s), 4) for s in shares],
        "n_samples": len(idx),
    }


HAS_MODES = ("eight-gaussians", "rings")
