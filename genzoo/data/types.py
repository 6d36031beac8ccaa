"""The types every data source returns: a whole split in memory and what a model needs to know."""

from __future__ import annotations

from dataclasses import dataclass

import torch


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
