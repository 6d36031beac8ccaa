"""A directory of images (.png/.jpg/.jpeg, searched recursively) as an image dataset.

If every image sits in a subfolder, the top-level subfolder names (sorted) are the classes;
otherwise there are no labels. The split is a fixed permutation (numpy default_rng(0)): the
first 10% of it is the test split, the rest the train split. With fewer than 10 images there
is no held-out data: the test split is the same as the train split (all images).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from genzoo.data.sources import Source, register
from genzoo.data.types import DatasetInfo, TensorData
from genzoo.errors import ConfigError, DataError

EXTENSIONS = {".png", ".jpg", ".jpeg"}
GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"}


def _image_files(root: Path) -> list[Path]:
    """All image files under `root`, sorted by relative path."""
    files = [p for p in root.rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file()]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def fingerprint(path: str) -> str:
    """sha256 of the image files' relative paths, sizes and modification times under ``path``:
    it changes when images are added, removed or rewritten (a key for cached statistics)."""
    import hashlib

    root = Path(path).expanduser().resolve()
    h = hashlib.sha256(str(root).encode())
    for f in _image_files(root):
        st = f.stat()
        h.update(f"{f.relative_to(root).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _open(path: Path):
    """PIL image of `path` (lazy: header only), or DataError naming the file."""
    from PIL import Image

    try:
        return Image.open(path)
    except Exception as e:  # UnidentifiedImageError, OSError, DecompressionBombError, ...
        raise DataError(f"cannot read image {path}: {e}") from e


def split_indices(n: int, split: str) -> np.ndarray:
    """Indices of `split` among n files: 90/10 by default_rng(0); all files if n < 10."""
    if n < 10:
        return np.arange(n)
    perm = np.random.default_rng(0).permutation(n)
    n_test = n // 10
    return perm[n_test:] if split == "train" else perm[:n_test]


def image_names(path: str, split: str | None = None) -> list[str]:
    """Relative paths (posix) of the images under ``path``: of ``split`` in the order ``load_folder``
    returns them, or all of them (sorted) for None. Used to match images to a table by file name."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DataError(f"folder dataset: {root} does not exist or is not a directory")
    files = _image_files(root)
    idx = range(len(files)) if split is None else split_indices(len(files), split)
    return [files[i].relative_to(root).as_posix() for i in idx]


def load_folder(
    path: str | None,
    split: str,
    *,
    image_size: int | None = None,
    channels: int | None = None,
) -> TensorData:
    """Images under `path` as x (N, C, H, W) float32 in [0, 1], y (N,) int64 or None.

    channels: 1 or 3; None picks 1 if every image is grayscale, else 3. image_size: resize to
    image_size x image_size; None keeps the size, which must then be the same for all images.
    """
    from PIL import Image

    if not path:
        raise DataError("the folder dataset needs a directory of images (--data-path)")
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DataError(f"folder dataset: {root} does not exist or is not a directory")
    if channels not in (None, 1, 3):
        raise ConfigError(f"folder dataset {root}: channels (--data-channels) must be 1 or 3, got {channels}")
    if image_size is not None and image_size < 1:
        raise ConfigError(
            f"folder dataset {root}: image_size (--data-image-size) must be positive, got {image_size}"
        )
    files = _image_files(root)
    if not files:
        raise DataError(f"folder dataset: no .png/.jpg/.jpeg images found under {root}")

    # Classes: top-level subfolder names, if every image sits in one.
    parts = [f.relative_to(root).parts for f in files]
    class_names = sorted({p[0] for p in parts}) if all(len(p) > 1 for p in parts) else None
    labels = None
    if class_names is not None:
        index = {c: i for i, c in enumerate(class_names)}
        labels = np.array([index[p[0]] for p in parts], dtype=np.int64)

    # Headers of all files (cheap), so both splits agree on channels and size.
    modes, sizes = [], []
    for f in files:
        with _open(f) as img:
            modes.append(img.mode)
            sizes.append(img.size)  # (W, H)
    if channels is None:
        channels = 1 if all(m in GRAY_MODES for m in modes) else 3
    if image_size is None:
        distinct = sorted(set(sizes))
        if len(distinct) > 1:
            shown = ", ".join(f"{w}x{h}" for w, h in distinct[:5])
            raise DataError(
                f"folder dataset {root}: images have different sizes ({shown}"
                f"{', ...' if len(distinct) > 5 else ''}); set --data-image-size N (image_size) to resize them"
            )
        width, height = distinct[0]
    else:
        width = height = image_size

    idx = split_indices(len(files), split)
    out = np.empty((len(idx), height, width, channels), dtype=np.uint8)  # (N, H, W, C)
    for row, i in enumerate(idx):
        with _open(files[i]) as img:
            try:
                img = img.convert("L" if channels == 1 else "RGB")
                if img.size != (width, height):
                    img = img.resize((width, height), Image.Resampling.LANCZOS)
                arr = np.asarray(img, dtype=np.uint8)
            except Exception as e:  # truncated or corrupt pixel data
                raise DataError(f"cannot decode image {files[i]}: {e}") from e
        out[row] = arr.reshape(height, width, channels)
    x = torch.from_numpy(out).permute(0, 3, 1, 2).float().div_(255.0).contiguous()
    info = DatasetInfo(
        name="folder",
        shape=(channels, height, width),
        value_range=(0.0, 1.0),
        class_names=None if class_names is None else tuple(class_names),
    )
    y = None if labels is None else torch.from_numpy(labels[idx])
    return TensorData(x=x, y=y, info=info, split=split)


register(
    Source(
        name="folder",
        load=lambda cfg, split, **_: load_folder(
            cfg.path, split, image_size=cfg.image_size, channels=cfg.channels
        ),
        description="directory of .png/.jpg images, subfolders = classes (needs --data-path)",
        kind="images",
        options=("path",),  # a missing path is the loader's error, which says more
        present=lambda root: False,
        converts_itself=True,
    )
)
