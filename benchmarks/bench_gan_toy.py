"""Mode collapse made visible: the three generator losses on eight-gaussians and rings.

For each dataset and loss (minimax, ns, hinge) and each of ``--seeds`` seeds, ``gan`` (MLP G and
D, hidden 128-128, latent 2, batch 256, Adam 1e-3 / beta1 0.5) trains ``--steps`` steps with a
real-vs-generated scatter every ``--steps / 4`` (progress/step-N.png); then 2,000 samples give the
modes covered (>= 1% of samples within 3 std of a mode) and the share of high-quality samples
(within 3 std of any mode), genzoo.eval.modes. Writes a markdown table (mean and per-seed) and,
for seed 0, the progress strip of every run.

    python benchmarks/bench_gan_toy.py --steps 2000 --seeds 3 --out runs/bench-gan-toy
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import sys
import time
from pathlib import Path

import torch
from machine import cpu_model

import genzoo
from genzoo import config as cfgio
from genzoo import viz
from genzoo.data import DataConfig
from genzoo.eval.modes import mode_coverage
from genzoo.registry import get_model_class
from genzoo.train import RunSpec, train, train_config_for

DATASETS = ("eight-gaussians", "rings")
LOSSES = ("minimax", "ns", "hinge")
MODEL = {"latent_dim": 2, "hidden": (128, 128)}


def one_run(data: str, loss: str, seed: int, steps: int, out: Path) -> dict:
    run = out / f"{data}-{loss}-seed{seed}"
    shutil.rmtree(run, ignore_errors=True)
    tc = train_config_for(
        "gan", steps=steps, batch_size=256, lr=1e-3, ema_decay=0.0, seed=seed, threads=1,
        image_every=steps // 4, ckpt_every=steps, log_every=100,
    )  # fmt: skip
    spec = RunSpec(
        "gan",
        cfgio.from_dict(get_model_class("gan").config_class, MODEL | {"loss": loss}),
        DataConfig(name=data),
        tc,
    )
    t0 = time.perf_counter()
    train(spec, run, progress=False)
    seconds = time.perf_counter() - t0
    points = genzoo.load(run).sample(2000, generator=torch.Generator().manual_seed(0))
    result = mode_coverage(points, data) | {"seconds": round(seconds, 1)}
    if seed == 0:
        viz.save_progress(run, out / f"{data}-{loss}.png")
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--out", type=Path, default=Path("runs/bench-gan-toy"))
    args = p.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    results = {}
    lines = [
        "| data | G loss | modes covered (mean; per seed) | high-quality samples (mean; per seed) |",
        "|---|---|---|---|",
    ]
    for data in DATASETS:
        for loss in LOSSES:
            rs = [one_run(data, loss, s, args.steps, args.out) for s in range(args.seeds)]
            results[f"{data}/{loss}"] = rs
            n_modes = rs[0]["n_modes"]
            covered = [r["modes_covered"] for r in rs]
            hq = [r["high_quality"] for r in rs]
            lines.append(
                f"| {data} | {loss} | {sum(covered) / len(rs):.1f} of {n_modes}; {', '.join(map(str, covered))} | "
                f"{100 * sum(hq) / len(rs):.1f}%; {', '.join(f'{100 * h:.1f}%' for h in hq)} |"
            )
            print(lines[-1], flush=True)
    meta = {
        "steps": args.steps,
        "seeds": args.seeds,
        "machine": cpu_model(),
        "date": datetime.date.today().isoformat(),
    }
    (args.out / "results.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    (args.out / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
