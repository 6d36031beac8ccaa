"""Dataset types, the data root and the one entry point `load_dataset`.

Every source (digits, idx, folder, toy2d) returns a whole split as one in-memory
`TensorData`; models and the trainer see only this type and its `DatasetInfo`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from genzoo.errors import DataError

SPLITS = ("train", "test")
TOY_NAMES = ("moons", "rings", "eight-gaussians", "swiss-roll")
IDX_NAMES = ("mnist", "fashion-mnist")
DATASET_NAMES = ("digits", *IDX_NAMES, "folder", *TOY_NAMES)


@dataclass(kw_only=True)
class DataConfig:
    """Which dataset to load and how (plain typed fields, no logic)."""

    name: str = "digits"  # digits | mnist | fashion-mnist | folder | moons | rings | ...
    root: str | None = None  # data root for idx datasets; None -> data_root(None)
    path: str | None = None  # folder dataset: the directory of images
    image_size: int | None = None  # folder: resize to image_size x image_size
    channels: int | None = None  # folder: 1 or 3 (None: 1 if all images are grayscale)
    limit: int | None = None  # use only the first `limit` examples of the split
    n_points: int = 20000  # toy 2-D sets: number of points per split


@dataclass(frozen=True)
class DatasetInfo:
    """What a model needs to know about the data, without the data itself."""

    name: str
    shape: tuple[int, ...]  # per-example shape: (C, H, W) for images, (2,) for toy sets
    value_range: tuple[float, float] | None  # (0.0, 1.0) for images; None if unbounded
    class_names: tuple[str, ...] | None

    def is_image(self) -> bool:
        """True for (C, H, W) image data."""
        return len(self.shape) == 3


@dataclass
class TensorData:
    """A whole split held in memory: x (N, *info.shape) float32, y (N,) int64 or None."""

    x: torch.Tensor
    y: torch.Tensor | None
    info: DatasetInfo
    split: str

    def __len__(self) -> int:
        return int(self.x.shape[0])


def data_root(root: str | None = None) -> Path:
    """The directory holding idx datasets: `root`, else $GENZOO_DATA, else the user cache dir.

    The cache dir is $XDG_CACHE_HOME/genzoo, or ~/.cache/genzoo. Nothing is created here.
    """
    if root:
        return Path(root).expanduser()
    env = os.environ.get("GENZOO_DATA")
    if env:
        return Path(env).expanduser()
    return user_cache_dir()


def user_cache_dir() -> Path:
    """$XDG_CACHE_HOME/genzoo, or ~/.cache/genzoo (downloads, cached statistics)."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "genzoo"


def load_dataset(
    cfg: DataConfig,
    split: str = "train",
    *,
    download: bool = True,
    mirrors: list[str] | None = None,
) -> TensorData:
    """Load one split ("train" or "test") of the dataset named by `cfg.name`.

    `download` and `mirrors` matter only for mnist / fashion-mnist (see genzoo.data.idx).
    Raises DataError for an unknown name or split, and for any missing or corrupt data.
    """
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r} for dataset {cfg.name!r}; use 'train' or 'test'")
    if cfg.limit is not None and cfg.limit < 1:
        raise DataError(f"limit must be a positive number of examples, got {cfg.limit}")
    name = cfg.name
    if name == "digits":
        from genzoo.data.digits import load_digits

        data = load_digits(split)
    elif name in IDX_NAMES:
        from genzoo.data.idx import load_idx

        data = load_idx(name, split, data_root(cfg.root), download=download, mirrors=mirrors)
    elif name == "folder":
        from genzoo.data.folder import load_folder

        data = load_folder(cfg.path, split, image_size=cfg.image_size, channels=cfg.channels)
    elif name in TOY_NAMES:
        from genzoo.data.toy2d import make_toy

        data = make_toy(name, split, cfg.n_points)
    else:
        known = ", ".join(DATASET_NAMES)
        raise DataError(f"unknown dataset {name!r}; known datasets: {known}")
    if cfg.limit is not None and cfg.limit < len(data):
        y = None if data.y is None else data.y[: cfg.limit]
        data = TensorData(x=data.x[: cfg.limit], y=y, info=data.info, split=split)
    return data


def list_datasets(root: str | None = None) -> list[dict]:
    """One dict per dataset: name, shape, classes (count or None), description, present.

    `present` is True when the data can be used without a download: always for digits and the
    toy sets, for mnist / fashion-mnist when all four files (right sizes) sit under the data
    root, and False for folder (it needs --data-path).
    """
    from genzoo.data.idx import DESCRIPTIONS as IDX_DESCRIPTIONS
    from genzoo.data.idx import files_present
    from genzoo.data.toy2d import DESCRIPTIONS as TOY_DESCRIPTIONS
    from genzoo.data.toy2d import NUM_CLASSES as TOY_CLASSES

    rows: list[dict] = [
        dict(
            name="digits",
            shape=(1, 8, 8),
            classes=10,
            description="scikit-learn 8x8 handwritten digits (bundled, 1500 train / 297 test)",
            present=True,
        )
    ]
    base = data_root(root)
    for name in IDX_NAMES:
        rows.append(
            dict(
                name=name,
                shape=(1, 28, 28),
                classes=10,
                description=IDX_DESCRIPTIONS[name],
                present=files_present(name, base),
            )
        )
    rows.append(
        dict(
            name="folder",
            shape=None,
            classes=None,
            description="directory of .png/.jpg images, subfolders = classes (needs --data-path)",
            present=False,
        )
    )
    for name in TOY_NAMES:
        rows.append(
            dict(
                name=name,
                shape=(2,),
                classes=TOY_CLASSES[name],
                description=TOY_DESCRIPTIONS[name],
                present=True,
            )
        )
    return rows
