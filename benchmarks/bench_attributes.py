"""Does an attribute slider do what it says? Pixel-attribute edits of MNIST codes, measured.

For each model (``benchmarks/apps_models.py``: mnist-ae, latent 32; mnist-vae, latent 16; trained
or reused under runs/apps/) the attribute centroids are computed from ``--n-attr`` training images
(``genzoo.apps.attributes.compute_attributes``: top vs bottom quartile of each pixel statistic, and
the class means), saved as RUN/attributes.safetensors; then the codes of ``--n`` test images are
moved along each pixel attribute's vector, z + a (high - low) for ``--steps`` amounts a in
[-2, 2], and decoded. Reported per model and attribute:

- monotone: share of images whose statistic never falls along the slider and ends higher;
- Spearman: mean over images of the rank correlation of statistic and amount;
- the mean statistic at each amount;
- class kept: share of images whose class by the shipped MNIST classifier equals the class of
  the unedited decode (a = 0), at each amount.

Pictures for the docs are drawn through the CLI (``genzoo arithmetic`` and ``genzoo edit``).

    # from the repository root (runs/apps/ is relative to it):
    GENZOO_DATA=/work/shared/data python benchmarks/bench_attributes.py --threads 1 \\
        --json runs/apps/bench_attributes.json --pictures docs/img/apps
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

import torch
from apps_models import describe, ensure
from machine import stamp

import genzoo
from genzoo import latent
from genzoo.apps import arithmetic as arith
from genzoo.apps import attribute_file
from genzoo.apps import attributes as attr
from genzoo.apps.pixel_statistics import PIXEL_ATTRIBUTES
from genzoo.cli import main as cli
from genzoo.data import DataConfig, load_dataset
from genzoo.eval.features import extract, load_feature_net

MODELS = ("mnist-ae", "mnist-vae")


def measure(name: str, data_root: str, a: argparse.Namespace, classify) -> dict:
    run = ensure(name, data_root)
    model = genzoo.load(run)
    data = DataConfig(name="mnist", root=data_root)
    tr, te = load_dataset(data, "train"), load_dataset(data, "test")
    t0 = time.time()
    attrs = attr.compute_attributes(model, tr.x, tr.y, class_names=tr.info.class_names, n=a.n_attr, seed=0)
    attribute_file.save_attributes(attrs, run / attribute_file.FILE_NAME)
    t_attr = time.time() - t0
    idx = torch.randperm(len(te), generator=torch.Generator().manual_seed(a.seed))[: a.n].sort().values
    z = latent.latent_codes(model, te.x[idx])  # (n, d)
    reference = classify(latent.decode(model, z))  # class of the unedited decode
    amounts = arith.amounts(-2.0, 2.0, a.steps)
    rows = {}
    for stat, (high, _low) in PIXEL_ATTRIBUTES.items():
        images = arith.edit(model, attrs, high, z, amounts)  # (n, T, 1, 28, 28)
        rows[stat] = arith.slider_report(images, amounts, stat, 1.0, classify, reference)
        r = rows[stat]
        print(f"  {name} {stat}: monotone {r['monotone']:.2f}, Spearman {r['spearman']:.2f}", flush=True)
    return {
        "model": name,
        "run": str(run),
        "spec": describe(name),
        "attributes_seconds": round(t_attr, 1),
        "rows": rows,
    }


def table(results: list[dict], steps: int) -> str:
    mid = steps // 2
    head = (
        "| model | attribute (high/low) | monotone | Spearman | statistic at a = -2 / 0 / +2 "
        "| class kept at a = -2 / -1 / +1 / +2 |\n|---|---|---|---|---|---|\n"
    )
    lines = []
    for res in results:
        for stat, r in res["rows"].items():
            s, k, am = r["mean_statistic"], r["class_kept"], r["amounts"]
            at = {round(v, 4): i for i, v in enumerate(am)}
            kept = " / ".join(f"{k[at[v]]:.2f}" if v in at else "-" for v in (-2.0, -1.0, 1.0, 2.0))
            hi, lo = PIXEL_ATTRIBUTES[stat]
            lines.append(
                f"| {res['model']} | {stat} ({hi}/{lo}) | {r['monotone']:.2f} | {r['spearman']:.2f} "
                f"| {s[0]:.3g} / {s[mid]:.3g} / {s[-1]:.3g} | {kept} |"
            )
    return head + "\n".join(lines)


def pictures(out: Path, data_root: str) -> list[str]:
    """The docs' pictures, each drawn by the CLI command it is listed with."""
    vae, ae = ensure("mnist-vae", data_root), ensure("mnist-ae", data_root)
    commands = [
        ["arithmetic", str(vae), "--expr", "7 + 2*thick - 2*thin", "-o", str(out / "attributes_arithmetic_vae.png")],
        ["arithmetic", str(ae), "--expr", "1 + 1.5*right-slanted - 1.5*left-slanted", "-o", str(out / "attributes_arithmetic_ae.png")],
        ["edit", str(vae), "--image", "0", "--attr", "thick", "--amount", "-2..2", "-o", str(out / "attributes_edit_thick_vae.png")],
        ["edit", str(vae), "--image", "0", "--attr", "slant", "--amount", "-2..2", "-o", str(out / "attributes_edit_slant_vae.png")],
        ["edit", str(ae), "--image", "0", "--attr", "thick", "--amount", "-2..2", "-o", str(out / "attributes_edit_thick_ae.png")],
        ["edit", str(ae), "--image", "0", "--attr", "slant", "--amount", "-2..2", "-o", str(out / "attributes_edit_slant_ae.png")],
    ]  # fmt: skip
    done = []
    for argv in commands:
        if cli(argv) != 0:
            raise SystemExit(f"failed: genzoo {shlex.join(argv)}")
        done.append("genzoo " + shlex.join(argv))
    return done


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--data-root", default=os.environ.get("GENZOO_DATA"), help="holds mnist/ (default $GENZOO_DATA)"
    )
    p.add_argument("--models", nargs="*", default=list(MODELS))
    p.add_argument("--n", type=int, default=200, help="test images slid (default 200)")
    p.add_argument(
        "--n-attr", type=int, default=10000, help="training images for the centroids (default 10000)"
    )
    p.add_argument("--steps", type=int, default=9, help="amounts from -2 to 2 (default 9)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", type=Path, default=Path("runs/apps/bench_attributes.json"))
    p.add_argument("--pictures", type=Path, default=None, help="draw the docs' pictures into this folder")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    started = time.time()
    net, _ = load_feature_net("mnist")

    def classify(x: torch.Tensor) -> torch.Tensor:
        return extract(net, x)[1].argmax(1)

    results = [measure(name, a.data_root, a, classify) for name in a.models]
    md = table(results, a.steps)
    print(md)
    report = {
        "command": "python benchmarks/bench_attributes.py "
        + shlex.join(argv if argv is not None else sys.argv[1:]),
        "n_test_images": a.n,
        "n_attribute_images": a.n_attr,
        "amounts": results[0]["rows"]["thickness"]["amounts"] if results else [],
        "results": results,
        "table": md,
    }
    if a.pictures is not None:
        a.pictures.mkdir(parents=True, exist_ok=True)
        report["pictures"] = pictures(a.pictures, a.data_root)
    report["stamp"] = stamp(a.threads, started)
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(report, indent=1))
    print(f"wrote {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
