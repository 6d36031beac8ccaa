"""Toy 2-D point clouds for quick density-model experiments.

Each split is generated with a fixed seed (train 0, test 1), so it is the same every time.
Points are shifted and scaled by fixed constants (the same for both splits, shape kept) to
roughly zero mean and unit scale.
"""

from __future__ import annotations

import numpy as np
import torch

from genzoo.data.sources import Source, register
from genzoo.data.types import DatasetInfo, TensorData
from genzoo.errors import DataError

SEEDS = {"train": 0, "test": 1}
RING_RADII = (1.0, 2.0, 3.0)
NUM_CLASSES: dict[str, int | None] = {
    "moons": 2,
    "rings": len(RING_RADII),
    "eight-gaussians": 8,
    "swiss-roll": None,
}
DESCRIPTIONS = {
    "moons": "two interleaving half circles (2 classes)",
    "rings": "three concentric noisy rings (class = ring index)",
    "eight-gaussians": "mixture of 8 Gaussians on a circle (class = component)",
    "swiss-roll": "2-D swiss roll spiral (no labels)",
}


def _moons(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
    from sklearn.datasets import make_moons

    x, y = make_moons(n, noise=0.05, random_state=int(rng.integers(2**31)))
    return (x - np.array([0.5, 0.25])) / 0.707, y  # raw std (0.87, 0.50)


def _rings(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
    y = rng.integers(len(RING_RADII), size=n)
    radius = np.asarray(RING_RADII)[y] + 0.08 * rng.standard_normal(n)
    angle = rng.uniform(0.0, 2.0 * np.pi, size=n)
    x = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)  # (n, 2)
    per_coord_std = np.sqrt(np.mean(np.square(RING_RADII)) / 2.0)
    return x / per_coord_std, y


def _eight_gaussians(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
    y = rng.integers(8, size=n)
    angle = y * (np.pi / 4.0)
    centers = 2.0 * np.stack([np.cos(angle), np.sin(angle)], axis=1)  # (n, 2), radius 2
    x = centers + 0.1 * rng.standard_normal((n, 2))
    return x / np.sqrt(2.0), y  # per-coordinate std of the centers is sqrt(2)


def _swiss_roll(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
    from sklearn.datasets import make_swiss_roll

    x3, _ = make_swiss_roll(n, noise=0.5, random_state=int(rng.integers(2**31)))
    x = x3[:, [0, 2]]  # (n, 2): the spiral lies in the x-z plane
    return (x - np.array([2.0, 0.2])) / 6.8, None


GENERATORS = {
    "moons": _moons,
    "rings": _rings,
    "eight-gaussians": _eight_gaussians,
    "swiss-roll": _swiss_roll,
}


def make_toy(name: str, split: str, n_points: int) -> TensorData:
    """`n_points` points of the toy set `name`: x (n_points, 2) float32, y (n_points,) or None."""
    if name not in GENERATORS:
        raise DataError(f"unknown toy dataset {name!r}; known: {', '.join(GENERATORS)}")
    if n_points < 1:
        raise DataError(f"dataset {name!r}: n_points must be positive, got {n_points}")
    rng = np.random.default_rng(SEEDS[split])
    x, y = GENERATORS[name](n_points, rng)
    k = NUM_CLASSES[name]
    class_names = None if k is None else tuple(str(c) for c in range(k))
    info = DatasetInfo(name=name, shape=(2,), value_range=None, class_names=class_names)
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    yt = None if y is None else torch.from_numpy(np.asarray(y, dtype=np.int64))
    return TensorData(x=xt, y=yt, info=info, split=split)


register(
    *(
        Source(
            name=name,
            load=lambda cfg, split, _n=name, **_: make_toy(_n, split, cfg.n_points),
            description=DESCRIPTIONS[name],
            kind="points",
            options=("n_points",),
            shape=(2,),
            classes=NUM_CLASSES[name],
        )
        for name in DESCRIPTIONS
    )
)
