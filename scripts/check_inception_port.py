"""Check genzoo's Inception-v3 (FID variant) against pytorch-fid's, weight for weight.

The real FID weights cannot be downloaded on a machine without internet, and torchvision (which
pytorch-fid builds on) does not run with genzoo's CPU torch. What can be checked is the
architecture: this script loads the Python sources of pytorch-fid and of torchvision's
``models/inception.py`` (the compiled parts of torchvision are replaced by stand-ins; only the
pure-PyTorch model definition runs), builds pytorch-fid's network exactly as ``fid_inception_v3``
does, loads the same random state dict (random BatchNorm statistics included) into both networks
through pytorch-fid's own loading path, and compares the 2048-d pool features.

    pip download --no-deps pytorch-fid torchvision -d /tmp/ref
    cd /tmp/ref && python -m zipfile -e pytorch_fid-*.whl fid && python -m zipfile -e torchvision-*.whl tv
    python scripts/check_inception_port.py --pytorch-fid /tmp/ref/fid --torchvision /tmp/ref/tv
"""

from __future__ import annotations

import argparse
import enum
import importlib.util
import sys
import tempfile
import types
from pathlib import Path

import torch

from genzoo.eval.inception import golden_input, load_inception, random_weights


def _module(name: str, **attrs) -> types.ModuleType:
    m = types.ModuleType(name)
    m.__dict__.update(attrs)
    m.__path__ = []  # lets relative imports resolve under it
    sys.modules[name] = m
    return m


def _load_source(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


class _WeightsEnum(enum.Enum):
    @classmethod
    def verify(cls, weights):
        return weights


def torchvision_inception(tv_root: Path) -> types.ModuleType:
    """torchvision.models.inception with stand-ins for the compiled and registry parts."""

    def decorator_factory(*_a, **_k):
        return lambda f: f

    def overwrite(kwargs, name, value):
        kwargs[name] = value

    tv = _module("torchvision", __version__="0.29.2")
    tv.models = _module(
        "torchvision.models",
    )
    _module("torchvision.transforms")
    _module("torchvision.transforms._presets", ImageClassification=object)
    _module("torchvision.utils", _log_api_usage_once=lambda *_: None)
    _module(
        "torchvision.models._api",
        register_model=decorator_factory,
        Weights=lambda **kw: tuple(sorted(kw)),
        WeightsEnum=_WeightsEnum,
    )
    _module("torchvision.models._meta", _IMAGENET_CATEGORIES=[])
    _module(
        "torchvision.models._utils",
        _ovewrite_named_param=overwrite,
        handle_legacy_interface=decorator_factory,
    )
    inception = _load_source("torchvision.models.inception", tv_root / "torchvision/models/inception.py")
    tv.models.inception = inception
    tv.models.inception_v3 = inception.inception_v3
    return inception


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pytorch-fid", type=Path, required=True, help="unpacked pytorch-fid wheel")
    p.add_argument("--torchvision", type=Path, required=True, help="unpacked torchvision wheel")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    torchvision_inception(args.torchvision)
    fid = _load_source("pytorch_fid_inception", args.pytorch_fid / "pytorch_fid/inception.py")

    state = random_weights(args.seed)  # random BatchNorm statistics included, plus fc
    g = torch.Generator().manual_seed(args.seed)
    fid.load_state_dict_from_url = lambda *_a, **_k: state  # pytorch-fid's own loading path, strict
    theirs = fid.InceptionV3([fid.InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "random-inception.pth"
        torch.save(state, path)
        ours = load_inception(path)

    x = torch.rand(4, 3, 64, 80, generator=g)  # non-square, not 299: the resize is compared too
    with torch.no_grad():
        a = theirs(x)[0].flatten(1)
        b = ours.features(x)
        gray = torch.rand(2, 1, 28, 28, generator=g)
        c = theirs(gray.expand(-1, 3, -1, -1))[0].flatten(1)
        d = ours.features(gray)
    # pytorch-fid's wrapper keeps the blocks up to the pool (no fc), as genzoo's network does
    n_theirs = sum(v.numel() for k, v in theirs.state_dict().items() if "num_batches" not in k)
    n_ours = sum(v.numel() for k, v in ours.state_dict().items() if "num_batches" not in k)
    err = max(float((a - b).abs().max()), float((c - d).abs().max()))
    print(f"features {tuple(b.shape)}, |a| mean {float(a.abs().mean()):.4f}")
    print(f"numbers in the feature extractor's tensors: pytorch-fid {n_theirs:,}, genzoo {n_ours:,}")
    print(f"max |difference| of features: {err:.3e} (largest feature {float(a.abs().max()):.3g})")
    with torch.no_grad():  # the same weights in the default memory format: equal up to summation order
        plain = ours.to(memory_format=torch.contiguous_format)
        err_plain = max(float((a - plain(x)).abs().max()), float((c - plain(gray)).abs().max()))
        ours.to(memory_format=torch.channels_last)
    print(f"  the same without channels-last weights: {err_plain:.3e}")
    if err > 1e-4 * max(1.0, float(a.abs().max())) or n_ours != n_theirs:
        sys.exit("MISMATCH")
    print("OK: same features as pytorch-fid's network")
    if args.seed == 0:  # the values tests/test_inception.py pins genzoo's network to
        with torch.no_grad():
            golden = theirs(golden_input())[0].flatten(1)
        print("pytorch-fid's features of golden_input() with random_weights(0):")
        print(f"  [:, :6] = {[[round(float(v), 6) for v in row[:6]] for row in golden]}")
        print(f"  sums = {[round(float(v), 4) for v in golden.sum(1)]}")


if __name__ == "__main__":
    main()
