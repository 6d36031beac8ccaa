"""FID against training minutes, one line per sampler, from ``bench_samplers.py`` reports.

    python benchmarks/plot_samplers.py docs/bench/samplers-10m.json docs/bench/samplers-30m-fast.json \
        docs/bench/samplers-60m-10k.json --n 2000 --png docs/img/diffusion_sampler_curve.png

Each report is one checkpoint (its ``train_seconds`` is the x position); each of its rows is a point
of that row's sampler line. ``--n K`` plots the FID of K samples (a row's own ``fid`` when it drew K,
else its ``fid_K`` from ``--also-n``), so every point of the figure is scored on the same count;
rows with neither are left out, as are settings seen in only one report unless ``--all``.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def fid_at(row: dict, n: int) -> float | None:
    """The row's FID on n samples, if it was scored on that many."""
    return row["fid"] if row["n"] == n else row.get(f"fid_{n}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("reports", type=Path, nargs="+")
    p.add_argument("--n", type=int, required=True, help="the sample count every plotted FID was scored on")
    p.add_argument("--all", action="store_true", help="also settings measured at one checkpoint only")
    p.add_argument("--png", type=Path, required=True)
    p.add_argument("--data", default="MNIST", help="the data set named on the FID axis (its genzoo features)")
    p.add_argument("--title", default=None)
    args = p.parse_args()
    lines: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for f in args.reports:
        report = json.loads(f.read_text())
        minutes = report["train_seconds"] / 60
        for row in report["rows"]:
            fid = fid_at(row, args.n)
            if fid is not None:
                lines[row["spec"]].append((minutes, fid))
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for spec, pts in sorted(lines.items()):
        if len(pts) < 2 and not args.all:
            continue
        pts.sort()
        style = "o" if len(pts) == 1 else "o-"
        ax.plot([m for m, _ in pts], [v for _, v in pts], style, label=spec)
    ax.set_xlabel("training minutes (one thread)")
    ax.set_ylabel(f"FID ({args.n:,} samples, genzoo {args.data} features)")
    if args.title:
        ax.set_title(args.title, fontsize=9)
    ax.set_yscale("log")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    args.png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.png, dpi=110)
    print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
