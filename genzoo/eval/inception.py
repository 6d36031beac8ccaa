"""Inception-v3 in its FID variant, for datasets without a shipped feature network.

Published FID numbers come from the TensorFlow Inception graph of 2015-12-05; pytorch-fid
(Seitzer) ported its weights to PyTorch as ``pt_inception-2015-12-05-6726825d.pth``. This file
is our own PyTorch definition of that network (torchvision's cannot be used: it does not work
with the CPU torch build genzoo pins), with the parameter names of the port so its weights load
unchanged. genzoo never ships or silently downloads these weights: the user supplies the file
(``--inception-weights PATH``, ``$GENZOO_INCEPTION_WEIGHTS``) or asks for it with
``genzoo download inception``.

The FID variant differs from the ImageNet classifier in three places (Szegedy et al. 2016,
Fig. 5-7 blocks as exported by TF): the average pools inside the 35x35, 17x17 and first 8x8
blocks exclude padding from the mean, and the last block pools with a max instead of an average.
Features: the 2048-d global average pool. Input: images in [0, 1], resized to 299x299
(bilinear, align_corners=False) and mapped to [-1, 1], grayscale repeated to three channels.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from genzoo.errors import CheckpointError

FID_WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
FID_WEIGHTS_URL = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + FID_WEIGHTS_FILE
FID_SHA256_PREFIX = "6726825d"  # torch.hub convention: the file name carries its sha256 prefix
# Keys a weights file may hold that the feature extractor does not use.
IGNORED_PREFIXES = ("fc.", "AuxLogits.")


class BasicConv2d(nn.Module):
    """conv (no bias) -> batch norm (eps 1e-3, as in the TF graph) -> ReLU."""

    def __init__(self, c_in: int, c_out: int, kernel_size, stride: int = 1, padding=0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=1e-3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg_pool_3x3(x: torch.Tensor) -> torch.Tensor:
    # The FID graph's pools average over the valid (unpadded) inputs only.
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):
    """35x35 block (Mixed_5b..5d): 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | pool-1x1 -> 224 + pool_features."""

    def __init__(self, c_in: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(c_in, 64, 1)
        self.branch5x5_1 = BasicConv2d(c_in, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(c_in, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(c_in, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch1x1(x), b5, b3, self.branch_pool(_avg_pool_3x3(x))], 1)


class InceptionB(nn.Module):
    """Grid reduction 35x35 -> 17x17 (Mixed_6a): 3x3/2 | 1x1-3x3-3x3/2 | maxpool/2 -> 480 + c_in."""

    def __init__(self, c_in: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(c_in, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(c_in, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), b3, F.max_pool2d(x, 3, stride=2)], 1)


class InceptionC(nn.Module):
    """17x17 block (Mixed_6b..6e), 7x7 factorised into 1x7 and 7x1 convolutions -> 768."""

    def __init__(self, c_in: int, c7: int) -> None:
        super().__init__()
        row, col = dict(kernel_size=(1, 7), padding=(0, 3)), dict(kernel_size=(7, 1), padding=(3, 0))
        self.branch1x1 = BasicConv2d(c_in, 192, 1)
        self.branch7x7_1 = BasicConv2d(c_in, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, **row)
        self.branch7x7_3 = BasicConv2d(c7, 192, **col)
        self.branch7x7dbl_1 = BasicConv2d(c_in, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, **col)
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, **row)
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, **col)
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, **row)
        self.branch_pool = BasicConv2d(c_in, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        d = x
        for i in range(1, 6):
            d = getattr(self, f"branch7x7dbl_{i}")(d)
        return torch.cat([self.branch1x1(x), b7, d, self.branch_pool(_avg_pool_3x3(x))], 1)


class InceptionD(nn.Module):
    """Grid reduction 17x17 -> 8x8 (Mixed_7a): 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | maxpool/2 -> 512 + c_in."""

    def __init__(self, c_in: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(c_in, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(c_in, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([b3, b7, F.max_pool2d(x, 3, stride=2)], 1)


class InceptionE(nn.Module):
    """8x8 block (Mixed_7b, 7c) with 1x3 and 3x1 outputs side by side -> 2048.

    pool="avg" (Mixed_7b, padding excluded) or "max" (Mixed_7c): the FID graph's choices."""

    def __init__(self, c_in: int, pool: str) -> None:
        super().__init__()
        self.pool = pool
        self.branch1x1 = BasicConv2d(c_in, 320, 1)
        self.branch3x3_1 = BasicConv2d(c_in, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(c_in, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(c_in, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(h), self.branch3x3_2b(h)], 1)  # (B, 768, 8, 8)
        h = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        d = torch.cat([self.branch3x3dbl_3a(h), self.branch3x3dbl_3b(h)], 1)  # (B, 768, 8, 8)
        pooled = _avg_pool_3x3(x) if self.pool == "avg" else F.max_pool2d(x, 3, stride=1, padding=1)
        return torch.cat([self.branch1x1(x), b3, d, self.branch_pool(pooled)], 1)


class InceptionV3FID(nn.Module):
    """(B, C, H, W) images in [0, 1], C = 1 or 3, any H x W -> (B, 2048) pool features."""

    num_features = 2048

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)  # 299 -> 149
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)  # -> 147
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)  # -> 147, then maxpool -> 73
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)  # -> 71, then maxpool -> 35
        self.Mixed_5b = InceptionA(192, 32)  # (B, 256, 35, 35)
        self.Mixed_5c = InceptionA(256, 64)  # (B, 288, 35, 35)
        self.Mixed_5d = InceptionA(288, 64)  # (B, 288, 35, 35)
        self.Mixed_6a = InceptionB(288)  # (B, 768, 17, 17)
        self.Mixed_6b = InceptionC(768, 128)
        self.Mixed_6c = InceptionC(768, 160)
        self.Mixed_6d = InceptionC(768, 160)
        self.Mixed_6e = InceptionC(768, 192)  # (B, 768, 17, 17)
        self.Mixed_7a = InceptionD(768)  # (B, 1280, 8, 8)
        self.Mixed_7b = InceptionE(1280, pool="avg")  # (B, 2048, 8, 8)
        self.Mixed_7c = InceptionE(2048, pool="max")  # (B, 2048, 8, 8)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.uint8:
            x = x.float() / 255.0
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        x = 2 * x - 1  # [0, 1] -> [-1, 1], the range the TF graph was trained on
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(F.max_pool2d(x, 3, stride=2)))
        x = F.max_pool2d(x, 3, stride=2)
        for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
            x = getattr(self, f"Mixed_{name}")(x)
        return x.mean(dim=(2, 3))  # global average pool: (B, 2048)

    forward = features


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a .safetensors file, or of a .pth state dict read with ``weights_only=True``
    (the restricted unpickler: tensors and containers only, never code)."""
    from genzoo import io

    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(
            f"Inception weights not found at {path}; get pytorch-fid's {FID_WEIGHTS_FILE} with "
            "`genzoo download inception` or pass --inception-weights PATH (or set $GENZOO_INCEPTION_WEIGHTS)"
        )
    if path.suffix == ".safetensors":
        return io.load_tensors(path)
    expected = f"expected pytorch-fid's {FID_WEIGHTS_FILE} (a .pth of tensors) or a .safetensors with its tensor names"
    try:
        f = path.open("rb")
    except OSError as e:  # no permission
        raise CheckpointError(f"cannot read Inception weights {path} ({e.strerror or e})") from None
    with f:
        try:
            state = torch.load(f, map_location="cpu", weights_only=True)
        except Exception as e:  # unpickling errors, truncated files, objects that are not tensors
            # torch's own message is many lines of advice (including to load unsafely): not quoted
            code = re.search(r"Unsupported global: GLOBAL (\S+)", str(e))
            if code:
                why = f"it holds Python objects ({code.group(1)}) besides tensors, which genzoo never loads"
            elif "zip archive" in str(e) or isinstance(e, (OSError, EOFError)):
                why = "a corrupt or truncated PyTorch file"
            else:
                why = "not a PyTorch weights file"
            raise CheckpointError(f"cannot read Inception weights {path}: {why}; {expected}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"Inception weights {path} do not hold a state dict of tensors; {expected}")
    return dict(state)


def load_inception(path: str | Path) -> InceptionV3FID:
    """The FID Inception network with the weights in ``path``; every tensor it needs must be there
    with the right shape (missing, unexpected and mis-shaped names are listed in the error)."""
    state = {
        k: v
        for k, v in read_weights(path).items()
        if not k.startswith(IGNORED_PREFIXES) and not k.endswith("num_batches_tracked")
    }
    net = InceptionV3FID()
    want = {k: v.shape for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    missing = sorted(set(want) - set(state))
    unexpected = sorted(set(state) - set(want))
    wrong = sorted(k for k in set(want) & set(state) if tuple(state[k].shape) != tuple(want[k]))
    if missing or unexpected or wrong:

        def head(keys: list[str]) -> str:
            return ", ".join(keys[:4]) + (f" and {len(keys) - 4} more" if len(keys) > 4 else "")

        problems = [
            f"{label} {head(keys)}"
            for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong))
            if keys
        ]
        raise CheckpointError(
            f"{path} is not an Inception-v3 FID state dict ({'; '.join(problems)}); "
            f"expected pytorch-fid's {FID_WEIGHTS_FILE} or a file with the same tensor names"
        )
    net.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
    return for_inference(net)


def for_inference(net: InceptionV3FID) -> InceptionV3FID:
    """Eval mode, channels-last weights: 1.45x faster on a 2-core CPU (8.3 -> 12.1 images/s,
    benchmarks/bench_inception.py), features equal to 1e-13."""
    return net.to(memory_format=torch.channels_last).eval()


@torch.no_grad()
def random_weights(seed: int = 0) -> dict[str, torch.Tensor]:
    """Seeded random weights in the format of pytorch-fid's file, to test and time the network
    without it: He-normal convolutions, BatchNorm statistics measured on random images (so the
    features stay input-dependent through all 94 layers), and the unused 1008-way classifier."""
    g = torch.Generator().manual_seed(seed)
    net = InceptionV3FID()
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            m.weight.copy_(torch.randn(m.weight.shape, generator=g) * math.sqrt(2 / m.weight[0].numel()))
    for m in bns:
        m.momentum = None  # cumulative average over the calibration batch
    net.train()(torch.rand(8, 3, 64, 64, generator=g))
    for m in bns:
        m.momentum = 0.1
    state = net.state_dict()
    state["fc.weight"] = torch.randn(1008, 2048, generator=g) * 0.01
    state["fc.bias"] = torch.zeros(1008)
    return state


def golden_input() -> torch.Tensor:
    """A fixed (2, 3, 40, 30) batch whose features under ``random_weights(0)`` the tests pin."""
    return torch.rand(2, 3, 40, 30, generator=torch.Generator().manual_seed(123))
