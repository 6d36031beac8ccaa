"""Peer baseline for the toy 2-D flow benchmark: zuko's neural spline flow (NSF, Durkan et al. 2019)
and masked autoregressive flow (MAF, Papamakarios et al. 2017), trained by a plain Adam loop.

Imports nothing from genzoo but the data loader. The loop is the one from zuko's README: minimise
-flow().log_prob(x) over minibatches; here Adam with a cosine learning-rate decay, as genzoo's runs.

    python benchmarks/baselines/zuko_flows.py --data moons --kind nsf --steps 3000
"""

from __future__ import annotations

import argparse
import math
import time

import torch
import zuko

from genzoo.data import DataConfig, load_dataset


def make_flow(kind: str, transforms: int = 4, hidden: tuple[int, ...] = (128, 128)) -> torch.nn.Module:
    """A 2-D flow of ``transforms`` autoregressive layers, MADE conditioners of ``hidden`` units."""
    if kind == "nsf":
        return zuko.flows.NSF(features=2, context=0, transforms=transforms, hidden_features=hidden)
    if kind == "maf":
        return zuko.flows.MAF(features=2, context=0, transforms=transforms, hidden_features=hidden)
    raise ValueError(f"unknown kind {kind!r}; use nsf or maf")


def train_flow(
    kind: str, x: torch.Tensor, steps: int, batch: int = 256, lr: float = 1e-3, seed: int = 0, **kw
) -> tuple[torch.nn.Module, float]:
    """Train a zuko flow on x (N, 2) for ``steps`` minibatch steps; returns (flow, seconds)."""
    torch.manual_seed(seed)
    flow = make_flow(kind, **kw)
    opt = torch.optim.Adam(flow.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * s / steps))
    )
    g = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    for _ in range(steps):
        xb = x[torch.randint(0, len(x), (batch,), generator=g)]
        loss = -flow().log_prob(xb).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return flow, time.perf_counter() - t0


@torch.no_grad()
def test_nll(flow: torch.nn.Module, x: torch.Tensor) -> float:
    """Mean -log p(x) in nats over x (N, 2)."""
    return float(torch.cat([-flow().log_prob(c) for c in x.split(5000)]).mean())


@torch.no_grad()
def log_density(flow: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    return torch.cat([flow().log_prob(c) for c in x.split(5000)])


def n_params(flow: torch.nn.Module) -> int:
    return sum(p.numel() for p in flow.parameters())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="moons")
    p.add_argument("--kind", default="nsf", choices=("nsf", "maf"))
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    train, test = (load_dataset(DataConfig(name=a.data), s).x for s in ("train", "test"))
    flow, secs = train_flow(a.kind, train, a.steps)
    print(
        f"zuko {a.kind} on {a.data}: test NLL {test_nll(flow, test):.4f} nats, {secs:.0f} s, {n_params(flow)} params"
    )


if __name__ == "__main__":
    main()
