"""Retrieval and semantic hashing on MNIST: precision@k and mAP of neighbours in code space.

Database: the 60,000 MNIST training images; queries: the 10,000 test images for precision@10 and
precision@100 (``genzoo.apps.retrieval.search``, top 100), the first ``--map-queries`` (default
1,000) test images for mAP (the exact full ranking of all 60,000, ``average_precision``). A
neighbour is relevant when its label equals the query's. Rows:

- float codes (cosine and L2): raw pixels (784-d), PCA-32, PCA-16 (``sklearn.decomposition.PCA``
  fitted on the training images), the codes of ``mnist-ae`` (32-d) and the posterior means of
  ``mnist-vae`` (16-d), and the sigmoid codes of ``mnist-hash`` (32-d);
- 32-bit binary codes (Hamming): ``mnist-hash`` (an ae trained with ``code="sigmoid-noise"``,
  bits = code > 0.5), PCA + median threshold, random-projection LSH (seed 0), and the ``mnist-ae``
  codes thresholded at their training medians; and the ``mnist-vae`` means thresholded (16 bits);

plus query time per 10,000 database items (``query_time``: ``--time-queries`` queries against the
60,000, best of 3) for float codes of 784, 32 and 16 dimensions and for 32-bit codes (genzoo's
packed popcount, and sklearn's ``metric="hamming"`` on bool arrays for comparison). The models
come from ``benchmarks/apps_models.py`` (trained on first use under ``runs/apps``).

    GENZOO_DATA=/work/shared/data python benchmarks/bench_retrieval.py --data-root "$GENZOO_DATA" \\
        --threads 1 --out runs/bench/retrieval.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import apps_models  # noqa: E402
from machine import stamp  # noqa: E402

import genzoo  # noqa: E402
from genzoo.apps import retrieval as R  # noqa: E402
from genzoo.data import DataConfig, load_dataset  # noqa: E402

BITS = 32


def _scores(db, dby, q, qy, metric: str, map_queries: int, log) -> dict[str, Any]:
    t0 = time.perf_counter()
    _, idx = R.search(db, q, 100, metric)  # (Q, 100)
    t_search = time.perf_counter() - t0
    p10 = float(R.precision_at_k(idx[:, :10], dby, qy).mean())
    p100 = float(R.precision_at_k(idx, dby, qy).mean())
    t0 = time.perf_counter()
    m = R.mean_average_precision(db, dby, q[:map_queries], qy[:map_queries], metric)
    t_map = time.perf_counter() - t0
    out = {"p@10": round(p10, 4), "p@100": round(p100, 4), "mAP": round(m, 4)}
    log(f"  {metric}: {out} (search {t_search:.1f} s, mAP {t_map:.1f} s)")
    return out | {"search_s": round(t_search, 1), "map_s": round(t_map, 1)}


def _bit_stats(bits: torch.Tensor) -> dict[str, Any]:
    """Share of ones and number of distinct codes among the database's bit codes."""
    distinct = len(np.unique(R.pack_bits(bits), axis=0))
    return {"ones": round(float(bits.float().mean()), 3), "distinct_codes": int(distinct)}


def _sklearn_hamming_time(db: torch.Tensor, q: torch.Tensor, repeats: int = 3) -> float:
    """sklearn NearestNeighbors(metric="hamming", brute) on bool arrays: s per query per 10k items."""
    from sklearn.neighbors import NearestNeighbors

    nn_ = NearestNeighbors(n_neighbors=10, metric="hamming", algorithm="brute").fit(db.numpy())
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        nn_.kneighbors(q.numpy())
        best = min(best, time.perf_counter() - t0)
    return best * 10_000 / (len(q) * len(db))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", default=os.environ.get("GENZOO_DATA"))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--queries", type=int, default=10_000, help="test queries for precision@k")
    p.add_argument("--map-queries", type=int, default=1_000, help="test queries for mAP (full ranking)")
    p.add_argument("--time-queries", type=int, default=1_000, help="queries for the timing")
    p.add_argument("--root", type=Path, default=apps_models.ROOT, help="where the models are")
    p.add_argument("--out", type=Path, default=Path("runs/bench/retrieval.json"))
    a = p.parse_args(argv)
    started = time.time()
    torch.set_num_threads(a.threads)
    from threadpoolctl import threadpool_limits

    threadpool_limits(a.threads)  # numpy/sklearn BLAS and OpenMP pools as well

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    cfg = DataConfig(name="mnist", root=a.data_root)
    train, test = load_dataset(cfg, "train"), load_dataset(cfg, "test")
    tx, ty = train.x, train.y
    qx, qy = test.x[: a.queries], test.y[: a.queries]
    names = {"ae": "mnist-ae", "vae": "mnist-vae", "hash": "mnist-hash"}
    models = {k: genzoo.load(apps_models.ensure(n, a.data_root, a.root, log)) for k, n in names.items()}

    log("codes ...")
    floats: dict[str, tuple[torch.Tensor, torch.Tensor]] = {
        "raw pixels (784-d)": (R.pixel_codes(tx), R.pixel_codes(qx)),
        "PCA-32": (R.pca_codes(tx, tx, 32), R.pca_codes(tx, qx, 32)),
        "PCA-16": (R.pca_codes(tx, tx, 16), R.pca_codes(tx, qx, 16)),
        "ae codes (32-d, mnist-ae)": (R.codes(models["ae"], tx), R.codes(models["ae"], qx)),
        "vae mu (16-d, mnist-vae)": (R.codes(models["vae"], tx), R.codes(models["vae"], qx)),
        "hash-ae sigmoid codes (32-d, mnist-hash)": (
            R.codes(models["hash"], tx),
            R.codes(models["hash"], qx),
        ),
    }
    z_hash = floats["hash-ae sigmoid codes (32-d, mnist-hash)"]
    saturated = float(((z_hash[1] < 0.1) | (z_hash[1] > 0.9)).float().mean())

    def thresholded(model, z: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        t = R.code_thresholds(model, z[0])  # 0.5 for mnist-hash, the training medians otherwise
        return R.binarize(z[0], t), R.binarize(z[1], t)

    binaries: dict[str, tuple[torch.Tensor, torch.Tensor]] = {
        "hash-ae bits (mnist-hash, code > 0.5)": thresholded(models["hash"], z_hash),
        "PCA + median threshold": (R.pca_hash(tx, tx, BITS), R.pca_hash(tx, qx, BITS)),
        "random-projection LSH (seed 0)": (R.lsh_hash(tx, tx, BITS), R.lsh_hash(tx, qx, BITS)),
        "ae codes > training median (mnist-ae)": thresholded(
            models["ae"], floats["ae codes (32-d, mnist-ae)"]
        ),
        "vae mu > training median (mnist-vae, 16 bits)": thresholded(
            models["vae"], floats["vae mu (16-d, mnist-vae)"]
        ),
    }

    rows: list[dict[str, Any]] = []
    for name, (db, q) in floats.items():
        log(name)
        for metric in ("cosine", "l2"):
            rows.append(
                {"codes": name, "bits_or_dims": db.shape[1], "metric": metric}
                | _scores(db, ty, q, qy, metric, a.map_queries, log)
            )
    for name, (db, q) in binaries.items():
        log(name)
        rows.append(
            {"codes": name, "bits_or_dims": db.shape[1], "metric": "hamming"}
            | _scores(db, ty, q, qy, "hamming", a.map_queries, log)
            | _bit_stats(db)
        )

    log("timing ...")
    tq = slice(0, a.time_queries)
    load = os.getloadavg()[0]
    timing = {
        "float 784-d, l2 (raw pixels)": R.query_time(
            floats["raw pixels (784-d)"][0], qx.flatten(1)[tq], "l2"
        ),
        "float 32-d, cosine (ae codes)": R.query_time(
            floats["ae codes (32-d, mnist-ae)"][0], floats["ae codes (32-d, mnist-ae)"][1][tq], "cosine"
        ),
        "float 16-d, cosine (vae mu)": R.query_time(
            floats["vae mu (16-d, mnist-vae)"][0], floats["vae mu (16-d, mnist-vae)"][1][tq], "cosine"
        ),
        "32-bit, hamming (genzoo: packed popcount)": R.query_time(
            binaries["hash-ae bits (mnist-hash, code > 0.5)"][0],
            binaries["hash-ae bits (mnist-hash, code > 0.5)"][1][tq],
            "hamming",
        ),
        "32-bit, hamming (sklearn NearestNeighbors metric='hamming')": _sklearn_hamming_time(
            binaries["hash-ae bits (mnist-hash, code > 0.5)"][0],
            binaries["hash-ae bits (mnist-hash, code > 0.5)"][1][tq],
        ),
    }
    timing = {k: round(v * 1e3, 4) for k, v in timing.items()}  # ms per query per 10,000 items

    report = {
        "protocol": {
            "database": f"MNIST training split, {len(tx)} images",
            "precision_queries": f"the first {len(qx)} MNIST test images",
            "map_queries": f"the first {min(a.map_queries, len(qx))} MNIST test images, full ranking",
            "relevant": "same label",
            "ties": "by database index (stable sorts)",
            "timing": f"{a.time_queries} queries, top 10, best of 3; ms per query per 10,000 database items",
        },
        "models": {n: apps_models.describe(n) for n in names.values()},
        "hash_ae_test_codes_within_0.1_of_0_or_1": round(saturated, 4),
        "rows": rows,
        "query_ms_per_10k_items": timing,
        "load_average_1min_at_timing": round(load, 2),
        "machine": stamp(a.threads, started),
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(report, indent=2) + "\n")

    print("| codes | dims/bits | metric | precision@10 | precision@100 | mAP |")
    print("|---|---:|---|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['codes']} | {r['bits_or_dims']} | {r['metric']} | {r['p@10']:.3f} | {r['p@100']:.3f} "
            f"| {r['mAP']:.3f} |"
        )
    print()
    print("| search | ms per query per 10,000 items |")
    print("|---|---:|")
    for k, v in timing.items():
        print(f"| {k} | {v:.4f} |")
    log(f"wrote {a.out} in {time.time() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
