"""The trained models the application benchmarks share, trained on first use and reused after.

Each entry is (model type, model config, data config, training changes). ``ensure(name)`` returns
the run directory ``<root>/<name>``, training it first (one thread, no progress pictures) when it
has no checkpoint yet, so every benchmark row names the exact model it scored, and a second
benchmark does not train it again. Train them all ahead of time with

    python benchmarks/apps_models.py --data-root "$GENZOO_DATA" --root runs/apps [NAME ...]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from genzoo import config as cfgio
from genzoo.data import DataConfig
from genzoo.registry import get_model_class
from genzoo.train import RunSpec, train, train_config_for

ROOT = Path("runs/apps")
QUIET = {"image_every": 0, "log_every": 100, "threads": 1}

# name -> (model type, model config, data config, training changes)
MODELS: dict[str, tuple[str, dict, dict, dict]] = {
    "mnist-ae": ("ae", {"latent_dim": 32}, {"name": "mnist"}, {"steps": 2000}),
    "mnist-vae": ("vae", {"latent_dim": 16}, {"name": "mnist"}, {"steps": 2000}),
    "mnist-cvae": ("cvae", {"latent_dim": 16}, {"name": "mnist"}, {"steps": 2000}),
    # pretrain-eval's stacked autoencoder: greedy layer-wise pretraining (300 steps per layer pair,
    # 4 pairs) inside the 2,000 steps, then end to end
    "mnist-deep-ae": (
        "deep-ae",
        {"latent_dim": 32, "pretrain_steps": 300},
        {"name": "mnist"},
        {"steps": 2000},
    ),
    # inpainting: a denoising autoencoder trained to restore randomly masked pixels
    "mnist-dae": ("dae", {"latent_dim": 32, "noise": "mask:0.5"}, {"name": "mnist"}, {"steps": 2000}),
    "fashion-dae": (
        "dae",
        {"latent_dim": 32, "noise": "mask:0.5"},
        {"name": "fashion-mnist"},
        {"steps": 2000},
    ),
    "fashion-ae": ("ae", {"latent_dim": 32}, {"name": "fashion-mnist"}, {"steps": 2000}),
    "fashion-vae": ("vae", {"latent_dim": 16}, {"name": "fashion-mnist"}, {"steps": 2000}),
    # the generative classifier with 100 labels per class: a cvae on the first 1,000 training images
    "mnist-cvae-1000": ("cvae", {"latent_dim": 16}, {"name": "mnist", "limit": 1000}, {"steps": 1000}),
    # semantic hashing: 32 near-binary code units, sigmoid(h + 1.0 eps) while training (bits: code > 0.5)
    "mnist-hash": (
        "ae",
        {"latent_dim": 32, "code": "sigmoid-noise", "code_noise": 1.0},
        {"name": "mnist"},
        {"steps": 2000},
    ),
}
# one-class anomaly detection: one small MLP model per class of each dataset ("normal" = that class)
for _data, _short in (("mnist", "mnist"), ("fashion-mnist", "fashion")):
    for _c in range(10):
        for _kind in ("ae", "vae"):
            MODELS[f"oneclass-{_short}-{_kind}-{_c}"] = (
                _kind,
                {"arch": "mlp", "latent_dim": 16 if _kind == "ae" else 8, "hidden": (256, 128)},
                {"name": _data, "classes": (_c,)},
                {"steps": 600},
            )


def spec_for(name: str, data_root: str | None) -> RunSpec:
    model_type, model, data, changes = MODELS[name]
    cls = get_model_class(model_type)
    return RunSpec(
        model_type,
        cfgio.from_dict(cls.config_class, model, f"{name} model"),
        cfgio.from_dict(DataConfig, data | {"root": data_root}, f"{name} data"),
        train_config_for(model_type, **(QUIET | changes)),
    )


def ensure(name: str, data_root: str | None, root: Path = ROOT, log=print) -> Path:
    """The run directory of ``name``, trained first if it has no checkpoint."""
    if name not in MODELS:
        raise SystemExit(f"unknown benchmark model {name!r}; known: {', '.join(MODELS)}")
    out = Path(root) / name
    spec = spec_for(name, data_root)
    if (out / "checkpoints" / f"step-{spec.train.steps:07d}").is_dir():  # trained to the end
        return out
    t0 = time.time()
    train(spec, out, progress=False, resume=(out / "checkpoints" / "latest").exists())
    log(f"trained {name} in {time.time() - t0:.0f} s -> {out}")
    return out


def describe(name: str) -> dict[str, Any]:
    """The model's entry, for a benchmark report."""
    model_type, model, data, changes = MODELS[name]
    return {"model_type": model_type, "model": model, "data": data, "train": changes}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", help="models to train (default: all)")
    p.add_argument("--data-root", default=None)
    p.add_argument("--root", type=Path, default=ROOT)
    a = p.parse_args(argv)
    for name in a.names or list(MODELS):
        ensure(name, a.data_root, a.root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
