"""``genzoo train FAMILY --budget 10m`` with nothing else, beside the family's peer for the same time.

Issue 23's target: with ``--budget 10m`` and no other option, every family with an image peer in
``benchmarks/baselines/`` scores at most 0.5x the peer's FID, in the same run. One invocation is one
side of one family; the two sides of a family run at once, one per core, so both share the machine
alike:

    export GENZOO_DATA=../shared/data OMP_NUM_THREADS=1
    for f in vae dcgan ddpm; do   # diffusers' DDIM-50 draws ~2.5 images/s: the ddpm pair at 2,000
      g=""; p=""; [ $f = ddpm ] && g="--n 10000 --also-n 2000" && p="--n 2000"
      python benchmarks/bench_budget.py --family $f --side genzoo $g --out runs/bench-budget &
      python benchmarks/bench_budget.py --family $f --side peer $p --out runs/bench-budget; wait
    done
    python benchmarks/bench_budget.py --report --out runs/bench-budget

genzoo side: the command line a user types, ``genzoo train FAMILY --data mnist --budget 10m
--threads 1 --out RUN`` (calibration, the budget's configuration and the stop on time included),
then ``genzoo.load(RUN)`` sampled with the model's own defaults. Peer side: vae = the PyTorch
examples VAE, dcgan = TensorFlow's DCGAN tutorial, ddpm = the diffusers UNet2DModel recipe sampled
with DDIM-50, each stopped at the same wall-clock budget. Both sides: ``--n`` samples (seeds from 0)
scored by the same code, FID in genzoo's MNIST features against the 10,000 test images.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch
from machine import stamp

sys.path.insert(0, str(Path(__file__).resolve().parent))

import genzoo  # noqa: E402
from genzoo import io, viz  # noqa: E402
from genzoo.data import DataConfig, load_dataset  # noqa: E402
from genzoo.eval.evaluate import draw_samples, evaluate_images, sampler_report  # noqa: E402

FAMILIES = {  # family -> the peer in benchmarks/baselines/
    "vae": "PyTorch examples VAE (baselines/pytorch_examples_vae.py)",
    "dcgan": "TensorFlow DCGAN tutorial (baselines/tf_tutorial_dcgan.py)",
    "ddpm": "diffusers UNet2DModel recipe, DDIM-50 (baselines/diffusers_ddpm.py)",
}


def scores(x: torch.Tensor, data: DataConfig) -> dict[str, Any]:
    s = evaluate_images(x, data, features="genzoo")["samples"]
    return {k: s[k] for k in ("fid", "precision", "recall", "n_samples")}


def also_scores(x: torch.Tensor, counts: list[int], data: DataConfig) -> dict[str, Any]:
    """The first m samples scored too, for each m in ``counts`` below len(x) (a peer scored with fewer)."""
    return {f"at_{m}": scores(x[:m], data) for m in counts if m < len(x)}


def run_genzoo(args: argparse.Namespace, data: DataConfig) -> dict[str, Any]:
    run = args.out / f"{args.family}-genzoo{args.tag}"
    cmd = [sys.executable, "-m", "genzoo", "train", args.family, "--data", data.name, "--budget",
           f"{args.minutes:g}m", "--threads", str(args.threads), "--quiet", "--out", str(run)]  # fmt: skip
    if data.root:
        cmd += ["--data-root", data.root]
    cmd += shlex.split(args.options)
    t0 = time.time()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr.strip()}")
    wall = time.time() - t0
    state = io.read_json(io.resolve_model_dir(run) / "state.json")
    batch = io.read_json(run / "config.json")["train"]["batch_size"]
    model = genzoo.load(run)
    t1 = time.perf_counter()
    x = draw_samples(model, args.n, seed=0)
    sample_s = time.perf_counter() - t1
    viz.save_grid(list(x[:64].split(8)), args.out / f"{args.family}-genzoo{args.tag}.png")
    return (
        {
            "command": " ".join(["genzoo", *cmd[3:]]),
            "plan": done.stdout.strip().splitlines()[0] if done.stdout.strip() else "",
            "refit": [line for line in done.stderr.splitlines() if line.startswith("genzoo: budget:")],
            "steps": state["step"],
            "train_seconds": state["train_seconds"],
            "command_seconds": round(wall, 1),
            "images_per_s": state["step"] * batch / state["train_seconds"],
            "params": sum(p.numel() for p in model.parameters()),
            "sampler": sampler_report(model),
            "sample_images_per_s": args.n / sample_s,
        }
        | scores(x, data)
        | also_scores(x, args.also_n, data)
    )


def run_peer(args: argparse.Namespace, data: DataConfig) -> dict[str, Any]:
    train = load_dataset(data, "train")  # x: (N, 1, 28, 28) in [0, 1], from the uint8 idx files
    budget = args.minutes * 60
    t0 = time.perf_counter()
    if args.family == "vae":
        from baselines.pytorch_examples_vae import to_genzoo, train_examples_vae

        images = (train.x[:, 0] * 255).round().to(torch.uint8).numpy()
        net, stats = train_examples_vae(images, train.y.numpy(), budget, seed=0)
        model = to_genzoo(net)
        t0 = time.perf_counter()
        x = draw_samples(model, args.n, seed=0)
    elif args.family == "dcgan":
        from baselines.tf_tutorial_dcgan import sample, train_tutorial_dcgan

        images = (train.x[:, 0] * 255).round().to(torch.uint8).numpy()
        gen, stats = train_tutorial_dcgan(images, budget, seed=0)
        t0 = time.perf_counter()
        x = sample(gen, args.n, seed=0)  # as the tutorial samples: training=False
    else:
        from baselines.diffusers_ddpm import sample
        from baselines.diffusers_ddpm import train as d_train

        unet, sched, stats = d_train(train.x, budget, seed=0)
        t0 = time.perf_counter()
        x, _ = sample(unet, sched, args.n, steps=50, seed=0)
    sample_s = time.perf_counter() - t0
    viz.save_grid(list(x[:64].split(8)), args.out / f"{args.family}-peer{args.tag}.png")
    return (
        {"peer": FAMILIES[args.family], "sample_images_per_s": args.n / sample_s}
        | stats
        | scores(x, data)
        | also_scores(x, args.also_n, data)
    )


def report(out: Path, tag: str = "") -> str:
    lines = [
        "| family | genzoo steps | peer steps | genzoo FID | peer FID | ratio | samples | genzoo plan |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for fam in FAMILIES:
        paths = [out / f"{fam}-{side}{tag}.json" for side in ("genzoo", "peer")]
        if not all(p.is_file() for p in paths):
            continue
        g, p = (json.loads(q.read_text()) for q in paths)
        if g["n_samples"] != p["n_samples"]:  # compare at the same count
            g = g | g[f"at_{p['n_samples']}"]
        peer_steps = p.get("steps", round(p.get("images", 0) / 128))
        lines.append(
            f"| {fam} | {g['steps']:,} | {peer_steps:,} | {g['fid']:.2f} | {p['fid']:.2f} | "
            f"**{g['fid'] / p['fid']:.2f}x** | {g['n_samples']:,} | {g['plan']} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--family", choices=tuple(FAMILIES))
    ap.add_argument("--side", choices=("genzoo", "peer"))
    ap.add_argument("--minutes", type=float, default=10.0, help="training budget of both sides")
    ap.add_argument("--n", type=int, default=10_000, help="samples scored per side")
    ap.add_argument("--also-n", type=int, nargs="*", default=[], help="also score the first M samples")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--options", default="", help="more genzoo train options (a probe: the target gives none)"
    )
    ap.add_argument("--tag", default="", help="appended to the output names (a probe, a rerun)")
    ap.add_argument("--data-root", default=None, help="default: GENZOO_DATA")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--report", action="store_true", help="print the table of the sides measured in --out")
    args = ap.parse_args()
    if args.report:
        print(report(args.out, args.tag))
        return
    if not (args.family and args.side):
        ap.error("give --family and --side (or --report)")
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    data = DataConfig(name="mnist", root=args.data_root)
    started = time.time()
    row = (run_genzoo if args.side == "genzoo" else run_peer)(args, data)
    row |= stamp(args.threads, started)
    (args.out / f"{args.family}-{args.side}{args.tag}.json").write_text(
        json.dumps(row, indent=2, default=str)
    )
    print(json.dumps(row, default=str), flush=True)


if __name__ == "__main__":
    main()
