"""Normalizing-flow benchmarks: genzoo ``realnvp`` beside zuko's NSF and MAF on the toy 2-D sets, and
a RealNVP on dequantized MNIST against CPU minutes.

``toy``: for each toy set, genzoo ``realnvp`` (an MLP coupling flow, ``TOY_MODEL``, with affine and
with rational-quadratic spline couplings, ``--couplings``) trained by the genzoo trainer, and zuko's NSF and MAF (benchmarks/baselines/zuko_flows.py, 4 transforms, MADE
128-128) by a plain Adam loop: the same training points, the same steps and batch (256), Adam 1e-3
with a cosine decay, one thread, one after the other. Score: mean -log p(x) on the test split
(20,000 points, nats), its gap to the best of the three (nats) and, where the best NLL is
positive, the ratio. ``--plots`` also draws true density
(a 2-D histogram of 10^6 points of the generator) vs each learned density vs genzoo samples.

``mnist``: ``MNIST_MODEL`` trained for ``--minutes`` of wall time (steps from ``--steps``, the run
stopped at the budget in any case), a checkpoint every ``--minutes/--points``; ``score`` then gives
bits/dim on the test split (uniform-dequantization bound, one fixed draw, genzoo eval's arithmetic)
of every checkpoint: on ``--curve-n`` test images per point and on all 10,000 for the last.

    python benchmarks/bench_flows.py toy --steps 3000 --threads 1 --plots --out runs/bench-flows-toy
    python benchmarks/bench_flows.py mnist --data-root "$GENZOO_DATA" --minutes 60 --steps 36000 \
        --points 12 --threads 1 --out runs/bench-flows-mnist
    python benchmarks/bench_flows.py score --data-root "$GENZOO_DATA" --curve-n 10000 --out runs/bench-flows-mnist
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import torch
from machine import cpu_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baselines import zuko_flows  # noqa: E402

import genzoo  # noqa: E402
from genzoo import config as cfgio  # noqa: E402
from genzoo import io  # noqa: E402
from genzoo.data import DataConfig, load_dataset  # noqa: E402
from genzoo.data.toy2d import make_toy  # noqa: E402
from genzoo.eval.likelihood import evaluate_likelihood  # noqa: E402
from genzoo.registry import get_model_class  # noqa: E402
from genzoo.train import RunSpec, train, train_config_for  # noqa: E402

TOY_SETS = ("moons", "eight-gaussians", "rings", "swiss-roll")
TOY_MODEL = {"depth": 8, "hidden": 128, "blocks": 2, "actnorm": True}
MNIST_MODEL = (
    "realnvp",
    {"levels": 2, "depth": 4, "channels": 32, "blocks": 2},
    {"batch_size": 64, "lr": 1e-3},
)
IMG = Path(__file__).resolve().parents[1] / "docs" / "img" / "flows"


# ------------------------------------------------------------------------------------------ toy 2-D
def train_genzoo_toy(
    name: str, steps: int, threads: int, out: Path, coupling: str = "affine"
) -> tuple[Any, float]:
    run = out / f"{name}-realnvp" if coupling == "affine" else out / f"{name}-realnvp-{coupling}"
    shutil.rmtree(run, ignore_errors=True)
    tc = train_config_for(
        "realnvp", steps=steps, batch_size=256, lr=1e-3, warmup_steps=100, threads=threads,
        image_every=0, ckpt_every=steps, log_every=500, precision="fp32",
    )  # fmt: skip
    model_cfg = cfgio.from_dict(get_model_class("realnvp").config_class, TOY_MODEL | {"coupling": coupling})
    t0 = time.perf_counter()
    train(RunSpec("realnvp", model_cfg, DataConfig(name=name), tc), run, progress=False)
    return genzoo.load(run), time.perf_counter() - t0


def toy(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for name in args.sets:
        train_x, test_x = (load_dataset(DataConfig(name=name), s).x for s in ("train", "test"))
        res, flows = {}, {}
        for coupling in args.couplings:
            model, secs = train_genzoo_toy(name, args.steps, args.threads, args.out, coupling)
            who = "genzoo realnvp" if coupling == "affine" else f"genzoo realnvp {coupling}"
            nll = float(-model.log_likelihood(test_x).mean())
            res[who] = (nll, secs, sum(p.numel() for p in model.parameters()))
            flows[who] = model.log_likelihood
        for kind in ("nsf", "maf"):
            flow, secs = zuko_flows.train_flow(kind, train_x, args.steps, batch=256, lr=1e-3)
            res[f"zuko {kind}"] = (zuko_flows.test_nll(flow, test_x), secs, zuko_flows.n_params(flow))
            flows[f"zuko {kind}"] = lambda x, f=flow: zuko_flows.log_density(f, x)
        best = min(v[0] for v in res.values())
        for who, (nll, secs, n_par) in res.items():
            rows.append(
                {
                    "data": name,
                    "model": who,
                    "test_nll": round(nll, 4),
                    "gap_to_best_nats": round(nll - best, 4),
                }
                | {"ratio_to_best": round(nll / best, 4) if best > 0 else None}  # a ratio needs NLL > 0
                | {"train_seconds": round(secs, 1), "params": n_par}
            )
            print(rows[-1], flush=True)
        if args.plots:
            density_plot(name, flows, model, IMG / f"toy-{name}.png")
    return rows


def density_plot(
    name: str, flows: dict[str, Any], model: Any, path: Path, lim: float = 2.5, n: int = 200
) -> None:
    """True density (histogram of 10^6 generator points) | each learned density | genzoo samples."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    g = torch.linspace(-lim, lim, n)
    grid = torch.stack(torch.meshgrid(g, g, indexing="xy"), -1).reshape(-1, 2)  # (n*n, 2), x fastest
    pts = make_toy(name, "test", 1_000_000).x.numpy()
    fig, axes = plt.subplots(1, len(flows) + 2, figsize=(2.6 * (len(flows) + 2), 2.8))
    axes[0].hist2d(pts[:, 0], pts[:, 1], bins=n, range=[[-lim, lim], [-lim, lim]], density=True, cmap="magma")
    axes[0].set_title("true (histogram)", fontsize=9)
    for ax, (who, logp) in zip(axes[1:], flows.items(), strict=False):
        with torch.no_grad():
            dens = logp(grid).exp().reshape(n, n).numpy()
        ax.imshow(dens, origin="lower", extent=(-lim, lim, -lim, lim), cmap="magma")
        ax.set_title(who, fontsize=9)
    s = model.sample(5000, generator=torch.Generator().manual_seed(0)).numpy()
    axes[-1].scatter(s[:, 0], s[:, 1], s=1, c="tab:red", linewidths=0)
    axes[-1].set_xlim(-lim, lim)
    axes[-1].set_ylim(-lim, lim)
    axes[-1].set_title("genzoo samples", fontsize=9)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_aspect("equal")
    fig.suptitle(name, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------- MNIST
def _mnist_name(args: argparse.Namespace) -> str:
    """The MNIST run's folder and picture prefix: ``mnist`` (affine), ``mnist-spline``."""
    return "mnist" if args.couplings[0] == "affine" else f"mnist-{args.couplings[0]}"


def mnist(args: argparse.Namespace) -> None:
    model_type, model, tc = MNIST_MODEL
    run = args.out / _mnist_name(args)
    shutil.rmtree(run, ignore_errors=True)
    tcfg = train_config_for(
        model_type, steps=args.steps, ckpt_every=max(1, args.steps // args.points),
        keep_checkpoints=args.points + 1, threads=args.threads, image_every=0, log_every=200, **tc,
    )  # fmt: skip
    spec = RunSpec(
        model_type,
        cfgio.from_dict(get_model_class(model_type).config_class, model | {"coupling": args.couplings[0]}),
        DataConfig(name="mnist", root=args.data_root),
        tcfg,
    )
    train(spec, run, progress=False, time_limit_s=args.minutes * 60)


def score(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Bits/dim on the test split of every checkpoint of the MNIST run, against training minutes."""
    run = args.out / _mnist_name(args)
    test = load_dataset(DataConfig(name="mnist", root=args.data_root), "test").x
    cks = sorted((run / "checkpoints").glob("step-*"))
    rows = []
    for i, ck in enumerate(cks):
        state = io.read_json(ck / "state.json")
        n = len(test) if i == len(cks) - 1 else args.curve_n
        ll = evaluate_likelihood(genzoo.load(ck), test[:n], seed=0)
        rows.append(
            {"step": state["step"], "minutes": round(state["train_seconds"] / 60, 2), "n": n}
            | {k: ll[k] for k in ("bits_per_dim", "nll_nats", "seconds")}
        )
        print(rows[-1], flush=True)
    name = _mnist_name(args)
    plot_curve(rows, IMG / f"{name}-curve.png", f"genzoo realnvp {args.couplings[0]}")
    model = genzoo.load(cks[-1])
    from genzoo import viz

    for t in (1.0, 0.7):
        x = model.sample(64, generator=torch.Generator().manual_seed(0), temperature=t)
        viz.save_grid(viz.chunk_rows(x, 8), IMG / f"{name}-samples-t{t:g}.png")
    return rows


def plot_curve(rows: list[dict[str, Any]], path: Path, label: str = "genzoo realnvp") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([r["minutes"] for r in rows], [r["bits_per_dim"] for r in rows], "o-", label=label)
    ax.axhline(1.5, color="0.5", ls="--", lw=1, label="target 1.5")
    ax.axhline(1.06, color="0.7", ls=":", lw=1, label="RealNVP paper (GPU-days) 1.06")
    ax.set_xlabel("training minutes (1 CPU thread)")
    ax.set_ylabel("test bits/dim (dequantized bound)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=("toy", "mnist", "score"))
    p.add_argument("--out", type=Path, default=Path("runs/bench-flows"))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data-root", default=None)
    p.add_argument("--sets", nargs="+", default=list(TOY_SETS))
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--plots", action="store_true")
    p.add_argument(
        "--couplings", nargs="+", choices=("affine", "spline"), default=["affine", "spline"],
        help="toy: the genzoo couplings to train; mnist: the first is the MNIST flow's",
    )  # fmt: skip
    p.add_argument("--minutes", type=float, default=60.0)
    p.add_argument("--points", type=int, default=12)
    p.add_argument("--curve-n", type=int, default=2000)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    if args.mode == "mnist":
        return mnist(args)
    rows = toy(args) if args.mode == "toy" else score(args)
    report = {
        "mode": args.mode,
        "rows": rows,
        "threads": args.threads,
        "machine": cpu_model(),
        "date": datetime.date.today().isoformat(),
        "torch": torch.__version__,
        "wall_seconds": round(time.time() - started, 1),
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    (args.out / f"{args.mode}.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
