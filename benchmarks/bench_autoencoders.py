"""Autoencoders on MNIST: conv AE vs PCA (test MSE/pixel), 2-D codes, DAE PSNR, throughput.

Trains three runs through the library (``ae`` latent 2, ``ae`` latent 32, ``dae`` gaussian:0.5),
reloads each with ``genzoo.load`` and measures it on the 10k MNIST test split; PCA is fitted
with scikit-learn on the 60k train split. Prints a markdown table and writes ``OUT/results.json``.

    python benchmarks/bench_autoencoders.py --data-root DIR --out runs/bench [--quick]

``--quick`` trains a few steps only (a smoke test, about a minute) and writes its figures under
``OUT/img`` instead of ``docs/img``.
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from machine import cpu_model
from PIL import Image

import genzoo
from genzoo import config as cfgio
from genzoo import viz
from genzoo.data import DataConfig, TensorData, load_dataset
from genzoo.eval.metrics import psnr  # per image, then averaged; peak 1.0
from genzoo.registry import get_model_class
from genzoo.train import RunSpec, TrainConfig, read_run_spec, train

REPO = Path(__file__).resolve().parents[1]
DAE_NOISE = "gaussian:0.5"
NOISE_SEED = 1234  # torch.Generator seed of the test-set corruption
N_SCATTER = 5000


@dataclass
class RunSetting:
    """One training run of the benchmark (the settings that differ from the library defaults)."""

    name: str
    model_type: str
    latent_dim: int
    steps: int
    loss: str
    lr: float
    noise: str | None = None

    def spec(self, data: DataConfig, quick: bool) -> RunSpec:
        """The RunSpec to train: library defaults except latent, loss, lr, steps (and noise)."""
        kw: dict[str, Any] = {"latent_dim": self.latent_dim, "loss": self.loss}
        if self.noise is not None:
            kw["noise"] = self.noise
        model_cfg = get_model_class(self.model_type).config_class(**kw)
        train_cfg = TrainConfig(
            steps=self.steps,
            lr=self.lr,
            batch_size=128,
            warmup_steps=min(100, self.steps // 10),
            log_every=5 if quick else 50,
            image_every=0 if quick else 500,
            ckpt_every=self.steps,
        )
        return RunSpec(self.model_type, model_cfg, data, train_cfg)


def describe(spec: RunSpec) -> str:
    """Short description of a run's settings, read back from its config."""
    m, t = spec.model, spec.train
    noise = f", noise {m.noise}" if hasattr(m, "noise") else ""
    return (
        f"{m.arch} channels {tuple(m.channels)}, loss {m.loss}, AdamW lr {t.lr:g} "
        f"({t.warmup_steps} warm-up, {t.schedule}), batch {t.batch_size}, seed {t.seed}{noise}"
    )


def run_record(run: Path, secs: float | None) -> dict[str, Any]:
    """What a finished run was trained with, read back from its config.json."""
    spec = read_run_spec(run)
    return {
        "run": str(run),
        "model_type": spec.model_type,
        "latent_dim": spec.model.latent_dim,
        "steps": spec.train.steps,
        "settings": describe(spec),
        "model_config": cfgio.to_dict(spec.model),
        "train_config": cfgio.to_dict(spec.train),
        "train_seconds": None if secs is None else round(secs, 1),
    }


def train_run(
    s: RunSetting, data: DataConfig, out: Path, *, quick: bool, reuse: bool
) -> tuple[Path, float | None]:
    """Train one run with genzoo.train (or reuse a finished one); returns (run dir, seconds or None)."""
    run = out / s.name
    if reuse and (run / "checkpoints" / "latest").is_file():
        print(f"[bench] reusing {run}", file=sys.stderr)
        return run, None
    if run.exists():
        raise SystemExit(f"{run} exists; remove it, choose another --out, or pass --reuse")
    print(
        f"[bench] training {s.name}: {s.model_type} latent {s.latent_dim}, {s.steps} steps", file=sys.stderr
    )
    t0 = time.perf_counter()
    train(s.spec(data, quick), run, progress=False)
    return run, time.perf_counter() - t0


@torch.no_grad()
def reconstruct(model: Any, x: torch.Tensor, chunk: int = 1000) -> torch.Tensor:
    """model.reconstruct over x (N, C, H, W) in chunks."""
    return torch.cat([model.reconstruct(c) for c in x.split(chunk)])


@torch.no_grad()
def encode(model: Any, x: torch.Tensor, chunk: int = 1000) -> torch.Tensor:
    """model.encode over x (N, C, H, W) in chunks -> (N, d)."""
    return torch.cat([model.encode(c) for c in x.split(chunk)])


def mse_per_pixel(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean squared error over all pixels and images."""
    return float(((a.double() - b.double()) ** 2).mean())


def pca_fit(train_x: np.ndarray, test_x: np.ndarray, k: int) -> tuple[float, np.ndarray]:
    """PCA(k) fitted on train (N, 784); returns (test MSE/pixel, test projections (M, k))."""
    from sklearn.decomposition import PCA

    pca = PCA(n_components=k, svd_solver="covariance_eigh").fit(train_x)
    codes = pca.transform(test_x)
    recon = pca.inverse_transform(codes)
    return float(((recon.astype(np.float64) - test_x) ** 2).mean()), codes


def median_throughput(run: Path) -> tuple[float, int]:
    """Median examples_per_s over the metrics.jsonl lines after the first; (median, lines used)."""
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip()]
    vals = [r["examples_per_s"] for r in lines[1:] if "examples_per_s" in r]
    return (statistics.median(vals) if vals else float("nan")), len(vals)


def scatter_codes(ae_codes: np.ndarray, pca_codes: np.ndarray, labels: np.ndarray, path: Path) -> None:
    """Side-by-side scatter of AE latent-2 codes and PCA-2 projections, coloured by digit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    fig, axes = plt.subplots(1, 2, figsize=(11, 5), dpi=100)
    cmap = plt.get_cmap("tab10")
    order = np.random.default_rng(0).permutation(len(labels))  # no digit is always drawn on top
    for ax, codes, title in (
        (axes[0], ae_codes, "conv AE, latent 2 (test set)"),
        (axes[1], pca_codes, "PCA, 2 components (test set)"),
    ):
        ax.scatter(codes[order, 0], codes[order, 1], s=2, c=cmap(labels[order]), rasterized=True)
        ax.set_title(title)
        ax.set_xlabel("z1")
        ax.set_ylabel("z2")
    handles = [
        Line2D([], [], marker="o", linestyle="", color=cmap(d), markersize=6, label=str(d)) for d in range(10)
    ]
    axes[1].legend(
        handles=handles, title="digit", loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False
    )
    fig.suptitle(f"MNIST 2-D codes, {len(labels)} test images")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    buf.seek(0)
    small = io.BytesIO()  # a 64-colour palette keeps the PNG small (tab10 + grey text)
    Image.open(buf).convert("RGB").quantize(colors=64).save(small, format="PNG", optimize=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(small.getvalue())


def markdown(results: dict[str, Any]) -> str:
    """The results as markdown tables."""
    out = [
        "| model | latent | steps | settings | test MSE/pixel | PCA MSE/pixel (same k) |",
        "| --- | ---: | ---: | --- | ---: | ---: |",
    ]
    for r in results["ae"]:
        out.append(
            f"| {r['model_type']} | {r['latent_dim']} | {r['steps']} | {r['settings']} | "
            f"{r['test_mse']:.4f} | {r['pca_mse']:.4f} |"
        )
    d = results["dae"]
    out += [
        "",
        f"DAE ({d['noise']}, latent {d['latent_dim']}, {d['steps']} steps): "
        "PSNR in dB, peak 1.0, per image then averaged over the 10k test images",
        "",
        "| input | PSNR vs clean (dB) | MSE/pixel |",
        "| --- | ---: | ---: |",
        f"| noisy input | {d['psnr_noisy']:.2f} | {d['mse_noisy']:.4f} |",
        f"| DAE restored | {d['psnr_restored']:.2f} | {d['mse_restored']:.4f} |",
        "",
        f"Throughput ae conv latent 32 batch 128: {results['throughput']['examples_per_s_median']:.0f} "
        f"images/s (median of {results['throughput']['log_lines']} log lines), "
        f"torch threads {results['machine']['torch_threads']}",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-root", default=None, help="holds mnist/ (default: $GENZOO_DATA)")
    p.add_argument("--out", type=Path, default=Path("runs/bench"), help="runs and results.json")
    p.add_argument("--img-dir", type=Path, default=None, help="figures (default: docs/img; quick: OUT/img)")
    p.add_argument("--quick", action="store_true", help="a few steps only: a smoke test")
    p.add_argument(
        "--reuse", action="store_true", help="evaluate finished runs under OUT instead of training"
    )
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    p.add_argument("--steps-latent2", type=int, default=2000)
    p.add_argument("--steps-latent32", type=int, default=1500)
    p.add_argument("--steps-dae", type=int, default=1000)
    p.add_argument("--loss", choices=("bce", "mse"), default="bce", help="reconstruction loss of all runs")
    p.add_argument("--lr", type=float, default=2e-3)
    args = p.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    t_all = time.perf_counter()
    img_dir = args.img_dir or (args.out / "img" if args.quick else REPO / "docs" / "img")
    n_steps = (20, 20, 20) if args.quick else (args.steps_latent2, args.steps_latent32, args.steps_dae)
    settings = [
        RunSetting("ae-latent2", "ae", 2, n_steps[0], args.loss, args.lr),
        RunSetting("ae-latent32", "ae", 32, n_steps[1], args.loss, args.lr),
        RunSetting("dae-gaussian05", "dae", 32, n_steps[2], args.loss, args.lr, DAE_NOISE),
    ]
    data = DataConfig(name="mnist", root=args.data_root)
    train_set: TensorData = load_dataset(data, "train")
    test_set: TensorData = load_dataset(data, "test")
    x_test, y_test = test_set.x, test_set.y
    assert y_test is not None

    runs: dict[str, tuple[Path, float | None]] = {
        s.name: train_run(s, data, args.out, quick=args.quick, reuse=args.reuse) for s in settings
    }

    print("[bench] PCA and evaluation", file=sys.stderr)
    flat_train = train_set.x.flatten(1).numpy().astype(np.float64)
    flat_test = x_test.flatten(1).numpy().astype(np.float64)
    results: dict[str, Any] = {
        "command": " ".join(
            ["python benchmarks/bench_autoencoders.py", *(sys.argv[1:] if argv is None else argv)]
        ),
        "date": datetime.date.today().isoformat(),
        "machine": {
            "cpu": cpu_model(),
            "cpu_count": torch.multiprocessing.cpu_count(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "genzoo": genzoo.__version__,
            "python": platform.python_version(),
        },
        "quick": args.quick,
        "ae": [],
    }
    ae2_codes = pca2_codes = None
    for s in settings[:2]:
        run, secs = runs[s.name]
        model = genzoo.load(run).eval()
        k = model.config.latent_dim
        pca_mse, pca_codes = pca_fit(flat_train, flat_test, k)
        recon = reconstruct(model, x_test)
        results["ae"].append(
            run_record(run, secs) | {"test_mse": mse_per_pixel(recon, x_test), "pca_mse": pca_mse}
        )
        if k == 2:
            ae2_codes, pca2_codes = encode(model, x_test).numpy(), pca_codes
        if k == 32:
            viz.save_grid([x_test[:10], recon[:10]], img_dir / "ae_mnist_latent32_recon.png")
            results["throughput"] = dict(
                zip(("examples_per_s_median", "log_lines"), median_throughput(run), strict=True)
            )
    assert ae2_codes is not None and pca2_codes is not None
    scatter_codes(
        ae2_codes[:N_SCATTER],
        pca2_codes[:N_SCATTER],
        y_test[:N_SCATTER].numpy(),
        img_dir / "ae_vs_pca_latent2.png",
    )

    s = settings[2]
    run, secs = runs[s.name]
    dae = genzoo.load(run).eval()
    noisy = dae.corrupt(x_test, torch.Generator().manual_seed(NOISE_SEED))  # whole set: chunk-independent
    restored = reconstruct(dae, noisy)
    results["dae"] = run_record(run, secs) | {
        "noise": dae.config.noise,
        "noise_seed": NOISE_SEED,
        "psnr_noisy": psnr(noisy, x_test),
        "psnr_restored": psnr(restored, x_test),
        "mse_noisy": mse_per_pixel(noisy, x_test),
        "mse_restored": mse_per_pixel(restored, x_test),
    }
    viz.save_grid([x_test[:10], noisy[:10], restored[:10]], img_dir / "dae_mnist_gaussian05.png")

    results["total_seconds"] = round(time.perf_counter() - t_all, 1)
    results["images"] = {
        k: str(img_dir / f)
        for k, f in (
            ("scatter", "ae_vs_pca_latent2.png"),
            ("recon", "ae_mnist_latent32_recon.png"),
            ("dae", "dae_mnist_gaussian05.png"),
        )
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(markdown(results))
    print(f"\nwrote {args.out / 'results.json'} in {results['total_seconds']:.0f} s")
    ok = all(r["test_mse"] < r["pca_mse"] for r in results["ae"])
    ok &= results["dae"]["psnr_restored"] > results["dae"]["psnr_noisy"]
    print("quality bar (AE below PCA, DAE above noisy input):", "met" if ok else "NOT met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
