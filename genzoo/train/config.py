"""Training settings shared by every model family."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from genzoo.precision import native_bf16, resolve_precision

__all__ = ["TrainConfig", "check_train_config", "native_bf16", "resolve_precision"]


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
    ema_decay: float = 0.0  # EMA of weights (0: off), e.g. 0.999; the decay d of the warm-up profile
    # the EMA's profile: > 0: EDM2's power function whose width is this fraction (sigma_rel) of the
    # run so far (its lr warm-up counted by lr); 0: the exponential warm-up
    # min(ema_decay, (1+t)/(10+t)) of runs saved before it (a saved config.json without this key
    # loads as 0; docs/training.md "EMA")
    ema_std: float = 0.05
    seed: int = 0
    log_every: int = 50
    image_every: int = 500  # progress/step-XXXXXXX.png every N steps (0: off)
    ckpt_every: int = 1000  # checkpoint every N steps, and always at the end
    keep_checkpoints: int = 1  # how many recent checkpoints to keep
    threads: int = 0  # torch CPU threads per process (0: torch's default)
    # autocast dtype of the forward pass; weights, gradients and optimiser state stay fp32.
    # auto: bf16 where the CPU has native bf16 (AVX-512-BF16 or AMX) and the model declares it
    # (GenerativeModel.bf16_default, from benchmarks/bench_precision.py), else fp32.
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    channels_last: bool = True  # NHWC layout for image batches and conv weights (faster on CPU)
    compile: bool = False  # torch.compile the model's loss (needs a C++ compiler on CPU)
    # keep checkpoints/best by a score computed at every checkpoint (fid: of select_samples samples
    # in the dataset's shipped feature network; lower is better)
    select_by: Literal["none", "fid"] = "none"
    select_samples: int = 2000


def check_train_config(tc: TrainConfig) -> None:
    """Reject settings that cannot train, naming the option (before anything is written)."""
    from genzoo.errors import ConfigError

    rules = [
        (tc.steps >= 0, "steps must be >= 0"),
        (tc.batch_size >= 1, "batch_size must be >= 1"),
        (tc.lr > 0, "lr must be > 0"),
        (len(tc.betas) == 2 and all(0 <= b < 1 for b in tc.betas), "betas must be two numbers in [0, 1)"),
        (tc.weight_decay >= 0, "weight_decay must be >= 0"),
        (tc.warmup_steps >= 0, "warmup_steps must be >= 0"),
        (0 <= tc.min_lr_ratio <= 1, "min_lr_ratio must be in [0, 1]"),
        (tc.grad_clip >= 0, "grad_clip must be >= 0 (0: off)"),
        (0 <= tc.ema_decay < 1, "ema_decay must be in [0, 1) (0: off)"),
        (0 <= tc.ema_std < 3**-0.5, "ema_std must be in [0, 0.577) (0: the warm-up profile of ema_decay)"),
        (tc.log_every >= 1, "log_every must be >= 1"),
        (tc.image_every >= 0, "image_every must be >= 0 (0: off)"),
        (tc.ckpt_every >= 1, "ckpt_every must be >= 1"),
        (tc.keep_checkpoints >= 1, "keep_checkpoints must be >= 1"),
        (tc.threads >= 0, "threads must be >= 0 (0: torch's default)"),
        (tc.select_samples >= 4, "select_samples must be >= 4"),
    ]
    bad = [msg for ok, msg in rules if not ok]
    if bad:
        raise ConfigError("invalid training settings: " + "; ".join(bad))
