"""Trainer speed: genzoo train vs a bare PyTorch loop, fp32 vs bf16 (vs channels-last, compile).

For each network (genzoo's conv ``ae`` and the MLP ``ae``, the largest network present) and each
setting, trains for ``--steps`` steps of batch 128 on the MNIST training images and records
images/s per 25-step window (the first window, warm-up, is dropped); the table gives the median.
The settings are interleaved over ``--rounds`` rounds in one process, so a busy moment of the
machine hits every column alike. genzoo is timed from its own metrics.jsonl (``examples_per_s``
over the same 25-step windows, logging included); the bare loop is
``benchmarks/baselines/bare_ae_loop.py`` with the same layers (parameter counts checked).

    python benchmarks/bench_trainer_speed.py --data-root "$GENZOO_DATA" --threads 1 --out runs/speed

``--quality STEPS`` also trains the conv AE for STEPS steps in fp32 and in bf16 (seeds 0, 1) and
reports test BCE/MSE and FID (genzoo-mnist features) of each, to show bf16 learns as well.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baselines.bare_ae_loop import make_net, train_bare  # noqa: E402

from genzoo import config as cfgio  # noqa: E402
from genzoo.data import DataConfig, load_dataset  # noqa: E402
from genzoo.registry import get_model_class  # noqa: E402
from genzoo.train import RunSpec, TrainConfig, train  # noqa: E402
from genzoo.train.config import native_bf16  # noqa: E402

WINDOW = 25
GENZOO_SETTINGS = {  # name -> TrainConfig fields (every one explicit: defaults may differ by machine)
    "genzoo fp32": {"precision": "fp32", "channels_last": False},
    "genzoo bf16": {"precision": "bf16", "channels_last": False},
    "genzoo fp32 channels-last": {"precision": "fp32", "channels_last": True},
    "genzoo bf16 channels-last": {"precision": "bf16", "channels_last": True},
    "genzoo fp32 compile": {"precision": "fp32", "channels_last": False, "compile": True},
}
BARE_SETTINGS = {"bare fp32": {"precision": "fp32"}, "bare bf16": {"precision": "bf16"}}


def spec(data: DataConfig, arch: str, steps: int, threads: int, seed: int = 0, **train_kw: Any) -> RunSpec:
    cls = get_model_class("ae")
    tc = {"steps": steps, "batch_size": 128, "log_every": WINDOW, "image_every": 0, "ckpt_every": 10**9}
    return RunSpec(
        "ae",
        cfgio.from_dict(cls.config_class, {"arch": arch}),
        data,
        cfgio.from_dict(TrainConfig, tc | {"threads": threads, "seed": seed} | train_kw),
    )


def genzoo_rates(data: DataConfig, arch: str, steps: int, threads: int, **kw: Any) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        run = train(spec(data, arch, steps, threads, **kw), Path(tmp) / "r", progress=False)
        lines = [json.loads(s) for s in (run / "metrics.jsonl").read_text().splitlines()]
    return [r["examples_per_s"] for r in lines[1:]]


def speed(data: DataConfig, x: torch.Tensor, args: argparse.Namespace) -> dict[str, dict[str, list[float]]]:
    nets = {n: n for n in args.nets.split(",")}
    wanted = [w.strip() for w in args.only.split(",")] if args.only else None

    def chosen(name: str) -> bool:
        return name == "bare fp32" or wanted is None or any(w in name for w in wanted)

    results: dict[str, dict[str, list[float]]] = {n: {} for n in nets}
    for net, arch in nets.items():
        ours = sum(p.numel() for p in get_model_class("ae")(cfgio.from_dict(get_model_class("ae").config_class, {"arch": arch}), tuple(x.shape[1:])).parameters())  # fmt: skip
        theirs = sum(p.numel() for p in make_net(net, tuple(x.shape[1:])).parameters())
        assert ours == theirs, f"{net}: genzoo {ours} vs bare {theirs} parameters"
    for r in range(args.rounds):
        for net, arch in nets.items():
            for name, kw in BARE_SETTINGS.items():
                if not chosen(name):
                    continue
                rates = train_bare(x, net, args.steps, interval=WINDOW, seed=r, **kw)
                results[net].setdefault(name, []).extend(rates)
            for name, kw in GENZOO_SETTINGS.items():
                if net == "mlp" and "channels-last" in name:
                    continue  # no 4-D tensors: nothing to change
                if ("compile" in name and not args.compile) or not chosen(name):
                    continue
                rates = genzoo_rates(data, arch, args.steps, args.threads, seed=r, **kw)
                results[net].setdefault(name, []).extend(rates)
            med = {k: round(statistics.median(v)) for k, v in results[net].items()}
            print(f"round {r + 1}/{args.rounds} {net}: {med}", flush=True)
    return results


def quality(data: DataConfig, args: argparse.Namespace, out: Path) -> list[dict[str, Any]]:
    import genzoo
    from genzoo.eval.evaluate import evaluate_run

    rows = []
    test = load_dataset(data, "test")
    for precision in ("fp32", "bf16"):
        for seed in (0, 1):
            run = out / f"quality-{precision}-s{seed}"
            threads = args.quality_threads or args.threads
            sp = spec(
                data, "conv", args.quality, threads, seed=seed, precision=precision, channels_last=False
            )
            sp.train.log_every, sp.train.ckpt_every = 100, args.quality
            if not (run / "checkpoints/latest").exists():
                train(sp, run, progress=False)
            model = genzoo.load(run)
            with torch.no_grad():
                logits = torch.cat([model.decode_logits(model.encode(c)) for c in test.x.split(1000)])
            bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, test.x).item()
            mse = torch.nn.functional.mse_loss(torch.sigmoid(logits), test.x).item()
            ev = evaluate_run(run, n=10_000, data_root=data.root, seed=0)
            fid = ev.get("samples", {}).get("fid")
            rows.append({"precision": precision, "seed": seed, "test_bce": bce, "test_mse": mse, "fid": fid})
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=150, help="steps per measurement (6 windows of 25)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--compile", action="store_true", help="also time --compile (slow to start)")
    ap.add_argument("--only", default=None, help="comma-separated settings to time (substrings), e.g. fp32")
    ap.add_argument("--nets", default="conv,mlp", help="networks to time: conv, mlp")
    ap.add_argument("--quality", type=int, default=0, metavar="STEPS")
    ap.add_argument("--quality-threads", type=int, default=None, help="threads of the quality runs")
    ap.add_argument("--no-speed", action="store_true", help="only the quality comparison")
    ap.add_argument("--out", type=Path, default=Path("runs/speed"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    data = DataConfig(name="mnist", root=args.data_root)
    x = load_dataset(data, "train").x
    report: dict[str, Any] = {
        "command": "python " + " ".join(sys.argv),
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} thread(s), "
        f"native bf16: {native_bf16()}, torch {torch.__version__}",
    }
    print(report["machine"])
    table: list[str] = []
    res = {} if args.no_speed else speed(data, x, args)
    table += ["| network | setting | images/s (median) | vs bare fp32 |", "| --- | --- | ---: | ---: |"]
    for net, cols in res.items():
        base = statistics.median(cols["bare fp32"])
        for name, v in cols.items():
            m = statistics.median(v)
            table.append(f"| {net} ae | {name} | {m:,.0f} | {m / base:.2f} x |")
    report["speed"] = {net: {k: statistics.median(v) for k, v in cols.items()} for net, cols in res.items()}
    print("\n".join(table))
    if args.quality:
        report["quality"] = quality(data, args, args.out)
    name = "quality" if args.no_speed else "speed"
    (args.out / f"{name}.json").write_text(json.dumps(report, indent=2))
    (args.out / f"{name}.md").write_text("\n".join(table) + "\n")


if __name__ == "__main__":
    main()
