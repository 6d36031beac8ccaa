"""VAE benchmarks: genzoo ``vae`` beside the PyTorch examples VAE, and the best VAE in an hour.

Side by side (``--budget``, default 10 minutes of training each, in one process, one after the
other, the same threads):

  A. the PyTorch examples VAE (benchmarks/baselines/pytorch_examples_vae.py: 784-400-20 ReLU,
     BCE + KL, Adam 1e-3, batch 128, gray MNIST through a PIL/DataLoader pipeline);
  B. genzoo ``vae`` with the same layers (``--arch mlp --hidden 400 --latent-dim 20 --activation
     relu``), batch 128, lr 1e-3, on the same gray images, genzoo's defaults otherwise;
  C. the same genzoo model on dynamically binarized MNIST (``--data-binarize dynamic``), the
     likelihood literature's setting;
  D. (``--rows D``) genzoo ``vae`` with all its defaults (conv 32,64, latent 16), gray MNIST;
  E, F. (``--rows E`` / ``F``) larger MLP ``vae`` models (see ``GENZOO_ROWS``), gray MNIST.

Each is scored by the same code: FID of 10,000 samples (decoder means of z ~ N(0, I)) in
genzoo-mnist features against the gray test images; -log p(x) by the IWAE bound with k = 1000 on
the 10,000 test images binarized by one fixed draw (the set ``--data-binarize`` evaluates on),
-ELBO and active units; training images/s (all images seen / training wall time).

``--best MINUTES`` instead trains the best configuration found here (``BEST`` below) for that
long, checkpointing every ``--points`` th of the budget, and reports -log p(x) against training
minutes (k = 1000 on ``--curve-n`` test images per point, and on all 10,000 for the last).

    python benchmarks/bench_vae.py --data-root "$GENZOO_DATA" --threads 1 --budget 10 --out runs/bench-vae
    python benchmarks/bench_vae.py --data-root "$GENZOO_DATA" --threads 1 --best 60 --best-steps 65000 \
        --curve-n 1000 --out runs/bench-vae-best
    python benchmarks/bench_vae.py --data-root "$GENZOO_DATA" --threads 1 --speed 60 --speed-rounds 3 \
        --out runs/bench-vae-speed

``--curve RUN`` scores the kept checkpoints of a run trained elsewhere (e.g. by ``genzoo train
... --budget 60m --ckpt-every 5000 --keep-checkpoints 30``) the same way, into OUT/best.json and
OUT/best.png.

``--speed S`` times A and B alone, alternating rounds of S seconds (a busy moment hits both).
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
from machine import cpu_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baselines.pytorch_examples_vae import to_genzoo, train_examples_vae  # noqa: E402

import genzoo  # noqa: E402
from genzoo import config as cfgio  # noqa: E402
from genzoo import io  # noqa: E402
from genzoo.bench import measure_steps_per_s  # noqa: E402
from genzoo.data import DataConfig, load_dataset  # noqa: E402
from genzoo.eval.evaluate import draw_samples, evaluate_images  # noqa: E402
from genzoo.eval.likelihood import evaluate_likelihood  # noqa: E402
from genzoo.registry import get_model_class  # noqa: E402
from genzoo.train import RunSpec, TrainConfig, train  # noqa: E402

SAME_ARCH = {"arch": "mlp", "hidden": (400,), "latent_dim": 20, "activation": "relu"}
BEST = (  # model type, model config, train config: the best found within an hour on this CPU
    # (82.92 nats in 60 minutes, trained by the `genzoo train` command in docs/BENCHMARKS.md, "The
    # VampPrior in an hour"; before it: N(0, I), kl_warmup_steps 10,000, lr 1e-3, batch 128, 84.93)
    "beta-vae",
    {
        "arch": "mlp",
        "hidden": (1024, 512),
        "latent_dim": 50,
        "beta": 1.0,
        "kl_warmup_steps": 5_000,
        "prior": "vamp",
        "prior_components": 500,
    },
    {"lr": 2e-3, "batch_size": 256, "ema_decay": 0.999},
)


CURVE_KEYS = (
    "arch",
    "hidden",
    "latent_dim",
    "prior",
    "prior_components",
    "beta",
    "kl_warmup_steps",
    "iwae_k",
)


def make_spec(model_type: str, model: dict, data: DataConfig, threads: int, **train_kw: Any) -> RunSpec:
    cls = get_model_class(model_type)
    tc = {"log_every": 500, "image_every": 0, "threads": threads} | train_kw
    return RunSpec(
        model_type, cfgio.from_dict(cls.config_class, model), data, cfgio.from_dict(TrainConfig, tc)
    )


def train_for(spec: RunSpec, budget_s: float, run: Path, points: int = 1, steps: int | None = None) -> Path:
    """Train ``spec`` for ``budget_s`` seconds: ``steps``, else as many as a calibration run says fit
    (so the cosine schedule ends at the budget), stopped at the budget in any case; ``points``
    checkpoints kept. (A calibration on a busy machine underestimates the rate.)"""
    if steps is None:
        rate = measure_steps_per_s(spec, run.parent / f"{run.name}-calibration", steps=150)
        steps = max(points, int(rate * budget_s))
    tc = cfgio.replace(spec.train, steps=steps, ckpt_every=max(1, steps // points), keep_checkpoints=points)
    if run.exists():
        import shutil

        shutil.rmtree(run)
    return train(
        RunSpec(spec.model_type, spec.model, spec.data, tc), run, progress=True, time_limit_s=budget_s
    )


def scores(model, data: DataConfig, test_bin: torch.Tensor, n_ll: int, k: int) -> dict[str, Any]:
    """FID of 10,000 samples, and the likelihood block of genzoo eval on the binarized test images."""
    samples = draw_samples(model, 10_000, seed=0)
    fid = evaluate_images(samples, data)["samples"]["fid"]
    ll = evaluate_likelihood(model, test_bin[:n_ll], k=k, seed=0)
    return {"fid": fid} | {
        key: ll[key] for key in ("nll_nats", "neg_elbo_nats", "kl_nats", "active_units", "seconds")
    }


GENZOO_ROWS = {  # row -> (name, model config, data change, train config)
    "B": ("B. genzoo vae, same layers, gray MNIST", SAME_ARCH, {}, {"lr": 1e-3, "batch_size": 128}),
    "C": (
        "C. genzoo vae, same layers, dynamically binarized",
        SAME_ARCH,
        {"binarize": "dynamic"},
        {"lr": 1e-3, "batch_size": 128},
    ),
    "D": ("D. genzoo vae, its defaults (conv 32,64, latent 16), gray MNIST", {}, {}, {}),
    "E": (
        "E. genzoo vae, MLP 1024-512, latent 32, gray MNIST",
        {"arch": "mlp", "hidden": (1024, 512), "latent_dim": 32},
        {},
        {"lr": 1e-3, "batch_size": 128},
    ),
    "F": (
        "F. genzoo vae, MLP 1024-512, latent 50, gray MNIST, batch 256",
        {"arch": "mlp", "hidden": (1024, 512), "latent_dim": 50},
        {},
        {"lr": 2e-3, "batch_size": 256},
    ),
}


def side_by_side(args: argparse.Namespace, data: DataConfig, test_bin: torch.Tensor) -> list[dict[str, Any]]:
    rows = []
    budget = args.budget * 60
    train_x = load_dataset(data, "train")
    wanted = args.rows.split(",")
    if "A" in wanted:
        images = (train_x.x[:, 0] * 255).round().to(torch.uint8).numpy()  # the idx file's bytes again
        model, st = train_examples_vae(images, train_x.y.numpy(), budget, seed=0)
        rows.append(
            {
                "name": "A. PyTorch examples VAE (plain loop)",
                "images_per_s": st["images_per_s"],
                "epochs": st["epochs"],
            }
            | scores(to_genzoo(model), data, test_bin, args.n, args.k)
        )
        print(rows[-1], flush=True)
    for key in [w for w in wanted if w in GENZOO_ROWS]:
        name, model_cfg, data_change, tc = GENZOO_ROWS[key]
        reuse = dict(r.split("=", 1) for r in args.reuse)
        if key in reuse:  # a run trained elsewhere with this row's settings (e.g. by the continuity bench)
            run = Path(reuse[key])
        else:
            run = args.out / key
            d = cfgio.replace(data, **data_change) if data_change else data
            train_for(make_spec("vae", model_cfg, d, args.threads, **tc), budget, run)
        state = io.read_json(sorted((run / "checkpoints").glob("step-*"))[-1] / "state.json")
        seen = state["step"] * spec_batch(run)
        rows.append(
            {"name": name, "images_per_s": seen / state["train_seconds"], "epochs": seen / len(train_x)}
            | scores(genzoo.load(run), data, test_bin, args.n, args.k)
        )
        print(rows[-1], flush=True)
    return rows


def spec_batch(run: Path) -> int:
    return int(io.read_json(run / "config.json")["train"]["batch_size"])


def speed(args: argparse.Namespace, data: DataConfig) -> list[dict[str, Any]]:
    """Training images/s of A and B alone: ``--speed-rounds`` rounds of ``--speed`` seconds each,
    alternating, so that a busy moment of the machine hits both; the median per side."""
    train_x = load_dataset(data, "train")
    images = (train_x.x[:, 0] * 255).round().to(torch.uint8).numpy()
    rates: dict[str, list[float]] = {"A": [], "B": []}
    for r in range(args.speed_rounds):
        rates["A"].append(
            train_examples_vae(images, train_x.y.numpy(), args.speed, seed=r)[1]["images_per_s"]
        )
        spec = make_spec("vae", SAME_ARCH, data, args.threads, lr=1e-3, batch_size=128, seed=r)
        run = train_for(spec, args.speed, args.out / "speed-B", steps=10**7)
        state = io.read_json(sorted((run / "checkpoints").glob("step-*"))[-1] / "state.json")
        rates["B"].append(state["step"] * 128 / state["train_seconds"])
        print({k: [round(v) for v in vs] for k, vs in rates.items()}, flush=True)
    a, b = statistics.median(rates["A"]), statistics.median(rates["B"])
    return [{"rates": rates, "median_A": a, "median_B": b, "ratio_B_over_A": b / a}]


def best(args: argparse.Namespace, data: DataConfig, test_bin: torch.Tensor) -> list[dict[str, Any]]:
    model_type, model, tc = BEST
    run = args.out / "best"
    spec = make_spec(model_type, model, cfgio.replace(data, binarize="dynamic"), args.threads, **tc)
    train_for(spec, args.best * 60, run, points=args.points, steps=args.best_steps)
    return curve(run, args, test_bin)


def curve(run: Path, args: argparse.Namespace, test_bin: torch.Tensor) -> list[dict[str, Any]]:
    """-log p(x) (IWAE, k = ``args.k``) of each kept checkpoint of ``run``: on the first
    ``args.curve_n`` test images, and on all of them for the last checkpoint."""
    rows = []
    cks = sorted(ck for ck in (run / "checkpoints").glob("step-*") if ck.name != "step-0000000")
    if not cks:
        raise SystemExit(f"bench_vae: {run} has no checkpoints/step-* to score")
    for i, ck in enumerate(cks):
        state = io.read_json(ck / "state.json")
        n = len(test_bin) if i == len(cks) - 1 else args.curve_n
        ll = evaluate_likelihood(genzoo.load(ck), test_bin[:n], k=args.k, seed=0)
        rows.append(
            {"step": state["step"], "minutes": state["train_seconds"] / 60, "n": n}
            | {key: ll[key] for key in ("nll_nats", "neg_elbo_nats", "kl_nats", "active_units", "seconds")}
        )
        print(rows[-1], flush=True)
    return rows


def plot_curve(report: dict[str, Any], path: Path) -> None:
    """-log p(x) (IWAE, k as run) and -ELBO against training minutes, with the 88 and 95 nat lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, last = report["rows"][:-1], report["rows"][-1]  # the curve on --curve-n images; the end on all
    t = [r["minutes"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(
        t, [r["nll_nats"] for r in rows], "o-", label=f"-log p(x), IWAE k=1000, first {rows[0]['n']} test"
    )
    ax.plot(t, [r["neg_elbo_nats"] for r in rows], "s--", label=f"-ELBO, first {rows[0]['n']} test")
    ax.plot([last["minutes"]], [last["nll_nats"]], "D", color="C3", label=f"-log p(x), all {last['n']} test")
    ax.plot(
        [last["minutes"]],
        [last["neg_elbo_nats"]],
        "D",
        color="C1",
        mfc="none",
        label=f"-ELBO, all {last['n']}",
    )
    for y, text in ((88, "88 (target)"), (86.76, "86.76 (Burda et al., k=5000)")):
        ax.axhline(y, color="grey", lw=0.8, ls=":")
        ax.text(t[0], y, text, va="bottom", fontsize=8, color="grey")
    ax.set_xlabel("training minutes (1 thread)")
    ax.set_ylabel("nats (binarized MNIST test)")
    ax.set_title(f"best VAE: {report['config']}", fontsize=7)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--budget", type=float, default=10.0, help="minutes of training per side-by-side model")
    ap.add_argument("--rows", default="A,B,C", help="side-by-side rows to run: A to F")
    ap.add_argument("--reuse", action="append", default=[], metavar="ROW=RUN", help="score RUN as row B/C/D")
    ap.add_argument("--best", type=float, default=0.0, help="minutes for the best configuration instead")
    ap.add_argument("--best-steps", type=int, default=None, help="--best: steps (default: calibrated)")
    ap.add_argument("--points", type=int, default=6, help="--best: checkpoints on the curve")
    ap.add_argument("--curve-n", type=int, default=2000, help="--best: test images per curve point")
    ap.add_argument("--n", type=int, default=10_000, help="test images for -log p(x)")
    ap.add_argument("--k", type=int, default=1000, help="importance samples")
    ap.add_argument("--out", type=Path, default=Path("runs/bench-vae"))
    ap.add_argument("--speed", type=float, default=0.0, help="only time A and B: seconds per round")
    ap.add_argument("--speed-rounds", type=int, default=3)
    ap.add_argument("--curve", type=Path, default=None, help="only score the checkpoints of this run")
    ap.add_argument("--plot", type=Path, default=None, help="only redraw the curve of this best.json")
    args = ap.parse_args()
    if args.plot:
        report = io.read_json(args.plot)
        report.setdefault("config", " ".join(map(str, BEST[:2])))
        plot_curve(report, args.plot.with_suffix(".png"))
        return
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    data = DataConfig(name="mnist", root=args.data_root)
    test_bin = load_dataset(cfgio.replace(data, binarize="static"), "test").x  # the fixed test draw
    t0 = time.time()
    if args.speed:
        rows = speed(args, data)
    elif args.curve:
        rows = curve(args.curve, args, test_bin)
    elif args.best:
        rows = best(args, data, test_bin)
    else:
        rows = side_by_side(args, data, test_bin)
    report = {
        "command": "python " + " ".join(sys.argv),
        "date": datetime.date.today().isoformat(),
        "machine": f"{cpu_model()}, {torch.get_num_threads()} thread(s), torch {torch.__version__}",
        "wall_minutes": (time.time() - t0) / 60,
        "rows": rows,
    }
    if args.best:
        report["config"] = " ".join(map(str, BEST[:2]))
    if args.curve:
        cfg = io.read_json(args.curve / "config.json")
        model = {k: v for k, v in cfg["model"].items() if k in CURVE_KEYS}
        report["config"] = (
            f"{cfg['model_type']} {model} batch {cfg['train']['batch_size']} lr {cfg['train']['lr']}"
        )
    name = "speed.json" if args.speed else "best.json" if args.best or args.curve else "side_by_side.json"
    io.atomic_write_json(args.out / name, report)
    if (args.best or args.curve) and not args.speed:
        plot_curve(report, args.out / "best.png")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
