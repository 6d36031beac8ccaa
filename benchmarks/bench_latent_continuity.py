"""Is an AE's latent space full of holes, and a VAE's not? The lecture's claim, measured.

Trains an ``ae`` and a ``vae`` with the same encoder/decoder (``--arch``, ``--channels``,
``--latent-dim``) for the same wall-clock ``--budget`` through ``genzoo.train`` (a 150-step
calibration run measures each model's steps/s, the real run gets as many steps as fit the
budget, with the budget as a hard limit as well) -- or takes finished runs with ``--ae RUN
--vae RUN``. Then, for each model, it decodes on the test split:

- reconstructions: decode(encode(x)) of ``--n`` test images (the codes of real images),
- midpoints: decode(0.5 (z_i + z_j)) of ``--n`` random pairs of test codes (lerp), and the
  spherical midpoint slerp(z_i, z_j, 0.5) (``genzoo.latent.slerp``),
- prior samples: ``model.sample(n)``: N(0, I) for the VAE; for the AE, the full-covariance
  Gaussian N(mu, Sigma) that genzoo fits to the training codes at each checkpoint,

and scores each set of images with the dataset's shipped genzoo feature network: FID (and
precision/recall) against the whole test split (``genzoo.eval.evaluate.evaluate_images``), and
the mean classifier confidence, max softmax of the network's logits. Reference rows: ``--n`` real
test images (confidence) and the real-data floor (FID of ``--n`` real training images).

If AE codes between training codes are "holes", the AE's midpoints score much worse than its
reconstructions (higher FID, lower confidence), while the VAE's midpoints stay close to its own.

    python benchmarks/bench_latent_continuity.py --data mnist --data-root "$GENZOO_DATA" \\
        --budget 600 --work runs/latent-continuity --out docs/bench/latent_continuity.md
    # a smoke test on the embedded digits (seconds):
    python benchmarks/bench_latent_continuity.py --data digits --budget 3 --n 200 \\
        --work /tmp/lc --out /tmp/lc/latent_continuity.md
"""

from __future__ import annotations

import argparse
import datetime
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import torch
from machine import cpu_model

import genzoo
from genzoo import __version__, conditional, io, latent
from genzoo import config as cfgio
from genzoo.bench import measure_steps_per_s
from genzoo.data import DataConfig, load_dataset
from genzoo.eval.evaluate import draw_samples, evaluate_images, run_data_config
from genzoo.eval.features import Extractor, choose_extractor
from genzoo.registry import get_model_class
from genzoo.train import RunSpec, TrainConfig, train

REPO = Path(__file__).resolve().parents[1]
SETS = (  # key, what was decoded (as the table says it)
    ("recon", "reconstructions of test images"),
    ("lerp", "midpoints of random test-code pairs (lerp)"),
    ("slerp", "midpoints of random test-code pairs (slerp)"),
    ("prior", "prior samples"),
)


# ------------------------------------------------------------------------------------ training
def model_config(model_type: str, args: argparse.Namespace) -> Any:
    """The same encoder/decoder for both: arch, channels/hidden and latent size; other fields default."""
    cls = get_model_class(model_type).config_class
    return cls(arch=args.arch, latent_dim=args.latent_dim, channels=args.channels, hidden=args.hidden)


def train_config(args: argparse.Namespace, steps: int, **kw: Any) -> TrainConfig:
    tc = TrainConfig(
        steps=steps,
        batch_size=args.batch_size,
        warmup_steps=min(100, steps // 10),
        log_every=max(1, min(50, steps // 10)),
        image_every=0,
        ckpt_every=steps,
        threads=args.threads,
        seed=args.seed,
    )
    return cfgio.replace(tc, **kw) if kw else tc


def train_for_budget(model_type: str, data: DataConfig, args: argparse.Namespace) -> tuple[Path, float]:
    """Calibrate steps/s in 150 steps, then train for the budget; (run, steps/s of the calibration)."""
    run, calib = args.work / model_type, args.work / f"{model_type}-calibration"
    if args.reuse and (run / "checkpoints" / "latest").is_file():
        print(f"[bench] reusing {run}", file=sys.stderr)
        return run, float("nan")
    if run.exists():
        raise SystemExit(f"{run} exists; remove it, choose another --work, or pass --reuse")
    cfg = model_config(model_type, args)
    rate = measure_steps_per_s(RunSpec(model_type, cfg, data, train_config(args, 150)), calib, steps=150)
    steps = max(10, int(rate * args.budget))
    print(f"[bench] training {model_type}: {rate:.1f} steps/s -> {steps} steps", file=sys.stderr)
    train(
        RunSpec(model_type, cfg, data, train_config(args, steps)),
        run,
        progress=False,
        time_limit_s=args.budget,
    )
    return run, rate


def describe_run(run: Path, label: str) -> dict[str, Any]:
    """What a finished run is: its type, model config, steps and training seconds."""
    mdir = io.resolve_model_dir(run)
    cfg = io.read_config(mdir)
    state = io.read_json(mdir / "state.json") if (mdir / "state.json").is_file() else {}
    return {
        "label": label,
        "run": str(run),
        "model_type": cfg["model_type"],
        "model": cfg["model"],
        "step": state.get("step"),
        "planned": (cfg.get("train") or {}).get("steps"),
        "train_s": state.get("train_seconds"),
    }


# ------------------------------------------------------------------------------------- scoring
@torch.no_grad()
def confidence(ext: Extractor, x: torch.Tensor) -> float:
    """Mean over images of the feature network's top-class probability, max_k softmax(logits)_k."""
    _, logits = ext.extract(x)
    if logits is None:
        raise SystemExit(f"{ext.name} has no classifier head; mean confidence needs the shipped network")
    return float(torch.softmax(logits.double(), 1).max(1).values.mean())


def score(x: torch.Tensor, data: DataConfig, ext: Extractor) -> dict[str, Any]:
    result = evaluate_images(x, data, features=ext)
    s = result["samples"]
    return {
        "fid": s["fid"],
        "precision": s["precision"],
        "recall": s["recall"],
        "confidence": confidence(ext, x),
        "n": len(x),
        "n_reference": s["n_reference"],
        "real_floor": result["real_floor"],
        "notes": result["feature_notes"],
    }


@torch.no_grad()
def decoded_sets(
    model: Any, test_x: torch.Tensor, test_y: torch.Tensor | None, ref: torch.Tensor, args: argparse.Namespace
) -> dict[str, torch.Tensor]:
    """The four image sets of one model, each (n, C, H, W) in [0, 1] (see the module doc); ``ref``
    (n,) indexes the test images to reconstruct."""
    cond = conditional.is_conditional(model)
    y = test_y if cond else None
    g = torch.Generator().manual_seed(args.seed + 1)
    i, j = latent.random_pairs(len(test_x), args.n, y, g)  # (n,) each; one class per pair if conditional
    codes = latent.latent_codes(model, test_x, y)  # (N, d): the AE's code, the VAE's posterior mean
    mid_lerp = 0.5 * (codes[i] + codes[j])  # (n, d): (1 - t) z_i + t z_j at t = 0.5
    mid_slerp = latent.slerp(codes[i], codes[j], torch.tensor([0.5]))[:, 0]  # (n, d)
    yi = None if y is None else y[i]
    return {
        "recon": latent.decode(model, codes[ref], None if y is None else y[ref]),
        "lerp": latent.decode(model, mid_lerp, yi),
        "slerp": latent.decode(model, mid_slerp, yi),
        "prior": draw_samples(model, args.n, seed=args.seed),
    }


def prior_text(model: Any) -> str:
    from genzoo.models.base import FittedCodePrior
    from genzoo.models.capabilities import Capability, has

    if isinstance(model, FittedCodePrior):
        return "N(mu, Sigma) fitted to the training codes at the last checkpoint"
    if has(model, Capability.VARIATIONAL):
        return "the prior N(0, I)"
    return "model.sample"


# ------------------------------------------------------------------------------------- report
def markdown(meta: dict[str, Any], runs: list[dict], rows: list[dict], reference: dict) -> str:
    fn = meta["features"]
    out = [
        f"# Latent continuity: ae vs vae on {meta['data']}",
        "",
        f"Command: `{meta['command']}`  ",
        f"Machine: {meta['machine']}; torch {meta['torch']} ({meta['threads']} threads); genzoo {__version__}; {meta['date']}.",
        "",
        "| run | model | latent | steps (planned) | train s |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for r in runs:
        m = r["model"]
        arch = f"{m.get('arch', '?')} {tuple(m.get('channels', ()) if m.get('arch') == 'conv' else m.get('hidden', ()))}"
        secs = "-" if r["train_s"] is None else f"{r['train_s']:.0f}"
        out.append(
            f"| {r['label']} | {r['model_type']} ({arch}) | {m.get('latent_dim', '?')} "
            f"| {r['step']} ({r['planned']}) | {secs} |"
        )
    cut = [r["label"] for r in runs if r["step"] is not None and r["planned"] and r["step"] < r["planned"]]
    if cut:
        out += [
            "",
            f"Warning: {', '.join(cut)} stopped at the time limit before the planned steps (the machine ran "
            "slower than in the calibration, e.g. under other load), so its learning-rate schedule "
            "did not finish; compare runs only from a quiet machine.",
        ]
    out += [
        "",
        f"Each set has {meta['n']} images, scored against the {reference['n_reference']} {meta['data']} test images "
        f"with {fn} features; confidence is the mean max-softmax of that network's classifier.",
        "",
        f"| model | decoded images | FID ({fn}) | precision | recall | mean confidence |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        out.append(
            f"| {r['label']} | {r['what']} | {r['fid']:.2f} | {r['precision']:.3f} | {r['recall']:.3f} | {r['confidence']:.3f} |"
        )
    fl = reference["floor"]
    out.append(
        f"| real data | {meta['n']} test images (confidence); FID etc.: {fl['n_samples']} training images "
        f"| {fl['fid']:.2f} | {fl['precision']:.3f} | {fl['recall']:.3f} | {reference['confidence']:.3f} |"
    )
    by = {(r["label"], r["key"]): r for r in rows}
    out += ["", "Midpoints against reconstructions (the cost of leaving the codes of real images):", ""]
    for label in dict.fromkeys(r["label"] for r in rows):
        rec, mid = by[(label, "recon")], by[(label, "lerp")]
        out.append(
            f"- {label}: FID {rec['fid']:.2f} -> {mid['fid']:.2f} (x{mid['fid'] / max(rec['fid'], 1e-12):.2f}), "
            f"confidence {rec['confidence']:.3f} -> {mid['confidence']:.3f}"
        )
    out += [
        "",
        "Notes: reconstructions are of test images that are also in the FID reference set, so their FID "
        "flatters them a little; midpoints and samples are new images. Prior samples: "
        + "; ".join(f"{r['label']}: {r['prior']}" for r in runs)
        + ". Pairs are drawn uniformly over the test split (within one class for a conditional model)."
        " The real-data FID row uses training images (the library's real-data floor), its confidence row "
        "the test images themselves.",
    ]
    out += [f"Note: {n}." for n in meta["notes"]]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=None, help="dataset (default mnist; with --ae/--vae: the runs' own)")
    p.add_argument("--data-root", default=None, help="holds mnist/ (default: $GENZOO_DATA)")
    p.add_argument("--budget", type=float, default=600.0, help="training seconds per model (default 600)")
    p.add_argument("--ae", type=Path, default=None, help="use this finished run instead of training an ae")
    p.add_argument("--vae", type=Path, default=None, help="use this finished run instead of training a vae")
    p.add_argument("--arch", choices=("conv", "mlp"), default="conv")
    p.add_argument("--latent-dim", type=int, default=16)
    p.add_argument("--channels", type=lambda s: tuple(int(v) for v in s.split(",")), default=(32, 64))
    p.add_argument("--hidden", type=lambda s: tuple(int(v) for v in s.split(",")), default=(512, 256))
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument(
        "--threads", type=int, default=0, help="torch CPU threads for training (0: torch's default)"
    )
    p.add_argument(
        "--n", type=int, default=1000, help="pairs, samples and test images per set (default 1000)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", type=Path, default=Path("runs/latent-continuity"), help="where runs are trained")
    p.add_argument("--reuse", action="store_true", help="reuse finished runs in --work")
    p.add_argument("--out", type=Path, default=REPO / "docs/bench/latent_continuity.md")
    args = p.parse_args(argv)
    if args.budget <= 0 or args.n < 4:
        p.error("--budget must be > 0 and --n at least 4")

    given = {"ae": args.ae, "vae": args.vae}
    first = next((run for run in given.values() if run is not None), None)
    if first is None:
        data = DataConfig(name=args.data or "mnist", root=args.data_root)
    else:  # the data of the first run given (both are scored on the same test split)
        data = run_data_config(io.read_config(io.resolve_model_dir(first)), args.data, args.data_root)
    runs = []
    for label, run in given.items():
        if run is None:
            run, _ = train_for_budget(label, data, args)
        runs.append(describe_run(run, label))
    test = load_dataset(data, "test")
    ext = choose_extractor("genzoo", data.name, shape=tuple(test.x.shape[1:]))
    g = torch.Generator().manual_seed(args.seed)
    n_test = len(test)
    ref = (  # the real test images of the reference row, and the ones reconstructed
        torch.randperm(n_test, generator=g)[: args.n]
        if args.n <= n_test
        else torch.randint(n_test, (args.n,), generator=g)
    )

    rows, notes, floor = [], [], None
    for r in runs:
        model = genzoo.load(r["run"])
        latent.check_can_encode(model, "this benchmark")
        latent.check_images(model, "this benchmark")
        r["prior"] = prior_text(model)
        t0 = time.perf_counter()
        sets = decoded_sets(model, test.x, test.y, ref, args)
        for key, what in SETS:
            s = score(sets[key], data, ext)
            floor = s["real_floor"]
            notes += [n for n in s["notes"] if n not in notes]
            text = f"prior samples: {r['prior']}" if key == "prior" else what
            rows.append({"label": r["label"], "key": key, "what": text} | s)
        print(f"[bench] scored {r['label']} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    real = test.x[ref]
    reference = {"confidence": confidence(ext, real), "floor": floor, "n_reference": rows[0]["n_reference"]}
    meta = {
        "data": data.name,
        "features": ext.name,
        "n": args.n,
        "command": "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv or sys.argv[1:])]),
        "machine": f"{platform.platform()}, {cpu_model()}",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "date": datetime.date.today().isoformat(),
        "notes": notes,
    }
    text = markdown(meta, runs, rows, reference)
    print(text)
    io.atomic_write_bytes(args.out, text.encode())
    print(f"[bench] wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
