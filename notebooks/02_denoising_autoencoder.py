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
# # 02 — The denoising autoencoder, measured in PSNR
#
# A denoising autoencoder sees a corrupted $\tilde{x} \sim c(\tilde{x} \mid x)$ and is trained to
# give back the clean $x$; it cannot copy its input, so it has to learn what digits look like.
#
# `GENZOO_QUICK=1` (what CI sets): a few seconds on the embedded 8x8 digits; without it, MNIST and
# the figures of `notebooks/README.md`.

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
import torch

import genzoo
from genzoo import viz
from genzoo.data import apply_noise
from genzoo.eval.metrics import psnr

QUICK = os.environ.get("GENZOO_QUICK") == "1"
DATA = "digits" if QUICK else "mnist"
STEPS = 150 if QUICK else 3000
LR = 1e-2 if QUICK else 2e-3
MODEL = {"arch": "mlp", "hidden": [64]} if QUICK else {"arch": "conv"}
SIGMA = 0.5  # the training corruption: x~ = clip(x + 0.5 eps, 0, 1), eps ~ N(0, I)
RUNS = Path("runs")


# %% [markdown]
# ## The objective
#
# $$\tilde{x} = \mathrm{clip}(x + \sigma \varepsilon,\ 0,\ 1),\quad \varepsilon \sim \mathcal{N}(0, I),
# \qquad \mathcal{L}(f, g) = \mathbb{E}_{x,\,\tilde{x}}\big[\ell\big(x,\ g(f(\tilde{x}))\big)\big]$$
#
# with $\ell$ the per-pixel binary cross entropy (genzoo's default for pixels in $[0, 1]$). The
# model's `corrupt` is $c$; its `loss` is the line `recon_loss(decode_logits(encode(corrupt(x))), x)`.

# %%
out = RUNS / f"02-dae-{DATA}"
run = genzoo.Run.train_or_load(
    out,
    "dae",
    {
        "model": MODEL | {"noise": f"gaussian:{SIGMA}"},
        "train": {"steps": STEPS, "lr": LR, "image_every": 0},
        "data": {"name": DATA},
    },
    progress=not QUICK,
)
dae = run.model().eval()
print(run.summary())

# %% [markdown]
# ## Clean, noisy, denoised: PSNR
#
# $$\mathrm{PSNR}(\hat{x}, x) = 10 \log_{10} \frac{1}{\mathrm{MSE}(\hat{x}, x)}\ \mathrm{dB}
# \qquad (\text{pixels in } [0, 1],\ \text{the mean over images})$$
#
# Higher is better; each halving of the error adds 3 dB.

# %%
x = run.data("test").x
noisy = apply_noise(x, f"gaussian:{SIGMA}", torch.Generator().manual_seed(0))
with torch.no_grad():
    denoised = dae.reconstruct(noisy)
print(f"PSNR against the clean test images ({len(x)} of them, {DATA}, sigma = {SIGMA}):")
print(f"  noisy    {psnr(noisy, x):6.2f} dB")
print(f"  denoised {psnr(denoised, x):6.2f} dB")
viz.show([x[:12], noisy[:12], denoised[:12]], "clean / noisy / denoised")

# %% [markdown]
# ## Other noise levels than the one it was trained on
#
# The same model on corruptions from $\sigma = 0.1$ to $0.9$: the gain is largest near the
# training $\sigma$, and at small $\sigma$ the denoiser can make a nearly clean image worse.

# %%
sigmas = [0.1, 0.25, 0.5, 0.75, 0.9]
before, after = [], []
for s in sigmas:
    xs = apply_noise(x, f"gaussian:{s}", torch.Generator().manual_seed(0))
    with torch.no_grad():
        before.append(psnr(xs, x))
        after.append(psnr(dae.reconstruct(xs), x))
plt.plot(sigmas, before, "o-", label="noisy")
plt.plot(sigmas, after, "o-", label="denoised")
plt.axvline(SIGMA, color="gray", ls=":", label="training sigma")
plt.xlabel("noise std sigma")
plt.ylabel("PSNR (dB)")
plt.legend()
plt.show()
for s, b, a in zip(sigmas, before, after, strict=True):
    print(f"sigma {s:4.2f}: noisy {b:5.2f} dB -> denoised {a:5.2f} dB")
