"""Pixel statistics of images (thickness, slant, width, height, brightness) and the quartile
groups they split images into: the ``pixels`` source of attribute vectors
(``genzoo.apps.attributes``), measured on the images themselves, so they need no labels.
"""

from __future__ import annotations

import torch

from genzoo.errors import GenzooError

# pixel statistic -> (name of its high centroid, name of its low centroid)
PIXEL_ATTRIBUTES: dict[str, tuple[str, str]] = {
    "thickness": ("thick", "thin"),
    "slant": ("right-slanted", "left-slanted"),
    "width": ("wide", "narrow"),
    "height": ("tall", "short"),
    "brightness": ("bright", "dark"),
}
QUARTILE = 0.25  # high = top quartile, low = bottom quartile of a pixel statistic


def pixel_statistics(x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Five statistics of images x (N, C, H, W) in [0, 1], each (N,), on the gray image
    g = mean over channels (N, H, W), ink bright on dark (MNIST's convention), i = row (down), j = column:

    - brightness = mean_ij g
    - width  = sum_j max_i g_ij   (columns holding ink; a column counts as much as its brightest pixel)
    - height = sum_i max_j g_ij   (rows holding ink)
    - thickness = 2 * area / perimeter, area = sum g, perimeter = TV(g) = sum |g_i,j+1 - g_ij| +
      |g_i+1,j - g_ij| with zero padding (for a binary image: the number of ink-pixel edges facing
      background). A w x L bar gives w L / (w + L), about w for long strokes; blur keeps both sums.
    - slant = mu11 / mu02, the shear of the ink's second moments with y = -i pointing up:
      mu11 = sum g (j - cj)(ci - i), mu02 = sum g (ci - i)^2 about the ink's centroid (ci, cj);
      > 0 leans right (top to the right), 0 upright (the shear that deskewing removes).

    Empty images get 0 for every statistic."""
    if x.dim() != 4:
        raise GenzooError(f"pixel statistics need images (N, C, H, W), got shape {tuple(x.shape)}")
    g = x.detach().float().cpu().mean(1).clamp(0, 1)  # (N, H, W)
    n, h, w = g.shape
    area = g.sum((1, 2))  # (N,)
    padded = torch.nn.functional.pad(g, (1, 1, 1, 1))  # (N, H+2, W+2)
    tv = padded.diff(dim=2).abs().sum((1, 2)) + padded.diff(dim=1).abs().sum((1, 2))  # (N,)
    rows = torch.arange(h, dtype=g.dtype)[None, :, None]  # i
    cols = torch.arange(w, dtype=g.dtype)[None, None, :]  # j
    m = area.clamp(min=1e-12)[:, None, None]
    ci = (g * rows).sum((1, 2), keepdim=True) / m
    cj = (g * cols).sum((1, 2), keepdim=True) / m
    up = ci - rows  # y = -(i - ci), pointing up
    mu11 = (g * (cols - cj) * up).sum((1, 2))
    mu02 = (g * up * up).sum((1, 2))
    return {
        "thickness": torch.where(tv > 0, 2 * area / tv.clamp(min=1e-12), torch.zeros_like(area)),
        "slant": torch.where(mu02 > 1e-12, mu11 / mu02.clamp(min=1e-12), torch.zeros_like(area)),
        "width": g.amax(1).sum(1),
        "height": g.amax(2).sum(1),
        "brightness": g.mean((1, 2)),
    }


def quartile_groups(s: torch.Tensor, q: float = QUARTILE) -> tuple[torch.Tensor, torch.Tensor]:
    """(high, low) boolean masks (N,) of a statistic s (N,): s >= its (1 - q) quantile, s <= its q quantile."""
    lo, hi = torch.quantile(s.double(), torch.tensor([q, 1 - q], dtype=torch.float64)).tolist()
    return s >= hi, s <= lo
