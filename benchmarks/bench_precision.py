"""Training steps/s in fp32 vs bf16 autocast, for each family's default architecture on its typical data.

The measurement behind each family's ``bf16_default`` (what ``--precision auto`` picks on a CPU
with native bf16): for every case below it builds the family's default model (``arch`` only
where the data needs another one, e.g. an MLP for 2-D points) with its default training settings
(``train_config_for``: batch size, optimiser, channels-last), then times training steps exactly
as the trainer takes them (``torch.autocast("cpu", bfloat16)`` around the loss, fp32 backward,
gradient clipping, AdamW) in fp32 and in bf16, interleaved over ``--rounds`` rounds so a busy
moment of the machine hits both alike. Each timing runs ``--warmup`` steps, then steps until
``--seconds`` have passed (at least 3); the table gives the median steps/s over the rounds and
the speedup bf16 / fp32. On a CPU without native bf16 the bf16 column is emulated (slow).

    python benchmarks/bench_precision.py --data-root "$GENZOO_DATA" --threads 1 --out docs/bench/precision.json

``--only ae,gan`` restricts the cases to those families.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import stamp  # noqa: E402

from genzoo import config as cfgio  # noqa: E402
from genzoo.data import DataConfig, load_dataset  # noqa: E402
from genzoo.precision import native_bf16  # noqa: E402
from genzoo.registry import get_model_class  # noqa: E402
from genzoo.train import RunSpec, train_config_for  # noqa: E402
from genzoo.train.run import with_data_classes  # noqa: E402

IMAGE_FAMILIES = (
    "ae", "dae", "deep-ae", "vae", "beta-vae", "cvae", "gan", "dcgan", "cgan", "acgan",
    "ddpm", "cddpm", "realnvp", "glow",
)  # fmt: skip
# (family, data, model config changes): defaults everywhere, an MLP where the data are 2-D points
CASES: list[tuple[str, str, dict]] = (
    [(m, "digits", {}) for m in IMAGE_FAMILIES]
    + [(m, "mnist", {}) for m in IMAGE_FAMILIES]
    + [
        ("gan", "eight-gaussians", {}),
        ("gan", "eight-gaussians", {"latent_dim": 2, "hidden": (128, 128)}),
        ("ae", "moons", {"arch": "mlp", "latent_dim": 2, "output": "identity", "loss": "mse"}),
        ("vae", "moons", {"arch": "mlp", "latent_dim": 2, "likelihood": "gaussian", "output": "identity"}),
        ("ddpm", "eight-gaussians", {}),
        ("realnvp", "moons", {}),
        ("seq-ae", "sines", {}),
        ("seq-ae", "sines-varlen", {}),
    ]
)


def setup(model_type: str, data: DataConfig, changes: dict, threads: int):
    cls = get_model_class(model_type)
    spec = RunSpec(
        model_type,
        cfgio.from_dict(cls.config_class, changes),
        data,
        train_config_for(model_type, threads=threads),
    )
    train = load_dataset(data, "train")
    spec = with_data_classes(spec, train.info)
    torch.manual_seed(0)
    model = cls(spec.model, train.info.shape)
    tc = spec.train
    opts = {
        p: torch.optim.AdamW(
            model.player_parameters(p),
            **({"lr": tc.lr, "betas": tuple(tc.betas)} | model.optimizer_overrides(p)),
        )
        for p in model.players
    }
    if tc.channels_last:
        model.to(memory_format=torch.channels_last)
    return spec, model, opts, train


def steps_per_s(spec, model, opts, data, bf16: bool, warmup: int, seconds: float) -> float:
    """Training steps/s as the trainer takes them (one step = every player that steps)."""
    tc, g = spec.train, torch.Generator().manual_seed(0)
    model.train()

    def one(step: int) -> None:
        idx = torch.randint(len(data), (tc.batch_size,), generator=g)
        x = data.x[idx]
        if tc.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        batch = (x, None if data.y is None else data.y[idx])
        model.set_step(step)
        for p in model.players_at(step):
            opts[p].zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                out = model(batch, p)
            out.loss.float().backward()
            torch.nn.utils.clip_grad_norm_(model.player_parameters(p), tc.grad_clip or math.inf)
            opts[p].step()

    for s in range(warmup):
        one(s)
    n, t0 = 0, time.perf_counter()
    while n < 3 or time.perf_counter() - t0 < seconds:
        one(warmup + n)
        n += 1
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--only", default="", help="comma-separated families (default: all)")
    ap.add_argument("--out", type=Path, default=None, help="write the rows as JSON here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    started = time.time()
    only = set(filter(None, args.only.split(",")))
    rows = []
    print(f"native bf16: {native_bf16()}", file=sys.stderr)
    for model_type, data_name, changes in CASES:
        if only and model_type not in only:
            continue
        data = DataConfig(name=data_name, root=args.data_root, n_points=4096)
        try:
            spec, model, opts, train = setup(model_type, data, changes, args.threads)
        except Exception as e:  # e.g. MNIST not present
            print(f"skip {model_type} {data_name}: {e}", file=sys.stderr)
            continue
        rates: dict[str, list[float]] = {"fp32": [], "bf16": []}
        for _ in range(args.rounds):
            for prec in ("fp32", "bf16"):
                rates[prec].append(
                    steps_per_s(spec, model, opts, train, prec == "bf16", args.warmup, args.seconds)
                )
        fp32, bf16 = statistics.median(rates["fp32"]), statistics.median(rates["bf16"])
        arch = getattr(spec.model, "arch", "-")
        row = {
            "model": model_type,
            "arch": arch,
            "changes": changes,
            "data": data_name,
            "batch": spec.train.batch_size,
            "parameters": sum(p.numel() for p in model.parameters()),
            "fp32_steps_per_s": round(fp32, 2),
            "bf16_steps_per_s": round(bf16, 2),
            "speedup": round(bf16 / fp32, 2),
            "declares_bf16": model.bf16_default(),
        }
        rows.append(row)
        print(
            f"| {model_type} | {arch} | {data_name} | {row['batch']} | {fp32:.1f} | {bf16:.1f} | {bf16 / fp32:.2f} x |",
            flush=True,
        )
    meta = stamp(args.threads, started) | {"native_bf16": native_bf16(), "argv": sys.argv[1:]}
    print(json.dumps(meta), file=sys.stderr)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
