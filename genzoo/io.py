"""Saved-model directories: ``config.json`` + ``model.safetensors`` (+ ``ema.safetensors``).

Every file is written atomically (temporary file in the same directory, fsync, ``os.replace``),
so a process killed at any moment leaves either the old file or the new one. Nothing is pickled.
A *run* directory (what ``genzoo train`` writes) keeps its latest complete checkpoint under
``checkpoints/<name>/``, named by the one-line file ``checkpoints/latest``; ``resolve_model_dir``
maps a run to that checkpoint so that every command accepts either.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from genzoo.errors import CheckpointError

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
EMA_WEIGHTS = "ema.safetensors"
_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new file, never a partial one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the usual permissions
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path} not found") from None
    except OSError as e:  # a directory, a path below a file, no permission
        raise CheckpointError(f"{path} cannot be read ({e.strerror or e})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path} is not valid JSON ({e})") from None


def read_config(model_dir: str | os.PathLike) -> dict[str, Any]:
    """A saved model's ``config.json`` with its layout checked: an object with ``model_type`` (a
    string), ``shape`` (positive integers) and a ``model`` object, and ``train``/``data``, where
    present, objects. Anything else (an edited or foreign file) is a CheckpointError naming the key."""
    path = Path(model_dir) / CONFIG
    cfg = read_json(path)

    def bad(why: str) -> CheckpointError:
        return CheckpointError(f"{path} is not a genzoo model config: {why}")

    if not isinstance(cfg, dict):
        raise bad(f"a JSON {type(cfg).__name__}, not an object")
    missing = [k for k in ("model_type", "shape", "model") if k not in cfg]
    if missing:
        raise bad(f"no {', '.join(map(repr, missing))} key")
    if not isinstance(cfg["model_type"], str):
        raise bad(f"'model_type' must be a string, got {json.dumps(cfg['model_type'])}")
    shape = cfg["shape"]
    if not (
        isinstance(shape, list)
        and shape
        and all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape)
    ):
        raise bad(f"'shape' must be a list of positive integers, got {json.dumps(shape)[:60]}")
    for key in ("model", "train", "data"):
        if key in cfg and not isinstance(cfg[key], dict):
            raise bad(f"{key!r} must be an object, got {json.dumps(cfg[key])[:60]}")
    return cfg


def save_tensors(path: str | os.PathLike, tensors: dict[str, torch.Tensor], meta: dict | None = None) -> None:
    """Atomic safetensors write; ``meta`` values are stored as strings in the header."""
    flat = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    md = {k: str(v) for k, v in (meta or {}).items()}
    # metadata=None when empty: safetensors 0.8 writes an unreadable header for ({}, metadata={})
    atomic_write_bytes(path, st_save(flat, metadata=md or None))


def load_tensors(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    path = Path(path)
    try:
        return st_load(path.read_bytes())
    except FileNotFoundError:
        raise CheckpointError(f"{path} not found") from None
    except (SafetensorError, ValueError, OSError) as e:
        raise CheckpointError(f"{path} is not a readable safetensors file ({e})") from None


WHICH = ("latest", "best")


def resolve_model_dir(path: str | os.PathLike, which: str = "latest") -> Path:
    """A saved-model directory, or a run directory -> its latest complete checkpoint, or with
    ``which="best"`` the one kept by the run's ``--select-by`` score (``checkpoints/best``)."""
    path = Path(path)
    if which not in WHICH:
        raise CheckpointError(f"unknown checkpoint {which!r}; choose latest or best")
    if not path.exists():
        raise CheckpointError(f"{path} does not exist")
    if (path / WEIGHTS).is_file():
        if which == "best":
            raise CheckpointError(f"{path} is a saved model, not a run: it has no best checkpoint")
        return path
    pointer = path / "checkpoints" / which
    if which == "best" and not pointer.is_file() and (path / "checkpoints" / "latest").is_file():
        raise CheckpointError(
            f"{path} has no best checkpoint (checkpoints/best); train with --select-by fid to keep one"
        )
    if pointer.is_file():
        ckpt = path / "checkpoints" / pointer.read_text().strip()
        if (ckpt / WEIGHTS).is_file():
            return ckpt
        raise CheckpointError(f"{pointer} names {ckpt.name}, which has no {WEIGHTS}")
    raise CheckpointError(
        f"{path} is neither a saved model (no {WEIGHTS}) nor a run with a checkpoint "
        "(no checkpoints/latest); was training stopped before its first checkpoint?"
    )
