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
# # 04 — DCGAN: the minimax game, its progress, and the best checkpoint
#
# A generator $G$ maps noise $z \sim \mathcal{N}(0, I)$ to images; a discriminator $D$ says how
# likely an image is to be real. They are trained against each other, alternately, by the one
# training loop (genzoo's trainer steps the `disc` player, then the `gen` player).
#
# `GENZOO_QUICK=1` (what CI sets): a few dozen steps on the embedded 8x8 digits (noise, but every
# cell runs); without it, MNIST and the figures of `notebooks/README.md`.

# %%
import math
import os
from pathlib import Path

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

import genzoo
from genzoo import viz

QUICK = os.environ.get("GENZOO_QUICK") == "1"
DATA = "digits" if QUICK else "mnist"
STEPS = 30 if QUICK else 3000
EVERY = 10 if QUICK else 500  # a progress picture and a checkpoint (scored by FID) every EVERY steps
MODEL = {"channels": [8, 16], "g_channels": [16, 8], "latent_dim": 16} if QUICK else {}
SELECT_SAMPLES = 100 if QUICK else 1000
RUNS = Path("runs")


# %% [markdown]
# ## The minimax objective
#
# $$\min_G \max_D\ V(D, G) = \mathbb{E}_{x \sim p_\text{data}}\big[\log D(x)\big]
# + \mathbb{E}_{z \sim p(z)}\big[\log\big(1 - D(G(z))\big)\big]$$
#
# $D$ ascends $V$ (`d_loss` in `genzoo/models/gan.py`: the binary cross entropy of real against
# fake). For $G$, genzoo's default `loss="ns"` is the *non-saturating* form from the same paper,
# $\max_G \mathbb{E}_z[\log D(G(z))]$: the same fixed point, but a strong gradient early on, when
# $D$ rejects every fake and $\log(1 - D(G(z)))$ is flat (`loss="minimax"` is the formula as
# written). The run keeps a checkpoint every `EVERY` steps, scores each by the FID of its
# samples (`select_by="fid"`, genzoo's shipped digit features), and keeps the best.

# %%
out = RUNS / f"04-dcgan-{DATA}"
run = genzoo.Run.train_or_load(
    out,
    "dcgan",
    {
        "model": MODEL,
        "train": {
            "steps": STEPS,
            "image_every": EVERY,
            "ckpt_every": EVERY,
            "keep_checkpoints": STEPS // EVERY,
            "select_by": "fid",
            "select_samples": SELECT_SAMPLES,
            "log_every": max(EVERY // 10, 1),
        },
        "data": {"name": DATA},
    },
    progress=not QUICK,
)
print(run.summary())

# %% [markdown]
# ## The two players' view during training
#
# $D(x)$ on real batches and $D(G(z))$ on fakes, as logged by the trainer (`disc_D_x`,
# `disc_D_G_z`). At the game's equilibrium $p_G = p_\text{data}$, $D = \tfrac12$ everywhere and
# $V = -\log 4$.

# %%
logged = [r for r in run.metrics() if "disc_D_x" in r]
steps = [r["step"] for r in logged]
plt.plot(steps, [r["disc_D_x"] for r in logged], label="D(x), real")
plt.plot(steps, [r["disc_D_G_z"] for r in logged], label="D(G(z)), fake")
plt.axhline(0.5, color="gray", ls=":", label="equilibrium 1/2")
plt.xlabel("step")
plt.ylabel("mean D output")
plt.legend()
plt.show()

# %% [markdown]
# $V(D, G)$ estimated on test images and fresh noise with the trained players, from the
# discriminator's logit $\ell$, $D = \sigma(\ell)$, so $\log D = \log\sigma(\ell)$ and
# $\log(1 - D) = \log\sigma(-\ell)$:

# %%
gan = run.model().eval()
x = run.data("test").x[:256]
with torch.no_grad():
    fake = gan.sample(256, seeds=range(256))
    l_real, _ = gan.discriminate(x)
    l_fake, _ = gan.discriminate(fake)
v = F.logsigmoid(l_real).mean() + F.logsigmoid(-l_fake).mean()
print(f"V(D, G) = {v:.3f}   (-log 4 = {-math.log(4):.3f})")
print(f"mean D(x) {torch.sigmoid(l_real).mean():.3f}, mean D(G(z)) {torch.sigmoid(l_fake).mean():.3f}")

# %% [markdown]
# ## The step strip: the same noise at three points of training
#
# Each progress picture decodes the same fixed $z$, so the strip shows $G$ alone changing.

# %%
frames = run.progress_images()
shown = viz.pick_steps(frames, None, most=3)
plt.figure(figsize=(10, 3))
plt.imshow(viz.progress_strip(frames, shown))
plt.axis("off")
plt.title(f"samples at steps {', '.join(map(str, shown))}")
plt.show()

# %% [markdown]
# ## The best checkpoint is not always the last
#
# A GAN's sample quality wanders: FID (lower is better) of each kept checkpoint, and samples from
# the best and from the latest. `run.model("best")` is what `genzoo sample --which best` loads.

# %%
scores = [(r["step"], r["select_fid"]) for r in run.metrics() if "select_fid" in r]
plt.plot(*zip(*scores, strict=True), "o-")
plt.axvline(run.best, color="C1", ls=":", label=f"best: step {run.best}")
plt.xlabel("step")
plt.ylabel(f"FID of {SELECT_SAMPLES} samples (genzoo {DATA} features)")
plt.legend()
plt.show()
print(f"checkpoints kept {run.checkpoints}; best step {run.best}, latest {run.latest}")
best = run.model("best").eval()
viz.show(
    [best.sample(12, seeds=range(12)), gan.sample(12, seeds=range(12))],
    f"the same seeds: best checkpoint (step {run.best}) / latest (step {run.latest})",
)
