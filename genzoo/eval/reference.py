"""Reference statistics of the real data, computed once and cached: features of the test split
(and of a fixed train subset) in a feature network, and the real-data floor (the train subset
scored against the test split), so that every sample score can be read against what real data
achieve.

Cache files live under ``cache_dir()/stats``, keyed by the dataset (``dataset_key``: its name, or
a hash of its size/channel settings and folder files), the set ("test-n10000", "floor-n500") and
the feature network's name and hash. A cut or corrupt cache file is rebuilt, not an error.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from genzoo import config as cfgio
from genzoo import io
from genzoo.data import DataConfig, load_dataset, sources
from genzoo.errors import CheckpointError, DataError
from genzoo.eval.features import Extractor, cache_dir, shipped_input_shape
from genzoo.eval.metrics import sample_scores


def dataset_key(data: DataConfig) -> str:
    """Names the reference set in cache keys: the dataset's name (images as stored), else the name
    and a hash of its size/channel settings and, for a folder, of its files (resolved paths,
    sizes, times). ``limit`` is not part of it: references use the whole split."""
    if data.name != "folder" and data.image_size is None and data.channels is None:
        return data.name
    from genzoo.data.folder import fingerprint

    fields = {"image_size": data.image_size, "channels": data.channels}
    if data.path:
        fields["files"] = fingerprint(data.path)
    return f"{data.name}-{hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]}"


def _stats_path(data: DataConfig, what: str, ext: Extractor, suffix: str) -> Path:
    """Cache file for ``what`` ("test-n10000", "floor-n500", ...) of ``data`` in ``ext``'s features.
    The shipped networks keep the keys they had before other feature networks existed."""
    base = dataset_key(data)
    if base == data.name and ext.name == f"genzoo-{data.name}":
        key = f"{base}-{what}-{ext.sha256[:12]}"
    else:
        key = f"{base}-{what}-{ext.name}-{ext.sha256[:12]}"
    return cache_dir() / "stats" / f"{key}{suffix}"


def as_data_config(data: DataConfig | str, root: str | None = None) -> DataConfig:
    """``data`` as a DataConfig: a dataset name (with ``root``) or the config itself."""
    return sources.canonical(DataConfig(name=data, root=root) if isinstance(data, str) else data)


def known_shape(data: DataConfig) -> tuple[int, int, int] | None:
    """The (C, H, W) of ``data``'s images where it is known without reading them: a dataset with
    a shipped feature network (whose input shape is the images' as stored) after ``image_size``
    and ``channels``; None for others (a folder)."""
    native = shipped_input_shape(data.name)
    if native is None:
        return None
    c, h, w = native
    return (data.channels or c, data.image_size or h, data.image_size or w)


def _load_cached(path: Path, read) -> Any:
    """``read(path)`` of a cache file, or None if there is none or it is unreadable (a cut or
    corrupt file is rebuilt, not an error: it holds nothing that cannot be computed again)."""
    if not path.is_file():
        return None
    try:
        return read(path)
    except (CheckpointError, KeyError, TypeError):
        return None


def reference_features(
    data: DataConfig | str, split: str, n: int, ext: Extractor, device: str = "cpu"
) -> torch.Tensor:
    """Features of n real images (the first n of the test split, a fixed random n of the train
    split, whose order is not random; the whole split if it has fewer than n, e.g. digits' 297
    test and 1500 train images), cached per dataset/split/n/feature network and its hash."""
    # the real images as they are: samples are scored against gray test images, also for a model
    # trained on binarized pixels (whose samples are the decoder's mean, a gray image)
    data = cfgio.replace(as_data_config(data), limit=None, binarize="none")
    path = _stats_path(data, f"{split}-n{n}", ext, ".safetensors")
    cached = _load_cached(path, lambda p: io.load_tensors(p)["features"])
    if isinstance(cached, torch.Tensor) and cached.dim() == 2 and len(cached):
        return cached
    try:
        real = load_dataset(data, split, download=False)
    except DataError as e:
        state = "are not cached" if not path.is_file() else "are unreadable"
        raise DataError(
            f"reference features {path.stem} {state} in {path.parent} and the real data are not "
            f"available to build them ({e})"
        ) from None
    x = (
        real.x[:n]
        if split == "test"
        else real.x[torch.randperm(len(real), generator=torch.Generator().manual_seed(0))[:n]]
    )
    ext.check(x)
    feats = ext.extract(x, device)[0]
    io.save_tensors(path, {"features": feats}, {"dataset": data.name, "split": split, "n": str(len(x))})
    return feats


def real_floor(data: DataConfig | str, n: int, ext: Extractor, device: str = "cpu") -> dict[str, Any]:
    """Scores of n real training images (all of them if the split is smaller; the result's
    n_samples says how many) against the whole test split (cached)."""
    data = as_data_config(data)
    path = _stats_path(data, f"floor-n{n}", ext, ".json")
    cached = _load_cached(path, io.read_json)
    keys = ("fid", "kid", "kid_std", "precision", "recall", "n_samples", "n_reference")
    if isinstance(cached, dict) and all(isinstance(cached.get(k), (int, float)) for k in keys):
        return cached
    ref = reference_features(data, "test", 10_000, ext, device)
    train = reference_features(data, "train", n, ext, device)
    out = sample_scores(ref, train, None)
    io.atomic_write_json(path, out)
    return out


def floor_note(floor: dict[str, Any], n: int) -> str | None:
    """The caveat for a real-data floor of fewer training images than the n samples (digits: 1500)."""
    if floor["n_samples"] >= n:
        return None
    return (
        f"the real-data floor uses all {floor['n_samples']} training images, fewer than the {n} samples: "
        f"FID (biased by the count) and recall depend on it, so compare with the floor at "
        f"{floor['n_samples']} samples (--n {floor['n_samples']})"
    )
