"""Inpainting: fill the unknown pixels of images with a model that can (``model.inpaint``).

Masks are (1, H, W) tensors with 1 where a pixel is known and 0 where it is to be filled:
``center`` (the middle half of each side), ``left`` (the left half), ``random`` (each pixel unknown
with probability 1/2, seeded) or a PNG file of the images' size (dark = unknown, light = known).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from genzoo.errors import ConfigError, DataError, GenzooError

MASKS = ("center", "left", "random")


def make_mask(spec: str, hw: tuple[int, int], seed: int = 0) -> torch.Tensor:
    """The (1, H, W) known-pixel mask named by ``spec``: center | left | random | a PNG file."""
    h, w = hw
    known = torch.ones(1, h, w)
    if spec == "center":
        known[:, h // 4 : h - h // 4, w // 4 : w - w // 4] = 0
    elif spec == "left":
        known[:, :, : w // 2] = 0
    elif spec == "random":
        known = (torch.rand(1, h, w, generator=torch.Generator().manual_seed(seed)) >= 0.5).float()
    elif spec.lower().endswith(".png"):
        path = Path(spec)
        if not path.is_file():
            raise DataError(f"mask file {path} does not exist")
        try:
            img = np.asarray(Image.open(path).convert("L"), dtype=np.float32) / 255
        except OSError as e:
            raise DataError(f"cannot read the mask {path}: {e}") from None
        if img.shape != (h, w):
            raise ConfigError(f"the mask {path} is {img.shape[0]}x{img.shape[1]} but the images are {h}x{w}")
        known = torch.from_numpy(img >= 0.5).float()[None]
    else:
        raise ConfigError(f"unknown mask {spec!r}; choose {', '.join(MASKS)} or a .png file")
    if known.min() > 0:
        raise ConfigError(f"the mask {spec!r} hides no pixel: nothing to inpaint")
    return known


def inpaint(model: object, x: torch.Tensor, known: torch.Tensor, **kw) -> torch.Tensor:
    """x (B, C, H, W) in [0, 1] with the pixels where ``known`` is 0 filled by the model."""
    if not callable(getattr(model, "inpaint", None)):
        kind = getattr(model, "model_type", type(model).__name__)
        raise GenzooError(f"{kind} cannot inpaint; the diffusion models (ddpm, cddpm) can")
    return model.inpaint(x, known, **kw)


def masked_mse(filled: torch.Tensor, x: torch.Tensor, known: torch.Tensor) -> float:
    """Mean squared error over the filled (unknown) pixels only."""
    hole = (1 - known).expand_as(x)
    return float(((filled - x).pow(2) * hole).sum() / hole.sum().clamp(min=1))


def baseline_fills(x: torch.Tensor, known: torch.Tensor, train_x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Two model-free fills to compare with: the training split's mean image, and the training image
    nearest to each x on its known pixels (L2), both with the known pixels kept."""
    mean = train_x.mean(0, keepdim=True)  # (1, C, H, W)
    k = known.expand_as(x[:1]).flatten()  # (C*H*W,)
    d = torch.cdist((x.flatten(1) * k), (train_x.flatten(1) * k))  # (B, N)
    nearest = train_x[d.argmin(1)]
    return {
        "mean image": x * known + mean * (1 - known),
        "nearest neighbour": x * known + nearest * (1 - known),
    }
