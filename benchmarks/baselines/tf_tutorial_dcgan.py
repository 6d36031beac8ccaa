"""Baseline: TensorFlow's DCGAN tutorial (tensorflow.org/tutorials/generative/dcgan) in plain PyTorch.

The tutorial's recipe, layer for layer: G = Dense(7*7*256, no bias) -> BN -> LeakyReLU ->
ConvT(128, 5x5, stride 1) -> BN -> LeakyReLU -> ConvT(64, 5x5, stride 2) -> BN -> LeakyReLU ->
ConvT(1, 5x5, stride 2, tanh) (no biases in G); D = Conv(64, 5x5, stride 2) -> LeakyReLU ->
Dropout(0.3) -> Conv(128, 5x5, stride 2) -> LeakyReLU -> Dropout(0.3) -> Dense(1). Keras defaults
where the tutorial relies on them: Glorot-uniform weights and zero biases, LeakyReLU slope 0.3,
batch-norm momentum 0.99 (PyTorch 0.01) and eps 1e-3, Adam(1e-4) with beta1 0.9 for both players, noise 100-d N(0, I), batch 256 of images
scaled to [-1, 1], reshuffled every epoch (the last, smaller batch kept, as ``Dataset.batch`` does).
Its ``train_step`` is a simultaneous update: one forward pass G(z), D(x), D(G(z)); the
non-saturating G loss BCE(D(G(z)), 1) and D's BCE(D(x), 1) + BCE(D(G(z)), 0); each player's
gradient of its own loss; both applied. Samples are drawn with ``training=False`` (eval mode).
Only the stopping rule differs: a wall-clock budget instead of 50 epochs.

Imports nothing from genzoo: the benchmark hands it uint8 images and scores its samples.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

NOISE_DIM = 100


def _bn(c: int, dim: int = 2) -> nn.Module:
    return (nn.BatchNorm2d if dim == 2 else nn.BatchNorm1d)(c, eps=1e-3, momentum=0.01)  # Keras defaults


class TutorialGenerator(nn.Module):
    def __init__(self, channels: int = 1) -> None:
        super().__init__()
        self.dense = nn.Sequential(
            nn.Linear(NOISE_DIM, 7 * 7 * 256, bias=False), _bn(7 * 7 * 256, 1), nn.LeakyReLU(0.3)
        )
        self.convs = nn.Sequential(
            nn.ConvTranspose2d(256, 128, 5, 1, 2, bias=False),  # (B, 128, 7, 7)
            _bn(128),
            nn.LeakyReLU(0.3),
            nn.ConvTranspose2d(128, 64, 5, 2, 2, output_padding=1, bias=False),  # (B, 64, 14, 14)
            _bn(64),
            nn.LeakyReLU(0.3),
            nn.ConvTranspose2d(64, channels, 5, 2, 2, output_padding=1, bias=False),  # (B, C, 28, 28)
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.convs(self.dense(z).view(-1, 256, 7, 7))


class TutorialDiscriminator(nn.Module):
    def __init__(self, channels: int = 1) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, 64, 5, 2, 2),  # (B, 64, 14, 14)
            nn.LeakyReLU(0.3),
            nn.Dropout(0.3),
            nn.Conv2d(64, 128, 5, 2, 2),  # (B, 128, 7, 7)
            nn.LeakyReLU(0.3),
            nn.Dropout(0.3),
            nn.Flatten(),
            nn.Linear(128 * 7 * 7, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def keras_init(module: nn.Module) -> nn.Module:
    """Keras' default initialisation: Glorot-uniform kernels, zero biases (PyTorch's differ)."""
    for m in module.modules():
        if isinstance(m, nn.Linear | nn.Conv2d | nn.ConvTranspose2d):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


def train_step(
    gen: TutorialGenerator,
    disc: TutorialDiscriminator,
    g_opt: torch.optim.Optimizer,
    d_opt: torch.optim.Optimizer,
    x: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The tutorial's ``train_step`` on real images x (B, 1, 28, 28) in [-1, 1]: one forward pass,
    each player's gradient of its own loss, both applied; returns (g_loss, d_loss)."""
    fake = gen(torch.randn(len(x), NOISE_DIM))
    real_out, fake_out = disc(x), disc(fake)
    g_loss = F.binary_cross_entropy_with_logits(fake_out, torch.ones_like(fake_out))
    d_loss = F.binary_cross_entropy_with_logits(
        real_out, torch.ones_like(real_out)
    ) + F.binary_cross_entropy_with_logits(fake_out, torch.zeros_like(fake_out))
    g_grads = torch.autograd.grad(g_loss, list(gen.parameters()), retain_graph=True)
    d_grads = torch.autograd.grad(d_loss, list(disc.parameters()))
    for p, g in zip([*gen.parameters(), *disc.parameters()], [*g_grads, *d_grads], strict=True):
        p.grad = g
    g_opt.step()
    d_opt.step()
    return g_loss.detach(), d_loss.detach()


def train_tutorial_dcgan(
    images: np.ndarray, budget_s: float, seed: int = 0, batch_size: int = 256
) -> tuple[TutorialGenerator, dict[str, float]]:
    """Train on uint8 images (N, 28, 28) for ``budget_s`` wall-clock seconds (checked after each
    step); returns the generator and {images, steps, seconds, images_per_s, epochs, d_loss, g_loss}."""
    torch.manual_seed(seed)
    data = torch.from_numpy(images).float().div(127.5).sub(1).unsqueeze(1)  # (N, 1, 28, 28) in [-1, 1]
    gen, disc = keras_init(TutorialGenerator()), keras_init(TutorialDiscriminator())
    g_opt = torch.optim.Adam(gen.parameters(), lr=1e-4)
    d_opt = torch.optim.Adam(disc.parameters(), lr=1e-4)
    seen, steps, epochs = 0, 0, 0
    g_loss = d_loss = torch.tensor(float("nan"))
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < budget_s:
        for idx in torch.randperm(len(data)).split(batch_size):
            x = data[idx]
            g_loss, d_loss = train_step(gen, disc, g_opt, d_opt, x)
            seen, steps = seen + len(x), steps + 1
            if time.perf_counter() - t0 >= budget_s:
                break
        else:
            epochs += 1
    seconds = time.perf_counter() - t0
    return gen.eval(), {
        "images": seen,
        "steps": steps,
        "seconds": seconds,
        "images_per_s": seen / seconds,
        "epochs": epochs + (seen % len(data)) / len(data),
        "d_loss": float(d_loss),
        "g_loss": float(g_loss),
    }


@torch.no_grad()
def sample(
    gen: TutorialGenerator, n: int, seed: int = 0, batch: int = 1000, batch_stats: bool = False
) -> torch.Tensor:
    """n samples in [0, 1], (n, 1, 28, 28), drawn with training=False as the tutorial does (batch
    norm with its moving averages), or with ``batch_stats`` normalised by each batch of ``batch``."""
    g = torch.Generator().manual_seed(seed)
    gen.train(batch_stats)
    out = [gen(torch.randn(min(batch, n - i), NOISE_DIM, generator=g)) for i in range(0, n, batch)]
    gen.eval()
    return torch.cat(out).add(1).div(2).clamp(0, 1)
