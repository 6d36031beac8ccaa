"""Few labels: does a generative model help? ``pretrain-eval`` and ``augment`` measured on MNIST
(and augmentation with a guided diffusion model on Fashion-MNIST).

Rows (each runs on its own, well under 10 minutes on one thread; results accumulate in --out):

- ``pretrain``: for mnist-deep-ae (stacked, greedy layer-wise pretraining), mnist-ae (conv, code
  32) and mnist-vae (conv, code 16; its code is the posterior mean), with 100 and 1,000 labels and
  seeds 0, 1, 2: fine-tuned encoder + linear head vs the same network re-initialised vs logistic
  regression on the frozen codes (``genzoo.apps.pretrain.pretrain_eval``, 500 Adam steps, batch 64);
- ``augment``: mnist-cvae, a SmallClassifier on 100 / 1,000 real labels alone, with 100 generated
  samples per class added, and on the generated samples alone (``genzoo.apps.augment.augment_eval``);
  ``--models mnist-cvae-1000``: the cvae trained on the first 1,000 training images only, the
  classifier's labels drawn from the same 1,000 (its training split keeps the run's ``limit``;
  1,000 balanced labels do not fit there and are skipped);
- ``augment-fashion``: the same with the guided diffusion model runs/bench-diff/fashion-mnist-curve-cddpm
  (a cddpm trained 30 CPU-minutes; DPM-Solver++ 20 steps, guidance = the model's 1.0, about 17
  images/s on one thread) on Fashion-MNIST, 50 generated per class (drawn once per seed, shared by
  both label counts).

The models come from ``benchmarks/apps_models.py`` (trained on first use under runs/apps/).

    export GENZOO_DATA=/work/shared/data
    python benchmarks/bench_fewlabels.py --row pretrain --threads 1 --out runs/apps/fewlabels.json
    # (or one model at a time: --row pretrain --models mnist-ae ...)
    python benchmarks/bench_fewlabels.py --row augment --threads 1 --out runs/apps/fewlabels.json
    python benchmarks/bench_fewlabels.py --row augment --models mnist-cvae-1000 --threads 1 \\
        --out runs/apps/fewlabels.json   # a cvae that saw only the first 1,000 labelled images
    python benchmarks/bench_fewlabels.py --row augment-fashion --threads 1 --out runs/apps/fewlabels.json
    python benchmarks/bench_fewlabels.py --table --out runs/apps/fewlabels.json   # the markdown tables
    # a smoke test on the embedded digits with tiny models (seconds): --row smoke --out /tmp/fl.json
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import torch
from apps_models import ROOT, describe, ensure
from machine import stamp

import genzoo
from genzoo import config as cfgio
from genzoo import io
from genzoo.apps.augment import augment_eval, sample_per_class
from genzoo.apps.pretrain import pretrain_eval
from genzoo.data import load_dataset
from genzoo.errors import ConfigError
from genzoo.eval.evaluate import run_data_config

LABELS = (100, 1000)
SEEDS = (0, 1, 2)
STEPS = 500
PRETRAIN_MODELS = ("mnist-deep-ae", "mnist-ae", "mnist-vae")
CDDPM = Path("runs/bench-diff/fashion-mnist-curve-cddpm")
PRETRAIN_ROWS = (
    ("fine-tune", "pre-trained encoder + linear head, fine-tuned"),
    ("scratch", "same network re-initialised, trained the same"),
    ("logistic", "logistic regression on the frozen codes"),
)
AUGMENT_ROWS = (
    ("real", "real labels alone"),
    ("real + generated", "real + generated"),
    ("generated only", "generated only"),
)


def splits(run: Path, data_root: str | None) -> tuple[Any, Any]:
    """The run's training split (its own ``limit``: mnist-cvae-1000's labels come from the 1,000
    images its generator saw) and the whole test split."""
    data = run_data_config(io.read_config(io.resolve_model_dir(run)), None, data_root)
    return load_dataset(data, "train"), load_dataset(cfgio.replace(data, limit=None), "test")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def row_pretrain(a: argparse.Namespace) -> dict[str, Any]:
    out = {}
    for name in a.models or PRETRAIN_MODELS:
        t0 = time.time()
        run = ensure(name, a.data_root, log=log)
        model = genzoo.load(run)
        train, test = splits(run, a.data_root)
        by = {}
        for n in LABELS:
            log(f"pretrain-eval {name}, {n} labels")
            by[str(n)] = pretrain_eval(model, train, test, n, seeds=SEEDS, steps=STEPS, log=log)
        out[f"pretrain/{name}"] = {"run": str(run), "entry": describe(name), "by_labels": by} | {
            "stamp": stamp(a.threads, t0)
        }
    return out


def row_augment(a: argparse.Namespace, key: str, run: Path, per_class: int, entry: Any) -> dict[str, Any]:
    t0 = time.time()
    model = genzoo.load(run)
    train, test = splits(run, a.data_root)
    samples = []
    for s in SEEDS:  # one generated set per seed, shared by both label counts
        t1 = time.time()
        samples.append(sample_per_class(model, per_class, s))
        log(f"{key}: {len(samples[-1][1])} samples (seed {s}) in {time.time() - t1:.0f} s")
    sample_s = time.time() - t0
    by = {}
    for n in LABELS:
        log(f"augment {key}, {n} labels")
        try:
            by[str(n)] = augment_eval(
                model, train, test, n, per_class=per_class, seeds=SEEDS, steps=STEPS, samples=samples, log=log
            )
        except ConfigError as e:  # a limited training split may not hold n balanced labels
            log(f"skipped {n} labels: {e}")
    return {
        key: {"run": str(run), "entry": entry, "by_labels": by, "sampling_seconds": round(sample_s, 1)}
        | {"stamp": stamp(a.threads, t0)}
    }


def row_smoke(a: argparse.Namespace) -> dict[str, Any]:
    """Tiny models on the embedded digits: the whole pipeline in seconds."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from genzoo.train import train as train_run
    from tests.conftest import tiny_spec

    work = Path(a.out).parent / "fewlabels-smoke"
    out = {}
    global LABELS, SEEDS, STEPS
    LABELS, SEEDS, STEPS = (20, 50), (0, 1), 50
    for kind in ("ae", "cvae"):
        if not (work / kind).exists():
            train_run(
                tiny_spec(kind, steps=60, threads=1, image_every=0, ckpt_every=60),
                work / kind,
                progress=False,
            )
    t0 = time.time()
    model = genzoo.load(work / "ae")
    train, test = splits(work / "ae", None)
    by = {str(n): pretrain_eval(model, train, test, n, seeds=SEEDS, steps=STEPS) for n in LABELS}
    out["pretrain/smoke-ae"] = {"run": str(work / "ae"), "by_labels": by, "stamp": stamp(a.threads, t0)}
    out |= row_augment(a, "augment/smoke-cvae", work / "cvae", 10, "tiny cvae")
    return out


# ------------------------------------------------------------------------------------- the tables
def _cell(row: dict[str, Any]) -> str:
    return f"{row['mean']:.3f} ± {row['std']:.3f}"


def _columns(section: dict[str, Any]) -> list[str]:
    return sorted({n for r in section.values() for n in r["by_labels"]}, key=int)


def _header(first: str, second: str, cols: list[str]) -> list[str]:
    heads = " | ".join(f"{int(n):,} labels" for n in cols)
    return [f"| {first} | {second} | {heads} |", "|---|---|" + "---|" * len(cols)]


def tables(results: dict[str, Any]) -> str:
    """Markdown: one table for the pretrain rows, one for the augment rows, then the machine."""
    lines = []
    pre = {k: v for k, v in results.items() if k.startswith("pretrain/")}
    if pre:
        cols = _columns(pre)
        lines += _header("model", "method", cols)
        for key, r in pre.items():
            code = next(iter(r["by_labels"].values()))["code_dim"]
            for row, what in PRETRAIN_ROWS:
                by = r["by_labels"]
                cells = [_cell(by[n]["rows"][row]) if n in by else "–" for n in cols]
                lines.append(f"| {key.split('/', 1)[1]} (code {code}) | {what} | {' | '.join(cells)} |")
        lines.append("")
    aug = {k: v for k, v in results.items() if k.startswith("augment/")}
    if aug:
        cols = _columns(aug)
        lines += _header("model", "training set (examples)", cols)
        for key, r in aug.items():
            per = next(iter(r["by_labels"].values()))["per_class"]
            for row, what in AUGMENT_ROWS:
                cells = []
                for n in cols:
                    res = r["by_labels"].get(n)
                    cells.append(f"{_cell(res['rows'][row])} ({res['examples'][row]})" if res else "–")
                label = what if row == "real" else f"{what} ({per}/class)"
                lines.append(f"| {key.split('/', 1)[1]} | {label} | {' | '.join(cells)} |")
        lines.append("")
    seeds = sorted({tuple(b["seeds"]) for r in results.values() for b in r["by_labels"].values()})
    runs = sorted(
        {
            f"{r['stamp']['machine']}, {r['stamp']['threads']} thread(s), torch {r['stamp']['torch']}, "
            f"{r['stamp']['date']}"
            for r in results.values()
        }
    )
    lines.append(
        f"Test accuracy, mean ± std over seeds {' / '.join(', '.join(map(str, s)) for s in seeds)}; "
        + "; ".join(runs)
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--row", choices=("pretrain", "augment", "augment-fashion", "smoke"), default=None)
    p.add_argument(
        "--models",
        nargs="*",
        default=None,
        help="pretrain: a subset of "
        + ", ".join(PRETRAIN_MODELS)
        + "; augment: class-conditional models of apps_models.py (default mnist-cvae)",
    )
    p.add_argument("--table", action="store_true", help="print the markdown tables of --out")
    p.add_argument("--data-root", default=os.environ.get("GENZOO_DATA"))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=ROOT / "fewlabels.json")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    results = io.read_json(a.out) if a.out.exists() else {}
    if a.row:
        t0 = time.time()
        if a.row == "pretrain":
            new = row_pretrain(a)
        elif a.row == "augment":
            new = {}
            for name in a.models or ("mnist-cvae",):
                run = ensure(name, a.data_root, log=log)
                new |= row_augment(a, f"augment/{name}", run, 100, describe(name))
        elif a.row == "augment-fashion":
            entry = (
                "cddpm trained 30 CPU-minutes (benchmarks/bench_diffusion.py curve), "
                "DPM-Solver++ 20 steps, guidance 1.0"
            )
            new = row_augment(a, "augment/fashion-cddpm", CDDPM, 50, entry)
        else:
            new = row_smoke(a)
        command = "python benchmarks/bench_fewlabels.py " + shlex.join(
            argv if argv is not None else sys.argv[1:]
        )
        for v in new.values():
            v["command"] = command
        results = (io.read_json(a.out) if a.out.exists() else {}) | new  # rows written meanwhile kept
        io.atomic_write_json(a.out, results)
        log(f"{a.row}: {time.time() - t0:.0f} s -> {a.out}")
        print(tables(new))
    if a.table:
        print(tables(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
