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
# # 03 — The variational autoencoder: ELBO = reconstruction + KL, in nats
#
# A VAE is a latent-variable model $p_\theta(x) = \int p_\theta(x \mid z)\, p(z)\, dz$ with
# $p(z) = \mathcal{N}(0, I)$, trained through an encoder $q_\phi(z \mid x)$ that makes the
# integral's lower bound tractable.
#
# `GENZOO_QUICK=1` (what CI sets): a few seconds on the embedded 8x8 digits; without it, MNIST
# (dynamically binarized, Bernoulli pixels) and the figures of `notebooks/README.md`.

# %%
import math
import os
from pathlib import Path

import matplotlib.pyplot as plt
import torch

import genzoo
from genzoo import latent, viz
from genzoo.eval.likelihood import active_units, bits_per_dim

QUICK = os.environ.get("GENZOO_QUICK") == "1"
DATA = {"name": "digits"} if QUICK else {"name": "mnist", "binarize": "dynamic"}
STEPS = 150 if QUICK else 5000
LR = 5e-3 if QUICK else 2e-3
MODEL = {"arch": "mlp", "hidden": [64], "latent_dim": 8} if QUICK else {"arch": "conv", "latent_dim": 16}
N_TEST = 100 if QUICK else 2000  # test images scored
K = 10 if QUICK else 200  # importance samples of the IWAE bound
RUNS = Path("runs")


# %% [markdown]
# ## The evidence lower bound
#
# $$\log p_\theta(x) \;\ge\; \mathrm{ELBO}(x) =
# \underbrace{\mathbb{E}_{q_\phi(z \mid x)}\big[\log p_\theta(x \mid z)\big]}_{-\text{reconstruction}}
# \;-\; \underbrace{\mathrm{KL}\big(q_\phi(z \mid x)\,\Vert\,p(z)\big)}_{\text{KL}}$$
#
# genzoo's `vae` minimises $-\mathrm{ELBO}$ = reconstruction + KL, one $z$ per image drawn with the
# reparameterisation $z = \mu_\phi(x) + \sigma_\phi(x) \odot \varepsilon$, $\varepsilon \sim
# \mathcal{N}(0, I)$, so the gradient reaches $\mu$ and $\sigma$. Both terms are in **nats**
# (natural logarithms) per image.

# %%
out = RUNS / f"03-vae-{DATA['name']}"
run = genzoo.Run.train_or_load(
    out,
    "vae",
    {"model": MODEL, "train": {"steps": STEPS, "lr": LR, "image_every": 0}, "data": DATA},
    progress=not QUICK,
)
vae = run.model().eval()
history = [r for r in run.metrics() if "recon" in r]
for key in ("recon", "kl"):
    plt.plot([r["step"] for r in history], [r[key] for r in history], label=key)
plt.plot([r["step"] for r in history], [r["recon"] + r["kl"] for r in history], label="-ELBO = recon + KL")
plt.xlabel("step")
plt.ylabel("nats per image (training batches)")
plt.legend()
plt.show()

# %% [markdown]
# ## The KL term in closed form
#
# For $q_\phi(z \mid x) = \mathcal{N}(\mu, \mathrm{diag}\,\sigma^2)$ and $p(z) = \mathcal{N}(0, I)$:
#
# $$\mathrm{KL}\big(q_\phi(z \mid x)\,\Vert\,p(z)\big) = \frac{1}{2} \sum_{j=1}^{d}
# \big(\mu_j^2 + \sigma_j^2 - 1 - \log \sigma_j^2\big)$$
#
# Computed here from the encoder's $(\mu, \log \sigma^2)$ and compared with the model's own
# `elbo_terms`, which also gives the reconstruction term $-\log p_\theta(x \mid z)$ at one
# $z \sim q_\phi(z \mid x)$.

# %%
x = run.data("test").x[:N_TEST]
with torch.no_grad():
    mu, logvar = vae.posterior(x)
    kl_here = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)
    terms = vae.elbo_terms(x, generator=torch.Generator().manual_seed(0))
print(f"largest |KL here - KL of the model|: {(kl_here - terms['kl']).abs().max():.2e} nats")
neg_elbo = terms["recon"] + terms["kl"]
dims = math.prod(vae.shape)
print(f"on {len(x)} test images ({DATA['name']}):")
print(f"  reconstruction -log p(x|z) {terms['recon'].mean():8.2f} nats")
print(f"  KL(q(z|x) || p(z))          {terms['kl'].mean():8.2f} nats")
print(f"  -ELBO                       {neg_elbo.mean():8.2f} nats")
print(
    f"  active units: {active_units(terms['mu'])} of {vae.latent_dim} (the variance over x of mu_j(x) > 0.01)"
)

# %% [markdown]
# ## A tighter bound: importance weighting (IWAE)
#
# $$\log p_\theta(x) \;\ge\; \mathcal{L}_k(x) = \mathbb{E}\Big[\log \frac{1}{k}\sum_{i=1}^{k}
# \frac{p_\theta(x, z_i)}{q_\phi(z_i \mid x)}\Big],\qquad z_i \sim q_\phi(z \mid x)$$
#
# $\mathcal{L}_1$ is the ELBO, and $\mathcal{L}_k$ rises towards $\log p_\theta(x)$ as $k$ grows
# (`log_likelihood(x, k=...)`; `genzoo eval --iwae-k` reports it). In bits per dimension:
# $-\mathcal{L}_k / (D \ln 2)$.

# %%
with torch.no_grad():
    nll = -vae.log_likelihood(x, k=K, generator=torch.Generator().manual_seed(0))
bins = vae.likelihood_bins
print(f"-ELBO          {neg_elbo.mean():8.2f} nats  {bits_per_dim(neg_elbo, dims, bins).mean():.4f} bits/dim")
print(f"-L_k (k = {K:>3}) {nll.mean():8.2f} nats  {bits_per_dim(nll, dims, bins).mean():.4f} bits/dim")
print(f"the bound tightened by {(neg_elbo - nll).mean():.2f} nats per image")

# %% [markdown]
# ## Reconstructions, samples and interpolation
#
# Reconstruction decodes the posterior mean $\mu_\phi(x)$; a sample decodes $z \sim p(z)$;
# an interpolation decodes the path between two codes, along the line
# $z_t = (1 - t) z_0 + t z_1$ or the great circle
# $z_t = \frac{\sin((1-t)\Omega)}{\sin \Omega} z_0 + \frac{\sin(t\Omega)}{\sin \Omega} z_1$,
# $\cos \Omega = \frac{z_0 \cdot z_1}{\lVert z_0 \rVert \lVert z_1 \rVert}$ (slerp), which keeps
# $\lVert z_t \rVert$ near the norms that a Gaussian prior puts its mass at.

# %%
with torch.no_grad():
    recon = vae.reconstruct(x[:12])
viz.show([x[:12], recon], "test images / reconstructions (the decoded posterior mean)")
viz.show(
    list(vae.sample(24, seeds=range(24)).split(12)), "samples: decoded z ~ N(0, I), sample i from seed i"
)
with torch.no_grad():
    rows = [latent.interpolate(vae, x[i], x[i + 1], steps=10, slerp=s) for i, s in ((0, False), (0, True))]
    rows += [latent.interpolate(vae, x[i], x[i + 1], steps=10, slerp=True) for i in (2, 4)]
viz.show(rows, "interpolations: lerp, then slerp (first two rows: the same pair)")
