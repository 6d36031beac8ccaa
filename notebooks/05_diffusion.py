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
# # 05 — Diffusion: the forward chain, the reverse trajectory, DDIM against DDPM
#
# A diffusion model destroys an image by $T$ small steps of Gaussian noise (the *forward*
# process, fixed) and learns to undo one step at a time (the *reverse* process, a network).
#
# `GENZOO_QUICK=1` (what CI sets): a small MLP denoiser on the embedded 8x8 digits with $T = 50$
# and a few dozen steps (its samples are noise, but every cell runs); without it, MNIST with a
# U-Net ($T = 1000$) and the figures of `notebooks/README.md`.

# %%
import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch

import genzoo
from genzoo import sampling, viz
from genzoo.eval.evaluate import evaluate_images

QUICK = os.environ.get("GENZOO_QUICK") == "1"
DATA = "digits" if QUICK else "mnist"
STEPS = 40 if QUICK else 1500
# quick: an MLP denoiser on the flattened 8x8 images, T = 50; full: a U-Net, T = 1000, trained on
# L_simple (below) at lr 1e-3 as in notebooks/README.md's figures: ddpm's defaults until 2026-12-04.
# The defaults now (16 channels, no attention, min-SNR, lr 2e-3) train ~6x the steps in a minute:
# leave out the U-Net keys and LR to train them.
UNET = {"timesteps": 1000, "channels": 32, "attention": True, "loss_weighting": "uniform"}
QUICK_MLP = {"arch": "mlp", "hidden": 64, "blocks": 2, "timesteps": 50, "loss_weighting": "uniform"}
MODEL = QUICK_MLP if QUICK else UNET
LR = 1e-3
BATCH = 64
DDIM_STEPS = 10 if QUICK else 50
N_SAMPLES = 32 if QUICK else 100  # samples scored per sampler (DDPM: T network calls each)
RUNS = Path("runs")


# %% [markdown]
# ## Training: predict the noise
#
# With $\bar\alpha_t = \prod_{s \le t} (1 - \beta_s)$, the network $\varepsilon_\theta$ learns
# $L_\text{simple} = \mathbb{E}_{x_0, t, \varepsilon}\big\lVert \varepsilon -
# \varepsilon_\theta(\sqrt{\bar\alpha_t}\, x_0 + \sqrt{1 - \bar\alpha_t}\, \varepsilon,\ t)\big\rVert^2$
# (Ho et al. 2020), on images scaled to $[-1, 1]$; genzoo samples with an EMA of the weights.

# %%
out = RUNS / f"05-ddpm-{DATA}"
run = genzoo.Run.train_or_load(
    out,
    "ddpm",
    {
        "model": MODEL,
        "train": {"steps": STEPS, "batch_size": BATCH, "lr": LR, "image_every": 0},
        "data": {"name": DATA},
    },
    progress=not QUICK,
)
ddpm = run.model().eval()
sched, T = ddpm.schedule, ddpm.config.timesteps
print(run.summary())

# %% [markdown]
# ## The forward process on an image
#
# One step adds a little noise, $q(x_t \mid x_{t-1}) = \mathcal{N}(\sqrt{1 - \beta_t}\, x_{t-1},\
# \beta_t I)$, and the steps compose into one Gaussian that can be sampled directly:
#
# $$q(x_t \mid x_0) = \mathcal{N}\big(\sqrt{\bar\alpha_t}\, x_0,\ (1 - \bar\alpha_t)\, I\big)$$
#
# Below: `sampling.q_sample` draws from the closed form, `forward_process` runs the chain step by
# step; the rows differ in their draws, not in their distribution. $\bar\alpha_t$ falls from
# about 1 to about 0: by $t = T$ nothing of $x_0$ is left.

# %%
x = run.data("test").x[:8]
x0 = x * 2 - 1  # the model's range [-1, 1]
ts = [0, T // 10, T // 4, T // 2, (3 * T) // 4, T - 1]
g = torch.Generator().manual_seed(0)
closed = [x]
for t in ts:
    xt = sampling.q_sample(sched, x0, torch.full((len(x),), t), torch.randn(x0.shape, generator=g))
    closed.append(((xt + 1) / 2).clamp(0, 1))
viz.show(
    [torch.cat([row[i : i + 1] for row in closed]) for i in range(3)], f"closed form at t = 0 (x_0), {ts}"
)
chain = ddpm.forward_process(x[:3], ts)  # rows: x_0, then x_t for each t
viz.show([torch.cat([row[i : i + 1] for row in chain]) for i in range(3)], "the chain, step by step, same t")
plt.plot(sched.abar, label=r"$\bar\alpha_t$ (signal variance)")
plt.plot(1 - sched.abar, label=r"$1 - \bar\alpha_t$ (noise variance)")
plt.xlabel("t")
plt.legend()
plt.show()

# %% [markdown]
# ## The reverse trajectory
#
# Sampling starts at $x_T \sim \mathcal{N}(0, I)$ and applies the learned reverse step until $x_0$;
# `trajectory` returns evenly spaced frames of that path (the last row: the samples).

# %%
frames = ddpm.trajectory(6, frames=8, sampler="ddpm")
viz.show([torch.cat([f[i : i + 1] for f in frames]) for i in range(6)], "x_T (left) to x_0 (right), DDPM")

# %% [markdown]
# ## DDPM against DDIM
#
# **DDPM** (ancestral sampling, $T$ network calls): with $\hat\varepsilon = \varepsilon_\theta(x_t, t)$,
#
# $$x_{t-1} = \frac{1}{\sqrt{\alpha_t}}\Big(x_t - \frac{\beta_t}{\sqrt{1 - \bar\alpha_t}}\,\hat\varepsilon\Big)
# + \sigma_t z,\quad z \sim \mathcal{N}(0, I)$$
#
# **DDIM** (Song et al. 2021) predicts $\hat{x}_0 = (x_t - \sqrt{1 - \bar\alpha_t}\,\hat\varepsilon)/\sqrt{\bar\alpha_t}$
# and jumps to an earlier step $s < t$ of a short grid (here `DDIM_STEPS` calls); with
# $\eta = 0$ it adds no noise, a deterministic map from $x_T$ to $x_0$:
#
# $$x_s = \sqrt{\bar\alpha_s}\,\hat{x}_0 + \sqrt{1 - \bar\alpha_s}\,\hat\varepsilon$$
#
# Same seeds, so the same $x_T$; FID in genzoo's shipped feature network (lower is better, from
# `N_SAMPLES` samples: biased upwards by the small count, comparable between the two).

# %%
results = {}
for name, options in (
    ("ddpm", {"sampler": "ddpm"}),
    ("ddim", {"sampler": "ddim", "steps": DDIM_STEPS, "eta": 0.0}),
):
    t0 = time.perf_counter()
    samples = ddpm.sample(N_SAMPLES, seeds=range(N_SAMPLES), **options)
    seconds = time.perf_counter() - t0
    fid = evaluate_images(samples, run.data_config())["samples"]["fid"]
    results[name] = samples
    calls = T if name == "ddpm" else DDIM_STEPS
    print(f"{name}: {calls:4d} network calls, {seconds:6.1f} s for {N_SAMPLES} samples, FID {fid:.1f}")
viz.show(
    [results["ddpm"][:12], results["ddim"][:12]],
    f"the same seeds: DDPM ({T} steps) / DDIM ({DDIM_STEPS} steps)",
)
