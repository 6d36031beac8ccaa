"""The embedded default dataset: scikit-learn's 8x8 handwritten digits (no download)."""

from __future__ import annotations

import numpy as np
import torch

from genzoo.data.sources import Source, register
from genzoo.data.types import DatasetInfo, TensorData

N_TRAIN = 1500  # of 1797; the remaining 297 are the test split
INFO = DatasetInfo(
    name="digits",
    shape=(1, 8, 8),
    value_range=(0.0, 1.0),
    class_names=tuple(str(d) for d in range(10)),
)


def load_digits(split: str) -> TensorData:
    """Digits scaled from 0..16 to [0, 1]; split by a fixed permutation (default_rng(0))."""
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    images = np.asarray(bunch.images, dtype=np.float32) / 16.0  # (1797, 8, 8)
    labels = np.asarray(bunch.target, dtype=np.int64)  # (1797,)
    perm = np.random.default_rng(0).permutation(len(labels))
    idx = perm[:N_TRAIN] if split == "train" else perm[N_TRAIN:]
    x = torch.from_numpy(np.ascontiguousarray(images[idx, None]))  # (N, 1, 8, 8)
    y = torch.from_numpy(labels[idx])  # (N,)
    return TensorData(x=x, y=y, info=INFO, split=split)


register(
    Source(
        name="digits",
        load=lambda cfg, split, **_: load_digits(split),
        description="scikit-learn 8x8 handwritten digits (bundled, 1500 train / 297 test)",
        kind="images",
        shape=(1, 8, 8),
        classes=10,
    )
)
