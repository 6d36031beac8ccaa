"""FID of a short DDPM run's raw weights vs its EMA weights, with and without the EMA warm-up.

    GENZOO_DATA=/work/shared/data python scripts/ema_short_run.py --steps 60 --n 500 --out /tmp/ema-measure

Trains ``ddpm --data mnist --steps N`` once, keeping genzoo's EMA (warm-up
d_t = min(d, (1 + t) / (10 + t))) and beside it one with a constant d (no warm-up, the
"before"), then scores n samples (dpm++, 20 steps, seeds 0..n-1) of the raw weights and of each EMA by the shipped MNIST feature net's FID (docs/training.md, "EMA")."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import genzoo
from genzoo.data import DataConfig
from genzoo.eval.evaluate import evaluate_images
from genzoo.models.diffusion import DDPMConfig
from genzoo.train import RunSpec, train, train_config_for
from genzoo.train.ema import EMA

CONSTANT: dict[str, torch.Tensor] = {}


def both_updates(self, model, step):
    """genzoo's EMA (with warm-up) and, beside it, one with a constant decay (the "before")."""
    with torch.no_grad():
        for k, v in model.state_dict().items():
            s = CONSTANT.setdefault(k, self.shadow[k].clone())  # the same initial weights
            s.lerp_(v, 1.0 - self.decay) if s.is_floating_point() else s.copy_(v)
    WARM(self, model, step)


WARM = EMA.update


def fid(run: Path, ema: bool | dict, n: int) -> float:
    model = genzoo.load(run, ema=ema is True).eval()
    if isinstance(ema, dict):
        model.load_state_dict(ema)
    with torch.no_grad():
        x = torch.cat(
            [
                model.sample(min(100, n - i), seeds=range(i, min(i + 100, n)), sampler="dpm++", steps=20)
                for i in range(0, n, 100)
            ]
        )
    return round(evaluate_images(x, "mnist", features="genzoo")["samples"]["fid"], 2)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--n", type=int, default=500)
    p.add_argument("--out", type=Path, default=Path("ema-measure"))
    a = p.parse_args()
    EMA.update = both_updates
    t0 = time.perf_counter()
    spec = RunSpec("ddpm", DDPMConfig(), DataConfig(name="mnist"), train_config_for("ddpm", steps=a.steps))
    train(spec, a.out, progress=False)
    EMA.update = WARM
    rows = {"train_s": round(time.perf_counter() - t0, 1)}
    for name, ema in (("raw", False), ("ema_warm_up", True), ("ema_constant", CONSTANT)):
        rows[f"fid_{name}"] = fid(a.out, ema, a.n)
        print(name, rows[f"fid_{name}"], flush=True)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
