"""FID of a short DDPM run's raw weights vs its EMA weights, with and without the EMA warm-up.

    GENZOO_DATA=/work/shared/data python scripts/ema_short_run.py --steps 60 --n 500 --out /tmp/ema-measure

Trains ``ddpm --data mnist --steps N`` twice from the same seed: once with the warm-up
d_t = min(d, (1 + t) / (10 + t)) (genzoo's EMA) and once with a constant d (the warm-up switched
off here, for the comparison), then scores n samples (dpm++, 20 steps) of the raw and the EMA
weights by the shipped MNIST feature net's FID (docs/training.md, "EMA")."""

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


def constant_update(self, model, step):  # the EMA without warm-up, for the "before" numbers
    with torch.no_grad():
        for k, v in model.state_dict().items():
            s = self.shadow[k]
            s.lerp_(v, 1.0 - self.decay) if s.is_floating_point() else s.copy_(v)


def fid(run: Path, ema: bool, n: int) -> float:
    model = genzoo.load(run, ema=ema).eval()
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
    rows = {}
    warm = EMA.update
    for name, update in (("constant", constant_update), ("warm-up", warm)):
        EMA.update = update
        run = a.out / name
        t0 = time.perf_counter()
        spec = RunSpec(
            "ddpm", DDPMConfig(), DataConfig(name="mnist"), train_config_for("ddpm", steps=a.steps)
        )
        train(spec, run, progress=False)
        t1 = time.perf_counter()
        rows[name] = {
            "train_s": round(t1 - t0, 1),
            "fid_raw": fid(run, False, a.n),
            "fid_ema": fid(run, True, a.n),
        }
        print(name, rows[name], flush=True)
    EMA.update = warm
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
