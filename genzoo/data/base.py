"""Dataset types, the data root and the one entry point `load_dataset`.

Every source (digits, idx, folder, toy2d) returns a whole split as one in-memory
`TensorData`; models and the trainer see only this type and its `DatasetInfo`.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F

from genzoo.data import sources
from genzoo.data.types import DatasetInfo, TensorData  # noqa: F401  (re-exported)
from genzoo.errors import ConfigError, DataError

SPLITS = ("train", "test")


@dataclass(kw_only=True)
class DataConfig:
    """Which dataset to load and how (plain typed fields, no logic)."""

    name: str = "digits"  # digits | mnist | fashion-mnist | folder | moons | rings | ...
    root: str | None = None  # data root for idx datasets; None -> data_root(None)
    path: str | None = None  # folder dataset: the directory of images; csv: the series file
    image_size: int | None = None  # image sets: resize to image_size x image_size (None: as stored)
    channels: int | None = None  # image sets: 1 or 3 (None: as stored; folder: 1 if all are gray)
    limit: int | None = None  # use only the first `limit` examples of the split
    # keep only the examples of these class indices (e.g. one "normal" class for anomaly detection);
    # applied before `limit`; None keeps every class
    classes: tuple[int, ...] | None = None
    n_points: int = 20000  # toy 2-D sets: number of points per split
    # [0, 1] images as binary pixels x ~ Bernoulli(gray value): "static" = one fixed draw per split;
    # "dynamic" = a new draw for every training batch (the likelihood literature's binarized MNIST);
    # with either, the test split is one fixed draw (the same for both), so their NLLs compare
    binarize: Literal["none", "dynamic", "static"] = "none"
    # series (genzoo.data.timeseries): steps per example (sines: the series length; windowed sets
    # kdd-tsad-135 / ecg-anomaly / csv: the window cut from the long series); None: 64
    window: int | None = None
    stride: int | None = None  # windowed sets: steps between window starts (None: window // 8)


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
    ``image_size`` / ``channels`` convert any image set (see ``convert_images``; a folder is
    converted image by image as it is read). Raises ConfigError for settings that cannot apply
    (``check_data_config``), DataError for an unknown split and for missing or corrupt data.
    """
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r} for dataset {cfg.name!r}; use 'train' or 'test'")
    check_data_config(cfg)
    source = sources.get_source(cfg.name)
    data = source.load(cfg, split, root=data_root(cfg.root), download=download, mirrors=mirrors)
    if cfg.classes is not None:  # checked first: a bad index is an error before any work
        select_classes(data, cfg.classes)
    elif cfg.limit is not None:  # (with classes, the limit applies after the selection, below)
        data = _first(data, cfg.limit)
    if not source.converts_itself and (cfg.image_size is not None or cfg.channels is not None):
        x = convert_images(data.x, cfg.image_size, cfg.channels)
        info = dataclasses.replace(data.info, shape=tuple(x.shape[1:]))
        data = TensorData(x=x, y=data.y, info=info, split=split)
    if cfg.binarize == "static" or (cfg.binarize == "dynamic" and split == "test"):
        x = torch.bernoulli(data.x, generator=torch.Generator().manual_seed(BINARIZE_SEEDS[split]))
        data = TensorData(x=x, y=data.y, info=data.info, split=split)
    if cfg.classes is not None:  # after binarizing: an image gets the same draw with or without it
        data = select_classes(data, cfg.classes)
        if cfg.limit is not None:
            data = _first(data, cfg.limit)
    return data


def _first(data: TensorData, n: int) -> TensorData:
    """The first n examples of a split (all of them if it has fewer)."""
    if n >= len(data):
        return data
    y = None if data.y is None else data.y[:n]
    return TensorData(x=data.x[:n], y=y, info=data.info, split=data.split)


def select_classes(data: TensorData, classes: tuple[int, ...]) -> TensorData:
    """The examples of ``data`` whose label is one of ``classes`` (in split order)."""
    names = data.info.class_names
    if data.y is None:
        raise DataError(
            f"classes (--data-classes) needs labels; the {data.info.name} {data.split} split has none"
        )
    k = len(names) if names else int(data.y.max()) + 1
    bad = [c for c in classes if c >= k]
    if bad:
        raise ConfigError(
            f"classes (--data-classes) {','.join(map(str, bad))} out of range: {data.info.name} has "
            f"{k} classes (0..{k - 1})"
        )
    keep = torch.isin(data.y, torch.tensor(classes, dtype=data.y.dtype))
    return TensorData(x=data.x[keep], y=data.y[keep], info=data.info, split=data.split)


BINARIZE_SEEDS = {"train": 0, "test": 1}  # the fixed draws x_b ~ Bernoulli(x) of --data-binarize


def dynamic_binarize_generator(seed: int, step: int, rank: int = 0) -> torch.Generator:
    """The generator of training batch ``step``'s Bernoulli draw (``binarize='dynamic'``): a
    function of (seed, step, rank) alone, so a resumed run draws exactly what it would have."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * 257 + rank)


def check_data_config(cfg: DataConfig) -> None:
    """ConfigError naming the field and its option for settings no dataset can honour: an
    unknown name, non-positive counts or sizes, channels other than 1 or 3, image settings for
    point sets, a folder path for another dataset, a data root that is a file."""
    name = cfg.name
    source = sources.get_source(name)
    if cfg.limit is not None and cfg.limit < 1:
        raise ConfigError(f"limit (--data-limit) must be a positive number of examples, got {cfg.limit}")
    if cfg.classes is not None and (not cfg.classes or min(cfg.classes) < 0):
        raise ConfigError(f"classes (--data-classes) must be class indices >= 0, got {cfg.classes}")
    if cfg.n_points < 1:
        raise ConfigError(f"n_points (--data-n-points) must be positive, got {cfg.n_points}")
    if cfg.image_size is not None and cfg.image_size < 1:
        raise ConfigError(f"image_size (--data-image-size) must be positive, got {cfg.image_size}")
    if cfg.channels not in (None, 1, 3):
        raise ConfigError(f"channels (--data-channels) must be 1 or 3, got {cfg.channels}")
    if cfg.window is not None and cfg.window < 2:
        raise ConfigError(f"window (--data-window) must be at least 2 steps, got {cfg.window}")
    if cfg.stride is not None and cfg.stride < 1:
        raise ConfigError(f"stride (--data-stride) must be a positive number of steps, got {cfg.stride}")
    points = {"points": "a set of 2-D points", "series": "a set of series"}.get(source.kind, "")
    if points and (cfg.image_size is not None or cfg.channels is not None):
        option = (
            "image_size (--data-image-size)" if cfg.image_size is not None else "channels (--data-channels)"
        )
        raise ConfigError(f"{option} applies to images; {name} is {points}")
    if cfg.binarize != "none" and points:
        raise ConfigError(f"binarize (--data-binarize) applies to [0, 1] images; {name} is {points}")
    if cfg.path and "path" not in source.options:
        raise ConfigError(
            f"path (--data-path) is for the folder dataset; {name} does not read it (use --data folder, "
            "or --data csv for a series file)"
        )
    if "path" in source.needs and not cfg.path:
        raise ConfigError(f"the {name} dataset needs path (--data-path): {source.description}")
    windowed = ", ".join(sources.names(reading="stride"))  # long series cut into windows
    if cfg.window is not None and "window" not in source.options:
        raise ConfigError(
            f"window (--data-window) applies to the sines and the windowed series sets "
            f"({windowed}); {name} does not take it"
        )
    if cfg.stride is not None and "stride" not in source.options:
        raise ConfigError(
            f"stride (--data-stride) applies to the windowed series sets ({windowed}); {name} does not take it"
        )
    check_root(cfg.root)


def check_root(root: str | None) -> None:
    """ConfigError if a given data root exists but is not a directory."""
    if root and Path(root).expanduser().exists() and not Path(root).expanduser().is_dir():
        raise ConfigError(f"data root (--data-root) {root} is a file, not a directory")


def convert_images(x: torch.Tensor, image_size: int | None, channels: int | None) -> torch.Tensor:
    """Images x (N, C, H, W) in [0, 1] as (N, channels, image_size, image_size).

    Resizing is antialiased bilinear interpolation (torch ``interpolate``, deterministic on the
    CPU), so values stay in [0, 1]; gray becomes RGB by repeating the channel, RGB becomes gray by
    ITU-R 601 luma (0.299 R + 0.587 G + 0.114 B, as Pillow's ``convert("L")``). None keeps that
    property as it is; a size already equal is not resampled.
    """
    if image_size is not None and tuple(x.shape[-2:]) != (image_size, image_size):
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", antialias=True)
        x = x.clamp_(0.0, 1.0)
    if channels is not None and channels != x.shape[1]:
        if channels == 3:
            x = x.repeat(1, 3, 1, 1)  # (N, 1, H, W) -> (N, 3, H, W)
        else:
            luma = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype).view(1, 3, 1, 1)
            x = (x * luma).sum(dim=1, keepdim=True)  # (N, 3, H, W) -> (N, 1, H, W)
    return x.contiguous()


def list_datasets(root: str | None = None) -> list[dict]:
    """One dict per registered source: name, shape, classes (count or None), description, present.

    `present` is True when the data can be used without a download: always for digits and the
    toy sets, for mnist / fashion-mnist when all four files (right sizes) sit under the data
    root, and False for folder (it needs --data-path).
    """
    check_root(root)
    base = data_root(root)
    return [s.row(base) for s in sources.sources()]
