"""Shipped feature networks: small CNN classifiers whose penultimate layer gives the features.

Inception-v3 FID needs weights that cannot be downloaded here and does not suit 28x28 digits,
so genzoo ships one classifier per dataset (trained by ``scripts/train_feature_net.py`` on the
canonical training split). Scores computed with them are named "FID (genzoo-<dataset>
features)" and must not be compared with Inception FID.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from genzoo.errors import CheckpointError, ConfigError

WEIGHTS_DIR = Path(str(resources.files("genzoo.eval") / "weights"))
MANIFEST = WEIGHTS_DIR / "manifest.json"  # dataset -> {file, sha256, test_accuracy, ...}


class FeatureNet(nn.Module):
    """(B, 1, 28, 28) in [0, 1] (or uint8 0..255) -> logits (B, 10); ``features`` -> (B, 128)."""

    num_features = 128

    def __init__(self, n_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.conv3 = nn.Conv2d(64, 128, 3, padding=1)
        self.fc = nn.Linear(128 * 3 * 3, self.num_features)
        self.head = nn.Linear(self.num_features, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.uint8:
            x = x.float() / 255.0
        h = F.max_pool2d(F.silu(self.conv1(x)), 2)  # (B, 32, 14, 14)
        h = F.max_pool2d(F.silu(self.conv2(h)), 2)  # (B, 64, 7, 7)
        h = F.max_pool2d(F.silu(self.conv3(h)), 2)  # (B, 128, 3, 3)
        return F.silu(self.fc(h.flatten(1)))  # (B, 128)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def manifest() -> dict:
    return json.loads(MANIFEST.read_text()) if MANIFEST.is_file() else {}


def available() -> list[str]:
    """Datasets with a shipped feature network."""
    return sorted(manifest())


def load_feature_net(dataset: str) -> tuple[FeatureNet, dict]:
    """The shipped network for ``dataset`` (weights' sha256 checked) and its manifest entry."""
    from genzoo import io

    entry = manifest().get(dataset)
    if entry is None:
        raise ConfigError(
            f"no shipped feature network for {dataset!r} (available: {', '.join(available()) or 'none'}); "
            "Inception features for other data are not supported yet"
        )
    path = WEIGHTS_DIR / entry["file"]
    if not path.is_file():
        raise CheckpointError(f"feature network weights {path} are missing; reinstall genzoo")
    digest = sha256_file(path)
    if digest != entry["sha256"]:
        raise CheckpointError(
            f"feature network weights {path} have sha256 {digest[:16]}..., expected {entry['sha256'][:16]}...; "
            "the file is corrupt or was replaced: reinstall genzoo"
        )
    net = FeatureNet(len(entry.get("classes", range(10))))
    net.load_state_dict(io.load_tensors(path))
    return net.eval(), entry


@torch.no_grad()
def extract(net: FeatureNet, x: torch.Tensor, batch: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """(features (N, 128), logits (N, classes)) of images x (N, 1, 28, 28) in [0, 1]."""
    feats, logits = [], []
    for chunk in x.split(batch):
        f = net.features(chunk.float())
        feats.append(f)
        logits.append(net.head(f))
    return torch.cat(feats), torch.cat(logits)
