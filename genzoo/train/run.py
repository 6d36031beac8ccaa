"""A run's specification (model type + model/data/train configs) and reading it back."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genzoo import config as cfgio
from genzoo import io
from genzoo.data import DataConfig
from genzoo.errors import TrainingError
from genzoo.registry import get_model_class
from genzoo.train.config import TrainConfig


@dataclass
class RunSpec:
    model_type: str
    model: Any  # the model's config dataclass
    data: DataConfig
    train: TrainConfig

    def sections(self) -> dict[str, Any]:
        """The train and data sections of config.json (the model writes its own header)."""
        return {"train": cfgio.to_dict(self.train), "data": cfgio.to_dict(self.data)}


def train_config_for(model_type: str, **changes: Any) -> TrainConfig:
    """The training settings of a new run of ``model_type``: TrainConfig's defaults, then the
    family's own (``train_defaults``, e.g. a GAN's Adam 2e-4, beta1 0.5), then ``changes``."""
    defaults = get_model_class(model_type).train_defaults
    return cfgio.from_dict(TrainConfig, {**defaults, **changes}, "train config")


def read_run_spec(run: Path) -> RunSpec:
    """The model/data/train configs of an existing run (strictly checked)."""
    cfg = io.read_config(run)  # layout checked: a foreign or edited file is one clear error
    if "train" not in cfg or "data" not in cfg:
        raise TrainingError(
            f"{Path(run) / io.CONFIG} is a saved model, not a training run (no train/data sections)"
        )
    cls = get_model_class(cfg["model_type"])
    return RunSpec(
        cls.model_type,
        cfgio.from_dict(cls.config_class, cfg.get("model"), f"{cls.model_type} config"),
        cfgio.from_dict(DataConfig, cfg.get("data"), "data config"),
        cfgio.from_dict(TrainConfig, cfg.get("train"), "train config"),
    )


def check_resume(run: Path, spec: RunSpec) -> None:
    """A resume may change training settings, not the model or the data."""
    old = read_run_spec(run)
    if old.model_type != spec.model_type:
        raise TrainingError(f"{run} holds a {old.model_type!r} run; cannot resume it as {spec.model_type!r}")
    for what, a, b in (("model", old.model, spec.model), ("data", old.data, spec.data)):
        # the data root may move; class names not given are filled from the data again
        changed = {
            k: v for k, v in cfgio.diff(a, b).items() if k != "root" and not (k == "class_names" and not v[1])
        }
        if changed:
            desc = ", ".join(f"{k}: {x!r} -> {y!r}" for k, (x, y) in changed.items())
            raise TrainingError(f"cannot resume {run} with a different {what} config ({desc})")
