"""Training by time: ``genzoo train MODEL --budget 10m``.

A budget picks (1) the configuration measured best for that much time, where one was measured
(``PRESETS``; every other family keeps its defaults, which ``genzoo bench`` measured against its
peer), (2) the number of steps that fit, from a short calibration run of that configuration on
this machine (the cosine schedule needs its length), and (3) a hard stop at the budget, with a
checkpoint. Options the user gives win over the preset; ``--steps`` given keeps its steps.
"""

from __future__ import annotations

import json
import math
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genzoo import config as cfgio
from genzoo.errors import ConfigError
from genzoo.train.run import RunSpec, gives_steps, run_spec
from genzoo.train.trainer import train

CALIBRATION_STEPS = 30
# train settings that say how a run is kept and watched, not what it trains: not "your options"
RUNTIME = frozenset(
    {"threads", "log_every", "image_every", "ckpt_every", "keep_checkpoints", "select_by", "select_samples"}
)


@dataclass(frozen=True)
class Preset:
    """A family's configuration for budgets from ``min_seconds`` to ``max_seconds`` on the ``data``
    it was measured on; ``evidence`` says where the measurement is."""

    min_seconds: float
    data: tuple[str, ...]
    layer: dict[str, dict[str, Any]]
    evidence: str
    max_seconds: float = math.inf


PRESETS: dict[str, tuple[Preset, ...]] = {
    # 10 minutes, one thread, MNIST: an MLP 1024-512 with 32 latents reached FID 88.55 against the
    # defaults' (conv) 165.1 (docs/BENCHMARKS.md, VAEs, rows D and E: the conv default trains 632
    # images/s, this MLP 3,004); at batch 256 and lr 2e-3 it trains ~1.5x the images/s of batch 128
    # and reached 84.4 against 103.3 (batch 128, lr 1e-3) and 99.6 (batch 256, lr 1e-3) in 10 minutes
    # (docs/BENCHMARKS.md, "--budget 10m and nothing else, beside each peer").
    "vae": (
        Preset(
            min_seconds=300,
            data=("mnist", "fashion-mnist"),
            layer={
                "model": {"arch": "mlp", "hidden": [1024, 512], "latent_dim": 32},
                "train": {"lr": 2e-3, "batch_size": 256},
            },
            evidence="docs/BENCHMARKS.md, --budget 10m beside each peer (10 minutes: FID 84.4 vs conv defaults 165.1)",
        ),
    ),
    # ddpm: the configuration its preset held for 5-60 minutes on MNIST (16 channels, no attention,
    # min-SNR, batch 64, lr 2e-3; measured against the U-Net before at 10, 20, 30 and 60 minutes) has
    # been its defaults since 2026-12-04 (DDPMConfig; docs/BENCHMARKS.md "Which configuration where")
}


@dataclass(frozen=True)
class BudgetPlan:
    spec: RunSpec
    seconds: float  # the training loop's time limit (the budget less the calibration)
    steps_per_s: float | None  # measured by the calibration (None: the user gave --steps)
    preset: Preset | None
    options: tuple[str, ...] = ()  # the settings the user changed from it, as flags (changed_options)

    def describe(self, budget_s: float) -> str:
        parts = [f"budget {budget_s:g} s"]
        if self.preset is not None:
            parts.append(f"configuration for this budget from {self.preset.evidence}")
        else:
            parts.append(
                f"{self.spec.model_type}'s defaults (no configuration measured better for this budget)"
            )
        if self.options:
            parts.append("with your " + " ".join(self.options))
        if self.steps_per_s is not None:
            parts.append(f"calibrated {self.steps_per_s:.3g} steps/s, so {self.spec.train.steps:,} steps")
        parts.append(f"training stops after {self.seconds:.0f} s with a checkpoint")
        return "; ".join(parts)


def preset_for(model_type: str, budget_s: float, data_name: str) -> Preset | None:
    """The preset measured for ``model_type`` at this budget on this data, or None."""
    fits = [
        p
        for p in PRESETS.get(model_type, ())
        if p.min_seconds <= budget_s <= p.max_seconds and data_name in p.data
    ]
    return max(fits, key=lambda p: p.min_seconds, default=None)


def changed_options(base: RunSpec, spec: RunSpec) -> tuple[str, ...]:
    """The model and train settings in which ``spec`` differs from ``base``, as the flags that give
    them (``--batch-size 128``, ``--no-attention``); how a run is kept and watched (RUNTIME) left out."""
    out = []
    for section in ("model", "train"):
        mine, theirs = cfgio.to_dict(getattr(spec, section)), cfgio.to_dict(getattr(base, section))
        for k, v in mine.items():
            if v == theirs.get(k) or k in RUNTIME:
                continue
            flag = "--" + k.replace("_", "-")
            if isinstance(v, bool):
                out.append(flag if v else f"--no-{flag[2:]}")
            else:
                out.append(f"{flag} {','.join(map(str, v)) if isinstance(v, list) else v}")
    return tuple(out)


def measure_steps_per_s(spec: RunSpec, work: Path, steps: int = CALIBRATION_STEPS) -> float:
    """Median steps/s of a short run of ``spec`` (the first log window, warm-up, dropped), so that a
    time budget can be turned into a step count."""
    shutil.rmtree(work, ignore_errors=True)
    every = max(1, steps // 3)
    cal = RunSpec(
        spec.model_type,
        spec.model,
        spec.data,
        cfgio.replace(spec.train, steps=steps, log_every=every, image_every=0, ckpt_every=steps),
    )
    train(cal, work, progress=False)
    rates = [r["steps_per_s"] for r in map(json.loads, (work / "metrics.jsonl").read_text().splitlines())]
    shutil.rmtree(work, ignore_errors=True)
    return statistics.median(rates[1:] or rates)


def steps_for(steps_per_s: float, seconds: float) -> int:
    """The steps that fit ``seconds`` at ``steps_per_s`` (at least 1)."""
    return max(1, int(steps_per_s * seconds))


def plan(
    model_type: str,
    budget_s: float,
    *layers: dict[str, dict[str, Any]],
    calibrate: Callable[[RunSpec], float] | None = None,
) -> BudgetPlan:
    """The run to train in ``budget_s`` seconds: the preset (if measured) under ``layers`` (the
    user's config file and flags, which win), steps from ``calibrate(spec)`` (steps/s; default a
    30-step run in a temporary folder) unless the layers give ``steps``."""
    if not budget_s > 0:
        raise ConfigError(f"a budget must be more than 0 seconds, got {budget_s:g}")
    data_name = run_spec(model_type, *layers).data.name
    preset = preset_for(model_type, budget_s, data_name)
    spec = run_spec(model_type, preset.layer if preset else {}, *layers)
    options = changed_options(run_spec(model_type, preset.layer if preset else {}), spec)
    if gives_steps(layers):
        return BudgetPlan(spec, budget_s, None, preset, options)
    t0 = time.perf_counter()
    if calibrate is None:
        with tempfile.TemporaryDirectory(prefix="genzoo-budget-") as tmp:
            rate = measure_steps_per_s(spec, Path(tmp) / "calibration")
    else:
        rate = calibrate(spec)
    left = budget_s - (time.perf_counter() - t0)
    if left <= 0:
        raise ConfigError(
            f"the calibration alone took {budget_s - left:.0f} s of the {budget_s:g} s budget; give a longer budget"
        )
    spec = RunSpec(
        spec.model_type, spec.model, spec.data, cfgio.replace(spec.train, steps=steps_for(rate, left))
    )
    return BudgetPlan(spec, left, rate, preset, options)


__all__ = [
    "PRESETS",
    "BudgetPlan",
    "Preset",
    "changed_options",
    "measure_steps_per_s",
    "plan",
    "preset_for",
    "steps_for",
]
