"""What each training step uses, as pure functions of the step: the learning rate (linear warm-up,
then cosine decay) and the global batch (a per-epoch permutation that depends only on the seed and
the epoch, so a resume needs no sampler state and each process takes its own slice); and a budget
run's length, measured in the run (``TimeRefit``)."""

from __future__ import annotations

import math

import torch

from genzoo.errors import ConfigError
from genzoo.train import distributed as dd
from genzoo.train.config import TrainConfig


def lr_at(step: int, cfg: TrainConfig, horizon: int | None = None) -> float:
    """Linear warm-up to lr over warmup_steps, then cosine decay to min_lr_ratio * lr at step
    ``horizon`` (default cfg.steps), constant after it."""
    horizon = cfg.steps if horizon is None else horizon
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant":
        return cfg.lr
    t = (step - cfg.warmup_steps) / max(1, horizon - cfg.warmup_steps)
    floor = cfg.min_lr_ratio
    return cfg.lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


class TimeRefit:
    """A time-budgeted run's length, measured in the run itself. A calibration before the run times
    a few steps, often while the machine is busier or quieter than during the run, so the schedule
    would end early (time left over) or late (stopped before the learning rate has decayed). This
    measures steps/s from ``start`` to ``first`` (each a fraction of the time limit or of the planned
    steps, whichever comes first), then again from there to each of ``later`` (fractions of the time),
    and at each of those moments gives the steps that fill the time left: step + rate x time left."""

    def __init__(
        self,
        step: int,
        planned: int,
        limit_s: float,
        start: tuple[float, float] = (0.02, 0.1),  # (of the time, of the planned steps)
        first: tuple[float, float] = (0.1, 0.5),
        later: tuple[float, ...] = (0.3, 0.5, 0.7),
    ) -> None:
        self.step0, self.planned, self.limit_s = step, planned, limit_s
        self.start = start
        self.points = [first, *((f, math.inf) for f in later)]
        self.ref_step: int | None = None
        self.ref_s = 0.0
        self.rate, self.from_step, self.at_step, self.count = 0.0, 0, 0, 0

    def _reached(self, at: tuple[float, float], step: int, seconds: float) -> bool:
        return seconds >= at[0] * self.limit_s or step - self.step0 >= at[1] * (self.planned - self.step0)

    def observe(self, step: int, seconds: float) -> int | None:
        """After ``step`` steps, ``seconds`` into the run: the new total of steps at a refit moment,
        else None."""
        if self.ref_step is None:
            if self._reached(self.start, step, seconds):
                self.ref_step, self.ref_s = step, seconds
            return None
        if not self.points or step <= self.ref_step or not self._reached(self.points[0], step, seconds):
            return None
        self.points.pop(0)
        self.rate = (step - self.ref_step) / max(seconds - self.ref_s, 1e-9)
        self.from_step, self.at_step, self.count = self.ref_step, step, self.count + 1
        self.ref_step, self.ref_s = step, seconds  # the next rate is measured from here
        self.planned = step + max(1, int(self.rate * max(0.0, self.limit_s - seconds)))
        return self.planned


class BatchSchedule:
    """Global batch for step s: slice s mod E of the permutation for epoch s div E."""

    def __init__(self, n: int, global_batch: int, seed: int, info: dd.DistInfo) -> None:
        if global_batch % info.world:
            raise ConfigError(f"batch_size {global_batch} is not divisible by {info.world} processes")
        if global_batch > n:
            raise ConfigError(
                f"batch_size {global_batch} is larger than the {n} training examples; pass a smaller --batch-size"
            )
        self.n, self.gb, self.seed, self.info = n, global_batch, seed, info
        self.per_epoch = n // global_batch
        self._epoch, self._perm = -1, torch.empty(0)

    def indices(self, step: int) -> torch.Tensor:
        epoch, pos = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._epoch, self._perm = epoch, torch.randperm(self.n, generator=g)
        block = self._perm[pos * self.gb : (pos + 1) * self.gb]
        local = self.gb // self.info.world
        return block[self.info.rank * local : (self.info.rank + 1) * local]
