"""Images to score as a file (``genzoo sample -o x.npz``, ``genzoo eval --samples x.npz``): an .npz
or .npy of images in any of the common layouts, read without unpickling, every way the file can be
unreadable reported as one ConfigError naming the file; ``save_samples`` writes the form that
``load_samples`` reads (key 'x', and 'y' for the labels of a conditional model's samples)."""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from genzoo import io as gio
from genzoo.errors import ConfigError

SAMPLES_FORMAT = "images (N, H, W), (N, C, H, W) or (N, H, W, C) saved with numpy.savez"


def _first_line(e: BaseException, limit: int = 160) -> str:
    text = next((line.strip() for line in str(e).splitlines() if line.strip()), type(e).__name__)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _read_array(path: Path) -> np.ndarray:
    """The images array of an .npz (key 'x', 'samples' or 'images', else the first) or .npy file,
    read without unpickling; every way the file can be unreadable is one ConfigError."""
    try:
        f = path.open("rb")
    except OSError as e:  # missing, a directory, no permission
        raise ConfigError(f"{path} cannot be read ({e.strerror or e})") from None
    with f:
        try:
            loaded = np.load(f, allow_pickle=False)
            if not isinstance(loaded, np.lib.npyio.NpzFile):
                return loaded  # an .npy: the array itself
            with loaded as npz:
                key = next((k for k in ("x", "samples", "images") if k in npz.files), None)
                key = key or (npz.files[0] if npz.files else None)
                if key is None:
                    raise ConfigError(f"{path} holds no arrays; expected {SAMPLES_FORMAT}")
                return npz[key]
        except ConfigError:
            raise
        except Exception as e:  # an untrusted file: zip, zlib, header, size and memory errors
            if isinstance(e, ValueError) and "Object arrays" in str(e):
                why = "it holds an array of Python objects, which genzoo never unpickles"
            elif isinstance(e, ValueError) and "pickle" in str(e):
                why = "neither a zip (.npz) nor an .npy; numpy would unpickle it, which genzoo never does"
            elif isinstance(e, (zipfile.BadZipFile, zlib.error, EOFError)):
                why = f"a corrupt or truncated zip: {_first_line(e)}"
            else:
                why = f"{type(e).__name__}: {_first_line(e)}"
            raise ConfigError(
                f"{path} is not a readable .npz file ({why}); expected {SAMPLES_FORMAT}"
            ) from None


def load_samples(path: str | Path) -> torch.Tensor:
    """Images from an .npz (key 'x', 'samples' or 'images', else the first array) or an .npy, as
    (N, C, H, W) float32: (N, H, W), (N, C, H, W) or channels-last (N, H, W, C) with C = 1 or 3
    (an array whose second axis is 1 or 3 is read as (N, C, H, W)); uint8 0..255 or float in
    [0, 1]. Nothing is unpickled."""
    path = Path(path)
    arr = _read_array(path)
    if arr.dtype.kind not in "uif" or arr.ndim not in (3, 4):
        raise ConfigError(
            f"{path}: expected images (N, H, W) or (N, C, H, W) of numbers, got {arr.dtype} {arr.shape}"
        )
    # float32 in numpy: any byte order and width (big-endian, float128) torch cannot take directly
    x = torch.from_numpy(arr.astype(np.float32) / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float32))
    if x.dim() == 3:
        return x.unsqueeze(1)
    if x.shape[1] not in (1, 3) and x.shape[3] in (1, 3):
        x = x.permute(0, 3, 1, 2)  # channels-last (N, H, W, C), as numpy image pipelines write
    return x.contiguous()


def save_samples(path: str | Path, x: torch.Tensor, y: torch.Tensor | None = None) -> Path:
    """Write samples x (N, ...) as float32 under key 'x' of an .npz (and labels y (N,) as int64
    under 'y'), atomically and without pickling: the file ``load_samples`` (``genzoo eval
    --samples``) reads back exactly, and ``load_labels`` gives the labels of."""
    path = Path(path)
    arrays = {"x": x.detach().cpu().to(torch.float32).contiguous().numpy()}
    if y is not None:
        y = torch.as_tensor(y).detach().cpu().to(torch.int64).reshape(-1)
        if len(y) != len(x):
            raise ConfigError(f"{len(x)} samples need {len(x)} labels, got {len(y)}")
        arrays["y"] = y.numpy()
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    gio.atomic_write_bytes(path, buf.getvalue())
    return path


def load_sample_files(paths: Sequence[str | Path]) -> torch.Tensor:
    """The images of several files (``load_samples`` each), concatenated in the order given: samples
    drawn in parallel processes (``genzoo sample --seed S -n N`` over disjoint seed ranges) scored as
    one set. Files whose images differ in shape are one ConfigError naming both."""
    if isinstance(paths, (str, Path)):
        raise TypeError("load_sample_files takes a list of paths; load_samples reads one file")
    if not paths:
        raise ConfigError("no sample files given")
    parts = [load_samples(p) for p in paths]
    for p, x in zip(paths[1:], parts[1:], strict=True):
        if x.shape[1:] != parts[0].shape[1:]:
            raise ConfigError(
                f"{p} holds images of shape {tuple(x.shape[1:])}, but {paths[0]} holds {tuple(parts[0].shape[1:])}; "
                "sample files scored together must hold images of one shape"
            )
    return torch.cat(parts)


def load_labels(path: str | Path) -> torch.Tensor | None:
    """The labels (N,) long that ``save_samples`` stored beside the samples (key 'y'), or None."""
    path = Path(path)
    _read_array(path)  # the same checks and messages as the samples
    loaded = np.load(path, allow_pickle=False)
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        return None  # an .npy holds the images alone
    with loaded as npz:
        if "y" not in npz.files:
            return None
        y = npz["y"]
    if y.dtype.kind not in "iu" or y.ndim != 1:
        raise ConfigError(f"{path}: labels 'y' should be whole numbers (N,), got {y.dtype} {y.shape}")
    return torch.from_numpy(y.astype(np.int64))
