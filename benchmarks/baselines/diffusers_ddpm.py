"""Baseline: the plain Hugging Face diffusers DDPM recipe for MNIST (the classic UNet2DModel tutorial).

Model: ``UNet2DModel(sample_size=28, in_channels=1, out_channels=1, layers_per_block=1,
block_out_channels=(32, 64, 64), down_block_types=3 x DownBlock2D, up_block_types=3 x UpBlock2D)``,
no attention blocks, 1,062,497 parameters (diffusers 0.42.1). 28 x 28 works without padding
(28 -> 14 -> 7; the last block does not downsample). The tutorial's other variant, with
``layers_per_block=2`` and AttnDownBlock2D / AttnUpBlock2D in the two lower blocks, has 1,707,009.

Training: ``DDPMScheduler(num_train_timesteps=1000)`` (linear betas 1e-4..0.02), images scaled to
[-1, 1], t ~ U{0..999}, x_t drawn from the forward process q(x_t | x_0) with ``add_noise``, loss
L_simple = MSE(eps_pred, eps); AdamW(lr 1e-3), batch 128, reshuffled every epoch. Sampling:
``DDIMScheduler.from_config(ddpm.config)``, 50 steps, eta 0, mapped back to [0, 1] and clamped.
Only the stopping rule is ours: a wall-clock budget instead of a number of epochs.

Imports nothing from genzoo: the benchmark hands it float images (N, 1, 28, 28) in [0, 1].
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, DDPMScheduler, UNet2DModel


def build(seed: int = 0) -> tuple[UNet2DModel, DDPMScheduler]:
    """The tutorial's UNet (1.06 M parameters) and its DDPM noise schedule."""
    torch.manual_seed(seed)
    unet = UNet2DModel(
        sample_size=28,
        in_channels=1,
        out_channels=1,
        layers_per_block=1,
        block_out_channels=(32, 64, 64),
        down_block_types=("DownBlock2D", "DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D", "UpBlock2D"),
    )
    return unet, DDPMScheduler(num_train_timesteps=1000)  # linear betas 1e-4..0.02


def train(
    x: torch.Tensor,
    time_limit_s: float,
    seed: int = 0,
    batch_size: int = 128,
    lr: float = 1e-3,
    max_steps: int | None = None,
) -> tuple[UNet2DModel, DDPMScheduler, dict]:
    """Train on x (N, 1, 28, 28) in [0, 1] until ``time_limit_s`` seconds of wall time (checked after
    each step) or ``max_steps``; returns the UNet, the scheduler and the training stats."""
    unet, ddpm = build(seed)
    opt = torch.optim.AdamW(unet.parameters(), lr=lr)
    data = x.float() * 2 - 1  # [0, 1] -> [-1, 1]
    g = torch.Generator().manual_seed(seed)
    T = ddpm.config.num_train_timesteps
    unet.train()
    steps, seen, loss = 0, 0, torch.tensor(float("nan"))
    t0 = time.perf_counter()
    done = False
    while not done:
        for idx in torch.randperm(len(data), generator=g).split(batch_size):
            x0 = data[idx]
            eps = torch.randn(x0.shape, generator=g)
            t = torch.randint(0, T, (len(x0),), generator=g)
            # forward process q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I)
            x_t = ddpm.add_noise(x0, eps, t)
            loss = F.mse_loss(unet(x_t, t).sample, eps)  # L_simple = ||eps_theta(x_t, t) - eps||^2
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            steps, seen = steps + 1, seen + len(x0)
            done = time.perf_counter() - t0 >= time_limit_s or (max_steps is not None and steps >= max_steps)
            if done:
                break
    seconds = time.perf_counter() - t0
    stats = {
        "steps": steps,
        "images": seen,
        "seconds": seconds,
        "images_per_s": seen / seconds,
        "params": sum(p.numel() for p in unet.parameters()),
        "final_loss": loss.item(),
    }
    return unet.eval(), ddpm, stats


@torch.no_grad()
def sample(
    unet: UNet2DModel,
    scheduler: DDPMScheduler,
    n: int,
    steps: int = 50,
    seed: int = 0,
    batch_size: int = 250,
) -> tuple[torch.Tensor, dict]:
    """n images (n, 1, 28, 28) in [0, 1] by deterministic DDIM (eta 0) with ``steps`` steps."""
    unet.eval()
    ddim = DDIMScheduler.from_config(scheduler.config)
    ddim.set_timesteps(steps)
    g = torch.Generator().manual_seed(seed)
    size = unet.config.sample_size
    out = []
    t0 = time.perf_counter()
    for i in range(0, n, batch_size):
        x = torch.randn(min(batch_size, n - i), 1, size, size, generator=g)  # x_T ~ N(0, I)
        for t in ddim.timesteps:
            eps = unet(x, t).sample
            x = ddim.step(eps, t, x, eta=0.0).prev_sample  # x_t -> x_{t - 1000/steps}
        out.append(((x + 1) / 2).clamp(0, 1))  # [-1, 1] -> [0, 1]
    seconds = time.perf_counter() - t0
    return torch.cat(out), {"n": n, "seconds": seconds, "images_per_s": n / seconds, "steps": steps}


def load_mnist_train() -> torch.Tensor:
    """MNIST training images (60000, 1, 28, 28) in [0, 1] from $GENZOO_DATA/mnist (canonical gz files)."""
    path = Path(os.environ["GENZOO_DATA"]) / "mnist" / "train-images-idx3-ubyte.gz"
    with gzip.open(path, "rb") as f:
        raw = np.frombuffer(f.read(), dtype=np.uint8, offset=16)  # skip the 16-byte IDX header
    return torch.from_numpy(raw.reshape(-1, 1, 28, 28).copy()).float() / 255


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=1.0, help="training budget (wall clock)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--n", type=int, default=50, help="images to sample with DDIM-50")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    unet, ddpm, train_stats = train(load_mnist_train(), args.minutes * 60, seed=args.seed)
    _, sample_stats = sample(unet, ddpm, args.n, seed=args.seed)
    print(json.dumps({"threads": args.threads, "train": train_stats, "sample": sample_stats}, indent=2))
