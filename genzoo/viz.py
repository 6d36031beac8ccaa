"""Image grids written with Pillow (no torchvision)."""

from __future__ import annotations

from collections.abc import Sequence
from io import BytesIO
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from genzoo import io


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


def chunk_rows(x: torch.Tensor, per_row: int) -> list[torch.Tensor]:
    """Split (N, C, H, W) into rows of ``per_row`` images for a square-ish grid."""
    return list(x.split(per_row))
