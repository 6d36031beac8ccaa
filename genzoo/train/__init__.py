"""Training: the one loop, checkpoints, EMA and distributed setup."""

from genzoo.train.config import TrainConfig
from genzoo.train.run import RunSpec, read_run_spec, run_spec, train_config_for
from genzoo.train.trainer import Trainer, train

__all__ = ["RunSpec", "TrainConfig", "Trainer", "read_run_spec", "run_spec", "train", "train_config_for"]
