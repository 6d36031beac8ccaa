"""Diffusion samplers side by side on one trained model: FID against network evaluations and time.

    python benchmarks/bench_samplers.py RUN --n 500 --threads 2 \
        --samplers ddpm:1000 ddim:50 dpm++:20 dpm++:50 dpm++sde:50 edm:25 edm:25:churn=0 \
        --out docs/bench/samplers.json

Each SPEC is ``sampler:steps[:option=value,...]`` (options of ``model.sample``: eta, spacing,
churn, and a cddpm's guidance w: 0 unconditional, 1 conditional, > 1 guided at twice the network
evaluations; a cddpm's labels come from the seeds, so every class appears about equally). Every
setting draws the same seeds 0..n-1 and is scored in the run's shipped genzoo features against
the 10,000 test images (FID, precision, recall); the time is the wall time of drawing the n samples in one process with ``--threads`` torch threads. The ratio column is each
FID over the first SPEC's (the reference, DDPM-1000 by convention).

``--reference FILE...`` reads the first SPEC's samples from files instead of drawing them: a slow
reference such as DDPM-1000 at 2,000 samples drawn in parallel processes, each over its own seed range
(``genzoo sample RUN --sampler ddpm --seed S -n N -o part.npz``), given in seed order so that they are
the seeds 0..n-1 the other settings draw; ``--reference-seconds`` is their drawing time summed over
the parts (one process each; comparable with the other rows' wall times at ``--threads 1``). The
files must come from the run's latest checkpoint (what ``genzoo sample`` draws), so ``--reference``
takes no ``--step`` or ``--minutes``; its row lists them under ``reference_files``.

``--step`` scores an earlier checkpoint (the one nearest a number of training minutes: ``--minutes``),
``--also-n 1000`` also scores the first 1,000 samples of each setting (so a cheap reference drawn with
fewer samples is compared at its own count), ``--save DIR`` keeps each setting's samples
(safetensors, one file per setting) for a later look.
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
from genzoo import sampling  # noqa: E402
from genzoo.eval.evaluate import evaluate_images  # noqa: E402
from genzoo.eval.samples_file import load_sample_files  # noqa: E402


def parse_spec(text: str) -> tuple[str, int, dict[str, Any]]:
    """'edm:25:churn=0,spacing=karras' -> ('edm', 25, {'churn': 0.0, 'spacing': 'karras'})."""
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise SystemExit(f"bad sampler spec {text!r}; use sampler:steps[:option=value,...]")
    options: dict[str, Any] = {}
    for item in filter(None, (parts[2] if len(parts) == 3 else "").split(",")):
        key, _, value = item.partition("=")
        options[key] = value if key == "spacing" else float(value)
    return parts[0], int(parts[1]), options


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path)
    p.add_argument("--samplers", nargs="+", required=True, metavar="SPEC")
    p.add_argument("--n", type=int, default=500)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data-root", default=None)
    p.add_argument("--step", type=int, default=None, help="checkpoint step (default: the latest)")
    p.add_argument("--minutes", type=float, default=None, help="the checkpoint nearest this training time")
    p.add_argument("--also-n", type=int, nargs="*", default=[], help="also score the first K samples")
    p.add_argument("--save", type=Path, default=None, help="folder for each setting's samples")
    p.add_argument(
        "--reference", type=Path, nargs="+", default=None, help="the first SPEC's samples, drawn elsewhere"
    )
    p.add_argument("--reference-seconds", type=float, default=None, help="the reference parts' drawing time")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    if args.reference_seconds is not None and not args.reference:
        raise SystemExit("--reference-seconds is the drawing time of --reference files; give them too")
    if args.reference and (args.step is not None or args.minutes is not None):
        raise SystemExit(
            "--reference files are the latest checkpoint's samples; --step and --minutes pick another"
        )
    torch.set_num_threads(args.threads)
    t0 = time.time()
    run = genzoo.Run(args.run)
    step = args.step if args.step is not None else run.latest
    if args.minutes is not None:  # the kept checkpoint whose training seconds are nearest
        step = min(run.checkpoints, key=lambda s: abs(run.state(s)["train_seconds"] - 60 * args.minutes))
    model = run.model(step)
    data = run.data_config(root=args.data_root)
    rows: list[dict[str, Any]] = []
    for spec in args.samplers:
        sampler, steps, options = parse_spec(spec)
        start = time.perf_counter()
        if args.reference and not rows:  # drawn elsewhere over the seeds 0..n-1, in order
            x, seconds = load_sample_files(args.reference), args.reference_seconds
            if len(x) != args.n or x.shape[1:] != model.shape:
                raise SystemExit(
                    f"--reference holds {tuple(x.shape)} samples, expected {(args.n, *model.shape)}"
                )
        else:
            x = model.sample(args.n, seeds=range(args.n), sampler=sampler, steps=steps, **options)
            seconds = time.perf_counter() - start
        if args.save:
            from safetensors.torch import save_file

            args.save.mkdir(parents=True, exist_ok=True)
            save_file({"samples": x.contiguous()}, args.save / f"{spec.replace(':', '_')}.safetensors")
        s = evaluate_images(x, data, features="genzoo")["samples"]
        row = {
            "spec": spec,
            # guidance w other than 0 and 1 runs the conditional and the unconditional prediction
            "network_evals": sampling.network_evals(sampler, steps)
            * (1 if options.get("guidance", 1) in (0, 1) else 2),
            "seconds": None if seconds is None else round(seconds, 1),
        }
        if args.reference and len(rows) == 0:
            row["reference_files"] = [str(f) for f in args.reference]
        row |= {k: round(s[k], 4) for k in ("fid", "precision", "recall")} | {"n": args.n}
        row["fid_ratio"] = round(row["fid"] / rows[0]["fid"], 3) if rows else 1.0
        ref_seconds = rows[0]["seconds"] if rows else seconds
        row["time_ratio"] = round(ref_seconds / seconds, 1) if ref_seconds and seconds else None
        for k in (k for k in args.also_n if k < args.n):  # the same seeds' first k samples
            sk = evaluate_images(x[:k], data, features="genzoo")["samples"]
            row[f"fid_{k}"] = round(sk["fid"], 4)
        rows.append(row)
        print(row, flush=True)
        # the report so far after every setting: a run stopped early keeps what it measured
        report = {"run": str(args.run), "step": step, "train_seconds": run.state(step).get("train_seconds")}
        report |= {"rows": rows} | stamp(args.threads, t0)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
