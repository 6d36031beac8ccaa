"""``genzoo eval``: score a run's samples (and reconstructions, likelihood) or any set of images.

Sample scores use a feature network (``features.py``: the dataset's shipped classifier, or
Inception-v3 with the user's weights) against cached features of the real test split; the
real-data floor (a train subset scored the same way) is reported beside every table, so a score
can be read against what real data achieve.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genzoo import config as cfgio
from genzoo import io, latent
from genzoo.conditional import is_conditional
from genzoo.data import DataConfig, load_dataset
from genzoo.errors import CheckpointError, ConfigError, DataError
from genzoo.eval import metrics
from genzoo.eval.features import (
    Extractor,
    FeatureKind,
    cache_dir,
    check_device,
    choose_extractor,
    shipped_input_shape,
)
from genzoo.eval.likelihood import evaluate_likelihood, has_likelihood, takes_samples
from genzoo.eval.modes import HAS_MODES, mode_coverage
from genzoo.models import capabilities as caps
from genzoo.models.capabilities import Capability


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


def known_shape(data: DataConfig) -> tuple[int, int, int] | None:
    """The (C, H, W) of ``data``'s images where it is known without reading them: a dataset with
    a shipped feature network (whose input shape is the images' as stored) after ``image_size``
    and ``channels``; None for others (a folder)."""
    native = shipped_input_shape(data.name)
    if native is None:
        return None
    c, h, w = native
    return (data.channels or c, data.image_size or h, data.image_size or w)


def _load_cached(path: Path, read) -> Any:
    """``read(path)`` of a cache file, or None if there is none or it is unreadable (a cut or
    corrupt file is rebuilt, not an error: it holds nothing that cannot be computed again)."""
    if not path.is_file():
        return None
    try:
        return read(path)
    except (CheckpointError, KeyError, TypeError):
        return None


def reference_features(
    data: DataConfig | str, split: str, n: int, ext: Extractor, device: str = "cpu"
) -> torch.Tensor:
    """Features of n real images (the first n of the test split, a fixed random n of the train
    split, whose order is not random; the whole split if it has fewer than n, e.g. digits' 297
    test and 1500 train images), cached per dataset/split/n/feature network and its hash."""
    # the real images as they are: samples are scored against gray test images, also for a model
    # trained on binarized pixels (whose samples are the decoder's mean, a gray image)
    data = cfgio.replace(_as_data(data), limit=None, binarize="none")
    path = _stats_path(data, f"{split}-n{n}", ext, ".safetensors")
    cached = _load_cached(path, lambda p: io.load_tensors(p)["features"])
    if isinstance(cached, torch.Tensor) and cached.dim() == 2 and len(cached):
        return cached
    try:
        real = load_dataset(data, split, download=False)
    except DataError as e:
        state = "are not cached" if not path.is_file() else "are unreadable"
        raise DataError(
            f"reference features {path.stem} {state} in {path.parent} and the real data are not "
            f"available to build them ({e})"
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
    cached = _load_cached(path, io.read_json)
    keys = ("fid", "kid", "kid_std", "precision", "recall", "n_samples", "n_reference")
    if isinstance(cached, dict) and all(isinstance(cached.get(k), (int, float)) for k in keys):
        return cached
    ref = reference_features(data, "test", 10_000, ext, device)
    train = reference_features(data, "train", n, ext, device)
    out = sample_scores(ref, train, None)
    io.atomic_write_json(path, out)
    return out


def floor_note(floor: dict[str, Any], n: int) -> str | None:
    """The caveat for a real-data floor of fewer training images than the n samples (digits: 1500)."""
    if floor["n_samples"] >= n:
        return None
    return (
        f"the real-data floor uses all {floor['n_samples']} training images, fewer than the {n} samples: "
        f"FID (biased by the count) and recall depend on it, so compare with the floor at "
        f"{floor['n_samples']} samples (--n {floor['n_samples']})"
    )


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

    features: "auto" (the dataset's shipped network if it takes images of the data's shape, else
    Inception if its weights are found), "genzoo", "inception", or an Extractor already loaded."""
    data = _as_data(data, data_root)
    shape = known_shape(data)
    if shape is not None and x.dim() == 4 and tuple(x.shape[1:]) != shape:
        got, want = "x".join(map(str, x.shape[1:])), "x".join(map(str, shape))
        setting = "resized " if data.image_size or data.channels else ""
        raise ConfigError(
            f"the images are {got} (C x H x W) and the {setting}{data.name} images they are compared with are "
            f"{want}; give the data settings the images were made with (--data-image-size, --data-channels)"
        )
    ext = (
        features
        if isinstance(features, Extractor)
        else choose_extractor(features, data.name, inception_weights, shape)
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
    if note := floor_note(floor, len(x)):  # a small training split (digits: 1500 images)
        notes.append(note)
    return out | {"samples": sample_scores(ref, feats, logits), "real_floor": floor, "feature_notes": notes}


SAMPLES_FORMAT = "images (N, H, W), (N, C, H, W) or (N, H, W, C) saved with numpy.savez"


def _first_line(e: BaseException, limit: int = 160) -> str:
    text = next((line.strip() for line in str(e).splitlines() if line.strip()), type(e).__name__)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _read_array(path: Path) -> np.ndarray:
    """The images array of an .npz (key 'x', 'samples' or 'images', else the first) or .npy file,
    read without unpickling; every way the file can be unreadable is one ConfigError."""
    try:
        f = path.open("rb")
    except OSError as e:  # missing, a directory, no permission
        raise ConfigError(f"{path} cannot be read ({e.strerror or e})") from None
    with f:
        try:
            loaded = np.load(f, allow_pickle=False)
            if not isinstance(loaded, np.lib.npyio.NpzFile):
                return loaded  # an .npy: the array itself
            with loaded as npz:
                key = next((k for k in ("x", "samples", "images") if k in npz.files), None)
                key = key or (npz.files[0] if npz.files else None)
                if key is None:
                    raise ConfigError(f"{path} holds no arrays; expected {SAMPLES_FORMAT}")
                return npz[key]
        except ConfigError:
            raise
        except Exception as e:  # an untrusted file: zip, zlib, header, size and memory errors
            if isinstance(e, ValueError) and "Object arrays" in str(e):
                why = "it holds an array of Python objects, which genzoo never unpickles"
            elif isinstance(e, ValueError) and "pickle" in str(e):
                why = "neither a zip (.npz) nor an .npy; numpy would unpickle it, which genzoo never does"
            elif isinstance(e, (zipfile.BadZipFile, zlib.error, EOFError)):
                why = f"a corrupt or truncated zip: {_first_line(e)}"
            else:
                why = f"{type(e).__name__}: {_first_line(e)}"
            raise ConfigError(
                f"{path} is not a readable .npz file ({why}); expected {SAMPLES_FORMAT}"
            ) from None


def load_samples(path: str | Path) -> torch.Tensor:
    """Images from an .npz (key 'x', 'samples' or 'images', else the first array) or an .npy, as
    (N, C, H, W) float32: (N, H, W), (N, C, H, W) or channels-last (N, H, W, C) with C = 1 or 3
    (an array whose second axis is 1 or 3 is read as (N, C, H, W)); uint8 0..255 or float in
    [0, 1]. Nothing is unpickled."""
    path = Path(path)
    arr = _read_array(path)
    if arr.dtype.kind not in "uif" or arr.ndim not in (3, 4):
        raise ConfigError(
            f"{path}: expected images (N, H, W) or (N, C, H, W) of numbers, got {arr.dtype} {arr.shape}"
        )
    # float32 in numpy: any byte order and width (big-endian, float128) torch cannot take directly
    x = torch.from_numpy(arr.astype(np.float32) / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float32))
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
    iwae_k: int | None = None,
    which: str = "latest",
) -> dict[str, Any]:
    """Evaluate a run or saved model (its ``which`` checkpoint: latest or best); writes eval.json
    (eval-best.json for the best checkpoint) beside its config and returns the result.
    ``data_changes``: DataConfig fields to override (e.g. the path of a moved image folder);
    ``iwae_k``: importance samples of an IWAE likelihood bound (the model's default if None).

    Missing test data only skip the scores that need them, and with features="auto" a dataset
    without a feature network only skips the sample scores (each with a note); every other
    problem is an error."""
    import genzoo

    mdir = io.resolve_model_dir(run, which)
    cfg = io.read_config(mdir)
    model = genzoo.load(run, which=which)
    if n < MIN_IMAGES:
        raise ConfigError(f"--n must be at least {MIN_IMAGES}, got {n}")
    if iwae_k is not None and not takes_samples(model):
        raise ConfigError(
            f"--iwae-k sets the importance samples of a VAE's likelihood bound; {model.model_type} has none"
        )
    data = run_data_config(cfg, data_name, data_root, **(data_changes or {}))
    result: dict[str, Any] = {
        "run": str(run),
        "model_type": model.model_type,
        "dataset": data.name,
        "seed": seed,
        "checkpoint": which,
    }
    notes = []
    if (mdir / "state.json").is_file():  # only for the report: a damaged one costs the step, not the scores
        try:
            state = io.read_json(mdir / "state.json")
        except CheckpointError as e:
            state = {"error": str(e)}
        step = state.get("step") if isinstance(state, dict) else None
        if isinstance(step, int) and not isinstance(step, bool):
            result["step"] = step
        else:
            notes.append(f"training step unknown: {mdir / 'state.json'} has no readable step")
    check_device(device)
    try:  # the data first: a shape mismatch is an error before any long feature extraction
        test = load_dataset(data, "test", download=False)
    except DataError as e:
        test = None
        notes.append(f"reconstruction/likelihood skipped: test data not available ({e})")
    if test is not None and tuple(test.info.shape) != tuple(model.shape):
        raise ConfigError(f"{data.name} has shape {test.info.shape}; the model expects {model.shape}")
    if len(model.shape) != 3 and data.name in HAS_MODES:
        try:  # toy 2-D data: modes covered and the share of high-quality samples
            result["modes"] = mode_coverage(draw_samples(model, n, seed), data.name)
        except NotImplementedError:
            pass
    try:
        if len(model.shape) != 3:
            raise ConfigError(
                f"{data.name} is not image data (shape {tuple(model.shape)}): no feature network"
            )
        ext = choose_extractor(features, data.name, inception_weights, tuple(model.shape))
    except ConfigError as e:  # no network for these data; bad weights stay an error
        if features != "auto":
            raise
        if "modes" not in result:  # toy data are scored by their modes instead
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
        if caps.has(model, Capability.ENCODER):
            x_hat = latent.reconstruct(model, x, batch=1000)
            result["reconstruction"] = {
                "mse": float((x_hat - x).pow(2).mean()),
                "psnr_db": metrics.psnr(x_hat, x) if test.info.is_image() else None,
                "n": len(x),
            }
        if has_likelihood(model):
            y = test.y[:n] if is_conditional(model) and test.y is not None else None
            result["likelihood"] = evaluate_likelihood(model, x, k=iwae_k, y=y, seed=seed)
    result["notes"] = notes
    io.atomic_write_json(Path(run) / ("eval.json" if which == "latest" else f"eval-{which}.json"), result)
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
    if m := result.get("modes"):
        lines.append(
            f"modes covered: {m['modes_covered']} of {m['n_modes']} (>= 1% of samples within 3 std); "
            f"high-quality samples: {100 * m['high_quality']:.1f}% (n={m['n_samples']})"
        )
    if rec := result.get("reconstruction"):
        psnr = f", PSNR {rec['psnr_db']:.2f} dB" if rec.get("psnr_db") is not None else ""
        lines.append(f"reconstruction: MSE/pixel {rec['mse']:.5f}{psnr} (n={rec['n']} test)")
    if ll := result.get("likelihood"):
        bound = f"IWAE bound, k={ll['k']}, " if "k" in ll else ""
        given = " given the labels" if ll.get("given_labels") else ""
        lines.append(
            f"-log p(x){given}: {ll['nll_nats']:.2f} nats, {ll['bits_per_dim']:.4f} bits/dim "
            f"({bound}n={ll['n']} test, {ll['seconds']:.1f} s)"
        )
        if "kind" in ll:
            lines.append(f"  ({ll['kind']})")
        if "neg_elbo_nats" in ll:
            lines.append(
                f"-ELBO: {ll['neg_elbo_nats']:.2f} nats ({ll['neg_elbo_bits_per_dim']:.4f} bits/dim) = "
                f"reconstruction {ll['recon_nats']:.2f} + KL {ll['kl_nats']:.2f}; "
                f"active units {ll['active_units']} of {ll['latent_dim']}"
            )
    lines += [f"note: {n}" for n in result.get("feature_notes", []) + result.get("notes", [])]
    return "\n".join(lines)


__all__ = ["evaluate_images", "evaluate_run", "format_result", "load_samples"]
