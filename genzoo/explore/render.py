"""What the explorer sends and receives as pictures: PNG data URLs of model outputs, and uploaded or
drawn images read back into tensors of a model's shape. Pillow only, no matplotlib, so a slider's
picture costs well under a millisecond.

- images (C, H, W) in [0, 1]: the PNG at native size (the page enlarges it, pixelated);
- series (T, D + 1), the last column the mask of valid steps: a small line plot;
- points (n, 2), e.g. a batch of samples of a 2-D density: one scatter plot.
"""

from __future__ import annotations

import base64
import binascii
from io import BytesIO

import numpy as np
import torch
from PIL import Image, ImageDraw, UnidentifiedImageError

from genzoo.errors import GenzooError

PLOT = (160, 96)  # width, height of a series plot
SCATTER = 192
COLOURS = ((40, 40, 40), (214, 39, 40), (31, 119, 180), (44, 160, 44))
MAX_UPLOAD_PIXELS = 4096 * 4096


class BadImage(GenzooError):
    """An upload that is not an image the model can take."""


def png_url(img: Image.Image) -> str:
    buf = BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def image(x: torch.Tensor) -> Image.Image:
    """One image (C, H, W) in [0, 1] as a Pillow image (L or RGB)."""
    arr = (x.detach().float().clamp(0, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8)
    return Image.fromarray(arr[0]) if arr.shape[0] == 1 else Image.fromarray(arr[:3].transpose(1, 2, 0))


def series(x: torch.Tensor) -> Image.Image:
    """One series (T, D + 1) as a line plot, padding (mask 0) left out."""
    w, h = PLOT
    img = Image.new("RGB", PLOT, "white")
    draw = ImageDraw.Draw(img)
    keep = x[:, -1] > 0
    v = x[keep, :-1].detach().float().cpu()
    if len(v) < 2:
        return img
    lo, hi = float(v.min()), float(v.max())
    span = hi - lo or 1.0
    xs = np.linspace(4, w - 4, len(v))
    for d in range(v.shape[1]):
        ys = h - 4 - (v[:, d].numpy() - lo) / span * (h - 8)
        draw.line(list(zip(xs.tolist(), ys.tolist(), strict=True)), fill=COLOURS[d % len(COLOURS)], width=2)
    return img


def scatter(x: torch.Tensor, ref: torch.Tensor | None = None) -> Image.Image:
    """Points (n, 2) as a scatter plot (``ref`` (m, 2) in grey behind them, setting the axes)."""
    img = Image.new("RGB", (SCATTER, SCATTER), "white")
    draw = ImageDraw.Draw(img)
    pts = x.detach().float().cpu()[:, :2]
    axes = pts if ref is None or not len(ref) else ref.float()[:, :2]
    lo, hi = axes.min(0).values, axes.max(0).values
    span = (hi - lo).clamp_min(1e-6) * 1.1
    centre = (hi + lo) / 2

    def xy(p: torch.Tensor) -> list[tuple[float, float]]:
        u = ((p - centre) / span + 0.5) * SCATTER
        return [(float(a), SCATTER - float(b)) for a, b in u]

    for layer, colour in ((ref, (200, 200, 200)), (pts, (31, 119, 180))):
        if layer is None:
            continue
        for a, b in xy(layer.float()[:, :2]):
            draw.ellipse((a - 1.5, b - 1.5, a + 1.5, b + 1.5), fill=colour)
    return img


def urls(x: torch.Tensor) -> list[str]:
    """Data URLs of a batch (n, *shape): one per image or series; one scatter for points."""
    if x.dim() == 4:
        return [png_url(image(xi)) for xi in x]
    if x.dim() == 3:
        return [png_url(series(xi)) for xi in x]
    return [png_url(scatter(x))]


def decode_upload(data_url: str, shape: tuple[int, ...], max_bytes: int) -> torch.Tensor:
    """An uploaded picture (a data URL or bare base64 of PNG/JPEG/...) as (1, C, H, W) in [0, 1],
    converted to the model's channels and resized to its size; BadImage in one line otherwise."""
    if len(shape) != 3:
        raise BadImage(f"this model takes data of shape {tuple(shape)}, not images: use its test examples")
    if not isinstance(data_url, str):
        raise BadImage("image must be a data URL string")
    b64 = data_url.split(",", 1)[1] if data_url.startswith("data:") and "," in data_url else data_url
    if len(b64) > max_bytes * 4 // 3 + 4:
        raise BadImage(f"the image is larger than {max_bytes // 1024} KiB")
    try:
        raw = base64.b64decode(b64, validate=True)
        with Image.open(BytesIO(raw)) as img:
            if img.width * img.height > MAX_UPLOAD_PIXELS:
                raise BadImage(f"the image is {img.width}x{img.height}: too many pixels")
            c, h, w = shape
            img = img.convert("L" if c == 1 else "RGB").resize((w, h), Image.Resampling.BILINEAR)
            arr = np.asarray(img, dtype=np.float32) / 255
    except (binascii.Error, ValueError, UnidentifiedImageError, OSError, Image.DecompressionBombError) as e:
        raise BadImage(f"the upload is not an image Pillow can read ({type(e).__name__})") from None
    t = torch.from_numpy(arr.copy())
    t = t[None] if c == 1 else t.permute(2, 0, 1)
    return t[None]


def decode_mask(data_url: str, hw: tuple[int, int], max_bytes: int) -> torch.Tensor:
    """A drawn mask (white = the hole to fill) as the known-pixel mask (1, H, W): 1 = keep."""
    hole = decode_upload(data_url, (1, *hw), max_bytes)[0]
    known = (hole < 0.5).float()
    if known.min() > 0:
        raise BadImage("the mask hides no pixel: paint the part to fill")
    return known
