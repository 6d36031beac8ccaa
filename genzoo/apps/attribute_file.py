"""The attributes file (``RUN/attributes.safetensors``): attribute centroids saved as safetensors
with their names, pairs and classes in the header, and the check, on loading, that a file was
computed for the model it is used with (type, latent size and weights).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from genzoo import io, latent
from genzoo.apps.attributes import Attributes, latent_dim, weights_fingerprint
from genzoo.errors import CheckpointError, GenzooError

FILE_NAME = "attributes.safetensors"  # the default file inside RUN
FORMAT = "genzoo-attributes/1"


def save_attributes(attrs: Attributes, path: str | Path) -> Path:
    """Write the centroids (safetensors: ``centroids`` (K, d), ``counts`` (K,)) with names, pairs,
    classes and ``meta`` (source, model_type, latent_dim, weights) in the header."""
    meta = dict(attrs.meta) | {
        "format": FORMAT,
        "names": json.dumps(list(attrs.names)),
        "pairs": json.dumps({k: list(v) for k, v in attrs.pairs.items()}),
        "classes": json.dumps(list(attrs.classes)),
        "latent_dim": str(attrs.latent_dim),
    }
    path = Path(path)
    if path.exists():  # never overwrite weights or anything else that is not an attributes file
        try:
            ours = _read_meta(path).get("format") == FORMAT
        except CheckpointError:
            ours = False
        if not ours:
            raise GenzooError(f"{path} exists and is not a genzoo attributes file; choose another -o")
    io.save_tensors(path, {"centroids": attrs.centroids.float(), "counts": attrs.counts.long()}, meta)
    return path


def _read_meta(path: Path) -> dict[str, str]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except Exception as e:  # noqa: BLE001 - any unreadable header
        raise CheckpointError(f"{path} is not a readable safetensors file ({e})") from None


def load_attributes(path: str | Path, model: Any = None) -> Attributes:
    """Read an attributes file; with ``model``, check that it was computed for this model (type,
    latent size and weights) -- a CheckpointError in one line otherwise."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"attributes file {path} not found")
    tensors = io.load_tensors(path)
    meta = _read_meta(path)
    if meta.get("format") != FORMAT or "centroids" not in tensors:
        raise CheckpointError(f"{path} is not a genzoo attributes file (no {FORMAT!r} header)")
    try:
        names = tuple(json.loads(meta["names"]))
        pairs = {k: (v[0], v[1]) for k, v in json.loads(meta["pairs"]).items()}
        classes = tuple(json.loads(meta["classes"]))
    except (KeyError, ValueError, TypeError, IndexError) as e:
        raise CheckpointError(f"{path} has a damaged header ({e})") from None
    cents, counts = tensors["centroids"], tensors.get("counts", torch.ones(len(names), dtype=torch.long))
    if cents.dim() != 2 or len(names) != cents.shape[0] or len(counts) != len(names):
        raise CheckpointError(f"{path}: {len(names)} names for centroids of shape {tuple(cents.shape)}")
    extra = {k: v for k, v in meta.items() if k not in ("format", "names", "pairs", "classes")}
    attrs = Attributes(names, cents.float(), counts.long(), pairs, classes, extra)
    if model is not None:
        check_model(attrs, model, path)
    return attrs


def check_model(attrs: Attributes, model: Any, path: str | Path = "the attributes file") -> None:
    """A CheckpointError unless ``attrs`` were computed with this model (type, latent size, weights)."""
    kind = latent.model_kind(model)
    d = latent_dim(model)
    theirs = attrs.meta.get("model_type", "?")
    if theirs != kind or attrs.latent_dim != d:
        raise CheckpointError(
            f"{path} was computed for a {theirs} with latent size {attrs.latent_dim}, not this {kind} "
            f"with latent size {d}; run `genzoo attributes` on this model"
        )
    if attrs.meta.get("weights") not in (None, weights_fingerprint(model)):
        raise CheckpointError(
            f"{path} was computed with other weights of this {kind} (another checkpoint or run); "
            "run `genzoo attributes` again"
        )
