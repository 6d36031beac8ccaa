"""Diffusion sampling speed by torch threads and batch size: network evaluations x images per second.

    python benchmarks/bench_sample_speed.py --threads 1 2 --batches 50 100 200 400 --out speed.json

The default ``ddpm`` U-Net (untrained: the cost does not depend on the weights) on MNIST's 1x28x28
(until 2026-12-04 the 32-channel U-Net with attention, which docs/diffusion.md's table measured),
DPM-Solver++ at 10 steps on ``--n`` images per setting, best of ``--rounds``; the batch is
``genzoo.models.diffusion.SAMPLE_BATCH``, the batch ``genzoo sample`` draws in.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from machine import stamp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import genzoo.models.diffusion as diffusion  # noqa: E402
from genzoo.registry import get_model_class  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--batches", type=int, nargs="+", default=[50, 100, 200, 400])
    p.add_argument("--n", type=int, default=400)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    t0 = time.time()
    cls = get_model_class("ddpm")
    model = cls(cls.config_class(), shape=(1, 28, 28)).eval()
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for batch in args.batches:
            diffusion.SAMPLE_BATCH = batch
            model.sample(batch, seeds=range(batch), sampler="dpm++", steps=2)  # warm up
            best = 0.0
            for _ in range(args.rounds):
                start = time.perf_counter()
                model.sample(args.n, seeds=range(args.n), sampler="dpm++", steps=args.steps)
                best = max(best, args.n * args.steps / (time.perf_counter() - start))
            rows.append({"threads": threads, "batch": batch, "nfe_images_per_s": round(best, 1)})
            print(rows[-1], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": rows} | stamp(max(args.threads), t0), indent=2) + "\n")


if __name__ == "__main__":
    main()
