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
# # 01 — The autoencoder, and PCA at the same code size
#
# An autoencoder is an encoder $f$ and a decoder $g$ trained so that $g(f(x))$ gives back $x$
# through a code $z = f(x)$ of $d \ll D$ numbers. With a linear $f$, $g$ and the squared error, the
# best it can do is PCA; the nonlinear networks should do better at the same $d$.
#
# `GENZOO_QUICK=1` (what CI sets) trains for a few seconds on the embedded 8x8 digits; without it
# the notebook trains on MNIST (28x28, from `$GENZOO_DATA` or downloaded once) for the figures of
# `notebooks/README.md`.

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from sklearn.decomposition import PCA

import genzoo
from genzoo import viz

QUICK = os.environ.get("GENZOO_QUICK") == "1"
DATA = "digits" if QUICK else "mnist"
STEPS = 150 if QUICK else 3000
LR = 1e-2 if QUICK else 2e-3  # quick: a high rate, to get somewhere in a few hundred steps
CODE = 8 if QUICK else 32  # d, the code size
MODEL = {"arch": "mlp", "hidden": [64]} if QUICK else {"arch": "conv"}
RUNS = Path("runs")


# %% [markdown]
# ## The objective
#
# $$\mathcal{L}(f, g) = \frac{1}{N} \sum_{n=1}^{N} \lVert x_n - g(f(x_n)) \rVert^2$$
#
# `loss="mse"` makes genzoo's autoencoder minimise exactly this (its default is the binary cross
# entropy, the better choice for pixels in [0, 1]); `genzoo.train.train` is the loop that
# `genzoo train ae` runs. A run already trained in `runs/` is reused.

# %%
out = RUNS / f"01-ae-{DATA}"
run = genzoo.Run.train_or_load(
    out,
    "ae",
    {
        "model": MODEL | {"latent_dim": CODE, "loss": "mse"},
        "train": {"steps": STEPS, "lr": LR, "image_every": 0},
        "data": {"name": DATA},
    },
    progress=not QUICK,
)
model = run.model().eval()
history = run.metrics()
steps = [r["step"] for r in history if "loss" in r]
plt.plot(steps, [r["loss"] for r in history if "loss" in r])
plt.xlabel("step")
plt.ylabel("training MSE per pixel")
plt.yscale("log")
plt.show()

# %% [markdown]
# ## The test reconstruction error, against PCA with $d$ components
#
# PCA keeps the $d$ directions $W \in \mathbb{R}^{D \times d}$ of largest variance of the
# training images and reconstructs $\hat{x} = \mu + W W^\top (x - \mu)$: the best *linear*
# code of size $d$ under the squared error.

# %%
train_x, test = run.data("train").x, run.data("test")
x = test.x
with torch.no_grad():
    x_ae = model.reconstruct(x)
pca = PCA(n_components=CODE, random_state=0).fit(train_x.flatten(1).numpy())
x_pca = torch.from_numpy(pca.inverse_transform(pca.transform(x.flatten(1).numpy()))).view_as(x).float()
mse_ae = (x_ae - x).pow(2).mean().item()
mse_pca = (x_pca.clamp(0, 1) - x).pow(2).mean().item()
print(f"test MSE per pixel at d = {CODE} ({DATA}, {len(x)} test images, {STEPS} steps):")
print(f"  autoencoder {mse_ae:.5f}")
print(f"  PCA         {mse_pca:.5f}")
viz.show([x[:12], x_ae[:12], x_pca[:12].clamp(0, 1)], "test images / autoencoder / PCA")

# %% [markdown]
# PCA's error for every code size, with the autoencoder's at its one $d$: how many linear
# components the nonlinear code of size $d$ is worth.

# %%
full = PCA(random_state=0).fit(train_x.flatten(1).numpy())
ds = list(range(1, min(full.n_components_, 4 * CODE) + 1))
flat = x.flatten(1).numpy()
errors = []
for d in ds:
    w, mu = full.components_[:d], full.mean_
    rec = (flat - mu) @ w.T @ w + mu
    errors.append(float(((rec.clip(0, 1) - flat) ** 2).mean()))
plt.plot(ds, errors, label="PCA, d components")
plt.scatter([CODE], [mse_ae], color="C1", zorder=3, label=f"autoencoder, d = {CODE}")
plt.xlabel("code size d")
plt.ylabel("test MSE per pixel")
plt.yscale("log")
plt.legend()
plt.show()
worth = next((d for d, e in zip(ds, errors, strict=True) if e <= mse_ae), None)
print(f"PCA needs d = {worth or f'> {ds[-1]}'} to match the autoencoder's code of {CODE}")

# %% [markdown]
# ## Sampling from an autoencoder
#
# An autoencoder has no prior over its codes; genzoo fits a Gaussian to the training codes and
# decodes draws from it (`model.sample`), so sample $i$ comes from seed $i$ alone.

# %%
samples = model.sample(24, seeds=range(24))
viz.show(list(samples.split(12)), "decoded codes drawn from a Gaussian fitted to the training codes")
