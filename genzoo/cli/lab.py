"""``genzoo lab``: train the four lab models on the embedded digits and write one report
(``genzoo.apps.lab.run_lab``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from genzoo.cli.options import OutputDir, image_count, positive_int


def _positive_float(s: str) -> float:
    import math

    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {s!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {s!r}")
    return v


def add_parsers(sub) -> None:
    from genzoo.apps.lab import EVAL_N, IWAE_K, LAB_MODELS

    p = sub.add_parser(
        "lab",
        help="train the four lab models (ae, dae, vae, dcgan) on digits; write one HTML report",
        description="Trains an autoencoder, a denoising autoencoder, a VAE and a DCGAN on the embedded "
        "8x8 digits (nothing to download), then writes OUT/index.html: each model's samples at 70%, 90% "
        "and 100% of its steps, its reconstructions or denoising rows, its scores (FID in the shipped "
        "digits features; -log p(x) for the VAE) and the commands that reproduce each. At --budget 1, "
        "40-50 s of CPU time in all (one thread; docs/lab.md).",
    )
    p.add_argument(
        "--out", type=OutputDir(), default=Path("runs/lab"), help="report folder (default runs/lab)"
    )
    p.add_argument(
        "--budget",
        type=_positive_float,
        default=1.0,
        help="multiplies every model's training steps (default 1: under a minute on 2 cores; 10: better pictures)",
    )
    p.add_argument(
        "--models",
        default=",".join(LAB_MODELS),
        help=f"comma-separated subset of {','.join(LAB_MODELS)} (default all)",
    )
    p.add_argument("--n", type=image_count, default=EVAL_N, help=f"samples scored for FID (default {EVAL_N})")
    p.add_argument(
        "--iwae-k",
        type=positive_int,
        default=IWAE_K,
        help=f"importance samples of the VAE's -log p(x) (default {IWAE_K})",
    )
    p.add_argument("--threads", type=positive_int, default=1, help="torch threads per training (default 1)")
    p.set_defaults(handler=cmd_lab)


def cmd_lab(args: argparse.Namespace) -> None:
    from genzoo.apps.lab import run_lab

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    report = run_lab(
        args.out,
        budget=args.budget,
        models=models,
        eval_n=args.n,
        iwae_k=args.iwae_k,
        threads=args.threads,
        log=lambda line: print(line, flush=True),
    )
    print(f"lab done in {report.seconds:.1f} s (train + pictures and scores: {report.split()})")
    print(f"report: {report.index}  (open it in a browser; no server needed)")
    print(f"explore the runs: {report.explore_command()}")
