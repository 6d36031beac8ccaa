"""Training checkpoints: a saved model plus everything ``--resume`` needs, never pickled.

Layout of a run directory::

    config.json               model type, shapes, model/train/data configs, library version
    metrics.jsonl             one JSON line per log interval
    progress/step-*.png       image grids on fixed inputs
    checkpoints/latest        name of the newest complete checkpoint (atomically replaced)
    checkpoints/step-NNNNNNN/ config.json, model.safetensors, ema.safetensors,
                              optimizer.safetensors, rng.safetensors, state.json

A checkpoint is written into a hidden temporary directory and renamed into place before
``latest`` is switched to it, so a crash at any moment leaves the previous checkpoint usable.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from genzoo import io
from genzoo.errors import CheckpointError
from genzoo.models.base import GenerativeModel

OPTIM = "optimizer.safetensors"
RNG = "rng.safetensors"
STATE = "state.json"
TMP_PREFIX = ".tmp-"


def optimizer_tensors(opts: dict[str, torch.optim.Optimizer]) -> tuple[dict, dict]:
    """Flatten optimiser states into safetensors keys '{player}/{param}/{name}' + JSON extras."""
    tensors: dict[str, torch.Tensor] = {}
    extras: dict[str, Any] = {}
    for player, opt in opts.items():
        for idx, st in opt.state_dict()["state"].items():
            for name, v in st.items():
                key = f"{player}/{idx}/{name}"
                if torch.is_tensor(v):
                    tensors[key] = v
                else:
                    extras[key] = v
    return tensors, extras


def restore_optimizers(
    opts: dict[str, torch.optim.Optimizer], tensors: dict[str, torch.Tensor], extras: dict
) -> None:
    for player, opt in opts.items():
        sd = opt.state_dict()
        state: dict[int, dict[str, Any]] = {}
        for key, v in list(tensors.items()) + list(extras.items()):
            p, idx, name = key.split("/")
            if p == player:
                state.setdefault(int(idx), {})[name] = v
        sd["state"] = state
        opt.load_state_dict(sd)


def save_checkpoint(
    run: Path,
    model: GenerativeModel,
    *,
    state: dict[str, Any],
    sections: dict[str, Any],
    opts: dict[str, torch.optim.Optimizer],
    rng_states: list[torch.Tensor],
    ema_state: dict[str, torch.Tensor] | None,
    keep: int = 1,
) -> Path:
    """Write checkpoints/step-N/ (via a temporary directory), then point ``latest`` at it."""
    ckdir = run / "checkpoints"
    name = f"step-{state['step']:07d}"
    tmp = ckdir / f"{TMP_PREFIX}{name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save(tmp, ema_state=ema_state, **sections)
    otensors, oextras = optimizer_tensors(opts)
    io.save_tensors(tmp / OPTIM, otensors)
    io.save_tensors(tmp / RNG, {f"rank{r}": s for r, s in enumerate(rng_states)})
    io.atomic_write_json(tmp / STATE, state | {"optimizer_extras": oextras})
    final = ckdir / name
    if final.exists():  # the same step saved again (e.g. a resume that trained 0 steps)
        shutil.rmtree(final)
    os.replace(tmp, final)
    point(ckdir, "latest", name)
    prune(ckdir, keep)
    return final


def pointed(ckdir: Path, which: str) -> str | None:
    """The checkpoint name in ``checkpoints/latest`` or ``checkpoints/best`` (None if absent)."""
    f = ckdir / which
    return f.read_text().strip() if f.is_file() else None


def point(ckdir: Path, which: str, name: str) -> None:
    """Point ``checkpoints/latest`` or ``checkpoints/best`` at checkpoint ``name`` (atomically)."""
    io.atomic_write_bytes(ckdir / which, (name + "\n").encode())


def prune(ckdir: Path, keep: int) -> None:
    """Delete all but the ``keep`` newest checkpoints, never the ones ``latest`` and ``best`` name."""
    kept = {pointed(ckdir, "latest"), pointed(ckdir, "best")}
    old = sorted(p for p in ckdir.glob("step-*") if p.is_dir() and p.name not in kept)
    for p in old[: max(0, len(old) - (keep - 1))]:
        shutil.rmtree(p, ignore_errors=True)


def remove_partial_checkpoints(run: Path) -> None:
    """Delete temporary checkpoint directories left by a process that was killed mid-save."""
    for p in (run / "checkpoints").glob(f"{TMP_PREFIX}*"):
        shutil.rmtree(p, ignore_errors=True)


def load_training_state(
    run: Path,
) -> tuple[Path, dict[str, Any], dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(checkpoint dir, state.json, optimizer tensors, rng states) of a run's latest checkpoint."""
    ck = io.resolve_model_dir(run)
    if ck == run:
        raise CheckpointError(f"{run} is a saved model, not a run directory with training state")
    state = io.read_json(ck / STATE)
    if not isinstance(state, dict) or not isinstance(state.get("step"), int):
        raise CheckpointError(f"{ck / STATE} has no valid 'step'")
    return ck, state, io.load_tensors(ck / OPTIM), io.load_tensors(ck / RNG)


def truncate_metrics(path: Path, step: int) -> None:
    """Drop metric lines logged after ``step`` (they belong to steps that a resume will redo)."""
    if not path.exists():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                keep.append(line)
        except json.JSONDecodeError:
            continue  # a line cut by a crash
    io.atomic_write_bytes(path, ("\n".join(keep) + "\n" if keep else "").encode())
