"""The hierarchical VAE (hvae): its closed-form KLs, its log weights against an exact log p(x), training."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn
from torch.distributions import MultivariateNormal, Normal, kl_divergence

import genzoo
from genzoo import config as cfgio
from genzoo.errors import ConfigError
from genzoo.models.hvae import HVAE, gaussian_kl_between
from genzoo.train import train
from tests.conftest import tiny_spec


def make(seed=0, shape=(4,), **cfg):
    torch.manual_seed(seed)
    return HVAE(cfgio.from_dict(HVAE.config_class, cfg), shape)


def test_kl_between_two_gaussians_is_torchs_closed_form():
    g = torch.Generator().manual_seed(0)
    mq, lq, mp, lp = (torch.randn(3, 5, generator=g) for _ in range(4))
    want = kl_divergence(Normal(mq, torch.exp(0.5 * lq)), Normal(mp, torch.exp(0.5 * lp)))
    torch.testing.assert_close(gaussian_kl_between(mq, lq, mp, lp), want, atol=1e-5, rtol=1e-5)


def linear_gaussian_hvae():
    """z2 ~ N(0, I), z1 = C z2 + c + s e, x = W z1 + b + sigma n: x ~ N(W c + b, W (C C^T + s^2 I) W^T
    + sigma^2 I), so log p(x) is exact; the inference networks stay random (a loose bound)."""
    model = make(
        arch="mlp", latent_dim=2, bottom_dim=3, hidden=(), top_hidden=(8,), likelihood="gaussian", sigma=0.5,
        output="identity",
    )  # fmt: skip
    g = torch.Generator().manual_seed(3)
    C, c = torch.randn(3, 2, generator=g), torch.randn(3, generator=g) * 0.3
    W, b = torch.randn(4, 3, generator=g), torch.randn(4, generator=g) * 0.3
    s2 = 0.3
    model.p_bottom = nn.Linear(2, 6)  # p(z1|z2) = N(C z2 + c, s2 I): linear mean, constant variance
    with torch.no_grad():
        model.p_bottom.weight.zero_()
        model.p_bottom.weight[:3] = C
        model.p_bottom.bias.copy_(torch.cat([c, torch.full((3,), math.log(s2))]))
        model.decoder[0].weight.copy_(W)
        model.decoder[0].bias.copy_(b)
    x = torch.tensor([[0.5, -1.0, 0.3, 1.2], [-0.4, 0.2, 0.9, -0.3], [1.5, 0.5, -1.0, 0.0]])
    cov = W @ (C @ C.T + s2 * torch.eye(3)) @ W.T + 0.25 * torch.eye(4)
    return model.eval(), x, MultivariateNormal(W @ c + b, cov).log_prob(x)  # (3,)


def test_log_weights_average_to_the_closed_form_elbo_and_the_bound_rises_to_the_exact_log_likelihood():
    """E_q[log w] = ELBO (two code paths: the log weights, and recon + the closed-form KLs of
    elbo_terms), and L_1 < L_10 < L_100 < log p(x) on a fixed model."""
    model, x, log_px = linear_gaussian_hvae()
    g = torch.Generator().manual_seed(0)
    reps = 4000
    xs = x.repeat(reps, 1)
    one = model.log_likelihood(xs, k=1, generator=g).view(reps, 3)  # L_1 draws: log w of one sample
    t = model.elbo_terms(xs, generator=g)
    elbo = -(t["recon"] + t["kl"]).view(reps, 3)  # the closed-form KLs: lower variance, same mean
    se = (one.var(0) / reps + elbo.var(0) / reps).sqrt()
    assert ((one.mean(0) - elbo.mean(0)).abs() < 4 * se).all(), (one.mean(0), elbo.mean(0), se)
    assert (elbo.std(0) < one.std(0)).all()
    means = [
        model.log_likelihood(x.repeat(300, 1), k=k, generator=g).view(300, 3).mean(0) for k in (1, 10, 100)
    ]
    assert (means[0] < means[1]).all() and (means[1] < means[2]).all() and (means[2] < log_px).all()
    assert (log_px - means[0] > 0.5).all()  # loose enough that the rise means something


def test_the_code_is_z2_and_the_noise_of_z1_so_decoding_it_gives_the_posterior_mean():
    model = make(shape=(1, 8, 8), arch="mlp", latent_dim=3, bottom_dim=4, hidden=(16,), top_hidden=(8,))
    x = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    code = model.encode(x)
    assert code.shape == (5, 7) and model.latent_dim == 7
    z2, e1 = code.split([3, 4], dim=1)
    h = model.features(x)
    torch.testing.assert_close(z2, model.q_z2(h)[0])
    mu_p, logvar_p = model.p_z1(z2)
    torch.testing.assert_close(
        mu_p + torch.exp(0.5 * logvar_p) * e1, model.q_z1(h, z2)[0], atol=1e-5, rtol=1e-5
    )
    want = torch.sigmoid(model._bottom_logits(model.q_z1(h, z2)[0]))  # the decoder at z1's posterior mean
    torch.testing.assert_close(model.reconstruct(x), want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("iwae_k", [1, 3])
def test_training_a_tiny_hvae_improves_its_objective_and_saves_its_config(tmp_path, iwae_k):
    spec = tiny_spec("hvae", steps=60, log_every=20, lr=3e-3)
    spec.model.iwae_k = iwae_k
    run = train(spec, tmp_path / "r", progress=False)
    m = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    key = "elbo" if iwae_k == 1 else "iwae"
    assert m[-1][key] > m[0][key] + 2.0, (m[0], m[-1])
    assert m[-1]["loss"] == pytest.approx(-m[-1][key], rel=1e-4)
    if iwae_k == 1:
        assert m[-1]["loss"] == pytest.approx(m[-1]["recon"] + m[-1]["kl"], rel=1e-4)
    model = genzoo.load(run)
    assert (model.config.bottom_dim, model.config.iwae_k) == (spec.model.bottom_dim, iwae_k)
    s = model.sample(4, seeds=[0, 1, 2, 3])
    assert s.shape == (4, 1, 8, 8) and 0 <= s.min() and s.max() <= 1


def test_bad_layer_sizes_are_one_clear_error():
    with pytest.raises(ConfigError, match="bottom_dim .* got 0"):
        make(arch="mlp", latent_dim=2, bottom_dim=0, hidden=(4,))
    with pytest.raises(ConfigError, match="top_hidden .* got \\(\\)"):
        make(arch="mlp", latent_dim=2, bottom_dim=2, hidden=(4,), top_hidden=())
