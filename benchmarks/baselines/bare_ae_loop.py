"""The peer baseline for trainer speed: a bare PyTorch training loop, no genzoo code.

The networks are written out here in plain PyTorch with the same layers as genzoo's ``ae``
(conv: stride-2 convolutions (32, 64) + linear head, a decoder that upsamples to the encoder's
sizes; mlp: 784-512-256-d and back, SiLU), and the loop is the textbook one: AdamW, BCE on
logits, gradient clipping to norm 1, optional bf16 autocast on the forward pass. Only the data
tensor comes from the caller. ``bench_trainer_speed.py`` checks that the parameter count equals
genzoo's model.

    python benchmarks/baselines/bare_ae_loop.py --net conv --steps 200 --precision bf16
"""

from __future__ import annotations

import argparse
import math
import time

import torch
import torch.nn.functional as F
from torch import nn


def down(n: int) -> int:
    return math.ceil(n / 2)


class ConvAE(nn.Module):
    def __init__(self, shape: tuple[int, int, int], channels=(32, 64), latent: int = 32) -> None:
        super().__init__()
        c, h, w = shape
        sizes = [(h, w)]
        for _ in channels:
            sizes.append((down(sizes[-1][0]), down(sizes[-1][1])))
        self.shape, self.up_sizes, self.c_last = shape, sizes[::-1], channels[-1]
        enc: list[nn.Module] = []
        for co in channels:
            enc += [nn.Conv2d(c, co, 3, stride=2, padding=1), nn.SiLU()]
            c = co
        self.enc = nn.Sequential(*enc)
        self.enc_head = nn.Linear(c * sizes[-1][0] * sizes[-1][1], latent)
        self.dec_head = nn.Linear(latent, self.c_last * sizes[-1][0] * sizes[-1][1])
        rev = list(channels)[::-1]
        self.dec = nn.ModuleList(
            nn.Conv2d(a, b, 3, padding=1) for a, b in zip(rev, rev[1:] + rev[-1:], strict=True)
        )
        self.out = nn.Conv2d(rev[-1], shape[0], 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> logits (B, C, H, W)
        z = self.enc_head(self.enc(x).flatten(1))
        hl, wl = self.up_sizes[0]
        h = F.silu(self.dec_head(z)).view(x.shape[0], self.c_last, hl, wl)
        for conv, size in zip(self.dec, self.up_sizes[1:], strict=True):
            h = F.silu(conv(F.interpolate(h, size=size, mode="nearest")))
        return self.out(h)


class MlpAE(nn.Module):
    def __init__(self, shape: tuple[int, int, int], hidden=(512, 256), latent: int = 32) -> None:
        super().__init__()
        dims = [math.prod(shape), *hidden, latent]
        self.shape = shape

        def stack(ds: list[int]) -> nn.Sequential:
            layers: list[nn.Module] = []
            for i, (a, b) in enumerate(zip(ds[:-1], ds[1:], strict=True)):
                layers.append(nn.Linear(a, b))
                if i < len(ds) - 2:
                    layers.append(nn.SiLU())
            return nn.Sequential(*layers)

        self.enc, self.dec = stack(dims), stack(dims[::-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dec(self.enc(x.flatten(1))).view(x.shape[0], *self.shape)


def make_net(net: str, shape: tuple[int, int, int]) -> nn.Module:
    return ConvAE(shape) if net == "conv" else MlpAE(shape)


def train_bare(
    x: torch.Tensor,
    net: str = "conv",
    steps: int = 200,
    batch: int = 128,
    precision: str = "fp32",
    channels_last: bool = False,
    interval: int = 25,
    seed: int = 0,
) -> list[float]:
    """Train for ``steps``; images/s of each ``interval``-step window (after the first window)."""
    torch.manual_seed(seed)
    model = make_net(net, tuple(x.shape[1:]))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(seed)
    rates, t0 = [], time.perf_counter()
    for step in range(steps):
        xb = x[torch.randint(len(x), (batch,), generator=g)]
        if channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            logits = model(xb)
        loss = F.binary_cross_entropy_with_logits(logits.float(), xb)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if (step + 1) % interval == 0:
            now = time.perf_counter()
            rates.append(interval * batch / (now - t0))
            t0 = now
    return rates[1:]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--net", choices=("conv", "mlp"), default="conv")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    x = torch.rand(4096, 1, 28, 28)  # stand-alone run: random images of MNIST's shape
    rates = train_bare(x, a.net, a.steps, precision=a.precision, channels_last=a.channels_last)
    print(f"{a.net} {a.precision}: median {sorted(rates)[len(rates) // 2]:.0f} images/s")


if __name__ == "__main__":
    main()
