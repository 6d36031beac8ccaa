"""Diffusion: the forward process, the posterior, the samplers, guidance, the bound, the commands."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch
from PIL import Image

import genzoo
from genzoo import config as cfgio
from genzoo import sampling, vlb
from genzoo.cli import main
from genzoo.conditional import class_from_prompt
from genzoo.data import DataConfig, load_dataset
from genzoo.errors import ConfigError, GenzooError
from genzoo.eval.likelihood import evaluate_likelihood
from genzoo.models import diffusion
from genzoo.models.capabilities import Capability
from genzoo.models.diffusion import CDDPM, DDPM, CDDPMConfig, DDPMConfig, discretized_gaussian_log_prob
from genzoo.registry import get_model_class
from genzoo.sampling import Noise, Schedule
from genzoo.train import RunSpec, TrainConfig, train
from tests.conftest import TINY, Stub, tiny_spec

FP32 = {"sample_precision": "fp32"}


def tiny(name: str = "ddpm", shape=(1, 8, 8), **changes):
    torch.manual_seed(0)
    cls = get_model_class(name)
    model = cls(cfgio.from_dict(cls.config_class, TINY[name] | FP32 | changes), shape)
    with torch.no_grad():  # the output layer starts at zero: give the network something to say
        for p in model.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return model.eval()


# -- schedules and the forward process ------------------------------------------------------------
def test_schedules_follow_their_definitions():
    lin = Schedule.make("linear", 1000)
    assert float(lin.betas[0]) == pytest.approx(1e-4) and float(lin.betas[-1]) == pytest.approx(0.02)
    assert bool((lin.betas[1:] > lin.betas[:-1]).all())
    cos = Schedule.make("cosine", 1000)
    f = lambda t: math.cos((t / 1000 + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    for t in (0, 100, 500, 900):  # abar_t (0-based t = the paper's t + 1) = f(t + 1) / f(0)
        assert float(cos.abar[t]) == pytest.approx(f(t + 1) / f(0), rel=1e-9)
    assert float(cos.betas.max()) <= 0.999 and bool((cos.abar[1:] < cos.abar[:-1]).all())
    with pytest.raises(ConfigError, match="unknown noise schedule"):
        Schedule.make("quadratic", 10)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_closed_form_q_matches_the_iterated_markov_chain(kind):
    """Iterating q(x_t | x_{t-1}) from a fixed x_0 gives N(sqrt(abar_t) x_0, (1 - abar_t) I)."""
    sched, n = Schedule.make(kind, 100), 40_000
    x0 = torch.tensor([1.0, -0.5, 0.0, 0.8], dtype=torch.float64)
    xt, g = x0.expand(n, 4).clone(), torch.Generator().manual_seed(0)
    for t in range(60):
        xt = sampling.q_step(
            sched, xt, torch.full((n,), t), torch.randn(n, 4, generator=g, dtype=torch.float64)
        )
        if t in (0, 9, 59):
            ab = float(sched.abar[t])
            se_mean, se_var = math.sqrt((1 - ab) / n), (1 - ab) * math.sqrt(2 / n)
            assert torch.allclose(xt.mean(0), math.sqrt(ab) * x0, atol=5 * se_mean), t
            assert torch.allclose(
                xt.var(0), torch.full((4,), 1 - ab, dtype=torch.float64), atol=5 * se_var
            ), t
    closed = sampling.q_sample(
        sched, x0.expand(n, 4), torch.full((n,), 59), torch.randn(n, 4, generator=g, dtype=torch.float64)
    )
    assert torch.allclose(closed.mean(0), xt.mean(0), atol=0.02) and torch.allclose(closed.std(0), xt.std(0), atol=0.02)  # fmt: skip


def test_posterior_mean_and_variance_match_bayes_rule():
    """q(x_{t-1} | x_t, x_0) from q(x_{t-1} | x_0) = N(sqrt(abar_{t-1}) x_0, 1 - abar_{t-1}) and
    q(x_t | x_{t-1}) = N(sqrt(alpha_t) x_{t-1}, beta_t): precisions add, means weight by precision."""
    sched = Schedule.make("cosine", 50)
    g = torch.Generator().manual_seed(1)
    x0, xt = (
        torch.randn(4, 3, generator=g, dtype=torch.float64),
        torch.randn(4, 3, generator=g, dtype=torch.float64),
    )
    t = torch.tensor([1, 2, 20, 49])
    mean, var = sampling.q_posterior(sched, x0, xt, t)
    ab_prev, alpha, beta = sched.abar_prev[t][:, None], sched.alphas[t][:, None], sched.betas[t][:, None]
    precision = 1 / (1 - ab_prev) + alpha / beta
    assert torch.allclose(var, (1 / precision).expand_as(var), rtol=1e-10)
    assert torch.allclose(
        mean, (ab_prev.sqrt() * x0 / (1 - ab_prev) + alpha.sqrt() * xt / beta) / precision, rtol=1e-10
    )
    m0, v0 = sampling.q_posterior(sched, x0, xt, torch.zeros(4, dtype=torch.long))  # x_{-1} is x_0 itself
    assert torch.allclose(m0, x0) and bool((v0 == 0).all())


@pytest.mark.parametrize("kind", ["eps", "x0", "v"])
def test_each_prediction_gives_back_x0_and_eps(kind):
    sched, g = Schedule.make("linear", 100), torch.Generator().manual_seed(2)
    x0, eps = (
        torch.randn(5, 3, generator=g, dtype=torch.float64),
        torch.randn(5, 3, generator=g, dtype=torch.float64),
    )
    t = torch.tensor([0, 10, 50, 80, 99])
    xt = sampling.q_sample(sched, x0, t, eps)
    ab = sched.abar[t][:, None]
    want = {"eps": eps, "x0": x0, "v": ab.sqrt() * eps - (1 - ab).sqrt() * x0}[kind]  # Salimans & Ho's v
    assert torch.allclose(sampling.target(kind, x0, eps, sched, t), want)
    x0_hat, eps_hat = sampling.predictions(sched, kind, sampling.target(kind, x0, eps, sched, t), xt, t)
    assert torch.allclose(x0_hat, x0) and torch.allclose(eps_hat, eps)


def test_min_snr_weights_are_one_objective_in_x0_whatever_the_network_predicts():
    """w_t ||target - out||^2 equals min(SNR_t, gamma) ||x0 - x0_hat||^2 for an eps, an x0 and a v network
    that make the same x_0 estimate (Hang et al. 2023); uniform is L_simple itself."""
    sched, g = Schedule.make("cosine", 200), torch.Generator().manual_seed(3)
    x0, eps, x0_hat = (torch.randn(6, 4, generator=g, dtype=torch.float64) for _ in range(3))
    t = torch.tensor([0, 3, 40, 100, 160, 199])
    xt = sampling.q_sample(sched, x0, t, eps)
    ab = sched.abar[t][:, None]
    eps_hat = (xt - ab.sqrt() * x0_hat) / (1 - ab).sqrt()  # the eps the same x_0 estimate implies
    out = {"eps": eps_hat, "x0": x0_hat, "v": ab.sqrt() * eps_hat - (1 - ab).sqrt() * x0_hat}
    snr = (ab / (1 - ab)).squeeze(1)
    want = snr.clamp(max=2.5) * (x0 - x0_hat).pow(2).mean(1)
    assert bool((snr > 2.5).any() and (snr < 2.5).any())  # both sides of the clip are exercised
    for kind, o in out.items():
        err = (o - sampling.target(kind, x0, eps, sched, t)).pow(2).mean(1)
        w = sampling.loss_weight(sched, kind, t, "min-snr", 2.5).double()
        assert torch.allclose(w * err, want, rtol=1e-5), kind
        assert bool((sampling.loss_weight(sched, kind, t, "uniform") == 1).all())
    with pytest.raises(ConfigError, match="loss weighting 'p2'"):
        sampling.loss_weight(sched, "eps", t, "p2")


def test_a_min_snr_model_trains_and_its_loss_is_the_weighted_mse(images):
    model = tiny(loss_weighting="min-snr", min_snr_gamma=5.0)
    torch.manual_seed(0)
    out = model.loss((images, None))
    torch.manual_seed(0)
    x0 = model._to_model(images)
    t = torch.randint(0, model.config.timesteps, (x0.shape[0],))
    noise = torch.randn_like(x0)
    err = (model._net(sampling.q_sample(model.schedule, x0, t, noise), t, None) - noise).pow(2)
    w = sampling.loss_weight(model.schedule, "eps", t, "min-snr", 5.0)
    assert torch.allclose(out.loss, (w * err.flatten(1).mean(1)).mean(), rtol=1e-5)
    assert torch.allclose(out.terms["mse"], err.mean(), rtol=1e-5)
    with pytest.raises(ConfigError, match="min_snr_gamma must be > 0"):
        tiny(loss_weighting="min-snr", min_snr_gamma=0.0)


def test_a_run_saved_before_min_snr_existed_keeps_training_with_l_simple(tmp_path):
    # min-snr became the default after runs without the key were saved: those load (to sample) and
    # resume (to train on) with the uniform weighting they trained with, not today's default
    from genzoo.train.run import read_config_file, read_run_spec

    assert DDPMConfig().loss_weighting == "min-snr"
    run = tmp_path / "old"
    train(tiny_spec("ddpm", steps=2, image_every=0), run, progress=False)
    for cfg_path in (run / "config.json", *run.glob("checkpoints/*/config.json")):
        cfg = json.loads(cfg_path.read_text())
        del cfg["model"]["loss_weighting"]
        cfg_path.write_text(json.dumps(cfg))
    assert read_run_spec(run).model.loss_weighting == "uniform"
    assert genzoo.load(run).config.loss_weighting == "uniform"
    # as a config file to train another run like it (genzoo train ddpm --config OLD/config.json)
    assert read_config_file(run / "config.json", "ddpm")["model"]["loss_weighting"] == "uniform"
    cfg = json.loads((run / "config.json").read_text())
    cfg["model"]["loss_weighting"] = "min-snr"  # a key that is there is read as it is
    (run / "config.json").write_text(json.dumps(cfg))
    assert read_run_spec(run).model.loss_weighting == "min-snr"


def test_train_or_load_keeps_a_finished_run_whose_length_was_the_default_then(tmp_path, monkeypatch):
    # ddpm's default length changed (2,000 -> 8,000 steps): a run trained to the default of its day,
    # asked for again without steps, is finished, not "interrupted" and trained 6,000 steps more
    layers = {
        "model": TINY["ddpm"],
        "train": {"precision": "fp32", "image_every": 0},
        "data": {"name": "digits"},
    }
    out = tmp_path / "nb"
    first = {**layers, "train": {**layers["train"], "steps": 3, "batch_size": 16}}
    assert genzoo.Run.train_or_load(out, "ddpm", first, progress=False).latest == 3
    resumed = []
    monkeypatch.setattr(genzoo.Run, "resume", lambda self, steps, **kw: resumed.append(steps))
    again = genzoo.Run.train_or_load(
        out, "ddpm", {**layers, "train": {**layers["train"], "batch_size": 16}}, progress=False
    )
    assert again.latest == 3 and resumed == [] and DDPM.train_defaults["steps"] > 3
    genzoo.Run.train_or_load(out, "ddpm", first | {"train": {**first["train"], "steps": 5}}, progress=False)
    assert resumed == [5]  # steps asked for: more steps


# -- samplers ---------------------------------------------------------------------------------------
def gaussian_denoiser(sched: Schedule, m: torch.Tensor, s: torch.Tensor):
    """The exact E[x_0 | x_t] for data x_0 ~ N(m, diag(s^2)): m + s^2 sqrt(abar)(x_t - sqrt(abar) m) / (abar s^2 + 1 - abar)."""

    def denoise(xt, t):
        ab = sampling.at(sched.abar, t, xt)
        x0 = m + s**2 * ab.sqrt() * (xt - ab.sqrt() * m) / (ab * s**2 + 1 - ab)
        return x0, (xt - ab.sqrt() * x0) / (1 - ab).sqrt()

    return denoise


def test_ddim_with_eta_1_on_the_full_grid_is_ancestral_sampling():
    """Same noise, same samples: DDIM's sigma at eta = 1 is the posterior's sqrt(btilde_t) and its mean
    the posterior mean, so the two samplers draw from the same distribution path by path."""
    sched = Schedule.make("linear", 50)
    w = torch.randn(3, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)

    def denoise(xt, t):  # any fixed network will do
        x0 = torch.tanh(xt @ w + t[:, None] / 50)
        ab = sampling.at(sched.abar, t, xt)
        return x0, (xt - ab.sqrt() * x0) / (1 - ab).sqrt()

    def run(fn):
        noise = Noise(range(6))
        return fn(noise.randn(3).double(), noise)

    a = run(lambda x, nz: sampling.ddpm_sample(denoise, sched, x, _Double(nz)))
    b = run(lambda x, nz: sampling.ddim_sample(denoise, sched, x, _Double(nz), steps=50, eta=1.0))
    assert torch.allclose(a, b, atol=1e-10)
    c = run(lambda x, nz: sampling.ddim_sample(denoise, sched, x, _Double(nz), steps=50, eta=0.0))
    assert not torch.allclose(a, c, atol=1e-3)  # eta = 0 is a different (deterministic) path


class _Double:
    """A Noise whose draws are float64 (for exact comparisons)."""

    def __init__(self, noise: Noise) -> None:
        self.noise = noise

    def randn(self, *shape: int) -> torch.Tensor:
        return self.noise.randn(*shape).double()


GAUSS_M = torch.tensor([1.0, -2.0], dtype=torch.float64)  # the Gaussian data's mean and standard deviation
GAUSS_S = torch.tensor([0.5, 0.2], dtype=torch.float64)


def gaussian_samples(sampler: str, steps: int | None, n: int = 2000) -> torch.Tensor:
    """Samples of N(m, diag(s^2)), m = (1, -2), s = (0.5, 0.2), by ``sampler`` with the exact denoiser."""
    sched = Schedule.make("linear", 1000)
    noise = _Double(Noise(range(n)))
    return sampling.sample(
        gaussian_denoiser(sched, GAUSS_M, GAUSS_S), sched, noise.randn(2), noise, sampler, steps
    )


@pytest.mark.parametrize(
    "sampler, steps, n", [("ddpm", None, 1000), ("ddim", 1000, 2000), ("dpm++", 20, 2000)]
)
def test_samplers_with_the_exact_denoiser_recover_the_data_distribution(sampler, steps, n):
    x = gaussian_samples(sampler, steps, n)  # standard errors: mean <= 0.016, std ~1.6-2.2%
    assert torch.allclose(x.mean(0), torch.tensor([1.0, -2.0], dtype=torch.float64), atol=0.05), x.mean(0)
    assert torch.allclose(x.std(0) / torch.tensor([0.5, 0.2], dtype=torch.float64), torch.ones(2, dtype=torch.float64), atol=0.07), x.std(0)  # fmt: skip


def test_the_second_order_solver_beats_ddim_at_the_same_number_of_steps():
    """At 10 steps DDIM (first order) shrinks the narrow Gaussian's spread (~0.49x measured) while
    DPM-Solver++(2M) on its log-SNR grid stays within a few per cent (~1.01x)."""
    ratio = {k: gaussian_samples(k, 10).std(0)[1] / 0.2 for k in ("ddim", "dpm++")}
    assert abs(ratio["dpm++"] - 1) < 0.05 and abs(ratio["dpm++"] - 1) < abs(ratio["ddim"] - 1) / 5, ratio


class _Impulses:
    """A stand-in for ``Noise`` whose k-th draw (k = 1, 2, ...) is 1 in row k and 0 elsewhere (float64).
    With the exact Gaussian denoiser every sampler is affine in x_T and its draws, so on these rows row 0
    is the mean of its output and row k minus row 0 the output's coefficient on the k-th standard normal:
    the exact output distribution from one batch, without Monte Carlo error."""

    def __init__(self, rows: int) -> None:
        self.rows, self.draws = rows, 1  # draw 1 (row 1) is x_T's own noise

    def randn(self, *shape: int) -> torch.Tensor:
        self.draws += 1
        assert self.draws < self.rows, "more draws than rows"
        z = torch.zeros(self.rows, *shape, dtype=torch.float64)
        z[self.draws] = 1
        return z


def exact_output(sampler: str, steps: int, schedule: str = "linear", **kw):
    """(mean (2,), std (2,), draws after x_T) of ``sampler``'s samples of N(GAUSS_M, diag(GAUSS_S^2)) with the
    exact denoiser, from x_T ~ q(x_T) = N(sqrt(abar_T) m, abar_T s^2 + 1 - abar_T) exactly, so the only error
    left is the sampler's own (from N(0, I) the means would be off by about s sqrt(abar_T) m ~ 0.003)."""
    sched = Schedule.make(schedule, 1000)
    ab = float(sched.abar[-1])
    rows = 2 * steps + 2
    noise = _Impulses(rows)
    x_T = math.sqrt(ab) * GAUSS_M + (ab * GAUSS_S**2 + 1 - ab).sqrt() * (torch.arange(rows) == 1)[:, None]
    out = sampling.sample(
        gaussian_denoiser(sched, GAUSS_M, GAUSS_S), sched, x_T.double(), noise, sampler, steps, **kw
    )
    return out[0], (out[1:] - out[0]).pow(2).sum(0).sqrt(), noise.draws - 1


def w2_error(sampler: str, steps: int, **kw) -> float:
    """The Wasserstein-2 distance between the samples' (exact, Gaussian) distribution and the data's:
    sqrt(sum_d (mean_d - m_d)^2 + (std_d - s_d)^2). The means come out exact (the mean path is a fixed
    point of every update), so this is the error of the spread."""
    mean, std, _ = exact_output(sampler, steps, **kw)
    return float(((mean - GAUSS_M).pow(2) + (std - GAUSS_S).pow(2)).sum().sqrt())


@pytest.mark.parametrize("sampler, kw", [("dpm++sde", {}), ("edm", {}), ("ddim", {"eta": 1.0})])
def test_the_exact_output_distribution_is_that_of_seeded_samples(sampler, kw):
    """The impulse computation against 2,000 samples drawn with per-sample seeds from the same q(x_T):
    means within 4 standard errors (s / sqrt(n)), standard deviations within 4 (relative 1 / sqrt(2n))."""
    n, sched = 2000, Schedule.make("linear", 1000)
    mean, std, _ = exact_output(sampler, 10, **kw)
    ab = float(sched.abar[-1])
    noise = _Double(Noise(range(n)))
    x_T = math.sqrt(ab) * GAUSS_M + (ab * GAUSS_S**2 + 1 - ab).sqrt() * noise.randn(2)
    x = sampling.sample(gaussian_denoiser(sched, GAUSS_M, GAUSS_S), sched, x_T, noise, sampler, 10, **kw)
    assert bool(((x.mean(0) - mean).abs() < 4 * std / math.sqrt(n)).all()), (x.mean(0), mean)
    assert bool(((x.std(0) / std - 1).abs() < 4 / math.sqrt(2 * n)).all()), (x.std(0), std)


# The W2 error (``w2_error``) at 10, 20 and 50 steps, measured, and the least convergence order
# log2(error(50) / error(100)) asserted (measured in the comment). No randomness and float64 throughout, so
# every CPU gives these numbers to ~1e-12; the bound is the measurement + 10%, room for a harmless change
# (say, in how a grid rounds to t) and none for a wrong coefficient (a first-order update is an order ~1).
# For scale, DDIM (eta 0): 0.172, 0.0903, 0.0371 (order 0.98); DPM-Solver++(2M): 0.0163, 0.00699, 0.00108.
MEASURED = [
    ("dpm++sde", {"spacing": "logsnr"}, (0.01041, 0.01591, 0.003163), 1.8),  # order 2.08
    ("dpm++sde", {"eta": 0.5, "spacing": "logsnr"}, (0.01526, 0.01171, 0.002077), 1.8),  # 2.26
    ("dpm++sde", {}, (0.04445, 0.04591, 0.007913), 1.8),  # 2.11: its own grid, Karras's
    ("edm", {}, (0.1559, 0.04439, 0.01675), 0.9),  # 1.06: the churn's noise is a first-order error
    ("edm", {"churn": 0.0}, (0.1045, 0.0209, 0.002765), 1.8),  # 2.35: Heun
    ("edm", {"spacing": "logsnr"}, (0.1327, 0.04214, 0.01408), 0.9),  # 1.05
    ("ddim", {"eta": 1.0}, (0.2100, 0.1340, 0.07039), 0.7),  # 0.78
    ("ddim", {"spacing": "karras"}, (0.1392, 0.07118, 0.02888), 0.9),  # 0.98
    ("dpm++", {"spacing": "karras"}, (0.05293, 0.02109, 0.002827), 1.8),  # 2.36
]


@pytest.mark.parametrize("sampler, kw, measured, order", MEASURED, ids=lambda v: str(v) if v else "default")
def test_each_sampler_converges_to_the_gaussian_data_distribution(sampler, kw, measured, order):
    """With the exact denoiser of Gaussian data every sampler's error falls with the steps, at its order.
    dpm++sde (and dpm++sde on the Karras grid) is the exception between 10 and 20 steps: its spread
    crosses the data's between 8 and 10 steps (std 0.98x and 0.93x at 8, 1.02x and 0.99x at 10, 1.03x at
    20), so 10 steps look better than 20 by cancellation; from 20 steps on it falls at second order."""
    errors = [w2_error(sampler, n, **kw) for n in (10, 20, 50)]
    assert all(e <= 1.1 * m for e, m in zip(errors, measured, strict=True)), (errors, measured)
    assert errors[2] < errors[1] and (sampler == "dpm++sde" or errors[1] < errors[0]), errors
    assert math.log2(errors[2] / w2_error(sampler, 100, **kw)) >= order


def test_dpmpp_sde_is_an_order_of_magnitude_closer_than_ddim_at_every_step_count():
    """DPM-Solver++(2M) SDE against DDIM (eta 0) on the same steps: 16x, 5.7x and 12x smaller errors."""
    for n in (10, 20, 50):
        assert w2_error("dpm++sde", n, spacing="logsnr") < w2_error("ddim", n) / 5, n


def test_dpmpp_sde_at_eta_0_is_dpmpp_and_in_edm_variables_is_the_same_update():
    """eta = 0 gives DPM-Solver++(2M) exactly; eta = 1 equals the update written in EDM's variables
    x~ = x_t / alpha_t, sigma~ = sigma_t / alpha_t (k-diffusion's form): x~_s = (sigma~_s / sigma~_t) e^{-h} x~_t
    + (1 - e^{-2h}) D + sigma~_s sqrt(1 - e^{-2h}) z, h = log(sigma~_t / sigma~_s), with the same z."""
    sched = Schedule.make("cosine", 200)
    w = torch.randn(3, 3, generator=torch.Generator().manual_seed(15), dtype=torch.float64)

    def denoise(xt, t):
        x0 = torch.tanh(xt @ w) + t[:, None] / 200
        ab = sampling.at(sched.abar, t, xt)
        return x0, (xt - ab.sqrt() * x0) / (1 - ab).sqrt()

    def run(sampler, eta):
        noise = _Double(Noise(range(4)))
        return sampling.sample(denoise, sched, noise.randn(3), noise, sampler, 12, eta, spacing="logsnr")

    assert torch.equal(run("dpm++sde", 0.0), run("dpm++", None))
    noise = _Double(Noise(range(4)))
    x, grid, sig = noise.randn(3), sampling.logsnr_grid(sched, 12).tolist(), sched.sigmas.tolist()
    x = x * math.sqrt(1 + sig[grid[0]] ** 2)  # x~ = x_T / alpha_T
    prev_x0, h_prev = None, None
    for t, s in zip(grid[:-1], grid[1:], strict=True):
        x0 = denoise(x / math.sqrt(1 + sig[t] ** 2), torch.full((4,), t))[0]  # D(x~; sigma~_t)
        h = math.log(sig[t] / sig[s])
        d = x0 if prev_x0 is None else x0 + (x0 - prev_x0) * h / (2 * h_prev)  # 1/(2r) = h / (2 h_prev)
        x = sig[s] / sig[t] * math.exp(-h) * x - math.expm1(-2 * h) * d
        x = x + sig[s] * math.sqrt(-math.expm1(-2 * h)) * noise.randn(3)
        prev_x0, h_prev = x0, h
    want = denoise(x / math.sqrt(1 + sig[0] ** 2), torch.zeros(4, dtype=torch.long))[0]
    assert torch.allclose(run("dpm++sde", 1.0), want, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize(
    "sampler, kw, draws",
    [
        ("ddim", {}, 0),
        ("ddim", {"eta": 1.0}, 9),
        ("dpm++", {}, 0),
        ("dpm++sde", {}, 9),
        ("dpm++sde", {"eta": 0.0}, 0),
        ("edm", {"churn": 0.0}, 0),
        ("edm", {}, 4),  # the levels in [0.01, 1] of the 10-step Karras grid: sigma = 0.80, 0.24, 0.06, 0.01
    ],
)
def test_network_evaluations_and_noise_draws_per_sample(sampler, kw, draws):
    """edm's Heun steps cost 2 network evaluations each but the last (``sampling.network_evals``); every
    evaluation sees a discrete t; noise is drawn per step only by a sampler with noise to add."""
    sched, seen = Schedule.make("linear", 1000), []
    exact = gaussian_denoiser(sched, GAUSS_M, GAUSS_S)

    def denoise(xt, t):
        seen.append(t)
        return exact(xt, t)

    noise = _Impulses(30)
    sampling.sample(denoise, sched, torch.zeros(30, 2, dtype=torch.float64), noise, sampler, 10, **kw)
    assert len(seen) == sampling.network_evals(sampler, 10) == (19 if sampler == "edm" else 10)
    assert all(t.dtype == torch.long and 0 <= int(t.min()) and int(t.max()) < 1000 for t in seen)
    assert noise.draws - 1 == draws


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
@pytest.mark.parametrize("spacing", ["time", "logsnr", "karras"])
def test_every_step_grid_runs_from_T_minus_1_down_to_0_strictly(schedule, spacing):
    for T in (20, 1000):
        sched = Schedule.make(schedule, T)
        for steps in sorted({1, 2, 3, 10, 19, 20, 50, T // 2, T} - {n for n in (50,) if n > T}):
            grid = sampling.timesteps(sched, steps, spacing)
            assert len(grid) == steps and int(grid[0]) == T - 1 and (steps == 1 or int(grid[-1]) == 0)
            assert bool((grid[1:] < grid[:-1]).all()), (T, steps, grid)
        assert sampling.timesteps(sched, T, spacing).tolist() == list(range(T - 1, -1, -1))
    with pytest.raises(ConfigError, match="unknown spacing 'cosine'; choose one of time, logsnr, karras"):
        sampling.timesteps(sched, 5, "cosine")


def test_the_karras_grid_is_eq_5_with_rho_7_at_the_nearest_steps():
    """sigma_i = (80^(1/7) + i/9 (sigma_0^(1/7) - 80^(1/7)))^7 on 10 steps of the linear schedule: each level
    after the first (always T-1) is the t nearest in log sigma, within 1% here; sigma_t increases with t."""
    sched = Schedule.make("linear", 1000)
    sig = sched.sigmas
    assert bool((sig[1:] > sig[:-1]).all())
    assert torch.allclose(sig, ((1 - sched.abar) / sched.abar).sqrt())
    lo, hi = float(sig[0]) ** (1 / 7), 80 ** (1 / 7)
    want = (hi + torch.arange(10, dtype=torch.float64) / 9 * (lo - hi)) ** 7
    grid = sampling.karras_grid(sched, 10)
    assert grid.tolist()[0] == 999 and grid.tolist()[1:] == sampling.nearest_t(sched, want).tolist()[1:]
    assert torch.allclose(sig[grid[1:]], want[1:], rtol=0.01)
    cos = Schedule.make("cosine", 1000)  # sigma_999 = 2e4: capped at 80, the second level is near 44.5
    assert 40 < float(cos.sigmas[sampling.karras_grid(cos, 10)[1]]) < 50


@pytest.mark.parametrize(
    "kw",
    [
        {"sampler": "ddim", "steps": 5, "eta": 1.0},  # eta = 1 draws noise at every step too
        {"sampler": "dpm++sde", "steps": 5, "spacing": "karras"},
        {"sampler": "edm", "steps": 5},  # churn at t = 4 and 0 (sigma 0.90 and 0.07 of T = 20)
    ],
    ids=lambda kw: kw["sampler"],
)
def test_per_sample_seeds_give_the_same_image_whatever_the_batch_size(monkeypatch, kw):
    model = tiny()
    whole = model.sample(6, seeds=range(6), **kw)
    monkeypatch.setattr(diffusion, "SAMPLE_BATCH", 4)  # batches of 4 and 2
    split = model.sample(6, seeds=range(6), **kw)
    alone = model.sample(2, seeds=[4, 5], **kw)
    # within float noise: a convolution's kernel blocks its sums by batch size, so batches of 4 and 6
    # differ in the last bits (measured 2e-4 after 5 stochastic steps of this random network), while
    # another seed's image differs by tenths
    assert torch.allclose(whole, split, atol=1e-3) and torch.allclose(whole[4:], alone, atol=1e-3)
    assert not torch.allclose(whole[0], whole[1])
    g1, g2 = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    assert torch.equal(model.sample(3, generator=g1, **kw), model.sample(3, generator=g2, **kw))


def test_bad_sampler_settings_are_one_clear_error():
    model = tiny()
    with pytest.raises(ConfigError, match=r"between 1 and the model's 20 timesteps, got 0"):
        model.sample(2, steps=0)
    with pytest.raises(ConfigError, match=r"between 1 and the model's 20 timesteps, got 21"):
        model.sample(2, steps=21)
    with pytest.raises(ConfigError, match="ddpm sampler runs all 20 steps"):
        model.sample(2, sampler="ddpm", steps=5)
    with pytest.raises(ConfigError, match="unknown sampler"):
        model.sample(2, sampler="euler")
    with pytest.raises(GenzooError, match="needs a class-conditional model"):
        model.sample(2, guidance=3.0)
    with pytest.raises(GenzooError, match="not class-conditional"):
        model.sample(2, y=1)
    with pytest.raises(
        ConfigError, match="--eta applies to the ddim and dpm\\+\\+sde samplers; dpm\\+\\+ has no eta"
    ):
        model.sample(2, sampler="dpm++", eta=1.0)
    with pytest.raises(ConfigError, match="--eta must be a number >= 0, got nan"):
        model.sample(2, sampler="ddim", eta=float("nan"))
    with pytest.raises(ConfigError, match="--churn applies to the edm sampler; dpm\\+\\+sde has no churn"):
        model.sample(2, sampler="dpm++sde", churn=1.0)
    with pytest.raises(ConfigError, match="--churn must be a number >= 0"):
        model.sample(2, sampler="edm", churn=-1.0)
    with pytest.raises(
        ConfigError, match="--spacing applies to the samplers with a step grid; ddpm runs all T"
    ):
        model.sample(2, sampler="ddpm", spacing="karras")
    with pytest.raises(
        ConfigError, match="unknown spacing 'cosine'; choose one of auto, time, logsnr, karras"
    ):
        model.sample(2, spacing="cosine")
    with pytest.raises(ConfigError, match=r"the churn's noise scale \(S_noise\) must be > 0, got 0"):
        sampling.sample(
            model.denoiser(), model.schedule, torch.zeros(1, 1, 8, 8), Noise([0]), "edm", 3, churn_noise=0
        )
    for bad, message in [
        ({"churn": -1.0}, "churn must be >= 0, got -1.0"),
        (
            {"churn_sigma_min": 2.0},
            "churn_sigma_min and churn_sigma_max must satisfy 0 <= min <= max, got 2.0 and 1.0",
        ),
        ({"churn_noise": 0.0}, "churn_noise must be > 0"),
        ({"sde_eta": -0.5}, "sde_eta must be >= 0"),
        ({"spacing": "cosine"}, "spacing must be one of auto, time, logsnr, karras"),
        ({"sampler": "heun"}, "sampler must be one of ddpm, ddim, dpm++, dpm++sde, edm"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(message)):
            DDPM(DDPMConfig(**bad), (1, 8, 8))
    with pytest.raises(ConfigError, match="unknown prediction 'epsilon'"):
        sampling.target(
            "epsilon", torch.zeros(1), torch.zeros(1), model.schedule, torch.zeros(1, dtype=torch.long)
        )
    with pytest.raises(ConfigError, match="a trajectory shows 1..100 samples in at least 2 frames"):
        model.trajectory(2, frames=1)
    with pytest.raises(ConfigError, match="forward steps must be in 0..19"):
        model.forward_process(torch.rand(1, 1, 8, 8), [])
    conditional = tiny("cddpm")
    with pytest.raises(GenzooError, match="4 examples need 4 class labels, got labels of shape \\(2,\\)"):
        conditional.sample(4, y=torch.tensor([1, 2]))
    with pytest.raises(ConfigError, match="--guidance needs a class"):
        conditional.inpaint(torch.rand(1, 1, 8, 8), torch.ones(1, 8, 8), guidance=3.0)
    with pytest.raises(ConfigError, match="between 1 and the model's 20 timesteps, got 40"):
        model.inpaint(torch.rand(1, 1, 8, 8), torch.ones(1, 8, 8), steps=40)


def test_sampler_settings_say_what_sample_runs_and_check_as_it_does():
    """sampler_settings: the config's defaults filled in (tiny ddpm: dpm++sde, 4 steps, on its own Karras
    grid), each sampler's own options only, edm's 2 x steps - 1 evaluations, guidance for a conditional
    model; the same errors as sample() before any sampling."""
    from genzoo.models import capabilities as caps

    model = tiny()
    assert model.sampler_settings() == {
        "sampler": "dpm++sde",
        "steps": 4,
        "network_evals": 4,
        "eta": 1.0,
        "spacing": "karras",
    }
    assert model.sampler_settings(sampler="dpm++") == {
        "sampler": "dpm++",
        "steps": 4,
        "network_evals": 4,
        "spacing": "logsnr",
    }
    assert model.sampler_settings(sampler="ddim", steps=3) == {
        "sampler": "ddim",
        "steps": 3,
        "network_evals": 3,
        "eta": 0.0,
        "spacing": "time",
    }
    assert model.sampler_settings(sampler="ddpm") == {"sampler": "ddpm", "steps": 20, "network_evals": 20}
    edm = model.sampler_settings(sampler="edm", steps=3, churn=5.0, spacing="time")
    assert edm == {"sampler": "edm", "steps": 3, "network_evals": 5, "spacing": "time", "churn": 5.0}
    assert tiny("cddpm").sampler_settings(guidance=2.0)["guidance"] == 2.0
    assert tiny("cddpm").sampler_settings()["guidance"] == 1.5  # the config's w (the default)
    with pytest.raises(ConfigError, match="ddpm sampler runs all 20 steps"):
        model.sampler_settings(sampler="ddpm", steps=5)
    with pytest.raises(ConfigError, match="--churn applies to the edm sampler; ddim has no churn"):
        caps.iterative_options(model, {"sampler": "ddim", "churn": 5.0, "eta": None})
    with pytest.raises(GenzooError, match="needs a class-conditional model"):
        model.sampler_settings(guidance=2.0)
    ae = get_model_class("ae")(cfgio.from_dict(get_model_class("ae").config_class, TINY["ae"]), (1, 8, 8))
    assert caps.iterative_options(ae, {"sampler": None, "steps": None}) == {}  # nothing given: no error
    with pytest.raises(
        GenzooError,
        match=r"--sampler, --steps apply to models with an iterative sampler \(cddpm, ddpm\), not ae",
    ):
        caps.iterative_options(ae, {"sampler": "ddim", "steps": 3})


def test_inpainting_takes_the_ddpm_chain_and_names_any_other_sampler():
    model, x = tiny(), torch.rand(1, 1, 8, 8)
    known = torch.ones(1, 8, 8)
    known[:, :, :4] = 0
    kw = {"seeds": [0], "steps": 4, "resamples": 1, "jump_length": 1}
    torch.testing.assert_close(model.inpaint(x, known, sampler="ddpm", **kw), model.inpaint(x, known, **kw))
    for other in ("ddim", "edm"):
        with pytest.raises(
            ConfigError,
            match=rf"inpainting uses RePaint on the ancestral \(ddpm\) chain, not the {other} sampler",
        ):
            model.inpaint(x, known, sampler=other, **kw)


def test_the_mlp_denoiser_takes_images_flattened():
    """arch="mlp" on images (the notebooks' quick mode): the denoiser sees x (B, C, H, W) flattened
    and answers in its shape, so loss, sampling and the bound run (it raised a shape error)."""
    model = tiny(arch="mlp", hidden=16, blocks=1)
    x = torch.rand(4, 1, 8, 8)
    assert model.loss((x,)).loss.isfinite()
    assert model.sample(3, seeds=range(3), steps=4).shape == (3, 1, 8, 8)
    assert model.log_likelihood(x).shape == (4,)


@pytest.mark.slow
def test_a_tiny_model_learns_a_2d_toy_distribution(tmp_path):
    """Seeded, about 10 s: the maximum mean discrepancy of 1,000 samples to 1,000 test points falls
    below 0.03 (N(0, I) at the data's scale scores about 0.085; train vs test points about 0.002)."""
    data = DataConfig(name="eight-gaussians", n_points=4000)
    model_cfg = {"timesteps": 100, "hidden": 64, "sample_steps": 20, "sample_precision": "fp32"}
    tc = TrainConfig(steps=800, batch_size=256, lr=3e-3, warmup_steps=50, ema_decay=0.99, image_every=0,
                     ckpt_every=10**6, log_every=100, precision="fp32", threads=1)  # fmt: skip
    spec = RunSpec("ddpm", cfgio.from_dict(DDPMConfig, model_cfg), data, tc)
    model = genzoo.load(train(spec, tmp_path / "toy", progress=False))
    test = load_dataset(data, "test").x[:1000]

    def mmd(a, b, s=0.5):  # Gaussian-kernel MMD^2 (biased estimate)
        k = lambda x, y: torch.exp(-torch.cdist(x, y).pow(2) / (2 * s * s))  # noqa: E731
        return float(k(a, a).mean() + k(b, b).mean() - 2 * k(a, b).mean())

    x = model.sample(1000, seeds=range(1000))
    assert mmd(x, test) < 0.03, mmd(x, test)
    assert mmd(torch.randn(1000, 2, generator=torch.Generator().manual_seed(0)) * test.std(0), test) > 0.06


def test_training_lowers_the_denoising_loss(images):
    model = tiny()
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)

    def loss():
        torch.manual_seed(0)  # the same t and noise every time
        return model.loss((images, None)).loss

    first = float(loss().detach())
    for _ in range(60):
        opt.zero_grad()
        loss().backward()
        opt.step()
    assert float(loss().detach()) < 0.7 * first


# -- classifier-free guidance and prompts ----------------------------------------------------------
def test_guidance_0_is_the_unconditional_prediction_and_w_extrapolates():
    model = tiny("cddpm")
    g = torch.Generator().manual_seed(4)
    xt, t, y = torch.randn(4, 1, 8, 8, generator=g), torch.tensor([0, 5, 10, 19]), torch.tensor([0, 3, 3, 9])
    null = torch.full_like(y, model.num_classes)

    def eps(labels):
        return sampling.predictions(model.schedule, "eps", model.net(xt, t, labels), xt, t)[1]

    cfg = {"clip_denoised": False}
    model.config = cfgio.replace(model.config, **cfg)
    uncond, cond = eps(null), eps(y)
    assert not torch.allclose(uncond, cond)
    assert torch.allclose(model.denoiser(y, 0.0)(xt, t)[1], uncond, atol=1e-6)
    assert torch.allclose(model.denoiser(y, 1.0)(xt, t)[1], cond, atol=1e-6)
    assert torch.allclose(model.denoiser(y, 3.0)(xt, t)[1], uncond + 3 * (cond - uncond), atol=1e-5)


def test_training_drops_labels_at_the_configured_rate():
    model = tiny("cddpm", label_dropout=0.25)
    torch.manual_seed(0)
    y = model._train_labels((torch.zeros(20_000, 1, 8, 8), torch.arange(20_000) % 10))
    dropped = float((y == 10).float().mean())
    assert abs(dropped - 0.25) < 0.015 and set(y[y < 10].tolist()) == set(range(10))


def test_prompts_match_class_names_with_plurals_and_synonyms():
    class Fashion(Stub):
        capabilities = frozenset({Capability.SAMPLER, Capability.CONDITIONAL})
        num_classes = 10
        class_names = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat") + (
            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")  # fmt: skip

    f = Fashion((1, 2, 2))
    want = {"ankle boot": 9, "Ankle Boots": 9, "a picture of sneakers": 7, "T-shirt": 0, "tops": 0,
            "pants": 1, "dresses": 3, "shirt": 6, "handbag": 8}  # fmt: skip
    assert {p: class_from_prompt(f, p) for p in want} == want
    with pytest.raises(
        GenzooError, match=r"no class matches the prompt 'dog'; the classes are: T-shirt/top, Trouser"
    ):
        class_from_prompt(f, "dog")
    digits = type(
        "Digits",
        (Stub,),
        {"capabilities": Fashion.capabilities, "num_classes": 10, "class_names": tuple(map(str, range(10)))},
    )((1, 2, 2))
    assert [class_from_prompt(digits, p) for p in ("seven", "a 3", "the digit nine", "7")] == [7, 3, 9, 7]


# -- the variational bound ----------------------------------------------------------------------------
def test_the_discretized_decoder_is_a_distribution_over_the_256_levels():
    levels = torch.linspace(-1, 1, 256, dtype=torch.float64)
    for mean in (-0.95, 0.1, 1.0):
        for std in (0.004, 0.05, 0.5):
            p = discretized_gaussian_log_prob(
                levels, torch.tensor(mean, dtype=torch.float64), math.log(std)
            ).exp()
            assert float(p.sum()) == pytest.approx(1.0, abs=1e-9)


def test_the_prior_term_is_the_closed_form_kl_against_monte_carlo():
    model = tiny()
    x = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(5))
    prior = float(model.vlb_terms(x, ts=torch.tensor([1]))["prior"][0])
    ab, x0 = float(model.schedule.abar[-1]), (x * 2 - 1).double().flatten()
    q = torch.distributions.Normal(math.sqrt(ab) * x0, math.sqrt(1 - ab))
    z = q.sample((200_000,))
    mc = (q.log_prob(z) - torch.distributions.Normal(0.0, 1.0).log_prob(z)).sum(1)
    assert prior == pytest.approx(float(mc.mean()), abs=5 * float(mc.std()) / math.sqrt(len(mc)) + 1e-4)


def test_vlb_terms_are_non_negative_and_sum_to_the_reported_bound():
    model = tiny(vlb_timesteps=10**6)  # every term
    x = torch.randint(0, 256, (3, 1, 8, 8), generator=torch.Generator().manual_seed(6)).float() / 255
    terms = model.vlb_terms(x, generator=torch.Generator().manual_seed(7))
    assert terms["kl"].shape == (3, 19)
    assert all(bool((v >= 0).all()) for v in terms.values())
    total = terms["prior"] + terms["kl"].sum(1) + terms["decoder"]
    ll = model.log_likelihood(x, generator=torch.Generator().manual_seed(7))
    assert torch.allclose(ll, -total, rtol=1e-6)
    res = evaluate_likelihood(model, x)  # bits/dim = nats / (D ln 2): L_0 already counts the 256 levels
    assert res["bits_per_dim"] == pytest.approx(res["nll_nats"] / (64 * math.log(2)), rel=1e-6)
    assert "upper bound" in res["kind"]


def test_each_kl_term_is_the_kl_of_the_two_gaussians():
    """L_{t-1} against torch.distributions.kl_divergence of q(x_{t-1}|x_t,x_0) and p(x_{t-1}|x_t), with
    p's mean from a stand-in network's x0_hat; an exact x0_hat makes the term zero."""
    model = tiny()
    x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(8))
    x0 = x * 2 - 1
    guess = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(13)) * 2 - 1
    for x0_hat, zero in ((guess, False), (x0, True)):
        model.denoiser = lambda y=None, guidance=None, h=x0_hat: lambda xt, t: (h, None)
        t = 7
        g = torch.Generator().manual_seed(14)
        kl = model.vlb_terms(x, generator=g, ts=torch.tensor([t]))["kl"][:, 0]
        g = torch.Generator().manual_seed(14)  # the same x_t as inside vlb_terms
        tt = torch.full((2,), t)
        xt = sampling.q_sample(model.schedule, x0, tt, torch.randn(x0.shape, generator=g))
        mean_q, var = sampling.q_posterior(model.schedule, x0, xt, tt)
        mean_p, _ = sampling.q_posterior(model.schedule, x0_hat, xt, tt)
        ref = torch.distributions.kl_divergence(
            torch.distributions.Normal(mean_q.double(), var.double().sqrt()),
            torch.distributions.Normal(mean_p.double(), var.double().sqrt()),
        ).sum((1, 2, 3))
        assert torch.allclose(kl.double(), ref, rtol=1e-4), (kl, ref)
        assert (float(kl.abs().max()) < 1e-4) == zero


def test_the_decoder_keeps_far_tails_exact():
    """A white pixel under a mean of 0.5 and std 0.02: -log P = -log(1 - Phi(z)), ~ 300 nats, which a
    float32 difference of CDFs would floor at about 16-28 nats."""
    std, mean = 0.02, 0.5
    z = (1 - 1 / 255 - mean) / std
    exact = -math.log(0.5 * math.erfc(z / math.sqrt(2)))
    got = -float(discretized_gaussian_log_prob(torch.tensor([1.0]), torch.tensor([mean]), math.log(std)))
    assert exact > 250 and got == pytest.approx(exact, rel=1e-6)
    x = torch.tensor([0.2 + 2 / 255 * 3])  # an inner bin 7 std into the right tail of N(-0.5, 0.1^2)
    zl, zh = (x - 1 / 255 + 0.5) / 0.1, (x + 1 / 255 + 0.5) / 0.1
    ref = math.log(0.5 * math.erfc(float(zl) / math.sqrt(2)) - 0.5 * math.erfc(float(zh) / math.sqrt(2)))
    got = float(discretized_gaussian_log_prob(x.double(), torch.tensor([-0.5]).double(), math.log(0.1)))
    assert ref < -25 and got == pytest.approx(ref, rel=1e-6)


def test_stratified_timesteps_estimate_the_full_sum_without_bias():
    """-log_likelihood with K = 4 of the 19 KL terms (scaled by 19/4) has the mean of the full sum."""
    model = tiny(vlb_timesteps=4)
    x = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(9))
    g = torch.Generator().manual_seed(10)

    def total(t):
        return t["prior"][0] + t["kl"][0].sum() + t["decoder"][0]

    full = torch.stack([total(model.vlb_terms(x, generator=g)) for _ in range(40)])
    est = torch.stack([-model.log_likelihood(x, generator=g)[0] for _ in range(400)])
    se = math.sqrt(float(est.var().detach()) / len(est) + float(full.var().detach()) / len(full))
    assert abs(float(est.mean()) - float(full.mean())) < 4 * se, (float(est.mean()), float(full.mean()), se)


def test_stratified_steps_draw_one_step_from_each_stratum():
    """k of 1..T-1: sorted, one per equal stratum [1 + i (T-1)/k, 1 + (i+1)(T-1)/k), every step reached
    over many draws; k >= T-1 gives all of them in order."""
    T, k = 1000, 7
    width = (T - 1) / k
    seen = set()
    for seed in range(200):
        ts = vlb.stratified_steps(T, k, torch.Generator().manual_seed(seed))
        assert ts.shape == (k,) and bool((ts[1:] > ts[:-1]).all())
        lo = torch.tensor([1 + i * width for i in range(k)])
        assert bool((ts >= lo.floor()).all()) and bool((ts < lo + width).all()), ts
        seen.update(ts.tolist())
    assert min(seen) <= 3 and max(seen) >= T - 4
    assert torch.equal(vlb.stratified_steps(20, 19), torch.arange(1, 20))
    assert torch.equal(vlb.stratified_steps(20, 50), torch.arange(1, 20))


# -- inpainting -----------------------------------------------------------------------------------------
def test_inpainting_keeps_the_known_pixels_and_fills_the_rest():
    from genzoo.apps.inpaint import make_mask

    model = tiny()
    x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(11))
    known = make_mask("center", (8, 8))
    assert float(known.mean()) == 0.75
    out = model.inpaint(x, known, steps=10, jump_length=3, resamples=2)
    assert torch.allclose(out * known, x * known) and not torch.allclose(out, x)
    assert sampling.repaint_path(7, 3, 2) == [0, 1, 2, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6]
    assert sampling.repaint_path(8, 3, 3) == [
        0,
        1,
        2,
        3,
        2,
        1,
        0,
        1,
        2,
        3,
        2,
        1,
        0,
        1,
        2,
        3,
        4,
        5,
        6,
        5,
        4,
        3,
        4,
        5,
        6,
        5,
        4,
        3,
        4,
        5,
        6,
        7,
    ]
    assert sampling.repaint_path(4, 10, 5) == [0, 1, 2, 3]
    with pytest.raises(ConfigError, match=r"the mask is \(4, 4\) but the images are \(8, 8\)"):
        model.inpaint(x, torch.ones(1, 4, 4))


def test_baseline_fills_keep_known_pixels_and_find_a_training_image_itself():
    from genzoo.apps.inpaint import baseline_fills, make_mask, masked_mse

    train_x = torch.rand(20, 1, 8, 8, generator=torch.Generator().manual_seed(12))
    x, known = train_x[[3, 7]], make_mask("left", (8, 8))
    fills = baseline_fills(x, known, train_x)
    assert masked_mse(fills["nearest neighbour"], x, known) == 0.0
    assert torch.allclose(fills["mean image"], x * known + train_x.mean(0) * (1 - known))
    assert masked_mse(fills["mean image"], x, known) > 0.01


# -- the commands -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("diffusion")
    for name in ("ddpm", "cddpm"):
        spec = tiny_spec(name, steps=4, image_every=0, ckpt_every=4)
        spec = RunSpec(
            spec.model_type, cfgio.replace(spec.model, sample_precision="fp32"), spec.data, spec.train
        )
        train(spec, root / name, progress=False)
    return root


def png_size(path) -> tuple[int, int]:
    return Image.open(path).size


def test_sample_trajectory_forward_and_inpaint_commands_write_pictures(runs, tmp_path, capsys):
    run = str(runs / "ddpm")
    assert (
        main(
            [
                "sample",
                run,
                "-o",
                str(tmp_path / "s.png"),
                "--sampler",
                "ddim",
                "--steps",
                "3",
                "--eta",
                "0.5",
            ]
        )
        == 0
    )
    assert main(["sample", run, "-o", str(tmp_path / "t.png"), "--trajectory", "-n", "3"]) == 0
    w, h = png_size(tmp_path / "t.png")
    assert w > h  # a row per sample, frames left to right
    assert main(["forward", run, "-o", str(tmp_path / "f.png"), "-n", "2", "--t", "0,5,19"]) == 0
    assert "t = 1, 6, 20 of 20" in capsys.readouterr().out
    Image.fromarray(np.where(np.arange(64).reshape(8, 8) < 32, 0, 255).astype(np.uint8)).save(
        tmp_path / "m.png"
    )
    for mask in ("center", "left", "random", str(tmp_path / "m.png")):
        assert (
            main(
                ["inpaint", run, "-o", str(tmp_path / "i.png"), "--mask", mask, "--steps", "6", "-n", "2"]
                + (["--sampler", "ddpm"] if mask == "left" else [])  # RePaint's own chain, named
            )
            == 0
        )
        out = capsys.readouterr().out
        assert (
            "MSE on the filled pixels" in out and "mean image fill" in out and "nearest neighbour fill" in out
        )
    crun = str(runs / "cddpm")
    assert (
        main(
            ["sample", crun, "-o", str(tmp_path / "p.png"), "--prompt", "seven", "--guidance", "2", "-n", "4"]
        )
        == 0
    )
    assert (
        main(["sample", crun, "-o", str(tmp_path / "a.png"), "--class", "all", "-n", "2", "--steps", "2"])
        == 0
    )


def test_eval_draws_its_scored_samples_with_the_sampler_given_and_says_which(
    runs, tmp_path, monkeypatch, capsys
):
    """genzoo eval --sampler/--steps: the JSON report and the printed lines name the sampler and steps
    that drew the scored samples (the model's default when none is given), and the scores change."""
    import json

    monkeypatch.setenv("GENZOO_CACHE", str(tmp_path / "cache"))
    run, reports = str(runs / "ddpm"), {}
    for name, args in (("default", []), ("ddim", ["--sampler", "ddim", "--steps", "3"])):
        out = tmp_path / f"{name}.json"
        assert main(["eval", run, "--n", "64", "--json", str(out), *args]) == 0
        reports[name] = json.loads(out.read_text()), capsys.readouterr().out
    (default, default_text), (ddim, ddim_text) = reports["default"], reports["ddim"]
    assert default["sampler"] == {
        "sampler": "dpm++sde",
        "steps": 4,
        "network_evals": 4,
        "eta": 1.0,
        "spacing": "karras",
    }
    assert ddim["sampler"] == {
        "sampler": "ddim",
        "steps": 3,
        "network_evals": 3,
        "eta": 0.0,
        "spacing": "time",
    }
    assert (
        "samples drawn by the dpm++sde, 4 steps (4 network evaluations per sample; eta 1, spacing karras)"
        in default_text
    )
    assert (
        "samples drawn by the ddim, 3 steps (3 network evaluations per sample; eta 0, spacing time)"
        in ddim_text
    )
    assert default["samples"]["n_samples"] == ddim["samples"]["n_samples"] == 64
    assert default["samples"]["fid"] != ddim["samples"]["fid"]  # the same seeds, another sampler
    assert json.loads((runs / "ddpm" / "eval.json").read_text())["sampler"]["sampler"] == "ddim"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--steps", "21"], "between 1 and the model's 20 timesteps, got 21"),
        (["--sampler", "ddim", "--churn", "5"], "--churn applies to the edm sampler; ddim has no churn"),
        (["--sampler", "ddpm", "--steps", "5"], "ddpm sampler runs all 20 steps"),
        (["--sampler", "heun"], "argument --sampler: invalid choice: 'heun'"),
    ],
)
def test_bad_eval_sampler_options_are_one_clear_line_before_any_sampling(runs, capsys, args, message):
    try:
        code = main(["eval", str(runs / "ddpm"), "--n", "64", *args])
    except SystemExit as e:  # argparse: its one error line, then a pointer to --help
        code = e.code
    lines = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("see 'genzoo")]
    assert code == 2 and len(lines) == 1 and message in lines[0], lines


def test_eval_reports_the_bound_as_an_upper_bound(runs, capsys):
    assert main(["eval", str(runs / "ddpm"), "--n", "200"]) == 0
    out = capsys.readouterr().out
    assert "bits/dim" in out and "an upper bound on -log p(x)" in out


@pytest.mark.parametrize(
    "model, args, message",
    [
        ("ddpm", ["--steps", "21"], "between 1 and the model's 20 timesteps, got 21"),
        ("ddpm", ["--guidance", "3"], "needs a class-conditional model"),
        ("ddpm", ["--prompt", "seven"], "ddpm is not class-conditional; --prompt needs"),
        ("ddpm", ["--sampler", "ddpm", "--steps", "5"], "ddpm sampler runs all 20 steps"),
        ("cddpm", ["--prompt", "dog"], "no class matches the prompt 'dog'; the classes are: 0, 1, 2"),
        ("cddpm", ["--prompt", "seven", "--class", "3"], "give --class or --prompt, not both"),
        ("cddpm", ["--trajectory", "--class", "all"], "--trajectory takes one class, not 'all'"),
        (
            "ddpm",
            ["--sampler", "dpm++", "--eta", "1"],
            "--eta applies to the ddim and dpm++sde samplers; dpm++ has no eta",
        ),
        (
            "ddpm",
            ["--sampler", "ddim", "--churn", "5"],
            "--churn applies to the edm sampler; ddim has no churn",
        ),
        (
            "ddpm",
            ["--sampler", "ddpm", "--spacing", "karras"],
            "--spacing applies to the samplers with a step grid",
        ),
        ("ddpm", ["--sampler", "edm", "--churn", "-1"], "argument --churn: expected a number >= 0, got '-1'"),
        ("ddpm", ["--sampler", "ddim", "--eta", "nan"], "argument --eta: expected a number >= 0, got 'nan'"),
        ("ddpm", ["--spacing", "cosine"], "argument --spacing: invalid choice: 'cosine'"),
        ("ddpm", ["--sampler", "heun"], "argument --sampler: invalid choice: 'heun'"),
    ],
)
def test_bad_sample_options_are_one_clear_line(runs, tmp_path, capsys, model, args, message):
    try:
        code = main(["sample", str(runs / model), "-o", str(tmp_path / "x.png"), *args])
    except SystemExit as e:  # argparse: its one error line, then a pointer to --help
        code = e.code
    lines = capsys.readouterr().err.splitlines()
    if len(lines) == 2 and lines[1].startswith("see 'genzoo"):
        lines = lines[:1]
    assert code == 2 and len(lines) == 1 and message in lines[0], lines
    assert not (tmp_path / "x.png").exists()


def test_the_new_samplers_and_options_run_from_the_command_line(runs, tmp_path):
    run = str(runs / "ddpm")
    for args in (
        ["--sampler", "edm", "--steps", "3", "--churn", "5", "--spacing", "time"],
        ["--sampler", "dpm++sde", "--steps", "3", "--eta", "0.5"],
        ["--sampler", "ddim", "--steps", "3", "--spacing", "karras", "--eta", "1"],
        ["--sampler", "edm", "--steps", "3", "--trajectory", "-n", "2"],
    ):
        assert main(["sample", run, "-o", str(tmp_path / "s.png"), *args]) == 0, args
        assert png_size(tmp_path / "s.png")[0] > 0


def test_bad_inpaint_and_forward_input_is_one_clear_line(runs, tmp_path, capsys):
    run = str(runs / "ddpm")
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(tmp_path / "small.png")
    cases = [
        (["inpaint", run, "--mask", str(tmp_path / "small.png")], "is 5x5 but the images are 8x8"),
        (["inpaint", run, "--mask", str(tmp_path / "none.png")], "does not exist"),
        (["inpaint", run, "--mask", "top"], "unknown mask 'top'"),
        (["forward", run, "--t", "0,20"], "forward steps must be in 0..19"),
        (
            ["inpaint", run, "--sampler", "ddim", "--steps", "6"],
            "inpainting uses RePaint on the ancestral (ddpm) chain, not the ddim sampler",
        ),
    ]
    for args, message in cases:
        assert main([*args, "-o", str(tmp_path / "x.png")]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


def test_sampler_options_on_a_model_without_a_sampler_are_an_error(tmp_path, capsys):
    run = train(tiny_spec("ae", steps=2, image_every=0), tmp_path / "ae", progress=False)
    assert main(["sample", str(run), "-o", str(tmp_path / "x.png"), "--steps", "5"]) == 2
    assert (
        "--steps apply to models with an iterative sampler (cddpm, ddpm), not ae" in capsys.readouterr().err
    )
    assert main(["inpaint", str(run), "-o", str(tmp_path / "x.png"), "--jump-length", "3"]) == 2
    assert "--jump-length apply to the diffusion models' inpainting; ae fills by reconstruction" in (
        capsys.readouterr().err
    )
    assert main(["inpaint", str(run), "-o", str(tmp_path / "x.png"), "--sampler", "ddpm"]) == 2
    assert "--sampler apply to the diffusion models' inpainting; ae fills by reconstruction" in (
        capsys.readouterr().err
    )
    assert main(["eval", str(run), "--n", "8", "--sampler", "ddim", "--steps", "3"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "--sampler, --steps apply to models with an iterative sampler (cddpm, ddpm), not ae" in err
    assert not (run / "eval.json").exists()
    samples = tmp_path / "s.npz"
    np.savez(samples, x=np.zeros((8, 8, 8), np.uint8))
    assert main(["eval", "--samples", str(samples), "--data", "digits", "--sampler", "ddim"]) == 2
    assert "--sampler choose how a RUN's samples are drawn, not --samples' images" in capsys.readouterr().err


def test_a_conditional_model_keeps_its_classes_and_cddpm_config_round_trips():
    model = CDDPM(
        CDDPMConfig(num_classes=3, class_names=("a", "b", "c"), timesteps=10, sample_steps=5, channels=8),
        (1, 8, 8),
    )
    assert model.class_names == ("a", "b", "c")
    with pytest.raises(ConfigError, match="label_dropout"):
        CDDPM(CDDPMConfig(label_dropout=1.0), (1, 8, 8))
    with pytest.raises(ConfigError, match="needs image data"):
        DDPM(DDPMConfig(arch="unet"), (2,))
    with pytest.raises(ConfigError, match="timesteps must be at least 2"):
        DDPM(DDPMConfig(timesteps=1), (1, 8, 8))
