"""Inpainting: fill the unknown pixels of images, one entry point for every family that can.

- A model with its own sampler-based ``inpaint`` (the diffusion models' RePaint) uses it.
- A model that can encode and decode (the autoencoders, the VAEs) iterates its reconstruction with
  the known pixels clamped: x_{t+1} = m * x + (1 - m) * reconstruct(x_t), with the hole of x_0 set
  to 0 (what a denoising autoencoder's masking noise leaves). A few passes: each pass of an
  autoencoder adds ink to a hole, so many passes overfill it (measured in docs/applications.md). A model with a per-pixel likelihood (``pixel_nll``,
  the VAEs) then optimises the code against the known pixels, the MAP estimate
  z* = argmin_z sum_{i known} -log p(x_i | z) + ||z||^2 / 2 (the N(0, I) prior), from encode(x_T)
  by Adam, and fills the hole with decode(z*).

Masks are (1, H, W) tensors with 1 where a pixel is known and 0 where it is to be filled:
``center`` (the middle half of each side), ``left`` (the left half), ``random`` (each pixel unknown
with probability 1/2, seeded) or a PNG file of the images' size (dark = unknown, light = known).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from genzoo.conditional import is_conditional
from genzoo.errors import ConfigError, DataError, GenzooError
from genzoo.latent import can_encode, evaluating, model_device, model_kind
from genzoo.models import capabilities as caps
from genzoo.models.capabilities import Capability

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


def inpaint(
    model: Any,
    x: torch.Tensor,
    known: torch.Tensor,
    *,
    iters: int | None = None,
    code_steps: int | None = None,
    lr: float = 0.05,
    **kw: Any,
) -> torch.Tensor:
    """x (B, C, H, W) in [0, 1] with the pixels where ``known`` (1, H, W) is 0 filled by the model:
    its own ``inpaint`` (``kw`` passed on: steps, seeds, class ...) or, for a model that can
    encode and decode, ``iters`` clamped reconstructions (default 3) and, for a model with a
    per-pixel likelihood (the VAEs), ``code_steps`` Adam steps on the code (default 100); see the
    module docstring. An option that does not apply to the model is an error, never ignored."""
    kind = model_kind(model)
    if caps.has(model, Capability.INPAINTER):
        if iters is not None or code_steps is not None:
            raise GenzooError(
                f"iters and code_steps apply to inpainting by reconstruction; {kind} inpaints with its sampler"
            )
        return model.inpaint(x, known, **kw)
    if not can_encode(model):
        raise GenzooError(
            f"{kind} cannot inpaint: it needs an encoder and decoder ({', '.join(caps.families_with(Capability.ENCODER))}) "
            f"or inpainting of its own ({', '.join(caps.families_with(Capability.INPAINTER))})"
        )
    if kw:
        raise GenzooError(
            f"{', '.join(sorted(kw))} apply to sampler-based inpainting; {kind} inpaints by reconstruction"
        )
    if code_steps and not caps.has(model, Capability.VARIATIONAL):
        raise GenzooError(
            f"code_steps optimise a code against the known pixels' likelihood; {kind} has none "
            f"({', '.join(caps.families_with(Capability.VARIATIONAL))} have)"
        )
    return inpaint_by_reconstruction(
        model,
        x,
        known,
        iters=3 if iters is None else iters,
        code_steps=100 if code_steps is None else code_steps,
        lr=lr,
    )


def inpaint_by_reconstruction(
    model: Any,
    x: torch.Tensor,
    known: torch.Tensor,
    *,
    iters: int = 3,
    code_steps: int = 100,
    lr: float = 0.05,
) -> torch.Tensor:
    """Fill by clamped reconstruction, then (models with ``pixel_nll``) the MAP code; (B, C, H, W)
    on the CPU. The model is used in eval mode and its weights get no gradient."""
    if iters < 0 or code_steps < 0:
        raise ConfigError("iters and code_steps must be >= 0")
    dev = model_device(model)
    m = known.to(dev).expand_as(x[:1])  # (1, C, H, W), 1 = known
    x = x.to(dev)
    cond = is_conditional(model)
    with evaluating(model):
        with torch.no_grad():
            xt = x * m  # the hole starts at 0, as a denoising autoencoder's masking noise leaves it
            for _ in range(iters):
                xt = x * m + model.reconstruct(xt).float() * (1 - m)  # (a cvae infers its labels)
        if code_steps == 0 or not caps.has(model, Capability.VARIATIONAL):
            return xt.cpu()
        with torch.no_grad():
            y = model.infer_labels(xt) if cond else None
            z = model.encode(xt, y).float()
        z = z.clone().requires_grad_(True)
        opt = torch.optim.Adam([z], lr=lr)
        with torch.enable_grad():  # also when called under torch.no_grad()
            for _ in range(code_steps):  # MAP: min_z sum_known -log p(x_i|z) + ||z||^2 / 2
                logits = model.decode_logits(z, y)
                loss = ((model.pixel_nll(logits, x) * m).flatten(1).sum(1) + 0.5 * z.pow(2).sum(1)).sum()
                (grad,) = torch.autograd.grad(loss, z)  # the model's own gradients are left untouched
                opt.zero_grad(set_to_none=True)
                z.grad = grad
                opt.step()
        with torch.no_grad():
            dec = model.decode(z, y) if cond else model.decode(z)
    return (x * m + dec.float() * (1 - m)).detach().cpu()


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
