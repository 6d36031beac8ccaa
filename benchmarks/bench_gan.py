"""DCGAN benchmarks: genzoo ``dcgan`` beside TensorFlow's DCGAN tutorial recipe, same CPU budget.

Rows (``--row``; each trains for ``--budget`` minutes of wall-clock time, then is scored; run two
rows at once with ``--threads 1`` each, one per core, so a pair shares the machine alike):

  tutorial       benchmarks/baselines/tf_tutorial_dcgan.py: the tutorial's networks, Adam 1e-4
                 (beta1 0.9), batch 256, simultaneous updates, plain PyTorch
  same-arch      genzoo ``dcgan`` with the tutorial's networks and optimiser settings (LeakyReLU G,
                 no batch norm in D, dropout 0.3, G 256-128-64, batch 256, Adam 1e-4, beta1 0.9,
                 no EMA), genzoo's alternating updates: the speed comparison
  genzoo         genzoo ``dcgan`` with its defaults (Radford et al.: ReLU G 128-64, batch-norm D
                 64-128, batch 64, Adam 2e-4, beta1 0.5, EMA 0.999 of the weights for sampling) and
                 ``--select-by fid`` every 500 steps: the quality comparison
  best           the same as genzoo, for ``--budget`` minutes (30), select-by fid every 1,000 steps:
                 FID of the best checkpoint and the step it came from

Every row is scored by the same code: 10,000 samples, FID / precision / recall / class coverage in
the dataset's shipped genzoo feature network against the 10,000 test images; images/s = images
trained on / training seconds. ``--report`` assembles the rows found in ``--out`` into a table
(markdown) with the ratios, and writes a grid of 64 samples of each row.

    python benchmarks/bench_gan.py --data-root "$GENZOO_DATA" --row tutorial --threads 1 --out runs/bench-gan &
    python benchmarks/bench_gan.py --data-root "$GENZOO_DATA" --row same-arch --threads 1 --out runs/bench-gan
    python benchmarks/bench_gan.py --out runs/bench-gan --report
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from machine import stamp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baselines.tf_tutorial_dcgan import sample as tutorial_sample  # noqa: E402
from baselines.tf_tutorial_dcgan import train_tutorial_dcgan  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

import genzoo  # noqa: E402
from genzoo import config as cfgio  # noqa: E402
from genzoo import io, viz  # noqa: E402
from genzoo.data import DataConfig, load_dataset  # noqa: E402
from genzoo.eval.evaluate import draw_samples, evaluate_images  # noqa: E402
from genzoo.registry import get_model_class  # noqa: E402
from genzoo.train import RunSpec, train, train_config_for  # noqa: E402

TUTORIAL_ARCH = {
    "latent_dim": 100,
    "channels": (64, 128),
    "g_channels": (256, 128, 64),
    "g_activation": "leaky-relu",
    "d_batch_norm": False,
    "d_dropout": 0.3,
}
TUTORIAL_TRAIN = {"batch_size": 256, "lr": 1e-4, "betas": (0.9, 0.999), "ema_decay": 0.0}
ROWS: dict[str, tuple[dict, dict]] = {  # genzoo rows: dcgan config, train config
    "same-arch": (TUTORIAL_ARCH, TUTORIAL_TRAIN | {"image_every": 0, "ckpt_every": 10**9}),
    "genzoo": ({}, {"select_by": "fid", "ckpt_every": 500, "image_every": 250}),
    "best": ({}, {"select_by": "fid", "ckpt_every": 1000, "image_every": 1000}),
}


def scores(x: torch.Tensor, data: DataConfig) -> dict[str, Any]:
    r = evaluate_images(x, data, features="genzoo")
    s = r["samples"]
    keys = ("fid", "precision", "recall", "class_coverage", "n_samples")
    return {k: s[k] for k in keys} | {"real_floor_fid": r["real_floor"]["fid"]}


def run_genzoo(row: str, args: argparse.Namespace, data: DataConfig) -> dict[str, Any]:
    model_cfg, train_cfg = ROWS[row]
    run = args.out / f"{data.name}-{row}"
    tc = train_config_for(
        "dcgan", steps=10**7, threads=args.threads, log_every=100, seed=args.seed, **train_cfg
    )
    spec = RunSpec("dcgan", cfgio.from_dict(get_model_class("dcgan").config_class, model_cfg), data, tc)
    train(spec, run, progress=False, time_limit_s=args.budget * 60)
    state = io.read_json(io.resolve_model_dir(run) / "state.json")
    out: dict[str, Any] = {
        "steps": state["step"],
        "seconds": state["train_seconds"],
        "images_per_s": state["step"] * tc.batch_size / state["train_seconds"],
        "run": str(run),
    }
    model = genzoo.load(run)
    out["latest"] = scores(draw_samples(model, 10_000, seed=0), data)
    viz.save_grid(
        list(model.sample(64, generator=torch.Generator().manual_seed(1)).split(8)),
        args.out / f"{data.name}-{row}.png",
    )
    if (run / "checkpoints" / "best").is_file():
        best_dir = io.resolve_model_dir(run, "best")
        best_state = io.read_json(best_dir / "state.json")
        best = genzoo.load(run, which="best")
        out["best"] = scores(draw_samples(best, 10_000, seed=0), data) | {
            "step": best_state["step"],
            "minutes": best_state["train_seconds"] / 60,
            "select_score": best_state["select"]["score"],
        }
        viz.save_grid(
            list(best.sample(64, generator=torch.Generator().manual_seed(1)).split(8)),
            args.out / f"{data.name}-{row}-best.png",
        )
    return out


def run_tutorial(args: argparse.Namespace, data: DataConfig) -> dict[str, Any]:
    train_x = load_dataset(data, "train").x  # (N, 1, 28, 28) in [0, 1], from the uint8 files
    images = (train_x[:, 0] * 255).round().to(torch.uint8).numpy()
    gen, stats = train_tutorial_dcgan(images, args.budget * 60, seed=args.seed)
    save_file(gen.state_dict(), args.out / f"{data.name}-tutorial-generator.safetensors")
    viz.save_grid(list(tutorial_sample(gen, 64, seed=1).split(8)), args.out / f"{data.name}-tutorial.png")
    viz.save_grid(
        list(tutorial_sample(gen, 64, seed=1, batch=64, batch_stats=True).split(8)),
        args.out / f"{data.name}-tutorial-batch-stats.png",
    )
    return stats | {  # as the tutorial samples (moving averages), and normalised by batch statistics
        "latest": scores(tutorial_sample(gen, 10_000, seed=0), data),
        "batch_stats": scores(tutorial_sample(gen, 10_000, seed=0, batch_stats=True), data),
    }


def report(out: Path) -> str:
    rows = {p.stem: json.loads(p.read_text()) for p in sorted(out.glob("*.json"))}
    lines = [
        "| data | row | minutes | steps | images/s | FID | precision | recall | class coverage |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows.values():
        for which in ("latest", "best", "batch_stats"):
            if which not in r:
                continue
            s = r[which]
            label = (
                r["row"]
                + {
                    "latest": "",
                    "best": f" (best: step {s.get('step')}, {s.get('minutes', 0):.1f} min)",
                    "batch_stats": " (sampled with batch statistics)",
                }[which]
            )
            lines.append(
                f"| {r['data']} | {label} | {r['seconds'] / 60:.1f} | {r['steps']} | {r['images_per_s']:.0f} | "
                f"{s['fid']:.2f} | {s['precision']:.3f} | {s['recall']:.3f} | {s['class_coverage']:.3f} |"
            )
    for data in sorted({r["data"] for r in rows.values()}):
        by = {r["row"]: r for r in rows.values() if r["data"] == data}
        if "tutorial" in by and "same-arch" in by:
            lines.append(
                f"\n{data}: images/s same-arch / tutorial = "
                f"{by['same-arch']['images_per_s'] / by['tutorial']['images_per_s']:.2f}x"
            )
        if "tutorial" in by and "genzoo" in by:
            lines.append(
                f"{data}: FID genzoo / tutorial = {by['genzoo']['latest']['fid'] / by['tutorial']['latest']['fid']:.2f}x"
            )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--row", choices=("tutorial", *ROWS))
    p.add_argument("--data", default="mnist", choices=("mnist", "fashion-mnist"))
    p.add_argument("--data-root", default=None)
    p.add_argument("--budget", type=float, default=10.0, help="training minutes")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("runs/bench-gan"))
    p.add_argument("--report", action="store_true", help="print the table of the rows in --out")
    args = p.parse_args()
    if args.report:
        print(report(args.out))
        return
    if args.row is None:
        p.error("give --row or --report")
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    data = DataConfig(name=args.data, root=args.data_root)
    t0 = time.time()
    result = run_tutorial(args, data) if args.row == "tutorial" else run_genzoo(args.row, args, data)
    result |= {
        "row": args.row,
        "data": args.data,
        "budget_minutes": args.budget,
    } | stamp(args.threads, t0)
    (args.out / f"{args.data}-{args.row}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
