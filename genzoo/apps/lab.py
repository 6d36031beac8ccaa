"""The lab (``genzoo lab``, ``make demo``): train the four lab models on the embedded digits and write
one static report a person opens, ``index.html``, with the pictures beside it as PNG files.

For each model (autoencoder, denoising autoencoder, VAE, DCGAN): its samples at three steps (the
lecture's strip, at 70%, 90% and 100% of its steps: checkpoints kept by training), its
reconstructions or denoising rows where it has an encoder, and its scores from ``genzoo eval``
(FID in the shipped digits features; -log p(x) by the IWAE bound for the VAE), each picture and
score beside the command that reproduces it. The pictures are drawn as ``genzoo sample``,
``reconstruct`` and ``denoise`` draw them (same seeds, same test images), so those commands give
the same files. Nothing here is downloaded: digits ship with scikit-learn, the feature network
with genzoo.
"""

from __future__ import annotations

import html
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from genzoo import latent, viz
from genzoo.errors import ConfigError
from genzoo.models import capabilities as caps
from genzoo.models.capabilities import Capability

# name (the run's folder) -> (family, what it is, model settings). Small networks: on 8x8 digits
# they learn in hundreds of steps; the step counts are set so that the four fit one minute on
# 2 CPU cores after install (docs/lab.md has the measured split).
LAB_MODELS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "ae": ("ae", "autoencoder", {"arch": "mlp", "hidden": (256, 128), "latent_dim": 16}),
    "dae": (
        "dae",
        "denoising autoencoder (Gaussian noise, std 0.5)",
        {"arch": "mlp", "hidden": (256, 128), "latent_dim": 16, "noise": "gaussian:0.5"},
    ),
    "vae": (
        "vae",
        "variational autoencoder (Bernoulli decoder)",
        {"arch": "mlp", "hidden": (256, 128), "latent_dim": 8},
    ),
    "dcgan": ("dcgan", "DCGAN", {"latent_dim": 32, "channels": (16, 32), "g_channels": (32, 16)}),
}
# training steps of each at budget 1 (multiples of 10, so the strip's 70% and 90% are checkpoints)
LAB_STEPS: dict[str, int] = {"ae": 600, "dae": 600, "vae": 800, "dcgan": 1000}
STRIP = (0.7, 0.9, 1.0)  # the strip's steps as shares of the training steps
N_SAMPLES = 36  # samples per picture, a 6x6 grid (seeds 0..35, as `genzoo sample -n 36`)
N_ROWS = 10  # test images in the reconstruction / denoising rows (`genzoo reconstruct -n 10`)
EVAL_N = 1000  # samples scored for FID (`genzoo eval --n`); the digits test split has 297 images
IWAE_K = 100  # importance samples of the VAE's -log p(x) bound on the 297 test images


@dataclass
class Picture:
    file: str  # relative to the report's folder
    caption: str
    command: str


@dataclass
class LabModel:
    name: str
    model_type: str
    what: str
    steps: int
    train_seconds: float
    report_seconds: float
    cpu_seconds: float  # CPU time of training, pictures and scores (wall time on an idle machine)
    strip: list[Picture] = field(default_factory=list)
    rows: list[Picture] = field(default_factory=list)  # reconstructions / denoising
    scores: dict[str, Any] = field(default_factory=dict)  # genzoo eval's result
    eval_command: str = ""


@dataclass
class LabReport:
    out: Path
    index: Path
    models: list[LabModel]
    seconds: float
    command: str

    @property
    def runs(self) -> list[Path]:
        return [self.out / m.name for m in self.models]

    def explore_command(self) -> str:
        return "genzoo explore " + " ".join(str(r) for r in self.runs)

    def split(self) -> str:
        """Seconds per model, training + pictures and scores, and the CPU time of both, e.g.
        'ae 8.1 + 1.2 s (CPU 9.0 s), ...'."""
        return ", ".join(
            f"{m.name} {m.train_seconds:.1f} + {m.report_seconds:.1f} s (CPU {m.cpu_seconds:.1f} s)"
            for m in self.models
        )


def lab_steps(budget: float) -> dict[str, int]:
    """Each model's training steps at ``budget`` (a multiple of the demo's steps), rounded to a
    multiple of 10 and at least 10."""
    if not (math.isfinite(budget) and budget > 0):
        raise ConfigError(
            f"the lab budget must be a number > 0 (a multiple of the demo's steps), got {budget}"
        )
    return {name: max(10, round(steps * budget / 10) * 10) for name, steps in LAB_STEPS.items()}


def _train(name: str, steps: int, out: Path, threads: int) -> float:
    from genzoo.train import train
    from genzoo.train.run import run_spec

    model_type, _, model_cfg = LAB_MODELS[name]
    every = steps // 10
    spec = run_spec(
        model_type,
        {
            "model": dict(model_cfg),
            "data": {"name": "digits"},
            "train": {
                "steps": steps,
                "ckpt_every": every,
                "keep_checkpoints": 4,  # 70%, 80%, 90%, 100%
                "image_every": every,
                "log_every": every,
                "warmup_steps": min(100, every),
                "precision": "fp32",  # bf16 autocast is slower than fp32 for networks this small
                "threads": threads,
            },
        },
    )
    t0 = time.perf_counter()
    train(spec, out, progress=False)
    return time.perf_counter() - t0


@torch.no_grad()
def _pictures(name: str, run_dir: Path, root: Path, steps: int) -> tuple[list[Picture], list[Picture]]:
    """The strip (samples at 70/90/100% of the steps) and the reconstruction/denoising rows."""
    from genzoo.run import Run

    run = Run(run_dir)
    rel = run_dir.relative_to(root) if run_dir.is_relative_to(root) else run_dir
    strip = []
    for share in STRIP:
        step = round(steps * share)
        ckpt = run.checkpoint_dir(step)
        model = run.model(step)
        x = model.sample(N_SAMPLES, seeds=range(N_SAMPLES))  # as `genzoo sample -n 32 --seed 0`
        f = run_dir / f"samples-step-{step}.png"
        viz.save_rows(viz.chunk_rows(x, math.ceil(math.sqrt(N_SAMPLES))), f)
        strip.append(
            Picture(
                str(rel / f.name),
                f"step {step} ({share:.0%})",
                f"genzoo sample {ckpt} -n {N_SAMPLES} -o {f}",
            )
        )
    model = run.model()
    rows = []
    if caps.has(model, Capability.ENCODER):
        x = run.data("test").x[:N_ROWS]
        if caps.has(model, Capability.DENOISER):  # as `genzoo denoise RUN -n 10 --seed 0`
            noisy = model.corrupt(x, torch.Generator().manual_seed(0))
            f = run_dir / "denoise.png"
            viz.save_rows([x, noisy, latent.reconstruct(model, noisy)], f)
            rows.append(
                Picture(
                    str(rel / f.name),
                    "test images, corrupted, restored",
                    f"genzoo denoise {run_dir} -n {N_ROWS} -o {f}",
                )
            )
        f = run_dir / "reconstructions.png"
        viz.save_rows([x, latent.reconstruct(model, x)], f)
        rows.append(
            Picture(
                str(rel / f.name),
                "test images above, reconstructions below",
                f"genzoo reconstruct {run_dir} -n {N_ROWS} -o {f}",
            )
        )
    return strip, rows


def run_lab(
    out: str | Path = "runs/lab",
    *,
    budget: float = 1.0,
    models: Sequence[str] = tuple(LAB_MODELS),
    eval_n: int = EVAL_N,
    iwae_k: int = IWAE_K,
    threads: int = 1,
    log: Callable[[str], None] | None = None,
) -> LabReport:
    """Train ``models`` (of LAB_MODELS) on digits into ``out/<name>``, draw and score them, and write
    ``out/index.html``. ``budget`` multiplies every model's steps (1: the demo's, about a minute on
    2 cores); ``threads``: torch threads per training (1 is fastest for these small networks).
    ``log`` is told each model's line as it finishes."""
    from genzoo.eval.evaluate import evaluate_run

    unknown = [m for m in models if m not in LAB_MODELS]
    if unknown or not models:
        raise ConfigError(
            f"models {','.join(models) or '(none)'}: unknown {', '.join(unknown) or 'none given'}; "
            f"the lab trains {', '.join(LAB_MODELS)}"
        )
    steps = lab_steps(budget)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} is a file; the lab writes a folder")
    for name in models:  # a folder in the way is an error before any training
        run_dir = out / name
        if run_dir.exists() and (
            not run_dir.is_dir() or (any(run_dir.iterdir()) and not (run_dir / "config.json").is_file())
        ):
            raise ConfigError(f"{run_dir} exists and is not a run; the lab writes its {name} run there")
    t_all = time.perf_counter()
    done = []
    for name in models:
        model_type, what, _ = LAB_MODELS[name]
        run_dir = out / name
        if run_dir.exists():  # a fresh run each time (training refuses a folder that holds one)
            import shutil

            shutil.rmtree(run_dir)
        cpu = time.process_time()
        seconds = _train(name, steps[name], run_dir, threads)
        t0 = time.perf_counter()
        strip, rows = _pictures(name, run_dir, out, steps[name])
        k = iwae_k if name == "vae" else None
        scores = evaluate_run(run_dir, n=eval_n, iwae_k=k)
        eval_cmd = f"genzoo eval {run_dir} --n {eval_n}" + (f" --iwae-k {k}" if k else "")
        m = LabModel(
            name,
            model_type,
            what,
            steps[name],
            seconds,
            time.perf_counter() - t0,
            time.process_time() - cpu,
            strip,
            rows,
            scores,
            eval_cmd,
        )
        done.append(m)
        if log:
            log(f"{name}: {steps[name]} steps in {seconds:.1f} s; {score_line(m)}")
    seconds = time.perf_counter() - t_all
    cmd = "genzoo lab --out " + str(out) + (f" --budget {budget:g}" if budget != 1 else "")
    report = LabReport(out, out / "index.html", done, seconds, cmd)
    write_html(report)
    return report


def fid_of(m: LabModel) -> float | None:
    s = m.scores.get("samples") or {}
    return s.get("fid")


def score_line(m: LabModel) -> str:
    parts = []
    if (fid := fid_of(m)) is not None:
        parts.append(f"FID {fid:.2f}")
    if ll := m.scores.get("likelihood"):
        parts.append(f"-log p(x) {ll['nll_nats']:.2f} nats ({ll['bits_per_dim']:.3f} bits/dim)")
    if rec := m.scores.get("reconstruction"):
        parts.append(f"reconstruction MSE {rec['mse']:.4f}")
    return ", ".join(parts) or "no scores"


# ------------------------------------------------------------------------------------ the page
_CSS = """
body { font-family: system-ui, sans-serif; max-width: 70em; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
table { border-collapse: collapse; } td, th { padding: 0.3em 0.8em; border-bottom: 1px solid #eee; text-align: left; }
th { background: #f6f6f6; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { display: inline-block; margin: 0 1.2em 1em 0; vertical-align: top; }
figure img { image-rendering: pixelated; border: 1px solid #ccc; }
figcaption { font-size: 0.9em; color: #555; }
code, pre { background: #f6f6f6; font-size: 0.85em; } pre { padding: 0.5em; overflow-x: auto; }
.note { color: #666; font-size: 0.9em; }
"""


def _e(s: object) -> str:
    return html.escape(str(s))


def _figure(p: Picture) -> str:
    return (
        f'<figure><img src="{_e(p.file)}" alt="{_e(p.caption)}">'
        f"<figcaption>{_e(p.caption)}</figcaption></figure>"
    )


def _scores_table(m: LabModel) -> str:
    s, floor = m.scores.get("samples"), m.scores.get("real_floor")
    rows = []
    if s:
        fn = m.scores.get("feature_net", "")
        rows.append(
            (
                "FID",
                f"{s['fid']:.2f}",
                f"{floor['fid']:.2f}" if floor else "",
                f"{s['n_samples']} samples vs {s['n_reference']} test images in {fn} features; lower is better",
            )
        )
        rows.append(
            (
                "precision / recall",
                f"{s['precision']:.2f} / {s['recall']:.2f}",
                f"{floor['precision']:.2f} / {floor['recall']:.2f}" if floor else "",
                "higher is better, 0 to 1",
            )
        )
    if ll := m.scores.get("likelihood"):
        bound = f"IWAE bound, k={ll['k']}, " if "k" in ll else ""
        rows.append(
            (
                "-log p(x)",
                f"{ll['nll_nats']:.2f} nats",
                "",
                f"{ll['bits_per_dim']:.3f} bits/dim ({bound}{ll['n']} test images); lower is better",
            )
        )
        if "neg_elbo_nats" in ll:
            rows.append(
                (
                    "-ELBO",
                    f"{ll['neg_elbo_nats']:.2f} nats",
                    "",
                    f"reconstruction {ll['recon_nats']:.2f} + KL {ll['kl_nats']:.2f}",
                )
            )
    if rec := m.scores.get("reconstruction"):
        rows.append(
            (
                "reconstruction MSE",
                f"{rec['mse']:.4f}",
                "",
                f"per pixel, {rec['n']} test images; lower is better",
            )
        )
    body = "".join(
        f"<tr><td>{_e(a)}</td><td class=num>{_e(b)}</td><td class=num>{_e(c)}</td><td>{_e(d)}</td></tr>"
        for a, b, c, d in rows
    )
    return (
        f"<table><tr><th>score</th><th>model</th><th>real data</th><th>how to read it</th></tr>{body}</table>"
    )


def write_html(report: LabReport) -> Path:
    """``report.index``: a static page (no server, no scripts); pictures linked relatively."""
    from genzoo import __version__, io

    def cell(v: float | None) -> str:
        return "" if v is None else f"{v:.2f}"

    summary = "".join(
        f"<tr><td><a href='#{_e(m.name)}'>{_e(m.name)}</a></td><td>{_e(m.what)}</td><td class=num>{m.steps}</td>"
        f"<td class=num>{m.train_seconds:.1f}</td><td class=num>{m.report_seconds:.1f}</td>"
        f"<td class=num>{cell(fid_of(m))}</td>"
        f"<td class=num>{cell((m.scores.get('likelihood') or {}).get('nll_nats'))}</td></tr>"
        for m in report.models
    )
    sections = []
    for m in report.models:
        cmds = (
            [f"genzoo info {report.out / m.name}"] + [p.command for p in m.strip + m.rows] + [m.eval_command]
        )
        sections.append(
            f"<h2 id='{_e(m.name)}'>{_e(m.name)}: {_e(m.what)}</h2>"
            f"<p>{m.steps} steps, trained in {m.train_seconds:.1f} s; run folder <code>{_e(report.out / m.name)}</code>.</p>"
            "<h3>Samples at three steps</h3>"
            + "".join(_figure(p) for p in m.strip)
            + ("<h3>Reconstructions</h3>" + "".join(_figure(p) for p in m.rows) if m.rows else "")
            + "<h3>Scores</h3>"
            + _scores_table(m)
            + "<h3>Reproduce</h3><pre>"
            + _e("\n".join(cmds))
            + "</pre>"
        )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>genzoo lab</title><style>{_CSS}</style></head>
<body>
<h1>genzoo lab</h1>
<p>Four generative models trained on the embedded 8x8 digits (1500 train / 297 test images) in
{report.seconds:.0f} s, by <code>{_e(report.command)}</code> (genzoo {_e(__version__)}). Samples are drawn
from seeds 0..{N_SAMPLES - 1} at 70%, 90% and 100% of each model's steps; FID is measured in the
features of genzoo's shipped digits classifier (not comparable with Inception FID), beside what real
training images score.</p>
<table><tr><th>run</th><th>model</th><th>steps</th><th>train s</th><th>pictures + scores s</th>
<th>FID</th><th>-log p(x) nats</th></tr>{summary}</table>
<p>Explore the runs: <code>{_e(report.explore_command())}</code></p>
{"".join(sections)}
<p class=note>Written by genzoo.apps.lab.run_lab; the pictures are the PNG files beside this page.</p>
</body></html>
"""
    io.atomic_write_bytes(report.index, page.encode())
    return report.index


__all__ = ["LAB_MODELS", "LAB_STEPS", "LabModel", "LabReport", "lab_steps", "run_lab", "write_html"]
