"""Scores computed during training to keep the best checkpoint (``--select-by``).

GANs peak and then degrade, so the last checkpoint is often not the best one. ``fid``: the FID of
``n`` samples (a few thousand: cheap, biased upwards by the small count, but comparable between
checkpoints of one run) in the dataset's shipped feature network against the cached features of
its 10,000 test images. Lower is better.
"""

from __future__ import annotations

import math

import torch

from genzoo.data import DataConfig
from genzoo.errors import ConfigError
from genzoo.eval import metrics
from genzoo.eval.evaluate import draw_samples
from genzoo.eval.features import available, choose_extractor
from genzoo.eval.reference import reference_features


class FIDSelector:
    """FID of ``n`` samples of a model, for ``--select-by fid``."""

    name = "fid"

    def __init__(self, data: DataConfig, shape: tuple[int, ...], n: int) -> None:
        if len(shape) != 3 or data.name not in available():
            raise ConfigError(
                f"--select-by fid scores samples in a shipped feature network, and {data.name!r} has none "
                f"(shipped: {', '.join(available())}); train without --select-by, then compare checkpoints "
                "with genzoo eval --features inception"
            )
        self.ext = choose_extractor("genzoo", data.name, None, shape)
        self.ref = reference_features(data, "test", 10_000, self.ext)
        self.n = n

    @torch.no_grad()
    def __call__(self, model: torch.nn.Module) -> float:
        """The score of ``model`` (inf when its samples are not finite)."""
        x = draw_samples(model, self.n, seed=0)
        if not bool(torch.isfinite(x).all()):
            return math.inf
        return metrics.fid(self.ref, self.ext.extract(x)[0])


SELECTORS = {"fid": FIDSelector}
