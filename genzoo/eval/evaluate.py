"""``genzoo eval``: score a run's samples (and reconstructions, likelihood) or any set of images.

Sample scores use a feature network (``features.py``: the dataset's shipped classifier, or
Inception-v3 with the user's weights) against cached features of the real test split
(``reference.py``); the real-data floor (a train subset scored the same way) is reported beside
every table, so a score can be read against what real data achieve. This module runs the
evaluation and formats its table; images given as a file are read by ``samples_file.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from genzoo import config as cfgio
from genzoo import io, latent, progress
from genzoo.conditional import is_conditional
from genzoo.data import DataConfig, load_dataset, sources
from genzoo.errors import CheckpointError, ConfigError, DataError, GenzooError
from genzoo.eval import metrics
from genzoo.eval.features import Extractor, FeatureKind, check_device, choose_extractor
from genzoo.eval.likelihood import evaluate_likelihood, has_likelihood, takes_samples
from genzoo.eval.modes import HAS_MODES, mode_coverage
from genzoo.eval.reference import as_data_config, floor_note, known_shape, real_floor, reference_features
from genzoo.models import capabilities as caps
from genzoo.models.capabilities import Capability

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
    data = as_data_config(data, data_root)
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
    return out | {
        "samples": metrics.sample_scores(ref, feats, logits),
        "real_floor": floor,
        "feature_notes": notes,
    }


@torch.no_grad()
def draw_samples(model, n: int, seed: int = 0, batch: int = 1000, **options: Any) -> torch.Tensor:
    """n samples with per-batch generators derived from seed (the same for any n); ``options``: the
    model's sample options (e.g. an iterative sampler's sampler and steps; none: its defaults)."""
    out = [
        model.sample(
            min(batch, n - i), generator=torch.Generator().manual_seed(seed * 100_003 + i), **options
        )
        for i in progress.track(range(0, n, batch), n, "drawing samples", size=lambda i: min(batch, n - i))
    ]
    return torch.cat(out)


def sampler_report(model: Any, options: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The iterative sampler that ``sample(**options)`` runs, for a report (``sampler_settings``: the
    sampler, its steps and network evaluations, its options), None for a model that samples in one
    pass; ``options`` checked first (``capabilities.iterative_options``: one clear error)."""
    given = caps.iterative_options(model, options or {})
    return model.sampler_settings(**given) if caps.has(model, Capability.ITERATIVE) else None


def sampler_text(settings: dict[str, Any]) -> str:
    """'ddim, 3 steps (3 network evaluations per sample; eta 0, spacing time)': a sampler_report in words."""
    extra = ", ".join(
        f"{k} {settings[k]:g}" if isinstance(settings[k], float) else f"{k} {settings[k]}"
        for k in ("eta", "spacing", "churn", "guidance")
        if k in settings
    )
    evals = settings["network_evals"]
    return (
        f"{settings['sampler']}, {settings['steps']} steps ({evals} network evaluation{'s' * (evals != 1)} "
        f"per sample{'; ' + extra if extra else ''})"
    )


def run_data_config(cfg: dict[str, Any], name: str | None, root: str | None, **changes: Any) -> DataConfig:
    """The data a saved model was trained on, or ``name``, with the other fields in ``changes``
    that are not None (path, image_size, ...); a saved model without data needs ``name``."""
    if name is None and "data" not in cfg:
        raise ConfigError("this model does not record its training data; pass --data NAME")
    data = cfgio.from_dict(DataConfig, cfg.get("data"), "data config")
    changes = {k: v for k, v in (("name", name), ("root", root), *changes.items()) if v is not None}
    return sources.canonical(cfgio.replace(data, **changes) if changes else data)


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
    sample_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Evaluate a run or saved model (its ``which`` checkpoint: latest or best); writes eval.json
    (eval-best.json for the best checkpoint) beside its config and returns the result.
    ``data_changes``: DataConfig fields to override (e.g. the path of a moved image folder);
    ``iwae_k``: importance samples of an IWAE likelihood bound (the model's default if None);
    ``sample_options``: how an iterative sampler draws the scored samples (sampler, steps, eta, spacing,
    churn, guidance; None values and an empty dict: the model's defaults), recorded as ``sampler``.

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
    opts = caps.iterative_options(model, sample_options or {})  # before any sampling: one clear error
    sampler = sampler_report(model, opts)
    data = run_data_config(cfg, data_name, data_root, **(data_changes or {}))
    result: dict[str, Any] = {
        "run": str(run),
        "model_type": model.model_type,
        "dataset": data.name,
        "seed": seed,
        "checkpoint": which,
    }
    if sampler is not None:  # the iterative sampler that drew the scored samples
        result["sampler"] = sampler
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
            result["modes"] = mode_coverage(draw_samples(model, n, seed, **opts), data.name)
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
        samples = draw_samples(model, n, seed, **opts)
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


def _class_shares_line(shares: list[float], class_names: Sequence[str] | None) -> str:
    """The class shares as percentages, each named by its class (its index if no names are known)."""
    names = list(class_names) if class_names and len(class_names) == len(shares) else None
    parts = [f"{names[i] if names else i}: {100 * v:.1f}%" for i, v in enumerate(shares)]
    return "  " + ", ".join(parts)


def format_result(result: dict[str, Any], class_names: Sequence[str] | None = None) -> str:
    """Plain text a student can read: each score with what it measures, its scale, which way is
    better, and the real-data floor beside it. ``class_names``: the names of the feature network's
    classes (the dataset's), for the class shares; the result itself (``--json``) is unchanged."""
    lines = [
        f"{result.get('model_type', 'samples')} on {result.get('dataset')}"
        + (f" (step {result['step']})" if "step" in result else "")
    ]
    if (sampler := result.get("sampler")) and (result.get("samples") or result.get("modes")):
        lines.append(f"samples drawn by the {sampler_text(sampler)}")
    s, floor = result.get("samples"), result.get("real_floor")
    if s:
        fn = result["feature_net"]
        ours = fn.startswith("genzoo")
        lines += [
            f"sample scores: {s['n_samples']} samples vs {s['n_reference']} test images, in {fn} features"
            + (
                f" (genzoo's own {result.get('dataset')} classifier: not comparable with Inception FID/KID "
                "or published numbers)"
                if ours
                else ""
            ),
            f"real data: {floor['n_samples']} real training images scored the same way, about the best "
            "a model can reach",
            f"{'metric':<28} {'model':>12} {'real data':>12}  how to read it",
        ]
        for key, label, meaning in (
            ("fid", "FID", "lower is better; 0 = the same feature mean and covariance as real images"),
            (
                "kid",
                "KID (raw MMD^2, not x1000)",
                "lower is better; an unbiased estimate, so near 0 it can be negative",
            ),
            ("precision", "precision (k=3)", "higher is better, 0 to 1: share of samples that look real"),
            ("recall", "recall (k=3)", "higher is better, 0 to 1: share of real images the samples reach"),
        ):
            lines.append(f"{label:<28} {s[key]:>12.4f} {floor[key]:>12.4f}  {meaning}")
        if "class_coverage" in s:
            k = len(s["class_shares"])
            lines.append(
                f"{'class coverage':<28} {s['class_coverage']:>12.4f} {'':>12}  higher is better, 0 to 1: "
                f"effective number of classes / classes, 1 = all {k} classes equally often"
            )
            lines.append(
                f"class shares (the feature network's class of each sample, % of samples; "
                f"{100 / k:.1f}% each when balanced):"
            )
            lines.append(_class_shares_line(s["class_shares"], class_names))
    if m := result.get("modes"):
        lines.append(
            f"modes covered: {m['modes_covered']} of {m['n_modes']} (>= 1% of samples within 3 std; higher is "
            f"better); high-quality samples: {100 * m['high_quality']:.1f}% (within 3 std of a mode; higher "
            f"is better; n={m['n_samples']})"
        )
    if rec := result.get("reconstruction"):
        psnr = f", PSNR {rec['psnr_db']:.2f} dB (higher is better)" if rec.get("psnr_db") is not None else ""
        lines.append(
            f"reconstruction: MSE per pixel {rec['mse']:.5f} (lower is better; 0 = exact){psnr} (n={rec['n']} test)"
        )
    if ll := result.get("likelihood"):
        bound = f"IWAE bound, k={ll['k']}, " if "k" in ll else ""
        given = " given the labels" if ll.get("given_labels") else ""
        lines.append(
            f"-log p(x){given}: {ll['nll_nats']:.2f} nats per example, {ll['bits_per_dim']:.4f} bits/dim "
            f"(lower is better; bits/dim divides by the number of values, so sizes compare; "
            f"{bound}n={ll['n']} test, {ll['seconds']:.1f} s)"
        )
        if "kind" in ll:
            lines.append(f"  ({ll['kind']})")
        if "neg_elbo_nats" in ll:
            lines.append(
                f"-ELBO: {ll['neg_elbo_nats']:.2f} nats ({ll['neg_elbo_bits_per_dim']:.4f} bits/dim; lower is "
                f"better) = reconstruction {ll['recon_nats']:.2f} + KL {ll['kl_nats']:.2f}; "
                f"active units {ll['active_units']} of {ll['latent_dim']} (latent dimensions the code uses)"
            )
    lines += [f"note: {n}" for n in result.get("feature_notes", []) + result.get("notes", [])]
    return "\n".join(lines)


def class_names_of(data: DataConfig | str, data_root: str | None = None) -> tuple[str, ...] | None:
    """The class names of a dataset's test split, to name the class shares; None if unknown or
    the data cannot be read (the shares are then shown by index)."""
    try:
        return load_dataset(as_data_config(data, data_root), "test", download=False).info.class_names
    except (GenzooError, OSError):
        return None


__all__ = [
    "class_names_of",
    "evaluate_images",
    "evaluate_run",
    "format_result",
    "sampler_report",
    "sampler_text",
]
