"""Application benchmarks on real data: anomaly detection, out-of-distribution scoring, inpainting
and the generative classifier. Models come from ``apps_models.py`` (trained on first use).

    python benchmarks/bench_apps.py --data-root "$GENZOO_DATA" --threads 1 --row oneclass
    python benchmarks/bench_apps.py --data-root "$GENZOO_DATA" --threads 1 --row ood
    python benchmarks/bench_apps.py --data-root "$GENZOO_DATA" --threads 1 --row inpaint
    python benchmarks/bench_apps.py --data-root "$GENZOO_DATA" --threads 1 --row classify

- ``oneclass``: for each class c of MNIST and Fashion-MNIST, an MLP ``ae`` and ``vae`` trained on
  class c alone (600 steps) score all 10,000 test images; AUROC/AUPRC with the other classes as
  the anomalies. Scores: the ae's reconstruction error; the vae's reconstruction error (decoding
  the posterior mean), -ELBO and IWAE bound (k = 20); beside them, the reconstruction error of PCA with 16 components fitted to the same
  training images (scikit-learn), a model-free baseline.
- ``ood``: models trained on all of one dataset score its test split and the other dataset's
  (10,000 each); the foreign images are the positives. ``--diffusion RUN`` adds a ddpm's bound on
  ``--diffusion-n`` images of each.
- ``inpaint``: MSE on the filled pixels of ``--n`` test images for the masks left, center and
  random: ae and dae (trained with mask:0.5 noise) with 3 clamped reconstructions, vae (3 + 100
  Adam steps on the code), the training mean image and the nearest training image (on the known
  pixels).
- ``classify``: the generative classifier (cvae, IWAE k = 10) beside a small CNN trained on the
  same images (2,000 steps), on ``--n`` test images, clean and corrupted; with all 60,000 training
  images and with the first 1,000 (about 100 per class).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from apps_models import ensure  # noqa: E402
from machine import stamp  # noqa: E402

import genzoo  # noqa: E402
from genzoo.apps import anomaly, classify  # noqa: E402
from genzoo.apps.inpaint import baseline_fills, inpaint, make_mask, masked_mse  # noqa: E402
from genzoo.data import DataConfig, load_dataset  # noqa: E402

SHORT = {"mnist": "mnist", "fashion-mnist": "fashion"}


def split(name: str, which: str, root: str | None):
    return load_dataset(DataConfig(name=name, root=root), which)


def pca_scores(train_x: torch.Tensor, x: torch.Tensor, d: int = 16) -> torch.Tensor:
    """Reconstruction error of x by PCA with d components fitted to train_x: (N,) float64."""
    from sklearn.decomposition import PCA

    pca = PCA(d, random_state=0).fit(train_x.flatten(1).numpy())
    flat = x.flatten(1).numpy()
    rec = pca.inverse_transform(pca.transform(flat))
    return torch.from_numpy(((rec - flat) ** 2).mean(1)).double()


def row_oneclass(a) -> dict:
    out = {}
    for data in ("mnist", "fashion-mnist"):
        test, train_all = split(data, "test", a.data_root), split(data, "train", a.data_root)
        names = test.info.class_names
        table = {}
        for c in range(10):
            row = {}
            ae = genzoo.load(ensure(f"oneclass-{SHORT[data]}-ae-{c}", a.data_root))
            vae = genzoo.load(ensure(f"oneclass-{SHORT[data]}-vae-{c}", a.data_root))
            scores = {
                "pca-16 recon": pca_scores(train_all.x[train_all.y == c], test.x),
                "ae recon": anomaly.anomaly_scores(ae, test.x, "recon"),
                "vae recon": anomaly.anomaly_scores(vae, test.x, "recon"),
                "vae -ELBO": anomaly.anomaly_scores(vae, test.x, "elbo"),
                f"vae -IWAE (k={a.k})": anomaly.anomaly_scores(vae, test.x, "likelihood", k=a.k),
            }
            for name, s in scores.items():
                r = anomaly.one_class_report(s, test.y, [c], names)
                row[name] = {"auroc": r["auroc"], "auprc": r["auprc"]}
            table[names[c]] = row
            print(data, names[c], {k: round(v["auroc"], 4) for k, v in row.items()}, flush=True)
        kinds = list(next(iter(table.values())))
        mean = {k: {m: sum(r[k][m] for r in table.values()) / 10 for m in ("auroc", "auprc")} for k in kinds}
        out[data] = {"per_class": table, "mean": mean}
    return out


def row_ood(a) -> dict:
    out = {}
    pairs = (("mnist", "fashion-mnist"), ("fashion-mnist", "mnist"))
    for data, other in pairs:
        x_in, x_out = split(data, "test", a.data_root).x, split(other, "test", a.data_root).x
        for kind in ("ae", "vae"):
            model = genzoo.load(ensure(f"{SHORT[data]}-{kind}", a.data_root))
            for score in ("recon",) if kind == "ae" else ("recon", "elbo", "likelihood"):
                t0 = time.time()
                s_in = anomaly.anomaly_scores(model, x_in, score, k=a.k)
                s_out = anomaly.anomaly_scores(model, x_out, score, k=a.k)
                r = anomaly.ood_report(s_in, s_out) | {"seconds": round(time.time() - t0, 1)}
                out[f"{data} -> {other}: {kind} {score}"] = r
                print(data, "->", other, kind, score, round(r["auroc"], 4), flush=True)
        if a.diffusion and data == "mnist":
            model = genzoo.load(a.diffusion)
            n = a.diffusion_n
            s_in = anomaly.anomaly_scores(model, x_in[:n], "likelihood")
            s_out = anomaly.anomaly_scores(model, x_out[:n], "likelihood")
            out[f"{data} -> {other}: ddpm bound"] = anomaly.ood_report(s_in, s_out)
            print(
                data,
                "->",
                other,
                "ddpm",
                round(out[f"{data} -> {other}: ddpm bound"]["auroc"], 4),
                flush=True,
            )
    return out


def row_inpaint(a) -> dict:
    out = {}
    for data in ("mnist", "fashion-mnist"):
        test, train_x = split(data, "test", a.data_root), split(data, "train", a.data_root).x
        x = test.x[: a.n]
        models = {k: genzoo.load(ensure(f"{SHORT[data]}-{k}", a.data_root)) for k in a.models.split(",")}
        for mask in ("left", "center", "random"):
            known = make_mask(mask, (28, 28), seed=0)
            fills = baseline_fills(x, known, train_x)
            r = {name: masked_mse(f, x, known) for name, f in fills.items()}
            for kind, model in models.items():
                t0 = time.time()
                kw = {} if a.iters is None else {"iters": a.iters}
                r[kind] = masked_mse(inpaint(model, x, known, **kw), x, known)
                r[f"{kind} seconds"] = round(time.time() - t0, 1)
            out[f"{data} {mask}"] = r
            print(data, mask, {k: round(v, 4) for k, v in r.items()}, flush=True)
    return out


def row_classify(a) -> dict:
    out = {}
    test = split("mnist", "test", a.data_root)
    for name, limit in (("mnist-cvae", None), ("mnist-cvae-1000", 1000)):
        model = genzoo.load(ensure(name, a.data_root))
        train = load_dataset(DataConfig(name="mnist", root=a.data_root, limit=limit), "train")
        t0 = time.time()
        out[name] = classify.compare_classifiers(
            model, train.x, train.y, test.x[: a.n], test.y[: a.n], k=10, steps=2000, log=print
        ) | {"seconds": round(time.time() - t0, 1)}
    return out


ROWS = {"oneclass": row_oneclass, "ood": row_ood, "inpaint": row_inpaint, "classify": row_classify}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--row", choices=ROWS, required=True)
    p.add_argument("--data-root", default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--k", type=int, default=20, help="IWAE samples of the VAE scores")
    p.add_argument("--n", type=int, default=1000, help="test images (inpaint, classify)")
    p.add_argument("--models", default="ae,dae,vae", help="inpaint: the models (of ae, dae, vae)")
    p.add_argument("--iters", type=int, default=None, help="inpaint: clamped reconstructions (default 3)")
    p.add_argument("--diffusion", default=None, help="ood: also a ddpm run trained on MNIST")
    p.add_argument("--diffusion-n", type=int, default=500)
    p.add_argument("--out", type=Path, default=Path("runs/bench-apps"))
    p.add_argument("--tag", default="", help="suffix of the report's file name")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    t0 = time.time()
    result = {"row": a.row, "args": {k: str(v) for k, v in vars(a).items()}}
    result["result"] = ROWS[a.row](a)
    result["machine"] = stamp(a.threads, t0)
    a.out.mkdir(parents=True, exist_ok=True)
    path = a.out / f"{a.row}{a.tag}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
