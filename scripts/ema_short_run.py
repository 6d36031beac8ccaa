"""FID of a DDPM run's raw weights vs moving averages of them with several profiles.

    OMP_NUM_THREADS=1 GENZOO_DATA=/work/shared/data python scripts/ema_short_run.py --steps 60 --n 500 --seed 0

Trains ``ddpm --data DATA --steps N`` once (training seed ``--seed``) and keeps, beside the run's
own EMA, one average per profile of ``--variants`` (``warmup``: beta_t = min(0.999, (1+t)/(10+t)),
the profile of runs before the power EMA; ``genzoo:S``: genzoo's power EMA (``--ema-std S``),
EDM2's power function of sigma_rel S in a time where a step of the lr warm-up counts its lr factor
and every later step 1; ``power:S``: the same in steps, as EDM2 writes it; ``lrpower:S``: the
same with every step counting its lr factor; ``constant``: beta = 0.999 from step 0), all from the same weight trajectory. Then scores each,
and the raw weights, by the FID of n samples (dpm++, 20 steps, seeds 0..n-1, the same for every
row) in the dataset's shipped feature net, and by the denoising loss L_simple on 1,000 test
images with fixed t and noise (docs/training.md, "EMA")."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import genzoo
from genzoo.data import DataConfig, load_dataset
from genzoo.eval.evaluate import evaluate_images
from genzoo.models.diffusion import UNET_BEFORE, DDPMConfig
from genzoo.train import RunSpec, train, train_config_for
from genzoo.train.ema import EMA
from genzoo.train.schedule import lr_at

EXTRA: dict[str, EMA] = {}
TC = None  # the run's TrainConfig
INIT, UPDATE = EMA.__init__, EMA.update


class Constant(EMA):
    def update(self, model, step, dt=1.0):
        for k, v in model.state_dict().items():
            s = self.shadow[k]
            s.lerp_(v, 1.0 - self.decay) if s.is_floating_point() else s.copy_(v)


class StepTime(EMA):
    """The power profile in steps (EDM2's beta_t = (1 - 1/t)^(gamma+1)), whatever the learning rate."""

    def update(self, model, step, dt=1.0):
        UPDATE(self, model, step, 1.0)


class LrTime(EMA):
    """The power profile in learning-rate time throughout: each step counts its lr factor, the
    cosine decay's too (genzoo's counts 1 per step after the lr warm-up)."""

    def update(self, model, step, dt=1.0):
        UPDATE(self, model, step, lr_at(step - 1, TC) / TC.lr)


def make(spec: str, model: torch.nn.Module) -> EMA:
    kind, _, arg = spec.partition(":")
    if kind == "constant":  # beta = 0.999 from step 0
        return Constant(model, 0.999)
    if kind == "warmup":  # min(d, (1+t)/(10+t)), d = 0.999 or the given cap
        return EMA(model, float(arg or 0.999))
    if kind == "power":  # the power profile in steps
        return StepTime(model, 0.999, std=float(arg))
    if kind == "lrpower":  # the power profile in learning-rate time throughout
        return LrTime(model, 0.999, std=float(arg))
    if kind == "genzoo":  # genzoo's (--ema-std S): lr time during the lr warm-up, then steps
        return EMA(model, 0.999, std=float(arg))
    raise SystemExit(f"unknown variant {spec}")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--n", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default="mnist")
    p.add_argument("--variants", default="warmup,power:0.05,genzoo:0.05")
    p.add_argument("--out", type=Path, default=Path("ema-measure"))
    a = p.parse_args()
    torch.set_num_threads(1)
    variants = a.variants.split(",")

    def init(
        self, model, decay, std=0.0, time=0.0
    ):  # the run's EMA, and the variants from the same initial weights
        INIT(self, model, decay, std, time)
        if not EXTRA:
            EMA.__init__ = INIT
            EXTRA.update({v: make(v, model) for v in variants})

    def update(self, model, step, dt=1.0):
        UPDATE(self, model, step, dt)
        for e in EXTRA.values():  # EMA's own update (patched here) for genzoo's profiles, else the variant's
            (UPDATE if type(e) is EMA else type(e).update)(e, model, step, dt)

    EMA.__init__, EMA.update = init, update
    t0 = time.perf_counter()
    global TC
    # ddpm's U-Net and optimiser of the measurements this script made (UNET_BEFORE): its loss is L_simple
    TC = tc = train_config_for(
        "ddpm", steps=a.steps, seed=a.seed, threads=1, image_every=0, ema_std=0.0, **UNET_BEFORE["train"]
    )
    spec = RunSpec("ddpm", DDPMConfig(**UNET_BEFORE["model"]), DataConfig(name=a.data), tc)
    train(spec, a.out, progress=False)
    EMA.__init__, EMA.update = INIT, UPDATE
    rows: dict = {"steps": a.steps, "seed": a.seed, "n": a.n, "train_s": round(time.perf_counter() - t0, 1)}
    test = load_dataset(DataConfig(name=a.data), "test").x[:1000]
    for name, ema in [("raw", None)] + list(EXTRA.items()):
        model = genzoo.load(a.out, ema=False).eval()
        if ema is not None:
            model.load_state_dict(ema.shadow)
        with torch.no_grad():
            torch.manual_seed(1234)  # the same t and noise for every row
            loss = sum(model.loss((test[i : i + 250],)).loss.item() for i in range(0, len(test), 250)) / 4
            if a.n == 0:
                rows[name] = {"loss": round(loss, 4)}
                print(name, rows[name], flush=True)
                continue
            x = torch.cat(
                [
                    model.sample(
                        min(100, a.n - i), seeds=range(i, min(i + 100, a.n)), sampler="dpm++", steps=20
                    )
                    for i in range(0, a.n, 100)
                ]
            )
        fid = evaluate_images(x, a.data, features="genzoo")["samples"]["fid"]
        rows[name] = {"fid": round(fid, 1), "loss": round(loss, 4)}
        print(name, rows[name], round(time.perf_counter() - t0), "s", flush=True)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
