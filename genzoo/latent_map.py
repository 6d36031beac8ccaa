"""2-D maps of a model's codes (``genzoo latent-map``): the codes of images projected to the plane
(as they are for a 2-D latent, else PCA or t-SNE) beside PCA of the raw pixels, and for a 2-D
latent the decoded grid over the codes -- the lecture's AE-vs-PCA figure. The codes come from
``genzoo.latent``; write the figure with ``genzoo.viz.save_figure``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch

from genzoo.errors import GenzooError
from genzoo.latent import decode, latent_codes
from genzoo.models import capabilities as caps
from genzoo.models.capabilities import Capability
from genzoo.models.capabilities import kind as model_kind

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MapMethod = Literal["pca", "tsne"]


def map_2d(codes: torch.Tensor | np.ndarray, method: MapMethod = "pca", seed: int = 0) -> np.ndarray:
    """Codes (N, d) -> (N, 2) for a scatter: PCA onto the top two principal axes (a 2-D code is
    returned as it is, so its axes are z1, z2; a 1-D one gets a zero second column), or t-SNE
    (van der Maaten & Hinton 2008; perplexity min(30, (N - 1) / 3), PCA initialisation)."""
    c = np.asarray(codes.detach().cpu() if isinstance(codes, torch.Tensor) else codes, dtype=np.float64)
    c = c.reshape(len(c), -1)
    if method not in ("pca", "tsne"):
        raise GenzooError(f"unknown map method {method!r}; use pca or tsne")
    if method == "pca":
        if c.shape[1] == 1:
            return np.concatenate([c, np.zeros_like(c)], axis=1)
        return c if c.shape[1] == 2 else pca_2d(c, seed)
    if len(c) < 4:
        raise GenzooError(f"t-SNE needs at least 4 points, got {len(c)}")
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits  # installed with scikit-learn

    perplexity = min(30.0, (len(c) - 1) / 3)
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
    # one OpenMP thread: Barnes-Hut t-SNE runs many short parallel sections that stall whenever a
    # core is busy elsewhere (60 points: 17 s with 2 threads on a loaded 2-core machine, 0.2 s with
    # one). 2,000 points take about 12 s on one thread.
    with threadpool_limits(1, user_api="openmp"):
        return tsne.fit_transform(c)


def pca_2d(a: torch.Tensor | np.ndarray, seed: int = 0) -> np.ndarray:
    """Projection of rows a (N, D), D >= 2, onto their top two principal axes: (N, 2)."""
    from sklearn.decomposition import PCA

    a = np.asarray(a.detach().cpu() if isinstance(a, torch.Tensor) else a, dtype=np.float64)
    a = a.reshape(len(a), -1)
    if a.shape[1] < 2:  # 1-D data: the value itself and a zero column
        return np.concatenate([a, np.zeros_like(a)], axis=1)
    return PCA(n_components=2, random_state=seed).fit_transform(a.reshape(len(a), -1))


def decoded_grid(
    model: Any, codes: torch.Tensor, n: int = 15, y: Any = None
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """The decoded manifold of a 2-D latent: decode an n x n regular grid spanning the 1st..99th
    percentiles of codes (N, 2) on each axis. Returns (uint8 picture (H', W', C) with z2 rising
    upwards, its extent (z1 lo, z1 hi, z2 lo, z2 hi) for imshow)."""
    from genzoo import viz

    if codes.shape[1] != 2:
        raise GenzooError(f"a decoded grid needs a 2-D latent, got {codes.shape[1]} dims")
    lo = torch.quantile(codes.double(), 0.01, dim=0).float()
    hi = torch.quantile(codes.double(), 0.99, dim=0).float()
    z1 = torch.linspace(float(lo[0]), float(hi[0]), n)  # (n,) columns, left to right
    z2 = torch.linspace(float(hi[1]), float(lo[1]), n)  # (n,) rows, top to bottom
    grid = torch.stack(torch.meshgrid(z2, z1, indexing="ij")[::-1], dim=-1).reshape(n * n, 2)  # (n*n, 2)
    images = decode(model, grid, y)  # (n*n, C, H, W)
    arr = viz.grid_array(list(images.split(n)), pad=0)
    return arr, (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))


def latent_map(
    model: Any,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    *,
    method: MapMethod = "pca",
    seed: int = 0,
    class_names: Sequence[str] | None = None,
    grid: int = 15,
    title: str | None = None,
) -> Figure:
    """The lecture's AE-vs-PCA figure: a scatter of the codes of x (N, *shape) coloured by label y
    (2-D codes as they are, more dims by PCA or t-SNE), beside PCA of the raw pixels; for a 2-D
    latent of an image model, a third panel with the decoded grid (``decoded_grid``; a conditional
    model decodes it with the most common label). Returns the matplotlib Figure (Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    if len(x) < 3:
        raise GenzooError(f"a latent map needs at least 3 images, got {len(x)}")
    codes = latent_codes(model, x, y)  # (N, d)
    d = codes.shape[1]
    images = len(model.shape) == 3
    panels = 3 if d == 2 and images else 2
    fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels + 1.2, 5), dpi=100, squeeze=False)
    axes = axes[0]
    labels = None if y is None else np.asarray(torch.as_tensor(y).cpu(), dtype=np.int64)
    if labels is not None:
        k = int(labels.max()) + 1 if len(labels) else 1
        cmap = plt.get_cmap("tab10" if k <= 10 else "tab20" if k <= 20 else "viridis", max(k, 2))
        colors = cmap(labels % cmap.N)
    else:
        k, colors = 0, "tab:blue"
    order = np.random.default_rng(seed).permutation(len(codes))  # no class always drawn on top
    how = "t-SNE" if method == "tsne" else "PCA" if d > 2 else "codes"
    what = "pixels" if images else "data"
    for ax, pts, name in (
        (axes[0], map_2d(codes, method, seed), f"{model_kind(model)} codes, latent {d} ({how})"),
        (axes[1], pca_2d(x.reshape(len(x), -1), seed), f"PCA of the raw {what}, 2 components"),
    ):
        c = colors if isinstance(colors, str) else colors[order]
        ax.scatter(pts[order, 0], pts[order, 1], s=3, c=c, rasterized=True)
        ax.set_title(name)
        ax.set_xlabel("z1" if how == "codes" else "component 1")
        ax.set_ylabel("z2" if how == "codes" else "component 2")
    axes[1].set_xlabel("component 1")
    axes[1].set_ylabel("component 2")
    if panels == 3:
        yg = None
        if caps.has(model, Capability.CONDITIONAL):
            yg = int(np.bincount(labels).argmax()) if labels is not None and len(labels) else 0
        arr, extent = decoded_grid(model, codes, grid, yg)
        pic = arr[..., 0] if arr.shape[-1] == 1 else arr
        axes[2].imshow(
            pic, extent=extent, aspect="auto", cmap="gray", vmin=0, vmax=255, interpolation="nearest"
        )
        label = "" if yg is None else f", class {class_names[yg] if class_names else yg}"
        axes[2].set_title(f"decoded grid over the codes{label}")
        axes[2].set_xlabel("z1")
        axes[2].set_ylabel("z2")
    if labels is not None and 0 < k <= 20:
        names = list(class_names) if class_names and len(class_names) >= k else [str(i) for i in range(k)]
        handles = [
            Line2D([], [], marker="o", linestyle="", color=cmap(i), markersize=6, label=names[i])
            for i in range(k)
        ]
        axes[panels - 1].legend(
            handles=handles, title="class", loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False
        )
    fig.suptitle(title or f"{len(codes)} test images")
    fig.tight_layout()
    return fig
