# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 06 — What the models are for: anomalies, retrieval, attribute sliders
#
# Three applications of a learned code or likelihood, each a function in `genzoo/apps/` (the
# same ones `genzoo anomaly`, `genzoo retrieve` and `genzoo edit` call):
#
# 1. **anomaly detection** with a VAE trained on one class only: its $-\log p(x)$ scores the rest;
# 2. **retrieval**: nearest neighbours in an autoencoder's code space, measured by mAP;
# 3. **attribute sliders**: moving a code along the difference of two group means.
#
# `GENZOO_QUICK=1` (what CI sets): a few seconds on the embedded 8x8 digits; without it, MNIST
# and the figures of `notebooks/README.md`.

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
import torch

import genzoo
from genzoo import latent, viz
from genzoo.apps import anomaly, arithmetic, retrieval

QUICK = os.environ.get("GENZOO_QUICK") == "1"
DATA = "digits" if QUICK else "mnist"
STEPS = 100 if QUICK else 3000
LR = 1e-2 if QUICK else 2e-3
SMALL = {"arch": "mlp", "hidden": [64]} if QUICK else {"arch": "conv"}
CODE = 8 if QUICK else 32
N_QUERIES = 50 if QUICK else 1000
NORMAL = 0  # the one class the anomaly detector sees
RUNS = Path("runs")


def trained(name, model_type, sections):
    """The run runs/NAME, trained first unless it is already there."""
    return genzoo.Run.train_or_load(RUNS / f"06-{name}-{DATA}", model_type, sections, progress=not QUICK)


# %% [markdown]
# ## 1. Anomaly detection: AUROC
#
# A VAE trained on the digit 0 alone scores each test image by $s(x) = -\mathcal{L}_k(x)$, its
# importance-weighted bound on $-\log p(x)$ (high = unlikely = anomalous). The AUROC is the
# probability that a random anomaly scores above a random normal image,
#
# $$\mathrm{AUROC} = P\big(s(x_\text{anomalous}) > s(x_\text{normal})\big)$$
#
# (0.5: chance; 1: every anomaly ranked first), over all other digits and for each alone.

# %%
one_class = trained(
    "vae-0",
    "vae",
    {
        "model": SMALL | {"latent_dim": CODE},
        "train": {"steps": STEPS, "lr": LR / 2, "image_every": 0},
        "data": {"name": DATA, "classes": [NORMAL]},
    },
)
vae = one_class.model().eval()
test = one_class.data("test", whole=True)  # every class, not only the one trained on
scores = anomaly.anomaly_scores(vae, test.x, k=10)
report = anomaly.one_class_report(scores, test.y, normal=[NORMAL], class_names=test.info.class_names)
print(
    f"normal: digit {NORMAL}; {report['n_normal']} normal and {report['n_anomalous']} anomalous test images"
)
print(f"AUROC {report['auroc']:.3f}, AUPRC {report['auprc']:.3f}")
names = list(report["per_class"])
plt.bar(names, [report["per_class"][c]["auroc"] for c in names])
plt.axhline(0.5, color="gray", ls=":")
plt.ylim(0, 1)
plt.xlabel("anomalous class")
plt.ylabel(f"AUROC against digit {NORMAL}")
plt.show()
most, least = anomaly.extremes(scores, 12)
viz.show([test.x[most], test.x[least]], "most anomalous (top) / least anomalous test images")

# %% [markdown]
# ## 2. Retrieval: mean average precision
#
# An autoencoder trained on every digit encodes a database (the training images) and queries (test
# images); a query's neighbours are ranked by cosine distance between codes. A neighbour is
# relevant when it has the query's label; with $\mathrm{rel}_r \in \{0, 1\}$ at rank $r$ and $R$
# relevant items in the database,
#
# $$\mathrm{AP} = \frac{1}{R} \sum_{r=1}^{N} \mathrm{rel}_r \cdot \mathrm{precision@}r,
# \qquad \mathrm{mAP} = \text{the mean of AP over the queries}$$
#
# against two baselines with no learning: raw pixels, and PCA with as many dimensions as the code.

# %%
ae_run = trained(
    "ae",
    "ae",
    {
        "model": SMALL | {"latent_dim": CODE},
        "train": {"steps": STEPS, "lr": LR, "image_every": 0},
        "data": {"name": DATA},
    },
)
ae = ae_run.model().eval()
db, queries = ae_run.data("train", whole=True), ae_run.data("test", whole=True)
q_x, q_y = queries.x[:N_QUERIES], queries.y[:N_QUERIES]
spaces = {
    f"autoencoder code (d = {CODE})": (retrieval.codes(ae, db.x), retrieval.codes(ae, q_x)),
    f"PCA (d = {CODE})": (retrieval.pca_codes(db.x, db.x, CODE), retrieval.pca_codes(db.x, q_x, CODE)),
    f"pixels (D = {db.x[0].numel()})": (retrieval.pixel_codes(db.x), retrieval.pixel_codes(q_x)),
}
print(f"mAP of {len(q_x)} test queries over {len(db.x)} training images (cosine; chance ~0.1):")
for name, (z_db, z_q) in spaces.items():
    print(f"  {name:28s} {retrieval.mean_average_precision(z_db, db.y, z_q, q_y):.3f}")
found = retrieval.retrieve(ae, db.x, q_x[:6], k=10)
viz.show(retrieval.neighbour_rows(q_x[:6], db.x, found.indices), "each query (left) and its 10 nearest codes")

# %% [markdown]
# ## 3. Attribute sliders
#
# Split the training images by a pixel statistic, e.g. stroke thickness ($2 \cdot$ area / perimeter):
# the top quartile is *thick*, the bottom *thin*. The attribute vector is the difference of the
# mean codes, and a slider decodes the code moved along it:
#
# $$v_\text{thick} = \bar{z}_\text{thick} - \bar{z}_\text{thin},
# \qquad x(a) = g\big(f(x) + a\, v_\text{thick}\big),\quad a \in [-2, 2]$$
#
# `slider_report` measures whether the decoded images' thickness rises with $a$ (Spearman's rank
# correlation, 1 = always) — the check that the slider does what its name says.

# %%
attrs = ae_run.attributes("pixels")
print("attributes:", attrs.known())
a = arithmetic.amounts(-2, 2, 9)
x = q_x[:8]
with torch.no_grad():
    z = latent.latent_codes(ae, x)
    edited = arithmetic.edit(ae, attrs, "thick", z, a)  # (8, 9, 1, H, W)
viz.show(list(edited[:5]), "thinner (left) to thicker (right): a = -2 ... 2")
statistic, direction = arithmetic.statistic_of(attrs, "thick")
slider = arithmetic.slider_report(edited, a, statistic, direction)
print(
    f"{statistic} along the slider: Spearman {slider['spearman']:.2f}, monotone in {slider['monotone']:.0%} of rows"
)
plt.plot(a, slider["mean_statistic"], "o-")
plt.xlabel("amount a along v_thick")
plt.ylabel(f"mean {statistic} of the decoded images")
plt.show()
