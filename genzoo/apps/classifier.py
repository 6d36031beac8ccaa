"""A small discriminative classifier and the few-label helpers the applications share.

Used as the baseline beside the generative classifier (``classify``), as the network trained on
few labels with and without generated samples (``augment``), and as the from-scratch row of
``pretrain``. One architecture for any image size: two 3x3 stride-2 conv stages and a hidden
layer; for point data (a (D,) shape) an MLP. Training is full Adam steps on seeded minibatches,
deterministic under a seed on the CPU.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from genzoo.errors import ConfigError


class SmallClassifier(nn.Module):
    """x (B, *shape) -> class logits (B, K): conv 32 -> conv 64 (stride 2 each) -> 128 -> K for
    images (C, H, W); Linear 256 -> 256 -> K for vectors."""

    def __init__(self, shape: tuple[int, ...], num_classes: int, hidden: int = 128) -> None:
        super().__init__()
        if len(shape) == 3:
            c, h, w = shape
            side = (math.ceil(math.ceil(h / 2) / 2), math.ceil(math.ceil(w / 2) / 2))
            self.body = nn.Sequential(
                nn.Conv2d(c, 32, 3, stride=2, padding=1),
                nn.SiLU(),
                nn.Conv2d(32, 64, 3, stride=2, padding=1),
                nn.SiLU(),
                nn.Flatten(),
                nn.Linear(64 * side[0] * side[1], hidden),
                nn.SiLU(),
            )
        else:
            d = math.prod(shape)
            self.body = nn.Sequential(
                nn.Flatten(), nn.Linear(d, 2 * hidden), nn.SiLU(), nn.Linear(2 * hidden, hidden), nn.SiLU()
            )
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def few_labels(y: torch.Tensor, n: int, seed: int = 0, num_classes: int | None = None) -> torch.Tensor:
    """Indices of a class-balanced subset of n labelled examples (n // K per class, the remainder
    to the first classes), drawn with ``seed``: (n,) long, sorted."""
    k = num_classes or int(y.max()) + 1
    if n < k:
        raise ConfigError(f"--labels {n} is fewer than one label per class ({k} classes)")
    g = torch.Generator().manual_seed(seed)
    picked = []
    for c in range(k):
        idx = (y == c).nonzero().flatten()
        want = n // k + (1 if c < n % k else 0)
        if len(idx) < want:
            raise ConfigError(f"class {c} has only {len(idx)} training examples; --labels {n} needs {want}")
        picked.append(idx[torch.randperm(len(idx), generator=g)[:want]])
    return torch.cat(picked).sort().values


def fit(
    net: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    steps: int = 500,
    batch_size: int = 64,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    seed: int = 0,
    params: list[nn.Parameter] | None = None,
) -> nn.Module:
    """Minimise cross-entropy of ``net(x)`` against labels y (N,) for ``steps`` Adam steps on
    minibatches drawn with ``seed``; returns the net in eval mode."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(
        params if params is not None else net.parameters(), lr=lr, weight_decay=weight_decay
    )
    net.train()
    n = x.shape[0]
    for _ in range(steps):
        idx = torch.randint(n, (min(batch_size, n),), generator=g)
        loss = F.cross_entropy(net(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return net.eval()


@torch.no_grad()
def predict_logits(net: nn.Module, x: torch.Tensor, batch: int = 1000) -> torch.Tensor:
    """Class scores (N, K) of x in chunks, in eval mode."""
    net.eval()
    return torch.cat([net(x[i : i + batch]) for i in range(0, x.shape[0], batch)])


def accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Share of x whose argmax class equals y."""
    return float((predict_logits(net, x).argmax(1) == y).float().mean())


def train_classifier(
    x: torch.Tensor, y: torch.Tensor, num_classes: int, *, steps: int = 500, seed: int = 0, **kw
) -> SmallClassifier:
    """A SmallClassifier for x's shape, initialised with ``seed`` and fitted to (x, y)."""
    with torch.random.fork_rng(devices=[]):  # seeded initialisation, the global RNG left as it was
        torch.random.default_generator.manual_seed(seed)  # the CPU RNG only (forked)
        net = SmallClassifier(tuple(x.shape[1:]), num_classes)
    return fit(net, x, y, steps=steps, seed=seed, **kw)  # type: ignore[return-value]
