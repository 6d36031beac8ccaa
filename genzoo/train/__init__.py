"""Training: the one loop, checkpoints, EMA and distributed setup."""

from genzoo.train.config import TrainConfig
from genzoo.train.trainer import RunSpec, Trainer, read_run_spec, train

__all__ = ["RunSpec", "TrainConfig", "Trainer", "read_run_spec", "train"]
