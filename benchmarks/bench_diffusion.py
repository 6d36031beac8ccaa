"""Diffusion benchmarks: genzoo ``ddpm`` beside the plain diffusers recipe, and the quality-speed curve.

Rows (``--row``; run two at once with ``--threads 1`` each, one per core, so a pair shares the machine):

  diffusers   benchmarks/baselines/diffusers_ddpm.py: UNet2DModel (32, 64, 64), 1.06 M parameters,
              DDPMScheduler, AdamW 1e-3, batch 128; trained ``--budget`` minutes; sampled with DDIM-50
  genzoo      genzoo ``ddpm`` with its defaults, EMA 0.999, bf16 autocast where the CPU has it; trained
              ``--budget`` minutes; sampled with DPM-Solver++(2M) at 10 and 20 steps (FID) and DDIM-50
              (speed). The defaults since 2026-12-04: U-Net 16 x (1, 2, 2) without attention, min-SNR,
              Adam 2e-3, batch 64; the rows in docs/BENCHMARKS.md dated before trained the U-Net before
              (32 x (1, 2, 2) with attention at 7x7, 1.11 M parameters, uniform weighting, Adam 1e-3,
              batch 128), which ``--unet-before`` trains and ``--model cddpm`` still does
  curve       genzoo ``ddpm`` trained ``--budget`` minutes (30), then FID and seconds per image for
              DDPM-1000, DDIM at 10, 20, 50, 100 steps and DPM-Solver++ at 10 and 20, all on ``--curve-n`` samples;
              and the variational bound in bits/dim on ``--vlb-n`` test images
  speed       sampling images/s of both networks (untrained: the cost does not depend on the weights)
              in one process on a quiet machine, diffusers DDIM-50 and genzoo DDIM-50 / DPM-Solver++
              20 / 10 alternated, best of ``--rounds``, ``--speed-n`` images each

FID: the dataset's shipped genzoo feature network, ``--n`` samples (10,000) against the 10,000 test
images. Training images/s = images trained on / training seconds; sampling images/s = samples /
seconds to draw them. ``--report`` prints the table of the rows found in ``--out``.

    python benchmarks/bench_diffusion.py --data-root "$GENZOO_DATA" --row diffusers --threads 1 --out runs/bench-diff &
    python benchmarks/bench_diffusion.py --data-root "$GENZOO_DATA" --row genzoo --threads 1 --out runs/bench-diff
    python benchmarks/bench_diffusion.py --out runs/bench-diff --report
"""

from __future__ import annotations

import argparse
import json
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
from genzoo.eval.evaluate import evaluate_images  # noqa: E402
from genzoo.eval.likelihood import evaluate_likelihood  # noqa: E402
from genzoo.models.diffusion import UNET_BEFORE  # noqa: E402
from genzoo.registry import get_model_class  # noqa: E402
from genzoo.train import RunSpec, train, train_config_for  # noqa: E402

FAST = [("dpm++", 10), ("dpm++", 20)]
CURVE = [("ddpm", 1000)] + [("ddim", k) for k in (10, 20, 50, 100)] + [("dpm++", k) for k in (10, 20)]


def suffix(args: argparse.Namespace) -> str:
    """What tells a row's run folder and report apart: the model when not ddpm, the U-Net before."""
    return ("" if args.model == "ddpm" else "-" + args.model) + ("-unet-before" if args.unet_before else "")


def fid(x: torch.Tensor, data: DataConfig) -> dict[str, Any]:
    s = evaluate_images(x, data, features="genzoo")["samples"]
    return {k: s[k] for k in ("fid", "precision", "recall", "n_samples")}


def timed_samples(model, n: int, sampler: str, steps: int) -> tuple[torch.Tensor, float]:
    t0 = time.perf_counter()
    x = model.sample(n, seeds=range(n), sampler=sampler, steps=steps)
    return x, time.perf_counter() - t0


def train_genzoo(args: argparse.Namespace, data: DataConfig, row: str) -> tuple[Any, dict[str, Any]]:
    run = args.out / f"{data.name}-{row}{suffix(args)}"
    before = UNET_BEFORE if args.unet_before else {"model": {}, "train": {}}
    tc = train_config_for(args.model, steps=10**7, threads=args.threads, log_every=100, seed=args.seed,
                          ckpt_every=500, image_every=250, **before["train"])  # fmt: skip
    spec = RunSpec(args.model, get_model_class(args.model).config_class(**before["model"]), data, tc)
    train(spec, run, progress=False, time_limit_s=args.budget * 60)
    state = io.read_json(io.resolve_model_dir(run) / "state.json")
    model = genzoo.load(run)
    stats = {
        "steps": state["step"],
        "seconds": state["train_seconds"],
        "images_per_s": state["step"] * tc.batch_size / state["train_seconds"],
        "params": sum(p.numel() for p in model.parameters()),
        "run": str(run),
    }
    return model, stats


def run_genzoo(args: argparse.Namespace, data: DataConfig) -> dict[str, Any]:
    model, out = train_genzoo(args, data, "genzoo")
    for sampler, steps in FAST:
        x, sec = timed_samples(model, args.n, sampler, steps)
        out[f"{sampler}-{steps}"] = fid(x, data) | {"sample_images_per_s": args.n / sec}
        viz.save_grid(list(x[:64].split(8)), args.out / f"{data.name}-genzoo-{sampler}{steps}.png")
    _, sec = timed_samples(model, args.speed_n, "ddim", 50)  # the baseline's sampler, for speed
    out["ddim-50"] = {"sample_images_per_s": args.speed_n / sec, "n": args.speed_n}
    return out


def run_curve(args: argparse.Namespace, data: DataConfig) -> dict[str, Any]:
    model, out = train_genzoo(args, data, "curve")
    out["curve"] = {}
    for sampler, steps in [c for c in CURVE if f"{c[0]}-{c[1]}" not in args.skip]:
        x, sec = timed_samples(model, args.curve_n, sampler, steps)
        out["curve"][f"{sampler}-{steps}"] = fid(x, data) | {"seconds_per_image": sec / args.curve_n}
        viz.save_grid(list(x[:64].split(8)), args.out / f"{data.name}-curve-{sampler}{steps}.png")
        print(sampler, steps, out["curve"][f"{sampler}-{steps}"], flush=True)
    test = load_dataset(data, "test")
    out["vlb"] = evaluate_likelihood(model, test.x[: args.vlb_n])
    return out


def run_diffusers(args: argparse.Namespace, data: DataConfig) -> dict[str, Any]:
    from baselines.diffusers_ddpm import sample as d_sample
    from baselines.diffusers_ddpm import train as d_train

    x_train = load_dataset(data, "train").x  # (N, 1, 28, 28) in [0, 1]
    unet, sched, stats = d_train(x_train, args.budget * 60, seed=args.seed)
    x, s = d_sample(unet, sched, args.n, steps=50, seed=0)
    viz.save_grid(list(x[:64].split(8)), args.out / f"{data.name}-diffusers-ddim50.png")
    return stats | {"ddim-50": fid(x, data) | {"sample_images_per_s": s["images_per_s"]}}


def run_speed(args: argparse.Namespace, data: DataConfig) -> dict[str, Any]:
    """Sampling images/s of both networks in one quiet process, settings alternated over ``--rounds``
    (the weights do not change the cost, so untrained networks are timed: nothing else is needed)."""
    from baselines.diffusers_ddpm import build
    from baselines.diffusers_ddpm import sample as d_sample

    from genzoo.models.diffusion import DDPM, DDPMConfig

    unet, sched = build(args.seed)
    ours = DDPM(DDPMConfig(**(UNET_BEFORE["model"] if args.unet_before else {})), (1, 28, 28)).eval()
    settings = {"diffusers ddim-50": lambda n: d_sample(unet, sched, n, steps=50)[1]["seconds"]}
    for sampler, steps in [("ddim", 50), ("dpm++", 20), ("dpm++", 10)]:
        settings[f"genzoo {sampler}-{steps}"] = lambda n, s=sampler, k=steps: timed_samples(ours, n, s, k)[1]
    for fn in settings.values():  # warm-up
        fn(10)
    seconds: dict[str, list[float]] = {k: [] for k in settings}
    for _ in range(args.rounds):
        for k, fn in settings.items():
            seconds[k].append(fn(args.speed_n))
    out = {k: {"images_per_s": args.speed_n / min(v), "seconds": v} for k, v in seconds.items()}
    base = out["diffusers ddim-50"]["images_per_s"]
    for v in out.values():
        v["ratio"] = v["images_per_s"] / base
    return out | {"n": args.speed_n, "rounds": args.rounds, "sample_precision": ours.config.sample_precision}


def report(out: Path) -> str:
    rows = {p.stem: json.loads(p.read_text()) for p in sorted(out.glob("*.json"))}
    lines = ["| row | data | train steps | train images/s | sampler | FID | sampling images/s | n |",
             "|---|---|---:|---:|---|---:|---:|---:|"]  # fmt: skip
    speed = []
    for name, r in rows.items():
        if r["row"] == "speed":
            speed += [
                f"| {k} | {v['images_per_s']:.2f} | {v['ratio']:.2f}x |"
                for k, v in r.items()
                if isinstance(v, dict)
            ]
            continue
        for key in ("ddim-50", "dpm++-10", "dpm++-20"):
            if key in r:
                s = r[key]
                f = f"{s['fid']:.2f}" if "fid" in s else "-"
                lines.append(
                    f"| {r['row']}{' (U-Net before)' if r.get('unet_before') else ''} | {r['data']} | {r['steps']} | {r['images_per_s']:.1f} | {key} | {f} | "
                    f"{s['sample_images_per_s']:.2f} | {s.get('n_samples', s.get('n'))} |"
                )
        for key, s in r.get("curve", {}).items():
            lines.append(
                f"| {name} | {r['data']} | {r['steps']} | {r['images_per_s']:.1f} | {key} | {s['fid']:.2f} | "
                f"{1 / s['seconds_per_image']:.2f} | {s['n_samples']} |"
            )
        if "vlb" in r:
            v = r["vlb"]
            lines.append(
                f"\n{name}: L_vlb {v['nll_nats']:.1f} nats = {v['bits_per_dim']:.4f} bits/dim (n={v['n']} test)"
            )
    if speed:
        lines += [
            "",
            "| sampler (quiet machine, 1 thread) | images/s | vs diffusers DDIM-50 |",
            "|---|---:|---:|",
            *speed,
        ]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--row", choices=("diffusers", "genzoo", "curve", "speed"))
    p.add_argument("--data", default="mnist", choices=("mnist", "fashion-mnist"))
    p.add_argument("--data-root", default=None)
    p.add_argument(
        "--model",
        default="ddpm",
        choices=("ddpm", "cddpm"),
        help="genzoo rows (cddpm: labels drawn uniformly)",
    )
    p.add_argument("--budget", type=float, default=10.0, help="training minutes")
    p.add_argument(
        "--unet-before",
        action="store_true",
        help="train ddpm's defaults before 2026-12-04 (32 channels, attention, uniform, batch 128, lr 1e-3)",
    )
    p.add_argument("--n", type=int, default=10_000, help="samples for FID")
    p.add_argument("--speed-n", type=int, default=500, help="samples timed with DDIM-50 (genzoo row)")
    p.add_argument("--curve-n", type=int, default=500, help="samples per point of the curve")
    p.add_argument("--skip", default="", help="curve row: settings to leave out, e.g. ddpm-1000")
    p.add_argument("--vlb-n", type=int, default=500, help="test images for the bits/dim (curve row)")
    p.add_argument("--rounds", type=int, default=3, help="speed row: timing rounds (the best is kept)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("runs/bench-diff"))
    p.add_argument("--report", action="store_true")
    args = p.parse_args()
    if args.report:
        print(report(args.out))
        return
    if args.row is None:
        p.error("give --row or --report")
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    data = DataConfig(name=args.data, root=args.data_root)
    t0 = time.time()
    rows = {"diffusers": run_diffusers, "genzoo": run_genzoo, "curve": run_curve, "speed": run_speed}
    result = rows[args.row](args, data)
    result |= {
        "row": args.row,
        "model": args.model if args.row != "diffusers" else "UNet2DModel",
        "data": args.data,
        "budget_minutes": args.budget,
        "unet_before": args.unet_before,
    } | stamp(args.threads, t0)
    (args.out / f"{args.data}-{args.row}{suffix(args)}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
