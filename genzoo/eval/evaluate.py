"""``genzoo eval``: score a run's samples (and reconstructions, likelihood) or any set of images.

Sample scores use a feature network (``features.py``: the dataset's shipped classifier, or
Inception-v3 with the user's weights) against cached features of the real test split; the
real-data floor (a train subset scored the same way) is reported beside every table, so a score
can be read against what real data achieve.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genzoo import config as cfgio
from genzoo import io
from genzoo.data import DataConfig, load_dataset
from genzoo.errors import ConfigError, DataError
from genzoo.eval import metrics
from genzoo.eval.features import Extractor, FeatureKind, cache_dir, check_device, choose_extractor
from genzoo.eval.likelihood import evaluate_likelihood, has_likelihood


def dataset_key(data: DataConfig) -> str:
    """Names the reference set in cache keys: the dataset's name (images as stored), else the name
    and a hash of its size/channel settings and, for a folder, of its files (resolved paths,
    sizes, times). ``limit`` is not part of it: references use the whole split."""
    if data.name != "folder" and data.image_size is None and data.channels is None:
        return data.name
    from genzoo.data.folder import fingerprint

    fields = {"image_size": data.image_size, "channels": data.channels}
    if data.path:
        fields["files"] = fingerprint(data.path)
    return f"{data.name}-{hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]}"


def _stats_path(data: DataConfig, what: str, ext: Extractor, suffix: str) -> Path:
    """Cache file for ``what`` ("test-n10000", "floor-n500", ...) of ``data`` in ``ext``'s features.
    The shipped networks keep the keys they had before other feature networks existed."""
    base = dataset_key(data)
    if base == data.name and ext.name == f"genzoo-{data.name}":
        key = f"{base}-{what}-{ext.sha256[:12]}"
    else:
        key = f"{base}-{what}-{ext.name}-{ext.sha256[:12]}"
    return cache_dir() / "stats" / f"{key}{suffix}"


def _as_data(data: DataConfig | str, root: str | None = None) -> DataConfig:
    return DataConfig(name=data, root=root) if isinstance(data, str) else data


def reference_features(
    data: DataConfig | str, split: str, n: int, ext: Extractor, device: str = "cpu"
) -> torch.Tensor:
    """Features of n real images (the first n of the test split, a fixed random n of the train
    split, whose order is not random; the whole split if it has fewer than n, e.g. digits' 297
    test and 1500 train images), cached per dataset/split/n/feature network and its hash."""
    data = cfgio.replace(_as_data(data), limit=None)
    path = _stats_path(data, f"{split}-n{n}", ext, ".safetensors")
    if path.is_file():
        return io.load_tensors(path)["features"]
    try:
        real = load_dataset(data, split, download=False)
    except DataError as e:
        raise DataError(
            f"reference features {path.stem} are not cached in {path.parent} and the real data are not "
            f"available to build them once ({e})"
        ) from None
    x = (
        real.x[:n]
        if split == "test"
        else real.x[torch.randperm(len(real), generator=torch.Generator().manual_seed(0))[:n]]
    )
    ext.check(x)
    feats = ext.extract(x, device)[0]
    io.save_tensors(path, {"features": feats}, {"dataset": data.name, "split": split, "n": str(len(x))})
    return feats


def sample_scores(real: torch.Tensor, fake: torch.Tensor, logits: torch.Tensor | None) -> dict[str, Any]:
    p, r = metrics.precision_recall(real, fake)
    kid_mean, kid_std = metrics.kid(real, fake)
    out: dict[str, Any] = {
        "fid": metrics.fid(real, fake),
        "kid": kid_mean,
        "kid_std": kid_std,
        "precision": p,
        "recall": r,
        "n_samples": len(fake),
        "n_reference": len(real),
    }
    if logits is not None:
        shares = metrics.class_shares(logits)
        out |= {
            "class_shares": [round(s, 4) for s in shares],
            "class_coverage": metrics.class_coverage(shares),
        }
    return out


def real_floor(data: DataConfig | str, n: int, ext: Extractor, device: str = "cpu") -> dict[str, Any]:
    """Scores of n real training images (all of them if the split is smaller; the result's
    n_samples says how many) against the whole test split (cached)."""
    data = _as_data(data)
    path = _stats_path(data, f"floor-n{n}", ext, ".json")
    if path.is_file():
        return io.read_json(path)
    ref = reference_features(data, "test", 10_000, ext, device)
    train = reference_features(data, "train", n, ext, device)
    out = sample_scores(ref, train, None)
    io.atomic_write_json(path, out)
    return out


MIN_IMAGES = 4  # precision/recall use the 3rd nearest neighbour; FID needs a covariance


def evaluate_images(
    x: torch.Tensor,
    data: DataConfig | str,
    data_root: str | None = None,
    *,
    features: FeatureKind | Extractor = "auto",
    inception_weights: str | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Scores of images x (N, C, H, W) in [0, 1] against the real test split of ``data``.

    features: "auto" (the dataset's shipped network, else Inception if its weights are found),
    "genzoo", "inception", or an Extractor already loaded."""
    data = _as_data(data, data_root)
    ext = (
        features
        if isinstance(features, Extractor)
        else choose_extractor(features, data.name, inception_weights)
    )
    if len(x) < MIN_IMAGES:
        raise ConfigError(f"need at least {MIN_IMAGES} images to score, got {len(x)}")
    if x.dtype == torch.uint8:
        x = x.float() / 255.0
    ext.check(x)
    ref = reference_features(data, "test", 10_000, ext, device)
    if len(ref) < MIN_IMAGES:
        raise DataError(f"the {data.name} test split has {len(ref)} images; at least {MIN_IMAGES} are needed")
    feats, logits = ext.extract(x, device)
    out: dict[str, Any] = {"feature_net": ext.name, "feature_net_sha256": ext.sha256}
    if ext.test_accuracy is not None:
        out["feature_net_test_accuracy"] = ext.test_accuracy
    notes = list(ext.notes)
    if min(len(x), len(ref)) <= feats.shape[1]:
        notes.append(
            f"FID from {len(x)} samples and {len(ref)} references in {feats.shape[1]} dimensions: the covariances "
            "are rank-deficient, so FID is strongly biased by the sample count; compare only equal counts"
        )
    floor = real_floor(data, len(x), ext, device)
    if floor["n_samples"] < len(x):  # a small training split (digits: 1500 images)
        notes.append(
            f"the real-data floor uses all {floor['n_samples']} training images, fewer than the {len(x)} samples: "
            f"FID (biased by the count) and recall depend on it, so compare with the floor at "
            f"{floor['n_samples']} samples (--n {floor['n_samples']})"
        )
    return out | {"samples": sample_scores(ref, feats, logits), "real_floor": floor, "feature_notes": notes}


def load_samples(path: str | Path) -> torch.Tensor:
    """Images from an .npz (key 'x', 'samples' or 'images', else the first array) as (N, C, H, W):
    (N, H, W), (N, C, H, W) or channels-last (N, H, W, C) with C = 1 or 3 (an array whose
    second axis is 1 or 3 is read as (N, C, H, W)); uint8 0..255 or float in [0, 1]."""
    try:
        with np.load(path) as npz:
            key = next(
                (k for k in ("x", "samples", "images") if k in npz.files), npz.files[0] if npz.files else None
            )
            if key is None:
                raise ConfigError(f"{path} holds no arrays")
            arr = npz[key]
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path} is not a readable .npz file ({e})") from None
    if arr.dtype.kind not in "uif" or arr.ndim not in (3, 4):
        raise ConfigError(
            f"{path}: expected images (N, H, W) or (N, C, H, W) of numbers, got {arr.dtype} {arr.shape}"
        )
    x = torch.from_numpy(arr)
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    if x.dim() == 3:
        return x.unsqueeze(1)
    if x.shape[1] not in (1, 3) and x.shape[3] in (1, 3):
        x = x.permute(0, 3, 1, 2)  # channels-last (N, H, W, C), as numpy image pipelines write
    return x.contiguous()


@torch.no_grad()
def draw_samples(model, n: int, seed: int = 0, batch: int = 1000) -> torch.Tensor:
    """n samples with per-batch generators derived from seed (the same for any n)."""
    out = [
        model.sample(min(batch, n - i), generator=torch.Generator().manual_seed(seed * 100_003 + i))
        for i in range(0, n, batch)
    ]
    return torch.cat(out)


def run_data_config(cfg: dict[str, Any], name: str | None, root: str | None, **changes: Any) -> DataConfig:
    """The data a saved model was trained on, or ``name``, with the other fields in ``changes``
    that are not None (path, image_size, ...); a saved model without data needs ``name``."""
    if name is None and "data" not in cfg:
        raise ConfigError("this model does not record its training data; pass --data NAME")
    data = cfgio.from_dict(DataConfig, cfg.get("data"), "data config")
    changes = {k: v for k, v in (("name", name), ("root", root), *changes.items()) if v is not None}
    return cfgio.replace(data, **changes) if changes else data


@torch.no_grad()
def evaluate_run(
    run: str | Path,
    n: int = 10_000,
    data_root: str | None = None,
    seed: int = 0,
    data_name: str | None = None,
    *,
    features: FeatureKind = "auto",
    inception_weights: str | None = None,
    device: str = "cpu",
    data_changes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Evaluate a run or saved model; writes eval.json beside its config and returns the result.
    ``data_changes``: DataConfig fields to override (e.g. the path of a moved image folder).

    Missing test data only skip the scores that need them, and with features="auto" a dataset
    without a feature network only skips the sample scores (each with a note); every other
    problem is an error."""
    import genzoo

    mdir = io.resolve_model_dir(run)
    cfg = io.read_json(mdir / io.CONFIG)
    model = genzoo.load(run)
    if n < MIN_IMAGES:
        raise ConfigError(f"--n must be at least {MIN_IMAGES}, got {n}")
    data = run_data_config(cfg, data_name, data_root, **(data_changes or {}))
    result: dict[str, Any] = {
        "run": str(run),
        "model_type": model.model_type,
        "dataset": data.name,
        "seed": seed,
    }
    if (mdir / "state.json").is_file():
        result["step"] = io.read_json(mdir / "state.json")["step"]
    notes = []
    check_device(device)
    try:  # the data first: a shape mismatch is an error before any long feature extraction
        test = load_dataset(data, "test", download=False)
    except DataError as e:
        test = None
        notes.append(f"reconstruction/likelihood skipped: test data not available ({e})")
    if test is not None and tuple(test.info.shape) != tuple(model.shape):
        raise ConfigError(f"{data.name} has shape {test.info.shape}; the model expects {model.shape}")
    try:
        if len(model.shape) != 3:
            raise ConfigError(
                f"{data.name} is not image data (shape {tuple(model.shape)}): no feature network"
            )
        ext = choose_extractor(features, data.name, inception_weights)
    except ConfigError as e:  # no network for these data; bad weights stay an error
        if features != "auto":
            raise
        notes.append(f"sample scores skipped: {e}")
    else:
        samples = draw_samples(model, n, seed)
        if not bool(torch.isfinite(samples).all()):
            notes.append(
                "sample scores skipped: the model's samples contain NaN or inf (did training diverge?)"
            )
        else:
            try:
                result |= evaluate_images(samples, data, features=ext, device=device)
            except DataError as e:
                notes.append(f"sample scores skipped: {e}")
    if test is not None:
        x = test.x[:n]
        if hasattr(model, "reconstruct"):
            x_hat = torch.cat([model.reconstruct(c) for c in x.split(1000)])
            result["reconstruction"] = {
                "mse": float((x_hat - x).pow(2).mean()),
                "psnr_db": metrics.psnr(x_hat, x) if test.info.is_image() else None,
                "n": len(x),
            }
        if has_likelihood(model):
            result["likelihood"] = evaluate_likelihood(model, x)
    result["notes"] = notes
    io.atomic_write_json(Path(run) / "eval.json", result)
    return result


def format_result(result: dict[str, Any]) -> str:
    """A plain-text table: each score with its sample count, and the real-data floor beside it."""
    lines = [
        f"{result.get('model_type', 'samples')} on {result.get('dataset')}"
        + (f" (step {result['step']})" if "step" in result else "")
    ]
    s, floor = result.get("samples"), result.get("real_floor")
    if s:
        fn = result["feature_net"]
        lines.append(f"{'metric':<36} {'model':>12} {'real floor':>12}  n")
        for key, label in (
            ("fid", f"FID ({fn} features)"),
            ("kid", f"KID ({fn} features)"),
            ("precision", "precision (k=3)"),
            ("recall", "recall (k=3)"),
        ):
            lines.append(
                f"{label:<36} {s[key]:>12.4f} {floor[key]:>12.4f}  {s['n_samples']} vs {s['n_reference']} test"
            )
        if "class_coverage" in s:
            lines.append(f"{'class coverage (exp H / classes)':<36} {s['class_coverage']:>12.4f}")
            lines.append(f"{'class shares':<36} {' '.join(f'{v:.3f}' for v in s['class_shares'])}")
    if rec := result.get("reconstruction"):
        psnr = f", PSNR {rec['psnr_db']:.2f} dB" if rec.get("psnr_db") is not None else ""
        lines.append(f"reconstruction: MSE/pixel {rec['mse']:.5f}{psnr} (n={rec['n']} test)")
    if ll := result.get("likelihood"):
        lines.append(
            f"likelihood: NLL {ll['nll_nats']:.2f} nats, {ll['bits_per_dim']:.4f} bits/dim (n={ll['n']})"
        )
    lines += [f"note: {n}" for n in result.get("feature_notes", []) + result.get("notes", [])]
    return "\n".join(lines)


__all__ = ["evaluate_images", "evaluate_run", "format_result", "load_samples"]
