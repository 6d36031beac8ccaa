"""Feature extractors for sample scores: shipped classifiers, or Inception-v3 with the user's weights.

Inception-v3 FID needs weights that genzoo cannot ship and does not suit 28x28 or 8x8 digits, so
genzoo ships one small CNN classifier per dataset (one architecture per image size, named in the
manifest; trained by ``scripts/train_feature_net.py`` on the canonical training split); its
penultimate layer gives the features. Scores computed with them
are named "FID (genzoo-<dataset> features)" and must not be compared with Inception FID. For
other data (a folder of RGB images) the FID Inception network (``inception.py``) is used when the
user has its weights.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from genzoo import progress
from genzoo.errors import CheckpointError, ConfigError
from genzoo.eval import inception

WEIGHTS_DIR = Path(str(resources.files("genzoo.eval") / "weights"))
MANIFEST = WEIGHTS_DIR / "manifest.json"  # dataset -> {file, sha256, test_accuracy, ...}


class ConvFeatureNet(nn.Module):
    """Three 3x3 conv stages (SiLU, each optionally followed by a 2x2 max pool), one hidden layer
    whose activations are the features, and a linear class head. A subclass fixes the input shape,
    the feature width and where the pools go; the tensor names (conv1..3, fc, head) are shared."""

    input_shape: tuple[int, int, int]
    num_features: int
    pools: tuple[bool, bool, bool]

    def __init__(self, n_classes: int = 10) -> None:
        super().__init__()
        side = self.input_shape[1] // 2 ** sum(self.pools)  # the last stage's height and width
        self.conv1 = nn.Conv2d(self.input_shape[0], 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.conv3 = nn.Conv2d(64, 128, 3, padding=1)
        self.fc = nn.Linear(128 * side * side, self.num_features)
        self.head = nn.Linear(self.num_features, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.uint8:
            x = x.float() / 255.0
        h = x
        for conv, pool in zip((self.conv1, self.conv2, self.conv3), self.pools, strict=True):
            h = F.silu(conv(h))
            if pool:
                h = F.max_pool2d(h, 2)
        return F.silu(self.fc(h.flatten(1)))  # (B, num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class FeatureNet(ConvFeatureNet):
    """MNIST-sized: (B, 1, 28, 28) -> 28, 14, 7, 3 pixels a side -> features (B, 128)."""

    input_shape = (1, 28, 28)
    num_features = 128
    pools = (True, True, True)


class DigitsFeatureNet(ConvFeatureNet):
    """scikit-learn digits: (B, 1, 8, 8) -> 8, 8, 4, 2 pixels a side -> features (B, 64).

    64 features rather than 128: the reference set is the 297-image test split, and a covariance
    estimated from N images in d dimensions is the better the larger N/d (297/64 = 4.6)."""

    input_shape = (1, 8, 8)
    num_features = 64
    pools = (False, True, True)


# The manifest's "arch" names one of these; a new image size adds a class here, nothing else.
ARCHITECTURES: dict[str, type[ConvFeatureNet]] = {
    "conv-28x28-128": FeatureNet,
    "conv-8x8-64": DigitsFeatureNet,
}
DEFAULT_ARCH = "conv-28x28-128"  # entries written before "arch" existed


def arch_for_shape(shape: tuple[int, ...]) -> str:
    """The architecture for images of ``shape`` (C, H, W), or ConfigError."""
    for name, cls in ARCHITECTURES.items():
        if tuple(shape) == cls.input_shape:
            return name
    shapes = ", ".join(str(cls.input_shape) for cls in ARCHITECTURES.values())
    raise ConfigError(f"no feature network architecture for images of shape {tuple(shape)} (have {shapes})")


def sha256_file(path: Path) -> str:
    from genzoo.fetch import file_digest

    return file_digest(path, "sha256")


def cache_dir() -> Path:
    """$GENZOO_CACHE, else the user cache directory (where downloaded data go by default)."""
    from genzoo.data.base import user_cache_dir

    env = os.environ.get("GENZOO_CACHE")
    return Path(env).expanduser() if env else user_cache_dir()


def inception_weights_path(path: str | Path | None = None) -> Path:
    """``path``, else $GENZOO_INCEPTION_WEIGHTS, else where ``genzoo download inception`` puts them;
    a directory means pytorch-fid's file name inside it."""
    given = path or os.environ.get("GENZOO_INCEPTION_WEIGHTS")
    if not given:
        return cache_dir() / "weights" / inception.FID_WEIGHTS_FILE
    chosen = Path(given).expanduser()
    return chosen / inception.FID_WEIGHTS_FILE if chosen.is_dir() else chosen


INCEPTION_HOWTO = (
    "get pytorch-fid's weights with `genzoo download inception` or pass --inception-weights PATH "
    "(or set $GENZOO_INCEPTION_WEIGHTS)"
)


def manifest() -> dict:
    return json.loads(MANIFEST.read_text()) if MANIFEST.is_file() else {}


def available() -> list[str]:
    """Datasets with a shipped feature network."""
    return sorted(manifest())


def load_feature_net(dataset: str) -> tuple[ConvFeatureNet, dict]:
    """The shipped network for ``dataset`` (weights' sha256 checked) and its manifest entry."""
    from genzoo import io

    entry = manifest().get(dataset)
    if entry is None:
        raise ConfigError(
            f"no shipped feature network for {dataset!r} (available: {', '.join(available()) or 'none'}); "
            f"for Inception features, {INCEPTION_HOWTO}"
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
    net = ARCHITECTURES[entry.get("arch", DEFAULT_ARCH)](len(entry.get("classes", range(10))))
    net.load_state_dict(io.load_tensors(path))
    return net.eval(), entry


@torch.no_grad()
def extract(net: ConvFeatureNet, x: torch.Tensor, batch: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """(features (N, net.num_features), logits (N, classes)) of images x (N, *net.input_shape) in [0, 1]."""
    feats, logits = [], []
    for chunk in progress.track(x.split(batch), len(x), "features", size=len):
        f = net.features(chunk.float())
        feats.append(f)
        logits.append(net.head(f))
    return torch.cat(feats), torch.cat(logits)


FeatureKind = Literal["auto", "genzoo", "inception"]


@dataclass
class Extractor:
    """A feature network with what a score must say about it.

    name: "genzoo-<dataset>" or "inception-v3"; sha256: of its weights file (part of every cache
    key); input_shape: the (C, H, W) it accepts, None for any; notes: caveats printed with scores.
    """

    name: str
    sha256: str
    net: nn.Module
    input_shape: tuple[int, int, int] | None
    batch: int
    test_accuracy: float | None = None
    notes: tuple[str, ...] = ()

    def check(self, x: torch.Tensor) -> None:
        """Images x (N, C, H, W) in [0, 1] that this network can score, or ConfigError."""
        if x.dim() != 4 or (self.input_shape and tuple(x.shape[1:]) != self.input_shape):
            want = (
                "(N, {}, {}, {})".format(*self.input_shape)
                if self.input_shape
                else "(N, C, H, W) with C = 1 or 3"
            )
            raise ConfigError(
                f"the {self.name} feature network takes images of shape {want}, got {tuple(x.shape)}"
            )
        if x.shape[1] not in (1, 3):
            raise ConfigError(f"images must have 1 or 3 channels, got shape {tuple(x.shape)}")
        if not bool(torch.isfinite(x).all()):
            raise ConfigError(f"{int((~torch.isfinite(x)).sum())} pixel values are NaN or infinite")
        if x.min() < 0 or x.max() > 1:
            hint = "; uint8 images: divide by 255" if x.max() > 1 and x.max() <= 255 else ""
            raise ConfigError(
                f"images must lie in [0, 1], got values in [{float(x.min()):.3g}, {float(x.max()):.3g}]{hint}"
            )

    @torch.no_grad()
    def extract(self, x: torch.Tensor, device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor | None]:
        """(features (N, d), class logits (N, classes) or None) of images x (N, C, H, W) in [0, 1].

        In full fp32 on any device (TF32 off), so GPU features agree with CPU ones to float rounding
        and may share their cache."""
        net = self.net.to(check_device(device))
        head = getattr(net, "head", None)
        feats, logits = [], []
        chunks = x.split(self.batch)
        try:
            with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
                for chunk in progress.track(chunks, len(x), f"{self.name} features", size=len):
                    f = net.features(chunk.to(device).float())
                    feats.append(f.cpu())
                    if head is not None:
                        logits.append(head(f).cpu())
        finally:
            self.net.cpu()
        return torch.cat(feats), torch.cat(logits) if logits else None


def check_device(device: str) -> str:
    """``device`` if torch can use it here, else ConfigError naming what is available."""
    try:
        dev = torch.device(device)
    except RuntimeError as e:
        raise ConfigError(f"unknown device {device!r} ({e}); use cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"device {device!r}: CUDA is not available with this torch build ({torch.__version__})"
        )
    if dev.type == "cuda" and (dev.index or 0) >= torch.cuda.device_count():
        raise ConfigError(f"device {device!r}: this machine has {torch.cuda.device_count()} GPU(s)")
    if dev.type not in ("cpu", "cuda"):
        raise ConfigError(f"device {device!r} is not supported for features; use cpu or cuda")
    return device


def shipped_extractor(dataset: str) -> Extractor:
    net, entry = load_feature_net(dataset)
    return Extractor(f"genzoo-{dataset}", entry["sha256"], net, net.input_shape, 1000, entry["test_accuracy"])


def inception_extractor(path: str | Path | None = None) -> Extractor:
    """The FID Inception network with the user's weights (see ``inception_weights_path``)."""
    path = inception_weights_path(path)
    net = inception.load_inception(path)
    digest = sha256_file(path)
    notes = ["Inception features computed as pytorch-fid does (bilinear resize to 299x299)"]
    if not digest.startswith(inception.FID_SHA256_PREFIX):
        notes.append(
            f"these Inception weights (sha256 {digest[:12]}...) are not pytorch-fid's {inception.FID_WEIGHTS_FILE}: "
            "their scores are not comparable with published FID"
        )
    return Extractor("inception-v3", digest, net, None, 50, None, tuple(notes))


def download_inception(dest: str | Path | None = None, mirrors: list[str] | None = None) -> Path:
    """Fetch pytorch-fid's FID Inception weights (about 92 MB) to ``inception_weights_path(dest)``,
    sha256-checked; from ``{mirror}/inception/<file>`` for given mirrors (or $GENZOO_MIRROR), else
    from pytorch-fid's GitHub release. A file already there is kept if it checks out, never
    overwritten if it does not."""
    from genzoo.fetch import download_verified, mirrors_from_env

    path = inception_weights_path(dest)
    if path.is_file():
        digest = sha256_file(path)
        if digest.startswith(inception.FID_SHA256_PREFIX):
            return path
        raise CheckpointError(
            f"{path} exists and is not pytorch-fid's {inception.FID_WEIGHTS_FILE} (sha256 {digest[:12]}..., "
            f"expected {inception.FID_SHA256_PREFIX}...); move it away to download"
        )
    mirrors = mirrors if mirrors is not None else mirrors_from_env()
    urls = (
        [f"{m.rstrip('/')}/inception/{inception.FID_WEIGHTS_FILE}" for m in mirrors]
        if mirrors
        else [inception.FID_WEIGHTS_URL]
    )
    return download_verified(
        urls, path, "sha256", inception.FID_SHA256_PREFIX, "Inception weights", CheckpointError
    )


def shipped_input_shape(dataset: str) -> tuple[int, int, int] | None:
    """The (C, H, W) that ``dataset``'s shipped network takes (its images as stored), or None."""
    entry = manifest().get(dataset)
    return None if entry is None else ARCHITECTURES[entry.get("arch", DEFAULT_ARCH)].input_shape


def _shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(str(s) for s in shape)


def choose_extractor(
    kind: FeatureKind,
    dataset: str,
    weights: str | Path | None = None,
    shape: tuple[int, ...] | None = None,
) -> Extractor:
    """kind "genzoo": the dataset's shipped network; "inception": Inception-v3 with the user's
    weights; "auto": Inception if ``weights`` are given, else the shipped network if there is one
    for images of ``shape`` (C, H, W), else Inception if its weights are found
    ($GENZOO_INCEPTION_WEIGHTS or the default place). ``shape`` (None: as stored) matters for
    data resized with image_size/channels: the shipped networks take only their own shape."""
    if kind not in ("auto", "genzoo", "inception"):
        raise ConfigError(f"unknown feature network {kind!r}; use auto, genzoo or inception")
    native = shipped_input_shape(dataset)
    if native is not None and shape is not None and tuple(shape) != native:
        unfit = (
            f"the shipped genzoo-{dataset} feature network takes {_shape_text(native)} images, "
            f"these {dataset} images are {_shape_text(tuple(shape))} (resized with --data-image-size "
            "or --data-channels)"
        )
        native = None
    else:
        unfit = f"no shipped feature network for {dataset!r} (shipped: {', '.join(available())})"
    if kind == "genzoo":
        if native is None and dataset in available():  # there is one, for another shape
            raise ConfigError(f"{unfit}; use --features inception: {INCEPTION_HOWTO}")
        return shipped_extractor(dataset)
    if kind == "auto" and not weights and native is not None:
        return shipped_extractor(dataset)
    if kind == "inception" or weights or inception_weights_path().is_file():  # given weights must load
        ext = inception_extractor(weights)
        if kind == "auto" and not weights and dataset in available():
            ext = replace(ext, notes=(f"Inception features because {unfit}", *ext.notes))
        return ext
    raise ConfigError(
        f"{unfit} and no Inception weights at {inception_weights_path(weights)}; "
        f"to score samples of {dataset!r}, {INCEPTION_HOWTO}"
    )
