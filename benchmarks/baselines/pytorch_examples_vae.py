"""Baseline: the VAE of the PyTorch examples repository (vae/main.py), as a plain PyTorch loop.

The canonical recipe, rewritten here without torchvision (which does not work with the CPU
wheel we pin): an MLP 784-400-20 with ReLU, a sigmoid decoder, loss = binary cross-entropy
summed over pixels and batch + the closed-form KL, Adam at lr 1e-3, batch 128, the gray MNIST
training images reshuffled every epoch. Its data path is the recipe's too: a Dataset whose
``__getitem__`` makes a PIL image of one uint8 digit and converts it as ``ToTensor`` does (to
float, / 255, (1, 28, 28)), batched by a DataLoader with no worker processes (the example uses
one only on CUDA). Only the stopping rule differs: a wall-clock budget instead of 10 epochs.

``to_genzoo`` copies the trained weights into a genzoo ``vae`` of the same layers (arch mlp,
hidden 400, latent_dim 20, activation relu), so both models are scored by the same code.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset


class ExamplesVAE(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)  # mu
        self.fc22 = nn.Linear(400, 20)  # log sigma^2
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = F.relu(self.fc1(x.view(-1, 784)))
        mu, logvar = self.fc21(h), self.fc22(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)  # reparameterization
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z)))), mu, logvar


def examples_loss(
    recon: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor
) -> torch.Tensor:
    """BCE summed over pixels and batch + KL(q || N(0, I)) = -0.5 sum(1 + logvar - mu^2 - e^logvar)."""
    bce = F.binary_cross_entropy(recon, x.view(-1, 784), reduction="sum")
    return bce - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())


class PILDigits(Dataset):
    """uint8 images (N, 28, 28) served one at a time as PIL images converted like ToTensor."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        img = Image.fromarray(self.images[i], mode="L")
        x = torch.from_numpy(np.array(img, dtype=np.uint8)).view(1, 28, 28).float().div(255)
        return x, int(self.labels[i])


def train_examples_vae(
    images: np.ndarray, labels: np.ndarray, budget_s: float, seed: int = 0
) -> tuple[ExamplesVAE, dict[str, float]]:
    """Train for ``budget_s`` wall-clock seconds (checked after each batch); returns the model and
    {images, seconds, images_per_s, epochs, last_loss_per_image}."""
    torch.manual_seed(seed)
    model = ExamplesVAE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(PILDigits(images, labels), batch_size=128, shuffle=True)
    seen, epochs, loss = 0, 0, float("nan")
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < budget_s:
        for x, _ in loader:
            opt.zero_grad()
            recon, mu, logvar = model(x)
            total = examples_loss(recon, x, mu, logvar)
            total.backward()
            opt.step()
            seen += len(x)
            loss = total.item() / len(x)
            if time.perf_counter() - t0 >= budget_s:
                break
        else:
            epochs += 1
    seconds = time.perf_counter() - t0
    stats = {
        "images": seen,
        "seconds": seconds,
        "images_per_s": seen / seconds,
        "epochs": epochs + (seen % len(images)) / len(images),
        "last_loss_per_image": loss,
    }
    return model, stats


def to_genzoo(model: ExamplesVAE):
    """A genzoo ``vae`` (arch mlp, hidden 400, latent 20, relu) holding the same weights."""
    from genzoo import config as cfgio
    from genzoo.models.vae import VAE, VAEConfig

    cfg = cfgio.from_dict(
        VAEConfig, {"arch": "mlp", "hidden": (400,), "latent_dim": 20, "activation": "relu"}
    )
    gz = VAE(cfg, (1, 28, 28))
    m = model.state_dict()
    state = {  # genzoo encoder: Linear(784, 400), ReLU, Linear(400, 2 * 20) = [mu, logvar]
        "encoder.0.weight": m["fc1.weight"],
        "encoder.0.bias": m["fc1.bias"],
        "encoder.2.weight": torch.cat([m["fc21.weight"], m["fc22.weight"]]),
        "encoder.2.bias": torch.cat([m["fc21.bias"], m["fc22.bias"]]),
        "decoder.0.weight": m["fc3.weight"],
        "decoder.0.bias": m["fc3.bias"],
        "decoder.2.weight": m["fc4.weight"],
        "decoder.2.bias": m["fc4.bias"],
    }
    gz.load_state_dict(state)
    return gz.eval()
