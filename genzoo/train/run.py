"""A run's specification (model type + model/data/train configs), reading it back, and fitting it to
the data it trains on (the data's class names, a batch no larger than the set)."""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genzoo import config as cfgio
from genzoo import io
from genzoo.data import DataConfig, DatasetInfo, sources
from genzoo.errors import ConfigError, TrainingError
from genzoo.registry import get_model_class
from genzoo.train.config import TrainConfig

if TYPE_CHECKING:
    from genzoo.train import distributed as dd


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


# Training fields added after runs were saved, with the value that means what such a run did: a
# saved train section (written whole by genzoo, so a missing key means an older genzoo) gets these
# rather than the new defaults (ema_std 0: the warm-up EMA, not the power EMA of new runs).
SAVED_BEFORE = {"ema_std": 0.0}


def saved_train_section(train: dict[str, Any]) -> dict[str, Any]:
    """A train section read from a config.json genzoo wrote, its missing later fields filled as
    the run trained (``SAVED_BEFORE``)."""
    return SAVED_BEFORE | train


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
        cls.saved_config(cfg.get("model")),
        cfgio.from_dict(DataConfig, cfg.get("data"), "data config"),
        cfgio.from_dict(TrainConfig, saved_train_section(cfg["train"]), "train config"),
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


SECTIONS = cfgio.SECTIONS


def gives_steps(layers: tuple[dict[str, dict[str, Any]], ...]) -> bool:
    """Whether any of these config layers sets the number of training steps."""
    return any("steps" in (layer.get("train") or {}) for layer in layers)


def read_config_file(path: str | Path, model_type: str) -> dict[str, dict[str, Any]]:
    """The model/train/data sections of a JSON config file (e.g. another run's config.json) for
    a run of ``model_type``: checked to be an object with at least one section, each an object."""
    file_cfg = io.read_json(path)
    if not isinstance(file_cfg, dict):
        raise ConfigError(f"{path} must hold a JSON object")
    if not any(s in file_cfg for s in SECTIONS):
        raise ConfigError(f"{path} has none of the sections {', '.join(SECTIONS)}")
    for s in SECTIONS:
        if not isinstance(file_cfg.get(s) or {}, dict):
            raise ConfigError(f"{path}: section {s!r} must be a JSON object")
    if file_cfg.get("model_type", model_type) != model_type:
        raise ConfigError(f"{path} is for model {file_cfg['model_type']!r}, not {model_type!r}")
    out = {s: dict(file_cfg.get(s) or {}) for s in SECTIONS}
    if "genzoo_version" in file_cfg:  # a run's config.json: trains as that run did
        if file_cfg.get("train"):
            out["train"] = saved_train_section(out["train"])
        if file_cfg.get("model"):
            out["model"] = get_model_class(model_type).saved_section(out["model"])
    return out


def run_spec(
    model_type: str,
    *layers: dict[str, dict[str, Any]],
    resume: str | Path | None = None,
) -> RunSpec:
    """The spec of a run to train: a resumed run's config (or, for a new run, the family's
    training defaults), then each of ``layers`` ({section: {field: value}}, e.g. a config file,
    then the command-line flags), the last one winning; every field strictly checked."""
    cls = get_model_class(model_type)
    if resume is not None:
        old = read_run_spec(Path(resume))
        base = {
            "model": cfgio.to_dict(old.model),
            "train": cfgio.to_dict(old.train),
            "data": cfgio.to_dict(old.data),
        }
    else:  # the family's training defaults (a GAN's Adam settings) under the file and the flags
        base = {s: {} for s in SECTIONS} | {"train": dict(cls.train_defaults)}
    merged = {s: dict(base[s]) for s in SECTIONS}
    for layer in layers:
        for s in SECTIONS:
            merged[s] |= layer.get(s) or {}
    return RunSpec(
        cls.model_type,  # the registered name, whatever the case asked
        cfgio.from_dict(cls.config_class, merged["model"], f"{model_type} config"),
        sources.canonical(cfgio.from_dict(DataConfig, merged["data"], "data config")),  # MNIST: mnist
        cfgio.from_dict(TrainConfig, merged["train"], "train config"),
    )


def sections_of(model_type: str, changes: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Flat keyword changes as sections, named as the options are: model and training fields as
    they are (``lr``, ``latent_dim``), data fields with ``data_`` (``data_root``, ``data`` for the name)."""
    fields = {
        "model": cfgio.field_types(get_model_class(model_type).config_class),
        "train": cfgio.field_types(TrainConfig),
    }
    data_fields = cfgio.field_types(DataConfig)
    out: dict[str, dict[str, Any]] = {s: {} for s in SECTIONS}
    for key, value in changes.items():
        if key == "data":
            out["data"]["name"] = value
        elif key.startswith("data_") and key[5:] in data_fields:
            out["data"][key[5:]] = value
        elif key in fields["train"]:
            out["train"][key] = value
        elif key in fields["model"]:
            out["model"][key] = value
        else:
            raise ConfigError(
                f"unknown setting {key!r} for a {model_type} run; give a training or {model_type} config "
                "field (e.g. steps, lr), or a data field as data_<field> (e.g. data_root)"
            )
    return out


def with_data_classes(spec: RunSpec, info: DatasetInfo) -> RunSpec:
    """A class-conditional model's config with the data's class names when it names none (so
    ``--class sneaker`` works for a cvae of fashion-mnist); a class count that differs from the
    data's is a ConfigError."""
    from genzoo.models.capabilities import Capability

    if Capability.CONDITIONAL not in get_model_class(spec.model_type).capabilities:
        return spec
    names = spec.model.class_names
    if not info.class_names:
        raise ConfigError(f"{spec.model_type} needs labelled data (class labels); {info.name} has none")
    k = spec.model.num_classes
    if k != len(info.class_names):
        raise ConfigError(
            f"{spec.model_type} has num_classes {k} but {info.name} has {len(info.class_names)} classes "
            f"({', '.join(info.class_names[:12])}); pass --num-classes {len(info.class_names)}"
        )
    if names:
        return spec
    return dataclasses.replace(spec, model=cfgio.replace(spec.model, class_names=tuple(info.class_names)))


def fit_batch_to_data(spec: RunSpec, n: int, info: dd.DistInfo) -> RunSpec:
    """The spec with a batch no larger than the ``n`` training examples: a larger batch becomes
    the whole set (rounded down to a multiple of the processes), said in one line on stderr."""
    fitted = n // info.world * info.world
    if spec.train.batch_size <= n or fitted < 1:
        return spec
    if info.is_main:
        print(
            f"genzoo: note: batch_size {spec.train.batch_size} is larger than the {n} training examples of "
            f"{spec.data.name}; training with batch_size {fitted} (pass --batch-size to choose another)",
            file=sys.stderr,
        )
    return dataclasses.replace(spec, train=cfgio.replace(spec.train, batch_size=fitted))
