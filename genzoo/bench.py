"""``genzoo bench``: train every model for the same wall-clock budget, score it, and compare.

For each model: a short calibration run measures steps/s, the real run gets as many steps as fit
the budget (and a hard time limit), ``--evals`` checkpoints are kept and each is scored, giving
quality against training time. The machine's fp32 matmul throughput is measured in the same run,
and each model's training FLOP/s (counted with ``torch.utils.flop_counter``) is reported as a
share of it.
"""

from __future__ import annotations

import json
import math
import platform
import re
import shutil
import statistics
import time
from datetime import date
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from genzoo import __version__, io, progress
from genzoo import config as cfgio
from genzoo.data import DataConfig, TensorData, load_dataset
from genzoo.errors import ConfigError
from genzoo.eval.evaluate import draw_samples, evaluate_images
from genzoo.eval.features import Extractor, FeatureKind, check_device, choose_extractor
from genzoo.eval.reference import floor_note, real_floor
from genzoo.models import capabilities as caps
from genzoo.models.capabilities import Capability
from genzoo.registry import get_model_class, list_models
from genzoo.train import RunSpec, TrainConfig, train, train_config_for
from genzoo.train.budget import measure_steps_per_s, preset_for


def parse_duration(text: str) -> float:
    """'90s', '10m', '1.5h' or plain seconds -> seconds."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([smh]?)\s*", text)
    if not m:
        raise ConfigError(f"cannot read duration {text!r}; use e.g. 90s, 10m or 1h")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def matmul_flops(n: int = 1024, seconds: float = 2.0) -> float:
    """Measured fp32 FLOP/s of (n x n) @ (n x n) on this machine (2 n^3 FLOPs each)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    reps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        reps += 1
    return 2 * n**3 * reps / (time.perf_counter() - t0)


def flops_per_step(
    spec: RunSpec, shape: tuple[int, ...], x: torch.Tensor, y: torch.Tensor | None = None
) -> float:
    """FLOPs of one training step (forward + backward for every player) on batch (x, y)."""
    torch.manual_seed(0)
    model = get_model_class(spec.model_type)(spec.model, shape)
    counter = FlopCounterMode(display=False)
    with counter:
        for p in model.players:
            model.loss((x, y), p).loss.backward()
    return float(counter.get_total_flops())


def model_config(name: str, budget_s: float, data: DataConfig) -> tuple[Any, Any]:
    """(the model config ``genzoo train --budget`` would use for ``name`` on ``data``: the one measured
    for that budget, else the family's defaults; that preset or None)."""
    cls = get_model_class(name)
    preset = preset_for(name, budget_s, data.name)
    layer = preset.layer if preset else {}
    return cfgio.from_dict(cls.config_class, layer.get("model"), f"{name} config"), preset


def check_sample_options(
    models: list[str], options: dict[str, Any], budget_s: float, data: DataConfig, shape: tuple[int, ...]
) -> None:
    """Before any training: the iterative sampler's ``options`` (None values: not given) apply to at
    least one of ``models`` and each of those takes them (built with its bench config); one clear
    error otherwise. The other models sample as they always do."""
    given = {k: v for k, v in options.items() if v is not None}
    iterative = [m for m in models if m in caps.families_with(Capability.ITERATIVE)]
    if given and not iterative:
        flags = ", ".join(f"--{k}" for k in given)
        raise ConfigError(
            f"{flags} apply to models with an iterative sampler "
            f"({', '.join(caps.families_with(Capability.ITERATIVE))}); none of {', '.join(models)} has one"
        )
    for m in iterative if given else []:
        cfg, _ = model_config(m, budget_s, data)
        caps.iterative_options(get_model_class(m)(cfg, shape), given)


def bench_model(
    name: str,
    data: DataConfig,
    budget_s: float,
    work: Path,
    evals: int,
    n_eval: int,
    base: TrainConfig | None,
    ext: Extractor,
    train_set: TensorData,
    device: str = "cpu",
    sample_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train ``name`` for ``budget_s`` as ``genzoo train --budget`` would (the configuration
    measured for that budget on this data, else the family's defaults) and score ``evals``
    checkpoints; ``base``: the training settings (None: the family's own, e.g. a GAN's Adam 2e-4,
    batch 64, under the preset's); ``train_set``: the training split of ``data``, loaded once;
    ``sample_options``: how an iterative sampler draws the scored samples (sampler, steps, ...; a
    model that samples in one pass ignores them), recorded as ``sampler``."""
    model_cfg, preset = model_config(name, budget_s, data)
    layer = preset.layer if preset else {}
    if preset:
        print(f"bench: {name} in {budget_s:g} s: the configuration from {preset.evidence}")
    if base is None:
        base = train_config_for(name, **layer.get("train", {}))
    n_train = len(train_set)
    if n_train < base.batch_size:
        print(f"bench: {n_train} training examples, so batch size {n_train} instead of {base.batch_size}")
        base = cfgio.replace(base, batch_size=n_train)
    rate = measure_steps_per_s(RunSpec(name, model_cfg, data, base), work / f"{name}-calibration")
    steps = max(evals, int(rate * budget_s))
    tc = cfgio.replace(
        base, steps=steps, ckpt_every=max(1, steps // evals), keep_checkpoints=evals, image_every=0
    )
    spec = RunSpec(name, model_cfg, data, tc)
    run = work / name
    shutil.rmtree(run, ignore_errors=True)
    train(spec, run, progress=True, time_limit_s=budget_s)
    log = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    points, notes, sampler = [], [], None
    cks = sorted((run / "checkpoints").glob("step-*"))
    what = f"scoring {len(cks)} checkpoints of {name} on {n_eval:,} samples each"
    for ck in progress.track(cks, len(cks), f"bench {name} scores", "checkpoints", what=what):
        state = io.read_json(ck / "state.json")
        step, t = state["step"], state["train_seconds"]
        model = get_model_class(name).load(ck)
        opts = {}
        if caps.has(model, Capability.ITERATIVE):  # the sampler and steps of these scores
            opts = caps.iterative_options(model, sample_options or {})
            sampler = model.sampler_settings(**opts)
        samples = draw_samples(model, n_eval, **opts)
        if bool(torch.isfinite(samples).all()):
            result = evaluate_images(samples, data, features=ext, device=device)
            scores = result["samples"]
            notes += [n for n in result["feature_notes"] if n not in notes]
        else:  # a diverged checkpoint is a point on the curve, not the end of the bench
            scores = dict.fromkeys(("fid", "kid", "precision", "recall"), math.nan) | {"n_samples": n_eval}
        points.append(
            {"step": step, "train_s": t}
            | {k: scores[k] for k in ("fid", "kid", "precision", "recall", "n_samples")}
        )
    x = train_set.x[: base.batch_size]
    y = None if train_set.y is None else train_set.y[: base.batch_size]
    fps = flops_per_step(spec, x.shape[1:], x, y)
    train_rate = (
        statistics.median(r["steps_per_s"] for r in log[1:]) if len(log) > 1 else log[0]["steps_per_s"]
    )
    return {
        "model": name,
        "steps": points[-1]["step"],
        "steps_per_s": train_rate,
        "flops_per_step": fps,
        "points": points,
        "feature_notes": notes,
    } | ({"sampler": sampler} if sampler else {})


def write_report(results: list[dict], floor: dict, peak: float, meta: dict, out: Path) -> None:
    fn = f"{meta['features']} features"
    rows = [
        f"# genzoo bench: {meta['data']}, {meta['budget_s']:.0f} s per model",
        "",
        f"Command: `{meta['command']}`  ",
        f"Machine: {meta['machine']}; torch {meta['torch']} ({meta['threads']} threads); genzoo {__version__}; {meta['date']}.  ",
        f"Measured fp32 matmul throughput: {peak / 1e9:.1f} GFLOP/s.",
        "",
        f"| model | steps | train s | FID ({fn}) | KID | precision | recall | train GFLOP/s | share of matmul |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        p = r["points"][-1]
        gflops = r["flops_per_step"] * r["steps_per_s"] / 1e9
        s = r.get("sampler")  # an iterative sampler's name and steps beside the model's
        name = f"{r['model']} ({s['sampler']}, {s['steps']} steps)" if s else r["model"]
        rows.append(
            f"| {name} | {p['step']} | {p['train_s']:.0f} | {p['fid']:.2f} | {p['kid']:.4f} | {p['precision']:.3f} "
            f"| {p['recall']:.3f} | {gflops:.2f} | {100 * gflops * 1e9 / peak:.1f}% |"
        )
    rows.append(
        f"| real data (train subset) | - | - | {floor['fid']:.2f} | {floor['kid']:.4f} | {floor['precision']:.3f} | {floor['recall']:.3f} | - | - |"
    )
    n = results[0]["points"][-1]["n_samples"] if results else 0
    rows += [
        "",
        f"Scores from {n} samples against {floor['n_reference']} test images; the last row is the real-data floor.",
    ]
    rows += [f"Note: {n}." for n in meta.get("feature_notes", [])]
    if results:
        rows += ["", f"![quality against training time]({meta['plot']})"]
    io.atomic_write_bytes(out, ("\n".join(rows) + "\n").encode())


def plot(results: list[dict], floor: dict, path: Path, data: str, features: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for r in results:
        ax.plot(
            [p["train_s"] for p in r["points"]], [p["fid"] for p in r["points"]], marker="o", label=r["model"]
        )
    ax.axhline(floor["fid"], color="gray", ls="--", label="real data floor")
    ax.set(
        xlabel="training time (s)",
        ylabel=f"FID ({features} features)",
        yscale="log",
        title=f"{data}: quality vs time",
    )
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def models_for(shape: tuple[int, ...]) -> list[str]:
    """Every registered family that models data of this per-example shape (its ``data_ranks``)."""
    return [m for m in list_models() if len(shape) in get_model_class(m).data_ranks]


def run_bench(
    data: DataConfig,
    budget_s: float,
    models: list[str] | None,
    out: Path,
    work: Path,
    evals: int = 4,
    n_eval: int = 10_000,
    base: TrainConfig | None = None,
    command: str = "",
    features: FeatureKind = "auto",
    inception_weights: str | None = None,
    device: str = "cpu",
    sample_options: dict[str, Any] | None = None,
) -> list[dict]:
    """Bench ``models`` (None: every family that fits the data) on ``data`` for ``budget_s`` each and
    write the report ``out`` (plot and JSON beside it); ``sample_options``: the iterative sampler
    options (sampler, steps, eta, spacing, churn) the diffusion models' scores are drawn with."""
    check_device(device)
    train_set = load_dataset(data, "train")
    if models is None:
        models = models_for(train_set.info.shape)
    check_sample_options(models, sample_options or {}, budget_s, data, tuple(train_set.info.shape))
    ext = choose_extractor(features, data.name, inception_weights, train_set.info.shape)  # before training
    peak = matmul_flops()
    floor = real_floor(data, n_eval, ext, device)
    results = [
        bench_model(m, data, budget_s, work, evals, n_eval, base, ext, train_set, device, sample_options)
        for m in models
    ]
    # every caveat of the scores once, the floor's included (e.g. digits' 1500 training images)
    notes = list(ext.notes)
    for note in [n for r in results for n in r["feature_notes"]] + [floor_note(floor, n_eval)]:
        if note and note not in notes:
            notes.append(note)
    plot_path = out.with_suffix(".png")
    plot(results, floor, plot_path, data.name, ext.name)
    meta = {
        "data": data.name,
        "features": ext.name,
        "features_sha256": ext.sha256,
        "feature_notes": notes,
        "budget_s": budget_s,
        "command": command,
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "date": date.today().isoformat(),
        "plot": plot_path.name,
    }
    write_report(results, floor, peak, meta, out)
    io.atomic_write_json(
        out.with_suffix(".json"), {"meta": meta, "matmul_flops": peak, "floor": floor, "results": results}
    )
    return results
