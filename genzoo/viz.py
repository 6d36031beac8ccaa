"""Image grids and training-progress strips/GIFs written with Pillow (no torchvision); 2-D scatters
and any matplotlib figure (``save_figure``) written as PNG."""

from __future__ import annotations

import re
from collections.abc import Sequence
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image, ImageDraw

from genzoo import io
from genzoo.errors import GenzooError

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def grid_array(rows: Sequence[torch.Tensor], pad: int = 2, scale: int = 1) -> np.ndarray:
    """Stack rows of images (each (B, C, H, W) in [0, 1]) into one uint8 array (H', W', C)."""
    if not rows:
        raise ValueError("no images to draw")
    b = max(r.shape[0] for r in rows)
    c, h, w = rows[0].shape[1:]
    if c not in (1, 3):
        raise ValueError(f"can only draw 1- or 3-channel images, got {c} channels")
    out = np.full((len(rows) * (h + pad) + pad, b * (w + pad) + pad, c), 255, dtype=np.uint8)
    for i, row in enumerate(rows):
        arr = (row.detach().float().clamp(0, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8)
        for j, img in enumerate(arr):  # img: (C, H, W)
            y, x = pad + i * (h + pad), pad + j * (w + pad)
            out[y : y + h, x : x + w] = img.transpose(1, 2, 0)
    if scale > 1:
        out = out.repeat(scale, 0).repeat(scale, 1)
    return out


def save_grid(rows: Sequence[torch.Tensor], path: str | Path, scale: int | None = None) -> Path:
    """Write rows of images as one PNG; small images are enlarged so they stay visible."""
    h = rows[0].shape[-2]
    scale = scale or max(1, 56 // h)
    arr = grid_array(rows, scale=scale)
    img = Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr)
    buf = BytesIO()
    img.save(buf, format="PNG")
    io.atomic_write_bytes(path, buf.getvalue())
    return Path(path)


def save_rows(rows: Sequence[torch.Tensor], path: str | Path, labels: Sequence[str] = ()) -> Path:
    """Rows of images (N, C, H, W) as a grid (``save_grid``); rows of series (N, T, D + 1) as line
    plots, one panel per example with the rows drawn over each other and named by ``labels`` (rows
    without a name of their own, e.g. a grid of samples under one label, become one row of panels)."""
    if rows[0].dim() == 4:
        return save_grid(rows, path)
    from genzoo.data.timeseries import plot_series

    names = tuple(labels) or ("series",) * len(rows)
    rows = [torch.cat(list(rows))] if len(names) < len(rows) else list(rows)  # e.g. a grid of samples
    path = Path(path)
    plot_series(rows, path, labels=names, per_row=min(len(rows[0]), 10))
    return path


def chunk_rows(x: torch.Tensor, per_row: int) -> list[torch.Tensor]:
    """Split (N, C, H, W) into rows of ``per_row`` images for a square-ish grid."""
    return list(x.split(per_row))


# ----------------------------------------------------------------- training progress (any family)
PROGRESS_NAME = re.compile(r"step-(\d+)\.png")


def progress_frames(run: str | Path) -> dict[int, Path]:
    """The progress pictures a run's trainer wrote (``progress/step-NNNNNNN.png``), by step."""
    folder = Path(run) / "progress"
    frames = {}
    if folder.is_dir():
        for p in folder.iterdir():
            if m := PROGRESS_NAME.fullmatch(p.name):
                frames[int(m.group(1))] = p
    if not frames:
        raise GenzooError(
            f"{run} has no progress pictures ({folder}/step-*.png); train with --image-every N to get them"
        )
    return dict(sorted(frames.items()))


def pick_steps(frames: dict[int, Path], steps: Sequence[int] | None, most: int = 8) -> list[int]:
    """The asked steps (each must have a picture), or up to ``most`` evenly spaced ones ending at the
    last step."""
    have = list(frames)
    if steps:
        missing = [s for s in steps if s not in frames]
        if missing:
            shown = ", ".join(map(str, have[:20])) + (", ..." if len(have) > 20 else "")
            raise GenzooError(
                f"no progress picture at step {', '.join(map(str, missing))}; the run has {shown}"
            )
        return list(steps)
    if len(have) <= most:
        return have
    idx = np.linspace(0, len(have) - 1, most).round().astype(int)  # evenly spaced, first and last kept
    return [have[i] for i in sorted(set(idx.tolist()))]


def _labelled(path: Path, step: int, band: int = 14) -> Image.Image:
    """The picture with a white band above it saying ``step N``."""
    with Image.open(path) as img:
        img = img.convert("RGB")
    out = Image.new("RGB", (img.width, img.height + band), "white")
    out.paste(img, (0, band))
    ImageDraw.Draw(out).text((2, 1), f"step {step}", fill="black")
    return out


def progress_strip(frames: dict[int, Path], steps: Sequence[int], gap: int = 6) -> Image.Image:
    """The pictures of ``steps`` side by side, each labelled with its step (the lab's
    "7000 / 9000 / 10000 steps" figure)."""
    tiles = [_labelled(frames[s], s) for s in steps]
    width = sum(t.width for t in tiles) + gap * (len(tiles) - 1)
    out = Image.new("RGB", (width, max(t.height for t in tiles)), "white")
    x = 0
    for t in tiles:
        out.paste(t, (x, 0))
        x += t.width + gap
    return out


def save_progress(
    run: str | Path, path: str | Path, steps: Sequence[int] | None = None, ms: int = 400
) -> list[int]:
    """Write a run's progress as a strip (.png) or an animated GIF (.gif, every picture unless
    ``steps``, ``ms`` per frame); returns the steps shown."""
    frames = progress_frames(run)
    gif = Path(path).suffix.lower() == ".gif"
    chosen = pick_steps(frames, steps, most=len(frames) if gif else 8)
    buf = BytesIO()
    if gif:
        tiles = [_labelled(frames[s], s) for s in chosen]
        tiles[0].save(buf, format="GIF", save_all=True, append_images=tiles[1:], duration=ms, loop=0)
    else:
        progress_strip(frames, chosen).save(buf, format="PNG")
    io.atomic_write_bytes(path, buf.getvalue())
    return chosen


def save_scatter(real: torch.Tensor, fake: torch.Tensor, path: str | Path, size: float = 2.6) -> Path:
    """2-D points: real (N, 2) in gray, generated (M, 2) in red, on axes fixed by the real points
    (so the pictures of a run line up in a strip or a GIF)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r, f = real.detach().float().cpu().numpy(), fake.detach().float().cpu().numpy()
    lo, hi = r.min(0), r.max(0)
    pad = 0.15 * (hi - lo)
    fig, ax = plt.subplots(figsize=(size, size), dpi=80)
    ax.scatter(r[:, 0], r[:, 1], s=2, c="0.7", linewidths=0)
    ax.scatter(f[:, 0], f[:, 1], s=2, c="tab:red", linewidths=0)
    ax.set(xlim=(lo[0] - pad[0], hi[0] + pad[0]), ylim=(lo[1] - pad[1], hi[1] + pad[1]), xticks=[], yticks=[])
    ax.set_aspect("equal", adjustable="box")
    fig.tight_layout(pad=0.2)
    return save_figure(fig, path)


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write a matplotlib figure as PNG atomically (rendered to memory first), then close it."""
    import matplotlib.pyplot as plt

    buf = BytesIO()
    try:
        fig.savefig(buf, format="png")
    finally:
        plt.close(fig)
    io.atomic_write_bytes(path, buf.getvalue())
    return Path(path)


def show(rows: Sequence[torch.Tensor], title: str = "", scale: int = 4) -> None:
    """Show rows of images (each (B, C, H, W) in [0, 1]) as one picture with matplotlib: the
    notebooks' figure (``plt.show()``; under a non-interactive backend it draws nothing)."""
    import matplotlib.pyplot as plt

    grid = grid_array(rows, scale=scale)
    plt.figure(figsize=(8, 0.9 * len(rows) + 0.4))
    gray = grid.shape[-1] == 1
    plt.imshow(grid[..., 0] if gray else grid, cmap="gray" if gray else None, vmin=0, vmax=255)
    if title:
        plt.title(title)
    plt.axis("off")
    plt.show()
