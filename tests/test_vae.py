"""VAE family: the ELBO's terms, the IWAE bound on a case with a known log p(x), beta-VAE schedules, cvae."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch.distributions import (
    Bernoulli,
    Categorical,
    Independent,
    MixtureSameFamily,
    MultivariateNormal,
    Normal,
    kl_divergence,
)

import genzoo
from genzoo import config as cfgio
from genzoo.errors import ConfigError, GenzooError
from genzoo.eval.likelihood import evaluate_likelihood
from genzoo.models.hvae import HVAE
from genzoo.models.vae import CVAE, VAE, BetaVAE, BetaVAEConfig, CVAEConfig, VAEConfig, gaussian_kl
from genzoo.train import train
from tests.conftest import tiny_spec


def make(cls, shape, seed=0, **cfg):
    torch.manual_seed(seed)
    return cls(cfgio.from_dict(cls.config_class, cfg), shape)


def test_closed_form_kl_matches_a_monte_carlo_estimate():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(3, 5, generator=g), torch.randn(3, 5, generator=g)
    closed = gaussian_kl(mu, logvar).sum(1)  # (3,)
    q, p = Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)
    assert torch.allclose(closed, kl_divergence(q, p).sum(1), atol=1e-5)
    z = q.sample((200_000,))  # (S, 3, 5)
    est = (q.log_prob(z) - p.log_prob(z)).sum(-1)  # (S, 3)
    se = est.std(0) / math.sqrt(est.shape[0])
    assert ((est.mean(0) - closed).abs() < 4 * se).all(), (est.mean(0), closed, se)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian", "gaussian-learned"])
def test_loss_is_reconstruction_nll_plus_kl_recomputed_by_hand(likelihood):
    model = make(VAE, (1, 3, 3), arch="mlp", latent_dim=2, hidden=(7,), likelihood=likelihood, sigma=0.2)
    x = torch.rand(4, 1, 3, 3, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(5)
    out = model.loss((x, None))
    torch.manual_seed(5)
    h = model.encoder(x.flatten(1))
    mu, logvar = h[:, :2], h[:, 2:]
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    logits = model.decoder(z).view_as(x)
    if likelihood == "bernoulli":
        recon = (
            -Bernoulli(logits=logits, validate_args=False).log_prob(x).flatten(1).sum(1)
        )  # continuous x: BCE
    else:
        sigma = 0.2 if likelihood == "gaussian" else torch.exp(model.log_sigma)
        recon = -Normal(torch.sigmoid(logits), sigma).log_prob(x).flatten(1).sum(1)
    kl = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).sum(1)
    torch.testing.assert_close(out.loss, (recon + kl).mean())
    torch.testing.assert_close(out.terms["recon"], recon.mean())
    torch.testing.assert_close(out.terms["kl"], kl.mean())
    torch.testing.assert_close(out.terms["elbo"], -(recon + kl).mean())


def test_the_gradient_reaches_the_encoder_through_z():
    model = make(VAE, (1, 4, 4), arch="mlp", latent_dim=2, hidden=(8,))
    x = torch.rand(3, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    mu, logvar = model.posterior(x)
    eps = torch.randn_like(mu)
    z = mu + torch.exp(0.5 * logvar) * eps
    model.recon_nll(model.decode_logits(z), x).sum().backward()  # no KL: only the path through z
    assert eps.grad is None and all(
        p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder.parameters()
    )


def linear_gaussian_vae(**prior):
    """x = W z + b + sigma * noise, z ~ N(0, I): log p(x) = log N(x; b, W W^T + sigma^2 I) exactly.
    q(z|x) has the exact posterior mean but a diagonal, three times too wide variance: the ELBO is loose.
    (``prior``: config keys of another prior; the log p(x) and ELBO returned are N(0, I)'s.)"""
    model = make(
        VAE,
        (4,),
        arch="mlp",
        latent_dim=2,
        hidden=(),
        likelihood="gaussian",
        sigma=0.5,
        output="identity",
        **prior,
    )
    g = torch.Generator().manual_seed(3)
    W, b = torch.randn(4, 2, generator=g), torch.randn(4, generator=g) * 0.3
    with torch.no_grad():
        model.decoder[0].weight.copy_(W)
        model.decoder[0].bias.copy_(b)
        cov = torch.linalg.inv(torch.eye(2) + W.T @ W / 0.25)  # the exact posterior's covariance
        A = cov @ W.T / 0.25  # its mean is A (x - b); q keeps that mean but a diagonal, too wide variance
        model.encoder[0].weight.zero_()
        model.encoder[0].weight[:2] = A
        model.encoder[0].bias.copy_(torch.cat([-A @ b, torch.log(3 * cov.diagonal())]))
    x = torch.tensor([[0.5, -1.0, 0.3, 1.2], [-0.4, 0.2, 0.9, -0.3], [1.5, 0.5, -1.0, 0.0]])
    log_px = MultivariateNormal(b, W @ W.T + 0.25 * torch.eye(4)).log_prob(x)  # (3,)
    mu, logvar = model.posterior(x)
    var = logvar.exp()
    mean = mu @ W.T + b  # E_q[log p(x|z)] for a linear-Gaussian decoder, then minus KL
    exp_log_lik = -0.5 * (((x - mean) ** 2 + var @ (W**2).T) / 0.25 + math.log(2 * math.pi * 0.25)).sum(1)
    elbo = exp_log_lik - gaussian_kl(mu, logvar).sum(1)
    return model, x, log_px, elbo.detach()


def test_iwae_bound_is_the_elbo_at_k1_and_tightens_to_the_exact_log_likelihood():
    model, x, log_px, elbo = linear_gaussian_vae()
    assert (elbo < log_px - 0.3).all()  # the case is loose enough to see the bound move
    g = torch.Generator().manual_seed(0)
    reps = 2000
    one = model.log_likelihood(x.repeat(reps, 1), k=1, generator=g).view(reps, 3)  # (reps, 3)
    se = one.std(0) / math.sqrt(reps)
    assert ((one.mean(0) - elbo).abs() < 4 * se).all(), (one.mean(0), elbo, se)
    means = [
        model.log_likelihood(x.repeat(200, 1), k=k, generator=g).view(200, 3).mean(0) for k in (1, 10, 100)
    ]
    assert (means[0] < means[1]).all() and (means[1] < means[2]).all() and (means[2] < log_px + 0.01).all()
    close = model.log_likelihood(x, k=20_000, generator=g, chunk_rows=6000)
    torch.testing.assert_close(close, log_px, atol=0.03, rtol=0)


def test_iwae_training_objective_is_the_iwae_bound_and_tightens_with_k():
    """-loss with iwae_k = k is an unbiased estimate of L_k (the same bound log_likelihood evaluates),
    above the ELBO's and below the exact log p(x), rising with k."""
    model, x, log_px, elbo = linear_gaussian_vae()
    torch.manual_seed(0)
    reps = 400
    objective = {}
    for k in (1, 10, 100):
        model.config.iwae_k = k
        draws = torch.stack([-model.loss((x,)).loss.detach() for _ in range(reps)])  # (reps,) batch means
        objective[k] = (draws.mean(), draws.std() / math.sqrt(reps))
    assert abs(objective[1][0] - elbo.mean()) < 4 * objective[1][1]  # k = 1: the ELBO path
    g = torch.Generator().manual_seed(1)
    bound10 = model.log_likelihood(x.repeat(reps, 1), k=10, generator=g).mean()
    assert abs(objective[10][0] - bound10) < 4 * objective[10][1] + 0.01, (objective[10], bound10)
    assert objective[1][0] < objective[10][0] < objective[100][0] < log_px.mean() + 0.01
    terms = model.loss((x,)).terms
    assert set(terms) == {"iwae", "elbo", "kl"} and terms["elbo"] < terms["iwae"]


def test_iwae_training_improves_its_bound_and_beta_vae_refuses_it(tmp_path):
    spec = tiny_spec("vae", steps=60, log_every=20, lr=3e-3)
    spec.model.iwae_k = 4
    run = train(spec, tmp_path / "r", progress=False)
    m = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert m[-1]["iwae"] > m[0]["iwae"] + 2.0 and m[-1]["loss"] == pytest.approx(-m[-1]["iwae"], rel=1e-4)
    assert genzoo.load(run).config.iwae_k == 4
    with pytest.raises(ConfigError, match="iwae_k must be 1, got 3"):
        make(BetaVAE, (3,), arch="mlp", latent_dim=2, hidden=(4,), iwae_k=3)
    with pytest.raises(ConfigError, match="iwae_k .* must be >= 1, got 0"):
        make(VAE, (3,), arch="mlp", latent_dim=2, hidden=(4,), iwae_k=0)


def test_log_likelihood_refuses_k0_and_bernoulli_bits_per_dim_need_no_256_levels():
    model = make(VAE, (1, 4, 4), arch="mlp", latent_dim=2, hidden=(8,))
    x = torch.bernoulli(torch.full((5, 1, 4, 4), 0.5), generator=torch.Generator().manual_seed(0))
    with pytest.raises(GenzooError, match="k must be >= 1"):
        model.log_likelihood(x, k=0)
    res = evaluate_likelihood(model, x)  # the default k = 1000, chunked
    assert res["bits_per_dim"] == pytest.approx(res["nll_nats"] / (16 * math.log(2)), rel=1e-5)
    assert 0 < res["nll_nats"] < 16 * math.log(2) + 2  # a fresh model is near one bit per pixel


def test_training_a_tiny_vae_on_digits_improves_the_elbo(tmp_path):
    run = train(tiny_spec("vae", steps=60, log_every=20, lr=3e-3), tmp_path / "r", progress=False)
    m = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert m[-1]["elbo"] > m[0]["elbo"] + 2.0, (m[0], m[-1])
    assert m[-1]["loss"] == pytest.approx(m[-1]["recon"] + m[-1]["kl"], rel=1e-4)
    model = genzoo.load(run)
    s = model.sample(6, generator=torch.Generator().manual_seed(0))
    assert s.shape == (6, 1, 8, 8) and s.min() >= 0 and s.max() <= 1


def test_beta_warmup_and_free_bits_follow_their_formulas():
    model = make(
        BetaVAE, (3,), arch="mlp", latent_dim=3, hidden=(4,), beta=2.0, kl_warmup_steps=10, free_bits=0.5
    )
    for step, w in [(0, 0.0), (5, 1.0), (10, 2.0), (25, 2.0)]:
        model.set_step(step)
        assert float(model.kl_weight()) == pytest.approx(w)
    kl_units = torch.tensor([[0.1, 1.0, 0.3], [0.3, 2.0, 0.9]])  # batch means 0.2, 1.5, 0.6
    model.set_step(5)
    obj, terms = model.kl_objective(kl_units)
    assert float(obj) == pytest.approx(1.0 * (0.5 + 1.5 + 0.6)) and float(terms["kl_weight"]) == 1.0
    x = torch.rand(4, 3, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(1)
    out = model.loss((x, None))  # the loss uses the same objective; kl is logged unweighted
    mu, logvar = model.posterior(x)
    floor = gaussian_kl(mu, logvar).mean(0).clamp(min=0.5).sum()
    torch.testing.assert_close(out.loss, out.terms["recon"] + 1.0 * floor)
    torch.testing.assert_close(out.terms["elbo"], -(out.terms["recon"] + out.terms["kl"]))
    with pytest.raises(ConfigError, match="must be >= 0"):
        make(BetaVAE, (3,), arch="mlp", free_bits=-1.0)
    assert BetaVAEConfig().beta == 4.0 and cfgio.from_dict(VAEConfig, {}).likelihood == "bernoulli"


def test_cvae_samples_follow_the_class():
    """Class 0 is all-dark 4x4 images, class 1 all-bright: the label alone decides the picture."""
    model = make(
        CVAE, (1, 4, 4), arch="mlp", latent_dim=2, hidden=(16,), num_classes=2, class_names=("dark", "bright")
    )
    y = torch.arange(32) % 2
    x = (y.float()[:, None, None, None] * 0.9 + 0.05).expand(32, 1, 4, 4)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    torch.manual_seed(0)
    for _ in range(150):
        opt.zero_grad()
        model.loss((x, y)).loss.backward()
        opt.step()
    g = torch.Generator().manual_seed(0)
    dark, bright = (
        model.sample(8, generator=g, y=0),
        model.sample(8, generator=g, y=torch.ones(8, dtype=torch.long)),
    )
    assert dark.shape == (8, 1, 4, 4) and dark.max() < 0.3 and bright.min() > 0.7
    seeds = list(range(8))
    default, drawn = model.sample(8, seeds=seeds), model.sample_labels(seeds, None)  # labels from the seeds
    assert 0 < int(drawn.sum()) < 8  # both classes drawn
    assert torch.equal((default.flatten(1).mean(1) > 0.5).long(), drawn)
    assert torch.equal(model.infer_labels(x), y)  # unlabelled x: the class with the best ELBO
    assert model.class_names == ("dark", "bright") and model.num_classes == 2
    assert model.log_likelihood(x[:4], k=5).shape == (4,)  # marginal over classes without y
    with pytest.raises(GenzooError, match=r"0\.\.1 \(dark, bright\); got \[2\]"):
        model.sample(2, y=2)


def test_cvae_needs_labels_and_consistent_class_names():
    model = make(CVAE, (1, 4, 4), arch="conv", latent_dim=2, channels=(4,), num_classes=3)
    x = torch.rand(2, 1, 4, 4)
    with pytest.raises(GenzooError, match="needs labelled data"):
        model.loss((x, None))
    with pytest.raises(GenzooError, match=r"0\.\.2 \(0, 1, 2\)"):
        model.loss((x, torch.tensor([0, 3])))
    assert torch.isfinite(model.loss((x, torch.tensor([0, 2]))).loss)
    with pytest.raises(ConfigError, match="class_names has 2 names but num_classes is 3"):
        make(CVAE, (1, 4, 4), num_classes=3, class_names=("a", "b"))
    assert CVAEConfig().num_classes == 10


# -- the shared --class option of `genzoo sample` (any conditional model) -----------------------
def test_class_names_resolve_by_index_name_or_all():
    from genzoo.conditional import class_indices
    from genzoo.models.capabilities import Capability
    from tests.conftest import Stub

    class Labelled(Stub):
        capabilities = frozenset({Capability.SAMPLER, Capability.CONDITIONAL})
        num_classes, class_names = 3, ("T-shirt/top", "Ankle boot", "Bag")

    model = Labelled((1, 2, 2))
    assert class_indices(model, "ankle BOOT") == [1] and class_indices(model, "2") == [2]
    assert class_indices(model, "all") == [0, 1, 2]
    with pytest.raises(
        GenzooError, match="unknown class 'boots'; the classes are: T-shirt/top, Ankle boot, Bag"
    ):
        class_indices(model, "boots")
    with pytest.raises(GenzooError, match="not class-conditional"):
        class_indices(Stub((1, 2, 2)), "1")


def test_sample_class_option_draws_the_asked_classes(tmp_path, monkeypatch, capsys):
    from genzoo import viz
    from genzoo.cli import main

    run = train(tiny_spec("cvae", steps=2, image_every=0), tmp_path / "cvae", progress=False)
    ae = train(tiny_spec("ae", steps=2, image_every=0), tmp_path / "ae", progress=False)
    seen = []
    monkeypatch.setattr(viz, "save_grid", lambda rows, path: seen.append(rows))
    asked = []
    real = type(genzoo.load(run)).sample

    def spy(self, n, generator=None, *, seeds=None, y=None):
        asked.append(None if y is None else y.tolist())
        return real(self, n, generator=generator, y=y)

    monkeypatch.setattr(type(genzoo.load(run)), "sample", spy)
    assert main(["sample", str(run), "--class", "7", "-n", "4", "-o", str(tmp_path / "a.png")]) == 0
    assert asked == [[7, 7, 7, 7]]
    assert main(["sample", str(run), "--class", "all", "-o", str(tmp_path / "b.png")]) == 0
    assert asked[1:] == [[c] * 8 for c in range(10)] and len(seen[-1]) == 10  # one row per class
    capsys.readouterr()
    assert main(["sample", str(run), "--class", "eleven", "-o", str(tmp_path / "c.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err.startswith("genzoo: error: unknown class 'eleven'; the classes are: 0, 1, 2") and "\n" not in err
    )
    assert main(["sample", str(ae), "--class", "1", "-o", str(tmp_path / "d.png")]) == 2
    assert "ae is not class-conditional" in capsys.readouterr().err
    assert not (tmp_path / "c.png").exists() and not (tmp_path / "d.png").exists()


@pytest.mark.parametrize("likelihood", ["logistic", "logistic-mixture"])
def test_discretized_logistic_is_a_distribution_over_the_256_levels(likelihood):
    model = make(VAE, (1, 1, 1), arch="mlp", latent_dim=2, hidden=(6,), likelihood=likelihood, mixtures=3)
    torch.manual_seed(3)
    params = model.decode_logits(torch.randn(4, 2) * 3)  # (4, P, 1, 1, 1): four decoders' outputs
    levels = torch.arange(256, dtype=torch.float32) / 255
    nll = torch.stack(
        [model.recon_nll(params, torch.full((4, 1, 1, 1), float(v))) for v in levels]
    )  # (256, 4)
    torch.testing.assert_close(torch.exp(-nll).sum(0), torch.ones(4), atol=1e-5, rtol=0)
    if likelihood == "logistic":  # an interior bin by the CDF, in float64
        mu, log_s = params[:, 0].double().flatten(), params[:, 1].double().clamp(min=-7).flatten()
        v = 100 / 255
        cdf = lambda t: torch.sigmoid((t - mu) / log_s.exp())  # noqa: E731
        want = -torch.log(cdf(torch.tensor(v + 0.5 / 255)) - cdf(torch.tensor(v - 0.5 / 255)))
        torch.testing.assert_close(nll[100].double(), want, atol=1e-4, rtol=1e-4)
    assert model.likelihood_bins is None  # already a probability of 8-bit x: no 256-level term
    x = torch.rand(3, 1, 1, 1)
    assert (model.decode(torch.randn(3, 2)) >= 0).all() and model.log_likelihood(x, k=4).shape == (3,)


def test_activation_and_likelihood_settings_are_checked():
    relu = make(VAE, (1, 4, 4), arch="mlp", latent_dim=2, hidden=(8,), activation="relu")
    assert any(isinstance(m, torch.nn.ReLU) for m in relu.modules())
    with pytest.raises(ConfigError, match="mixtures must be at least 1"):
        make(VAE, (1, 4, 4), likelihood="logistic-mixture", mixtures=0)
    with pytest.raises(ConfigError, match="activation"):
        cfgio.from_dict(VAEConfig, {"activation": "tanh"})


def test_binarize_static_is_one_fixed_draw_and_dynamic_draws_per_step():
    from genzoo.data import DataConfig, load_dataset
    from genzoo.data.base import dynamic_binarize_generator

    gray = load_dataset(DataConfig(name="digits"), "test").x
    static = load_dataset(DataConfig(name="digits", binarize="static"), "test").x
    again = load_dataset(DataConfig(name="digits", binarize="static"), "test").x
    assert torch.equal(static, again) and set(static.unique().tolist()) == {0.0, 1.0}
    assert abs(float(static.mean() - gray.mean())) < 0.01  # E[Bernoulli(x)] = x
    assert (static[gray == 0] == 0).all() and (static[gray == 1] == 1).all()
    # dynamic: the training split stays gray (drawn per batch), the test split is the same fixed draw
    dyn = DataConfig(name="digits", binarize="dynamic")
    assert torch.equal(load_dataset(dyn, "train").x, load_dataset(DataConfig(name="digits"), "train").x)
    assert torch.equal(load_dataset(dyn, "test").x, static)
    a = [torch.bernoulli(gray, generator=dynamic_binarize_generator(0, s)) for s in (5, 5, 6)]
    assert torch.equal(a[0], a[1]) and not torch.equal(a[0], a[2])
    assert not torch.equal(a[0], torch.bernoulli(gray, generator=dynamic_binarize_generator(0, 5, rank=1)))
    with pytest.raises(ConfigError, match="binarize .* applies to .* images; moons"):
        load_dataset(DataConfig(name="moons", binarize="static"), "train")


def test_training_with_dynamic_binarization_sees_binary_batches(tmp_path, monkeypatch):
    seen = []
    real = VAE.loss

    def spy(self, batch, player="model"):
        seen.append(batch[0].detach().clone())
        return real(self, batch, player)

    monkeypatch.setattr(VAE, "loss", spy)
    spec = tiny_spec("vae", data={"binarize": "dynamic"}, steps=3, image_every=0)
    run = train(spec, tmp_path / "r", progress=False)
    assert all(set(x.unique().tolist()) <= {0.0, 1.0} for x in seen) and len(seen) == 3
    assert json.loads((run / "config.json").read_text())["data"]["binarize"] == "dynamic"
    assert not torch.equal(seen[0], seen[1])  # a new draw each step
    first = seen[:]
    seen.clear()
    train(spec, tmp_path / "r2", progress=False)
    assert all(torch.equal(a, b) for a, b in zip(first, seen, strict=True))  # reproducible draws


def test_eval_reports_the_elbo_its_terms_active_units_and_the_iwae_k(tmp_path, capsys):
    from genzoo.cli import main
    from genzoo.eval.likelihood import active_units

    mu = torch.stack([torch.linspace(-1, 1, 101), torch.full((101,), 3.0), 0.05 * torch.randn(101)], 1)
    assert active_units(mu) == 1  # var 0.34, 0, 0.0025
    run = train(tiny_spec("vae", steps=30, image_every=0), tmp_path / "vae", progress=False)
    assert main(["eval", str(run), "--n", "40", "--iwae-k", "7", "--features", "genzoo"]) == 0
    out = capsys.readouterr().out
    ll = json.loads((run / "eval.json").read_text())["likelihood"]
    assert ll["k"] == 7 and ll["n"] == 40 and ll["latent_dim"] == 4 and 0 <= ll["active_units"] <= 4
    assert ll["neg_elbo_nats"] == pytest.approx(ll["recon_nats"] + ll["kl_nats"], rel=1e-5)
    assert "IWAE bound, k=7" in out and "-ELBO:" in out and "active units" in out
    model, x = (
        genzoo.load(run),
        genzoo.data.load_dataset(genzoo.data.DataConfig(name="digits"), "test").x[:40],
    )
    again = evaluate_likelihood(model, x, k=7, seed=0)  # the same fixed seed: the same numbers
    assert again["nll_nats"] == pytest.approx(ll["nll_nats"], rel=1e-6)
    tight = evaluate_likelihood(model, x, k=200, seed=0)
    assert tight["nll_nats"] <= ll["neg_elbo_nats"]  # the IWAE bound is tighter than the ELBO
    ae = train(tiny_spec("ae", steps=2, image_every=0), tmp_path / "ae", progress=False)
    capsys.readouterr()
    assert main(["eval", str(ae), "--iwae-k", "5"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--iwae-k" in err and "ae has none" in err and "\n" not in err
    assert not (ae / "eval.json").exists()


@pytest.mark.parametrize("likelihood", ["bernoulli", "logistic-mixture"])
def test_the_loss_under_bf16_autocast_is_computed_in_fp32_and_agrees(likelihood):
    model = make(
        VAE, (1, 8, 8), arch="conv", latent_dim=4, channels=(8, 16), likelihood=likelihood, mixtures=2
    )
    x = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(1)
    full = model.loss((x, None))
    torch.manual_seed(1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        half = model.loss((x, None))
    assert half.loss.dtype == torch.float32 and half.terms["kl"].dtype == torch.float32
    # only the network runs in bf16: the nats agree to bf16's ~3 significant digits, not worse
    diff, ref = float((half.loss - full.loss).detach()), float(full.loss.detach())
    assert abs(diff) < 0.02 * abs(ref), (half.loss, full.loss)


def test_a_cvae_takes_the_class_names_of_its_data_and_a_wrong_count_is_one_clear_error(tmp_path):
    from genzoo.data import DatasetInfo
    from genzoo.train.run import with_data_classes

    info = DatasetInfo("fashion", (1, 8, 8), (0.0, 1.0), tuple(f"c{i}" for i in range(10)))
    spec = with_data_classes(tiny_spec("cvae"), info)
    assert spec.model.class_names == info.class_names
    named = tiny_spec("cvae")
    named.model = cfgio.replace(named.model, class_names=tuple("abcdefghij"))
    assert with_data_classes(named, info).model.class_names == tuple("abcdefghij")  # given names win
    assert with_data_classes(tiny_spec("vae"), info) is not None
    with pytest.raises(ConfigError, match="num_classes 10 but fashion has 3 classes .*--num-classes 3"):
        with_data_classes(tiny_spec("cvae"), DatasetInfo("fashion", (1, 8, 8), (0.0, 1.0), ("a", "b", "c")))
    run = train(tiny_spec("cvae", steps=2, image_every=0), tmp_path / "r", progress=False)
    assert genzoo.load(run).class_names == tuple(str(d) for d in range(10))  # digits' names, saved
    train(tiny_spec("cvae", steps=4, image_every=0), tmp_path / "r", resume=True, progress=False)


# -- the VampPrior ---------------------------------------------------------------------------------
def vamp_mixture(model) -> MixtureSameFamily:
    """The VampPrior as torch.distributions builds it: (1/K) sum_k N(mu_k, diag(var_k))."""
    mu, logvar = model.prior_mixture()
    comps = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)
    return MixtureSameFamily(Categorical(logits=torch.zeros(mu.shape[0])), comps)


def test_vamp_prior_density_is_the_mixture_of_the_pseudo_inputs_posteriors():
    model = make(VAE, (1, 4, 4), arch="mlp", latent_dim=3, hidden=(16,), prior="vamp", prior_components=7)
    z = torch.randn(4, 5, 3, generator=torch.Generator().manual_seed(0)) * 2
    with torch.no_grad():
        u = torch.sigmoid(model.pseudo_inputs)  # the components are q(z|u_k) of the sigmoid-ed inputs
        mu, logvar = model.posterior(u)
        torch.testing.assert_close(model.prior_mixture(), (mu, logvar))
        torch.testing.assert_close(model.log_prior(z), vamp_mixture(model).log_prob(z), atol=1e-5, rtol=0)
    # the pseudo-inputs learn: the loss's gradient reaches them through log p(z)
    model.loss((torch.rand(5, 1, 4, 4).bernoulli(),)).loss.backward()
    assert model.pseudo_inputs.grad.abs().sum() > 0


def test_vamp_prior_iwae_bound_tightens_to_the_exact_mixture_likelihood():
    """A linear-Gaussian decoder under a mixture prior: p(x) = (1/K) sum_k N(x; W m_k + b,
    W S_k W^T + sigma^2 I), exact; the IWAE bound with log p(z) of the VampPrior must rise to it."""
    model, x, _, _ = linear_gaussian_vae(prior="vamp", prior_components=2)
    with torch.no_grad():
        model.pseudo_inputs.copy_(torch.tensor([[1.5, -1.0, 0.5, 1.0], [-1.0, 0.5, 1.0, -0.5]]))
        W, b = model.decoder[0].weight, model.decoder[0].bias
        mu, logvar = model.prior_mixture()  # (2, 2) each
        comps = [
            MultivariateNormal(W @ m + b, W @ torch.diag(lv.exp()) @ W.T + 0.25 * torch.eye(4)).log_prob(x)
            for m, lv in zip(mu, logvar, strict=True)
        ]
        log_px = torch.logsumexp(torch.stack(comps), 0) - math.log(2)  # (3,)
    g = torch.Generator().manual_seed(0)
    one = model.log_likelihood(x.repeat(400, 1), k=1, generator=g).view(400, 3).mean(0)
    ten = model.log_likelihood(x.repeat(400, 1), k=10, generator=g).view(400, 3).mean(0)
    assert (one < ten).all() and (ten < log_px + 0.01).all() and (one < log_px - 0.2).all()
    close = model.log_likelihood(x, k=20_000, generator=g, chunk_rows=6000)
    torch.testing.assert_close(close, log_px, atol=0.03, rtol=0)


def test_vamp_prior_elbo_is_the_one_sample_log_weight_and_its_kl_estimate_is_unbiased():
    model = make(VAE, (1, 4, 4), arch="mlp", latent_dim=3, hidden=(16,), prior="vamp", prior_components=5)
    x = torch.rand(6, 1, 4, 4, generator=torch.Generator().manual_seed(1)).bernoulli()
    with torch.no_grad():
        mu, logvar = model.posterior(x)
        eps = torch.randn(1, *mu.shape, generator=torch.Generator().manual_seed(2))
        _, _, _, recon, kl = model._elbo_parts(x, None, eps[0])
        log_w = model._log_weights(x, None, mu, logvar, eps)[0]  # log p(x|z) + log p(z) - log q(z|x)
        torch.testing.assert_close(-(recon + kl.sum(1)), log_w)
        # E_q[log q(z|x) - log p(z)] by a large Monte Carlo average against torch.distributions'
        q = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)
        z = q.sample((20_000,))  # (S, 6, 3)
        ref = (q.log_prob(z) - vamp_mixture(model).log_prob(z)).mean(0)
        draws = torch.stack([model.kl_units(mu, logvar, e)[:, 0] for e in torch.randn(4000, *mu.shape)])
        se = draws.std(0) / math.sqrt(4000)
        assert ((draws.mean(0) - ref).abs() < 4 * se + 0.01).all(), (draws.mean(0), ref, se)


def test_vamp_prior_samples_follow_the_mixture_and_each_depends_on_its_seed_alone():
    model, _, _, _ = linear_gaussian_vae(prior="vamp", prior_components=2)
    with torch.no_grad():  # two components far apart (their means differ by several stds)
        model.pseudo_inputs.copy_(torch.tensor([[4.0, -3.0, 1.0, 3.0], [-3.0, 2.0, 3.0, -2.0]]))
    z = model.sample_latent(4000, seeds=range(4000))
    assert torch.equal(model.sample_latent(3, seeds=[7, 2, 9])[1], z[2])  # seed 2 alone decides row 2
    mix = vamp_mixture(model)
    mean, var = mix.mean.detach(), mix.variance.detach()
    se = (var / 4000).sqrt()
    assert ((z.mean(0) - mean).abs() < 4 * se).all(), (z.mean(0), mean)
    assert torch.allclose(z.var(0), var, rtol=0.1), (z.var(0), var)
    assert model.sample(3, seeds=[1, 2, 3]).shape == (3, 4)


def test_vamp_prior_trains_saves_and_loads_and_other_families_refuse_it(tmp_path):
    spec = tiny_spec("vae", steps=60, log_every=20, lr=3e-3)
    spec.model.prior, spec.model.prior_components = "vamp", 20
    run = train(spec, tmp_path / "r", progress=False)
    m = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert m[-1]["elbo"] > m[0]["elbo"] + 2.0, (m[0], m[-1])
    model, x = genzoo.load(run), torch.rand(4, 1, 8, 8).bernoulli()
    assert model.config.prior == "vamp" and model.pseudo_inputs.shape == (20, 1, 8, 8)
    again = genzoo.load(run)
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    torch.testing.assert_close(
        model.log_likelihood(x, k=50, generator=g()), again.log_likelihood(x, k=50, generator=g())
    )
    for cls, cfg in [(HVAE, {}), (CVAE, {}), (BetaVAE, {"free_bits": 0.5}), (VAE, {"prior_components": 0})]:
        with pytest.raises(ConfigError, match="prior"):
            make(cls, (1, 4, 4), arch="mlp", hidden=(8,), prior="vamp", **cfg)
