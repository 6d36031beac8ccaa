"""A training run as an object: ``genzoo.Run(path)``.

Everything the CLI does with a run directory (see ``genzoo.train.checkpoint`` for its layout),
Python can do with the same call::

    run = genzoo.Run("runs/vae")
    run.spec.train.steps             # typed config sections (run.config: the raw dict)
    model = run.model("best")        # or "latest", or a step: run.model(2000)
    test = run.data("test")          # the split the run was trained on, with its own settings
    run.metrics()[-1]["loss"]        # the records of metrics.jsonl
    run.checkpoints, run.latest, run.best
    run.resume(steps=4000, lr=1e-4)  # continue training with changes; the steps continue exactly

A saved model directory (``config.json`` + ``model.safetensors``) is accepted too: it has one
checkpoint ("latest") and, if its config records them, data settings.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genzoo import io
from genzoo.errors import ConfigError, RunError

if TYPE_CHECKING:
    from genzoo.apps.attributes import Attributes
    from genzoo.data import DataConfig, TensorData
    from genzoo.models.base import GenerativeModel
    from genzoo.train.run import RunSpec

Which = str | int  # "latest", "best" or a training step
# metrics.jsonl fields that are not loss terms (Run.summary)
_NOT_LOSSES = frozenset(
    {"step", "lr", "steps_per_s", "examples_per_s", "elapsed_s", "threads", "precision", "precision_reason"}
)


class Run:
    """A run directory written by ``genzoo train`` (or a saved model directory)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise RunError(f"{self.path} does not exist")
        if not self.path.is_dir():
            raise RunError(f"{self.path} is a file, not a run directory")
        io.resolve_model_dir(self.path)  # neither a run nor a saved model: one clear error now

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    # --- configuration ---------------------------------------------------------------------
    @property
    def is_run(self) -> bool:
        """True for a training run (checkpoints), False for a saved model directory."""
        return not (self.path / io.WEIGHTS).is_file()

    def checkpoint_dir(self, which: Which = "latest") -> Path:
        """The directory of checkpoint ``which``: "latest", "best" or a step (int)."""
        if isinstance(which, bool) or not isinstance(which, int | str):
            raise ConfigError(f"which must be 'latest', 'best' or a step number, got {which!r}")
        if isinstance(which, str):
            return io.resolve_model_dir(self.path, which)
        ckpt = self.path / "checkpoints" / f"step-{which:07d}"
        if not (ckpt / io.WEIGHTS).is_file():
            kept = ", ".join(map(str, self.checkpoints)) or "none"
            raise RunError(f"{self.path} has no checkpoint of step {which} (checkpoints kept: {kept})")
        return ckpt

    def config_of(self, which: Which = "latest") -> dict[str, Any]:
        """The raw ``config.json`` of checkpoint ``which`` (layout checked)."""
        return io.read_config(self.checkpoint_dir(which))

    @property
    def config(self) -> dict[str, Any]:
        """The raw ``config.json`` of the latest checkpoint: model_type, shape, model/train/data."""
        return self.config_of("latest")

    @property
    def spec(self) -> RunSpec:
        """The typed sections: ``spec.model`` (the family's config), ``spec.train``, ``spec.data``."""
        from genzoo.train.run import read_run_spec

        return read_run_spec(self.checkpoint_dir("latest"))

    @property
    def model_type(self) -> str:
        return self.config["model_type"]

    @property
    def shape(self) -> tuple[int, ...]:
        """The per-example shape of the data, e.g. (1, 28, 28)."""
        return tuple(self.config["shape"])

    # --- checkpoints and models --------------------------------------------------------------
    @property
    def checkpoints(self) -> list[int]:
        """The steps of the checkpoints kept, in order."""
        steps = []
        for p in (self.path / "checkpoints").glob("step-*"):
            if (p / io.WEIGHTS).is_file() and p.name[5:].isdigit():
                steps.append(int(p.name[5:]))
        return sorted(steps)

    def step_of(self, which: Which = "latest") -> int | None:
        """The training step of checkpoint ``which`` (None for a saved model)."""
        state = self.state(which)
        step = state.get("step")
        return step if isinstance(step, int) and not isinstance(step, bool) else None

    def state(self, which: Which = "latest") -> dict[str, Any]:
        """``state.json`` of checkpoint ``which``: step, seconds, the --select-by score ({} if none)."""
        f = self.checkpoint_dir(which) / "state.json"
        state = io.read_json(f) if f.is_file() else {}
        return state if isinstance(state, dict) else {}

    @property
    def latest(self) -> int | None:
        """The step of the latest checkpoint (None for a saved model)."""
        return self.step_of("latest") if self.is_run else None

    @property
    def best(self) -> int | None:
        """The step of the best checkpoint kept by ``--select-by`` (None if there is none)."""
        from genzoo.train.checkpoint import pointed

        return self.step_of("best") if pointed(self.path / "checkpoints", "best") else None

    def model(self, which: Which = "latest", ema: bool | None = None) -> GenerativeModel:
        """The model of checkpoint ``which`` ("latest", "best" or a step), in eval mode; EMA weights
        by default when the checkpoint has them (``ema=False``: the raw weights)."""
        from genzoo.registry import get_model_class

        mdir = self.checkpoint_dir(which)
        return get_model_class(io.read_config(mdir)["model_type"]).load(mdir, ema=ema)

    # --- data ------------------------------------------------------------------------------
    def data_config(self, which: Which = "latest", *, whole: bool = False, **overrides: Any) -> DataConfig:
        """The run's own data settings, with ``overrides`` (DataConfig fields; None: keep the
        run's). ``whole``: every class and example, even if training kept only some (classes,
        limit). A saved model that records no data needs ``name``."""
        from genzoo import config as cfgio
        from genzoo.eval.evaluate import run_data_config

        name, root = overrides.pop("name", None), overrides.pop("root", None)
        data = run_data_config(self.config_of(which), name, root, **overrides)
        return cfgio.replace(data, classes=None, limit=None) if whole else data

    def data(
        self, split: str = "train", *, which: Which = "latest", whole: bool = False, **overrides: Any
    ) -> TensorData:
        """A split ("train" or "test") of the data the run was trained on, with its own settings
        (binarized, resized, classes kept, ...), checked against the model's shape; ``overrides``
        and ``whole`` as in ``data_config`` (e.g. ``root=`` where the data moved)."""
        from genzoo.data import load_dataset

        data = self.data_config(which, whole=whole, **overrides)
        part = load_dataset(data, split)
        shape = tuple(self.config_of(which)["shape"])
        if tuple(part.x.shape[1:]) != shape:
            raise ConfigError(f"{data.name} has shape {tuple(part.x.shape[1:])}; the model expects {shape}")
        return part

    def ood_data(
        self, name: str, split: str = "test", *, which: Which = "latest", **overrides: Any
    ) -> TensorData:
        """Another dataset (``name``) loaded with the run's data settings (binarized or not, ...)
        at the model's size and channels: the out-of-distribution images of anomaly detection."""
        from genzoo import config as cfgio
        from genzoo.data import load_dataset

        shape = tuple(self.config_of(which)["shape"])
        image = len(shape) == 3
        cfg = cfgio.replace(
            self.data_config(which, **overrides),
            name=name,
            path=overrides.get("path"),
            classes=None,
            limit=None,
            image_size=shape[1] if image and shape[1] == shape[2] else None,
            channels=shape[0] if image else None,
        )
        other = load_dataset(cfg, split)
        if tuple(other.x.shape[1:]) != shape:
            raise ConfigError(f"{name} has shape {tuple(other.x.shape[1:])}, the model {shape}")
        return other

    # --- history ---------------------------------------------------------------------------
    def metrics(self) -> list[dict[str, Any]]:
        """The records of ``metrics.jsonl`` in order (step, the loss terms, lr, speed, ...); a
        line cut by a crash is skipped."""
        f = self.path / "metrics.jsonl"
        out = []
        if f.is_file():
            for line in f.read_text().splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(rec, dict):
                    out.append(rec)
        return out

    def progress_images(self) -> dict[int, Path]:
        """The progress pictures (``progress/step-N.png``) by step, in order."""
        from genzoo import viz
        from genzoo.errors import GenzooError

        try:
            return viz.progress_frames(self.path)
        except GenzooError:  # none written (--image-every 0, a saved model)
            return {}

    def summary(self) -> str:
        """One line on how training went: steps, time, speed, the final logged losses, the best
        ``--select-by`` checkpoint and its score, where the pictures are."""
        state, step = self.state(), self.latest
        parts = [f"trained {self.model_type} to step {step}"]
        seconds = state.get("train_seconds")
        if isinstance(seconds, int | float) and seconds > 0 and step:
            parts[0] += f" in {seconds:.1f} s ({step / seconds:.3g} steps/s)"
        last = next((r for r in reversed(self.metrics()) if "steps_per_s" in r), {})  # a loss record
        names = sorted(
            (
                k
                for k, v in last.items()
                if k not in _NOT_LOSSES and not k.startswith("select_") and isinstance(v, int | float)
            ),
            key=lambda k: (k != "loss", k),
        )
        losses = [f"{k} {last[k]:.4g}" for k in names]
        if losses:
            parts.append("final " + ", ".join(losses[:5]))
        if self.best is not None:
            sel = self.state("best").get("select") or {}
            score = sel.get("score")
            shown = f" {score:.4g}" if isinstance(score, int | float) else ""
            parts.append(f"best {sel.get('by', 'score')}{shown} at step {self.best} (--which best)")
        pictures = self.progress_images()
        if pictures:
            parts.append(f"pictures in {self.path / 'progress'} (step-*.png, latest step {max(pictures)})")
        parts.append(f"run in {self.path}")
        return "; ".join(parts)

    def short_note(self, which: Which = "latest") -> str | None:
        """One line when checkpoint ``which`` has fewer training steps than its family declares
        useful (``min_useful_steps``), so its samples are likely noise; None otherwise."""
        from genzoo.registry import get_model_class

        step, need = self.step_of(which), get_model_class(self.model_type).min_useful_steps
        if step is None or step >= need:
            return None
        return (
            f"{self.path} trained {step} steps; its samples are likely noise "
            f"({self.model_type} runs need at least ~{need:,} steps)"
        )

    # --- training --------------------------------------------------------------------------
    def resume(
        self,
        steps: int | None = None,
        *,
        progress: bool = False,
        stop_at: int | None = None,
        time_limit_s: float | None = None,
        **changes: Any,
    ) -> Run:
        """Continue training from the latest checkpoint (optimiser, RNG, EMA restored), to
        ``steps`` in all (None: the run's own), with ``changes`` to the training settings named
        as the options are (``lr``, ``batch_size``, ``data_root``); model and data cannot change."""
        from genzoo.train import train
        from genzoo.train.run import run_spec, sections_of

        if not self.is_run:
            raise RunError(f"{self.path} is a saved model, not a run; it cannot be resumed")
        if steps is not None:
            changes["steps"] = steps
        spec = run_spec(self.model_type, sections_of(self.model_type, changes), resume=self.path)
        train(spec, self.path, resume=True, progress=progress, stop_at=stop_at, time_limit_s=time_limit_s)
        return self

    @classmethod
    def train_or_load(
        cls,
        path: str | os.PathLike,
        model_type: str,
        *layers: dict[str, dict[str, Any]],
        progress: bool = True,
    ) -> Run:
        """The run at ``path``, trained first unless it is already there: the notebook's "train
        once, reuse afterwards". ``layers`` are config sections as ``run_spec`` takes them
        (``{"model": {...}, "train": {"steps": 3000}, "data": {"name": "mnist"}}``). A run that
        stopped early is resumed to its steps; one that is there with other settings than asked
        is an error that names them (delete it, or give another path), never silently reused."""
        from genzoo import config as cfgio
        from genzoo.train import train
        from genzoo.train.run import gives_steps, run_spec

        path = Path(path)
        spec = run_spec(model_type, *layers)
        if not (path / "checkpoints" / "latest").is_file():
            if path.exists() and (not path.is_dir() or any(path.iterdir())):
                raise RunError(f"{path} exists but holds no run; delete it or give another path")
            train(spec, path, progress=progress)
            return cls(path)
        run = cls(path)
        if run.model_type != spec.model_type:
            raise RunError(
                f"{path} holds a {run.model_type!r} run, not {spec.model_type!r}; delete it or give another path"
            )
        saved = run.spec
        asked = {"model": spec.model, "train": spec.train, "data": spec.data}
        have = {"model": saved.model, "train": saved.train, "data": saved.data}
        changed = []
        for section, fields in (kv for layer in layers for kv in layer.items()):
            want, got = cfgio.to_dict(asked[section]), cfgio.to_dict(have[section])
            changed += [
                f"{section}.{k}: {got.get(k)!r} -> {want[k]!r}"
                for k in fields or {}
                if k in want and k not in ("steps", "root") and want[k] != got.get(k)
            ]
        if changed:
            raise RunError(
                f"{path} was trained with other settings ({', '.join(dict.fromkeys(changed))}); "
                "delete it to train again, or give another path"
            )
        # interrupted, or asked for more steps: go on (to the steps asked, else the run's own, not
        # today's default: a family's default length may have changed since it was trained)
        target = spec.train.steps if gives_steps(layers) else saved.train.steps
        if (run.latest or 0) < target:
            run.resume(target, progress=progress)
        return run

    # --- applications ----------------------------------------------------------------------
    def attributes(
        self,
        source: str = "pixels",
        *,
        which: Which = "latest",
        split: str = "train",
        n: int = 10000,
        seed: int = 0,
        ignore_missing: bool = False,
        **overrides: Any,
    ) -> Attributes:
        """Attribute vectors of the run's latent space from ``source``: "pixels", "labels" or an
        attribute table file (CelebA layout; a folder dataset's images matched by file name). A
        model that cannot encode uses its samples, labelled by its class or a shipped classifier."""
        from genzoo.apps.attribute_sources import run_attributes

        return run_attributes(
            self, source, which=which, split=split, n=n, seed=seed, ignore_missing=ignore_missing, **overrides
        )
