"""Training settings shared by every model family."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(kw_only=True)
class TrainConfig:
    steps: int = 2000  # optimiser steps in total (not epochs)
    batch_size: int = 128  # global: split evenly over the processes of a distributed run
    lr: float = 2e-3
    betas: tuple[float, ...] = (0.9, 0.999)
    weight_decay: float = 0.0
    warmup_steps: int = 100
    schedule: Literal["cosine", "constant"] = "cosine"
    min_lr_ratio: float = 0.05  # cosine floor as a fraction of lr
    grad_clip: float = 1.0  # max global gradient norm per player (0: off)
    ema_decay: float = 0.0  # EMA of weights (0: off), e.g. 0.999
    seed: int = 0
    log_every: int = 50
    image_every: int = 500  # progress/step-XXXXXXX.png every N steps (0: off)
    ckpt_every: int = 1000  # checkpoint every N steps, and always at the end
    keep_checkpoints: int = 1  # how many recent checkpoints to keep
    threads: int = 0  # torch CPU threads per process (0: torch's default)
