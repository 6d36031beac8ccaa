"""The recurrent autoencoder ``seq-ae`` on real series: reconstruction against PCA on GunPoint,
windowed anomaly detection against simple baselines, and training speed. Needs the aeon wheel's
bundled data (``pip install 'genzoo[timeseries]'``).

    python benchmarks/bench_seq_ae.py --threads 1 --pictures docs/img/seq-ae

- ``gunpoint``: seq-ae with code sizes d in ``--dims`` (default 2, 8) trained on the 50 GunPoint
  training series (150 steps); the test MSE of the 150 test series (free-running reconstruction)
  beside PCA with d components fitted to the same 50 series (scikit-learn).
- ``anomaly``: on kdd-tsad-135 and ecg-anomaly (windows of 64 steps every 8), a seq-ae trained on
  the windows of the normal training series scores every test window by its reconstruction error
  (``genzoo.apps.anomaly.anomaly_scores(model, x, "recon")``). Beside it: the distance to the
  nearest training window (mean squared difference), the moving-average residual (mean squared
  difference between a window and its centred 9-step moving average) and PCA's reconstruction error
  with the same code size. AUROC and AUPRC with the windows that overlap a labelled region as the
  positives, and the share of labelled regions touched by the k top-scored windows (k = 5, 10).
- ``speed``: training series per second of the one trainer (its logged examples_per_s).

Every run uses the one trainer with ``--threads`` CPU threads and fp32; the equivalent ``genzoo
train`` command is printed into the report. Writes ``seq_ae.json`` and ``seq_ae.md`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import stamp  # noqa: E402

import genzoo  # noqa: E402
from genzoo import config as cfgio  # noqa: E402
from genzoo.apps import anomaly  # noqa: E402
from genzoo.data import DataConfig, load_dataset  # noqa: E402
from genzoo.data.timeseries import load_windows, plot_series, read_csv  # noqa: E402
from genzoo.models.seq_autoencoder import SeqAEConfig  # noqa: E402
from genzoo.train import RunSpec, TrainConfig, train  # noqa: E402

ANOMALY_SETS = ("kdd-tsad-135", "ecg-anomaly")
WINDOW, STRIDE = 64, 8
TOP_K = (5, 10)


def fit(
    work: Path, name: str, data: dict, model: dict, steps: int, batch: int, threads: int
) -> tuple[Path, dict]:
    """Train (or reuse) a run; returns its directory and the equivalent ``genzoo train`` command."""
    tc = {"steps": steps, "batch_size": batch, "threads": threads, "precision": "fp32", "log_every": 50}
    tc |= {"ckpt_every": steps, "image_every": 0}
    run = work / name
    flags = " ".join(f"--data-{k.replace('_', '-')} {v}" for k, v in data.items() if k != "name")
    flags += " " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in model.items())
    command = (
        f"genzoo train seq-ae --data {data['name']} {flags} --steps {steps} --batch-size {batch} "
        f"--threads {threads} --precision fp32 --out {run}"
    ).replace("  ", " ")
    if not (run / "checkpoints").is_dir():
        spec = RunSpec(
            "seq-ae",
            cfgio.from_dict(SeqAEConfig, model),
            cfgio.from_dict(DataConfig, data),
            cfgio.from_dict(TrainConfig, tc),
        )
        train(spec, run, progress=False)
    logs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    speed = [r["examples_per_s"] for r in logs if "examples_per_s" in r]
    return run, {"command": command, "series_per_s": round(float(np.median(speed)), 1) if speed else None}


def values(x: torch.Tensor) -> np.ndarray:
    """The value channels of series x (N, T, D + 1), flattened: (N, T * D)."""
    return x[..., :-1].flatten(1).numpy().astype(np.float64)


def pca_recon(train_x: torch.Tensor, x: torch.Tensor, d: int) -> tuple[np.ndarray, np.ndarray]:
    """PCA with d components fitted to train_x: (reconstructions (N, T * D), per-series MSE (N,))."""
    from sklearn.decomposition import PCA

    pca = PCA(d, random_state=0).fit(values(train_x))
    flat = values(x)
    rec = pca.inverse_transform(pca.transform(flat))
    return rec, ((rec - flat) ** 2).mean(1)


def nearest_window(train_x: torch.Tensor, x: torch.Tensor) -> np.ndarray:
    """Mean squared distance of each window of x to its nearest training window: (N,)."""
    a, b = torch.from_numpy(values(x)), torch.from_numpy(values(train_x))
    return (torch.cdist(a, b).min(1).values ** 2 / a.shape[1]).numpy()


def moving_average_residual(x: torch.Tensor, k: int = 9) -> np.ndarray:
    """Mean squared residual v_t - mean(v_{t-k//2 .. t+k//2}) of each window (N,) (valid part)."""
    v = x[..., :-1].permute(0, 2, 1).double()  # (N, D, T)
    ma = torch.nn.functional.avg_pool1d(v, k, stride=1)  # (N, D, T - k + 1)
    res = v[..., k // 2 : k // 2 + ma.shape[-1]] - ma
    return res.pow(2).mean((1, 2)).numpy()


def regions_found(scores: np.ndarray, starts: np.ndarray, regions: list, k: int) -> float:
    """Share of labelled regions [s, e) overlapped by at least one of the k top-scored windows."""
    top = np.argsort(-scores, kind="stable")[:k]
    return float(np.mean([any(starts[i] < e and starts[i] + WINDOW > s for i in top) for s, e in regions]))


def row_gunpoint(a) -> dict:
    train_d, test = (
        load_dataset(DataConfig(name="gunpoint"), "train"),
        load_dataset(DataConfig(name="gunpoint"), "test"),
    )
    out = {}
    for d in a.dims:
        run, meta = fit(
            a.work, f"gunpoint-d{d}", {"name": "gunpoint"}, {"latent_dim": d}, a.gunpoint_steps, 50, a.threads
        )
        model = genzoo.load(run)
        with torch.no_grad():
            rec = model.reconstruct(test.x)
            rec_train = model.reconstruct(train_d.x)
        pca_test, pca_mse = pca_recon(train_d.x, test.x, d)
        out[f"d={d}"] = meta | {
            "seq_ae_test_mse": float((rec - test.x)[..., :-1].pow(2).mean()),
            "seq_ae_train_mse": float((rec_train - train_d.x)[..., :-1].pow(2).mean()),
            "pca_test_mse": float(pca_mse.mean()),
            "pca_train_mse": float(pca_recon(train_d.x, train_d.x, d)[1].mean()),
        }
        if a.pictures:
            pca_x = torch.from_numpy(pca_test).float().view(len(test), -1, 1)
            pca_x = torch.cat([pca_x, torch.ones_like(pca_x)], -1)
            plot_series(
                [test.x[:6], rec[:6], pca_x[:6]],
                a.pictures / f"gunpoint_recon_d{d}.png",
                labels=("series", f"seq-ae (d={d})", f"PCA ({d})"),
                title=f"GunPoint test series and reconstructions, code size {d}",
            )
            from genzoo.latent_map import latent_map
            from genzoo.viz import save_figure

            fig = latent_map(
                model, test.x, test.y, class_names=test.info.class_names, title=f"GunPoint test codes, d={d}"
            )
            save_figure(fig, a.pictures / f"gunpoint_codes_d{d}.png")
    out["baseline_mean_mse"] = float((test.x[..., :-1] - train_d.x[..., :-1].mean(0)).pow(2).mean())
    return out


def row_anomaly(a) -> dict:
    out = {}
    for name in ANOMALY_SETS:
        tr = load_windows(name, "train", WINDOW, STRIDE)
        te = load_windows(name, "test", WINDOW, STRIDE)
        steps = a.anomaly_steps
        run, meta = fit(
            a.work,
            f"anomaly-{name}",
            {"name": name, "window": WINDOW, "stride": STRIDE},
            {"latent_dim": a.anomaly_dim},
            steps,
            64,
            a.threads,
        )
        model = genzoo.load(run)
        scores = {
            f"seq-ae recon (d={a.anomaly_dim})": anomaly.anomaly_scores(model, te.x, "recon").numpy(),
            "nearest training window": nearest_window(tr.x, te.x),
            "moving-average residual": moving_average_residual(te.x),
            f"PCA recon ({a.anomaly_dim})": pca_recon(tr.x, te.x, a.anomaly_dim)[1],
        }
        table = {}
        for method, s in scores.items():
            auroc, auprc = anomaly.auroc_auprc(torch.from_numpy(s), te.y.bool())
            table[method] = {"auroc": auroc, "auprc": auprc} | {
                f"regions_in_top{k}": regions_found(s, te.starts, te.regions, k) for k in TOP_K
            }
        out[name] = meta | {
            "train_windows": len(tr.x),
            "test_windows": len(te.x),
            "anomalous_windows": int(te.y.sum()),
            "regions": [list(map(int, r)) for r in te.regions],
            "methods": table,
        }
        if a.pictures:
            plot_anomaly(name, te, scores, a.pictures / f"anomaly_{name}.png")
    return out


def plot_anomaly(name: str, te, scores: dict, path: Path) -> None:
    """The test series with its labelled regions shaded, and each method's window scores below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from genzoo.data.timeseries import ANOMALY, aeon_data_dir

    folder, _, test_file = ANOMALY[name]
    series, _, _ = read_csv(aeon_data_dir() / folder / test_file)
    fig, axes = plt.subplots(3, 1, figsize=(10, 5.2), sharex=True, gridspec_kw={"height_ratios": [2, 1, 1]})
    axes[0].plot(series[:, 0], color="0.25", lw=0.6)
    centre = te.starts + WINDOW / 2
    picks = [m for m in scores if m.startswith("seq-ae")] + ["nearest training window"]
    for ax, method in zip(axes[1:], picks, strict=True):
        s = scores[method]
        ax.plot(centre, (s - s.min()) / (np.ptp(s) or 1.0), color="tab:red", lw=0.8)
        ax.set_ylabel(method.split(" (")[0], fontsize=7)
    for ax in axes:
        for s, e in te.regions:
            ax.axvspan(s, e, color="tab:orange", alpha=0.3, lw=0)
    axes[0].set_title(f"{name} test series (labelled anomalies shaded); window scores below", fontsize=9)
    axes[-1].set_xlabel("step")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def row_speed(a) -> dict:
    run, meta = fit(
        a.work, "sines-varlen", {"name": "sines-varlen"}, {"latent_dim": 16}, a.sines_steps, 128, a.threads
    )
    model = genzoo.load(run)
    test = load_dataset(DataConfig(name="sines-varlen"), "test")
    with torch.no_grad():
        rec = model.reconstruct(test.x)
    m = test.x[..., -1:] > 0
    v = test.x[..., :-1]
    err = float(((rec[..., :-1] - v) ** 2 * m).sum() / (m.sum() * v.shape[-1]))
    base = float(((v - v[m.expand_as(v)].mean()) ** 2 * m).sum() / (m.sum() * v.shape[-1]))
    if a.pictures:
        plot_series(
            [test.x[:6], rec[:6]],
            a.pictures / "sines_varlen_recon.png",
            title="sines-varlen test series (2 channels, 32..64 steps) and free-running reconstructions",
        )
        s = model.sample(6, generator=torch.Generator().manual_seed(0))
        plot_series([s], a.pictures / "sines_varlen_samples.png", labels=("sample",), title="seq-ae samples")
    return meta | {"test_masked_mse": err, "mean_baseline_mse": base}


def markdown(result: dict) -> str:
    lines = ["## seq-ae", ""]
    if "gunpoint" in result:
        g = result["gunpoint"]
        lines += [
            "GunPoint (50 train / 150 test series of 150 steps): test MSE of the reconstruction",
            "",
            "| code size | seq-ae test | PCA test | seq-ae train | PCA train | train series/s |",
            "|---|---|---|---|---|---|",
        ]
        for k, r in g.items():
            if k.startswith("d=") and isinstance(r, dict):
                lines.append(
                    f"| {k[2:]} | {r['seq_ae_test_mse']:.4f} | {r['pca_test_mse']:.4f} | "
                    f"{r['seq_ae_train_mse']:.4f} | {r['pca_train_mse']:.4f} | {r['series_per_s']} |"
                )
        lines += ["", f"(predicting the training mean series: {g['baseline_mean_mse']:.4f})", ""]
    if "anomaly" in result:
        lines += [
            f"Windowed anomaly detection (windows of {WINDOW} steps every {STRIDE})",
            "",
            "| set | method | AUROC | AUPRC | regions in top 5 | regions in top 10 |",
            "|---|---|---|---|---|---|",
        ]
        sets = {k: v for k, v in result["anomaly"].items() if isinstance(v, dict)}  # not wall_seconds
        for name, r in sets.items():
            for method, m in r["methods"].items():
                lines.append(
                    f"| {name} | {method} | {m['auroc']:.3f} | {m['auprc']:.3f} | "
                    f"{m['regions_in_top5']:.2f} | {m['regions_in_top10']:.2f} |"
                )
        lines.append("")
        for name, r in sets.items():
            lines.append(
                f"- {name}: {r['train_windows']} training windows, {r['test_windows']} test windows of "
                f"which {r['anomalous_windows']} anomalous, {len(r['regions'])} labelled region(s); "
                f"{r['series_per_s']} training series/s"
            )
        lines.append("")
    if "speed" in result:
        s = result["speed"]
        lines += [
            f"sines-varlen (2 channels, 32..64 steps, batch 128): {s['series_per_s']} training series/s; "
            f"masked test MSE {s['test_masked_mse']:.4f} (the mean: {s['mean_baseline_mse']:.4f})",
            "",
        ]
    lines.append("Commands:")
    lines.append("")
    for part in ("gunpoint", "anomaly"):
        for r in result.get(part, {}).values():
            if isinstance(r, dict) and "command" in r:  # (not the rows' wall_seconds)
                lines.append(f"    {r['command']}")
    if "speed" in result:
        lines.append(f"    {result['speed']['command']}")
    m = result["machine"]
    walls = ", ".join(
        f"{k} {result[k]['wall_seconds']} s" for k in ("gunpoint", "anomaly", "speed") if k in result
    )
    lines += [
        "",
        f"{m['threads']} thread(s), {m['machine']}, torch {m['torch']}, {m['date']}; wall time: {walls}",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--rows", default="gunpoint,anomaly,speed", help="comma-separated: gunpoint, anomaly, speed"
    )
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--dims", type=lambda s: [int(v) for v in s.split(",")], default=[2, 8])
    p.add_argument("--gunpoint-steps", type=int, default=1500)
    p.add_argument("--anomaly-steps", type=int, default=800)
    p.add_argument("--anomaly-dim", type=int, default=8)
    p.add_argument("--sines-steps", type=int, default=600)
    p.add_argument("--work", type=Path, default=Path("runs/bench-seq-ae"))
    p.add_argument("--out", type=Path, default=Path("docs/bench"))
    p.add_argument("--pictures", type=Path, default=None, help="write the figures here")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    t0 = time.time()
    a.work.mkdir(parents=True, exist_ok=True)
    a.out.mkdir(parents=True, exist_ok=True)
    if a.pictures:
        a.pictures.mkdir(parents=True, exist_ok=True)
    rows = {"gunpoint": row_gunpoint, "anomaly": row_anomaly, "speed": row_speed}
    path = a.out / "seq_ae.json"
    result = json.loads(path.read_text()) if path.is_file() else {}  # rows run before are kept
    for row in a.rows.split(","):
        t1 = time.time()
        result[row] = rows[row](a) | {"wall_seconds": round(time.time() - t1, 1)}
        print(f"{row}: done at {time.time() - t0:.0f} s", flush=True)
    result["machine"] = stamp(a.threads, t0)
    path.write_text(json.dumps(result, indent=2) + "\n")
    (a.out / "seq_ae.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
