"""``genzoo eval``: score a run's samples (and reconstructions, likelihood) or any set of images.

Sample scores use the shipped feature network of the dataset (``features.py``) against cached
features of the real test split; the real-data floor (a train subset scored the same way) is
reported beside every table, so a score can be read against what real data achieve.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genzoo import config as cfgio
from genzoo import io
from genzoo.data import DataConfig, load_dataset
from genzoo.data.base import user_cache_dir
from genzoo.errors import ConfigError, DataError
from genzoo.eval import metrics
from genzoo.eval.features import available as available_feature_nets
from genzoo.eval.features import extract, load_feature_net
from genzoo.eval.likelihood import evaluate_likelihood, has_likelihood


def cache_dir() -> Path:
    """$GENZOO_CACHE, else the user cache directory (where downloaded data go by default)."""
    env = os.environ.get("GENZOO_CACHE")
    return Path(env).expanduser() if env else user_cache_dir()


def reference_features(dataset: str, split: str, n: int, data_root: str | None = None) -> torch.Tensor:
    """Features of n real images (the first n of the test split, a fixed random n of the train
    split, whose order is not random), cached per dataset/split/n/weights hash."""
    net, entry = load_feature_net(dataset)
    key = f"{dataset}-{split}-n{n}-{entry['sha256'][:12]}"
    path = cache_dir() / "stats" / f"{key}.safetensors"
    if path.is_file():
        return io.load_tensors(path)["features"]
    try:
        data = load_dataset(DataConfig(name=dataset, root=data_root), split, download=False)
    except DataError as e:
        raise DataError(
            f"reference features {key} are not cached in {path.parent} and the real data are not available "
            f"to build them once ({e})"
        ) from None
    x = (
        data.x[:n]
        if split == "test"
        else data.x[torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:n]]
    )
    feats = extract(net, x)[0]
    io.save_tensors(path, {"features": feats}, {"dataset": dataset, "split": split, "n": len(x)})
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


def real_floor(dataset: str, n: int, data_root: str | None = None) -> dict[str, Any]:
    """Scores of n real training images against the test reference (cached)."""
    _, entry = load_feature_net(dataset)
    path = cache_dir() / "stats" / f"{dataset}-floor-n{n}-{entry['sha256'][:12]}.json"
    if path.is_file():
        return io.read_json(path)
    ref = reference_features(dataset, "test", 10_000, data_root)
    train = reference_features(dataset, "train", n, data_root)
    out = sample_scores(ref, train, None)
    io.atomic_write_json(path, out)
    return out


def evaluate_images(x: torch.Tensor, dataset: str, data_root: str | None = None) -> dict[str, Any]:
    """Scores of images x (N, 1, 28, 28) in [0, 1] against the real test split of ``dataset``."""
    net, entry = load_feature_net(dataset)
    if tuple(x.shape[1:]) != (1, 28, 28):
        raise ConfigError(
            f"the {dataset} feature network takes images of shape (N, 1, 28, 28), got {tuple(x.shape)}"
        )
    if x.min() < 0 or x.max() > 1:
        raise ConfigError(
            f"images must lie in [0, 1], got values in [{float(x.min()):.3g}, {float(x.max()):.3g}]"
        )
    ref = reference_features(dataset, "test", 10_000, data_root)
    feats, logits = extract(net, x)
    return {
        "feature_net": f"genzoo-{dataset}",
        "feature_net_sha256": entry["sha256"],
        "feature_net_test_accuracy": entry["test_accuracy"],
        "samples": sample_scores(ref, feats, logits),
        "real_floor": real_floor(dataset, len(x), data_root),
    }


def load_samples(path: str | Path) -> torch.Tensor:
    """Images from an .npz (first array, or key 'x'/'samples'): (N, 28, 28) or (N, 1, 28, 28),
    uint8 0..255 or float in [0, 1]."""
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
    x = torch.from_numpy(arr)
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    return x.unsqueeze(1) if x.dim() == 3 else x


@torch.no_grad()
def draw_samples(model, n: int, seed: int = 0, batch: int = 1000) -> torch.Tensor:
    """n samples with per-batch generators derived from seed (the same for any n)."""
    out = [
        model.sample(min(batch, n - i), generator=torch.Generator().manual_seed(seed * 100_003 + i))
        for i in range(0, n, batch)
    ]
    return torch.cat(out)


def run_data_config(cfg: dict[str, Any], name: str | None, root: str | None) -> DataConfig:
    """The data a saved model was trained on, or ``name``; a saved model without data needs ``name``."""
    if name is None and "data" not in cfg:
        raise ConfigError("this model does not record its training data; pass --data NAME")
    data = cfgio.from_dict(DataConfig, cfg.get("data"), "data config")
    changes = {k: v for k, v in (("name", name), ("root", root)) if v is not None}
    return cfgio.replace(data, **changes) if changes else data


@torch.no_grad()
def evaluate_run(
    run: str | Path,
    n: int = 10_000,
    data_root: str | None = None,
    seed: int = 0,
    data_name: str | None = None,
) -> dict[str, Any]:
    """Evaluate a run or saved model; writes eval.json beside its config and returns the result.

    Missing test data only skips the scores that need it (with a note); every other problem is
    an error."""
    import genzoo

    mdir = io.resolve_model_dir(run)
    cfg = io.read_json(mdir / io.CONFIG)
    model = genzoo.load(run)
    data = run_data_config(cfg, data_name, data_root)
    result: dict[str, Any] = {
        "run": str(run),
        "model_type": model.model_type,
        "dataset": data.name,
        "seed": seed,
    }
    if (mdir / "state.json").is_file():
        result["step"] = io.read_json(mdir / "state.json")["step"]
    notes = []
    if data.name in available_feature_nets():
        try:
            result |= evaluate_images(draw_samples(model, n, seed), data.name, data.root)
        except DataError as e:
            notes.append(f"sample scores skipped: {e}")
    else:
        notes.append(f"sample scores skipped: no shipped feature network for {data.name!r}")
    try:
        test = load_dataset(data, "test", download=False)
    except DataError as e:
        test = None
        notes.append(f"reconstruction/likelihood skipped: test data not available ({e})")
    if test is not None:
        if tuple(test.info.shape) != tuple(model.shape):
            raise ConfigError(f"{data.name} has shape {test.info.shape}; the model expects {model.shape}")
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
    lines += [f"note: {n}" for n in result.get("notes", [])]
    return "\n".join(lines)


__all__ = ["evaluate_images", "evaluate_run", "format_result", "load_samples"]
