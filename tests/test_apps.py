"""Anomaly detection, inpainting by reconstruction and the generative classifier (genzoo.apps)."""

from __future__ import annotations

import json
import math

import pytest
import torch

import genzoo
from genzoo.apps import anomaly, classify
from genzoo.apps.inpaint import inpaint, make_mask, masked_mse
from genzoo.cli import main
from genzoo.data import DataConfig, load_dataset
from genzoo.errors import ConfigError, GenzooError
from genzoo.train import train
from tests.conftest import tiny_spec

QUICK = {"image_every": 0, "warmup_steps": 0, "log_every": 50, "threads": 1, "ckpt_every": 1000}


def _train(tmp_path_factory, name: str, model_type: str, steps: int, data: dict | None = None):
    out = tmp_path_factory.mktemp(name) / "run"
    train(tiny_spec(model_type, data=data, steps=steps, **QUICK), out, progress=False)
    return out


@pytest.fixture(scope="module")
def zeros_ae(tmp_path_factory):
    """An ae trained on the digit 0 only (one-class)."""
    return _train(tmp_path_factory, "ae0", "ae", 300, {"classes": (0,)})


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    return _train(tmp_path_factory, "vae", "vae", 400)


@pytest.fixture(scope="module")
def cvae_run(tmp_path_factory):
    return _train(tmp_path_factory, "cvae", "cvae", 400)


@pytest.fixture(scope="module")
def digits_test():
    return load_dataset(DataConfig(name="digits"), "test")


# ------------------------------------------------------------------------------------- anomaly
def test_auroc_and_per_class_report_match_hand_computed_values():
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    scores = torch.tensor([0.1, 0.2, 0.9, 0.3, 0.15, 0.8], dtype=torch.float64)
    r = anomaly.one_class_report(scores, y, [0], ["a", "b", "c"])
    # anomalies {0.9, 0.3, 0.15, 0.8} vs normals {0.1, 0.2}: 7 of 8 pairs ordered right
    assert r["auroc"] == pytest.approx(7 / 8)
    assert r["per_class"]["b"]["auroc"] == 1.0 and r["per_class"]["c"]["auroc"] == pytest.approx(3 / 4)
    assert r["normal"] == ["a"] and r["n_normal"] == 2 and r["n_anomalous"] == 4 and "a" not in r["per_class"]
    o = anomaly.ood_report(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0.5, 0.6]))
    assert o["auroc"] == 0.0 and o["out_below_median_in"] == 1.0  # foreign data rated *more* likely
    most, least = anomaly.extremes(scores, 2)
    assert most.tolist() == [2, 5] and least.tolist() == [0, 4]
    with pytest.raises(GenzooError, match="both normal and anomalous"):
        anomaly.auroc_auprc(scores, torch.ones(6, dtype=torch.bool))


def test_one_class_ae_finds_planted_anomalies_and_its_scores_are_the_reconstruction_error(
    zeros_ae, digits_test
):
    model = genzoo.load(zeros_ae)
    x = digits_test.x[digits_test.y == 0]
    s = anomaly.anomaly_scores(model, x, "recon")
    with torch.no_grad():
        hand = (model.reconstruct(x) - x).pow(2).flatten(1).mean(1).double()
    torch.testing.assert_close(s, hand, rtol=1e-3, atol=1e-6)
    g = torch.Generator().manual_seed(0)
    planted = torch.rand(len(x), *x.shape[1:], generator=g)  # uniform noise "images"
    auroc, _ = anomaly.auroc_auprc(
        torch.cat([s, anomaly.anomaly_scores(model, planted)]), torch.arange(2 * len(x)) >= len(x)
    )
    assert auroc > 0.9
    # and the one-class protocol on the real test split: the other digits score higher than the 0s
    r = anomaly.one_class_report(anomaly.anomaly_scores(model, digits_test.x), digits_test.y, [0])
    assert r["auroc"] > 0.7


def test_vae_scores_are_its_elbo_and_iwae_bounds_and_reproducible(vae_run, digits_test):
    model = genzoo.load(vae_run)
    x = digits_test.x[:40]
    assert anomaly.resolve_score(model, "auto") == "likelihood"
    a = anomaly.anomaly_scores(model, x, "likelihood", k=5, seed=3)
    torch.testing.assert_close(a, anomaly.anomaly_scores(model, x, "likelihood", k=5, seed=3))
    with torch.no_grad():
        ll = model.log_likelihood(x, k=5, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, -ll.double(), rtol=1e-5, atol=1e-4)
    elbo = anomaly.anomaly_scores(model, x, "elbo", seed=1)
    with torch.no_grad():
        t = model.elbo_terms(x, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(elbo, (t["recon"] + t["kl"]).double(), rtol=1e-5, atol=1e-4)
    assert (elbo.mean() >= a.mean() - 1.0).item()  # the 5-sample bound is tighter than the ELBO on average


def test_score_kinds_a_model_lacks_are_one_clear_error(zeros_ae):
    model = genzoo.load(zeros_ae)
    assert anomaly.resolve_score(model, "auto") == "recon"
    with pytest.raises(GenzooError, match="ae has no likelihood score; it has: recon"):
        anomaly.resolve_score(model, "likelihood")
    with pytest.raises(GenzooError, match="shape"):
        anomaly.anomaly_scores(model, torch.rand(2, 1, 4, 4))
    from genzoo.models.gan import GAN, GANConfig

    gan = GAN(GANConfig(latent_dim=2, hidden=(8,)), (1, 8, 8))
    for score in ("auto", "recon"):  # a GAN has neither: one line, not an AttributeError
        with pytest.raises(GenzooError, match="gan cannot score data"):
            anomaly.resolve_score(gan, score)


def test_apps_use_the_model_in_eval_mode_and_restore_its_mode(vae_run, digits_test):
    model = genzoo.load(vae_run).train()
    x = digits_test.x[:8]
    seen = []
    original = model.reconstruct

    def spy(xb, *a, **kw):
        seen.append(model.training)
        return original(xb, *a, **kw)

    model.reconstruct = spy
    anomaly.anomaly_scores(model, x, "recon")
    inpaint(model, x, make_mask("left", (8, 8)), iters=2, code_steps=1)
    assert seen and not any(seen) and model.training  # eval inside, train mode given back
    state = torch.random.get_rng_state()
    anomaly.anomaly_scores(model, x, "likelihood", k=2)
    assert torch.equal(state, torch.random.get_rng_state())  # seeded draws, the global RNG untouched


def test_anomaly_command_reports_auroc_per_class_and_draws_the_extremes(zeros_ae, tmp_path, capsys):
    out, js = tmp_path / "ext.png", tmp_path / "r.json"
    assert main(["anomaly", str(zeros_ae), "-o", str(out), "--json", str(js), "--show", "5"]) == 0
    text = capsys.readouterr().out
    assert "normal: 0" in text and "class            9: AUROC" in text and out.is_file()
    report = json.loads(js.read_text())
    assert report["normal"] == ["0"] and len(report["per_class"]) == 9 and report["auroc"] > 0.7


def test_ood_data_follow_the_runs_data_settings(tmp_path, capsys):
    # a run on statically binarized digits: the foreign images must be binarized the same way, or
    # the test would measure the binarization instead of the model
    run = train(
        tiny_spec("ae", data={"binarize": "static"}, steps=2, **QUICK), tmp_path / "b", progress=False
    )
    js = tmp_path / "o.json"
    assert main(["anomaly", str(run), "--ood", "moons", "--json", str(js)]) == 2  # points, not images
    assert "--ood moons: image_size (--data-image-size) applies to images" in capsys.readouterr().err
    assert main(["anomaly", str(run), "--ood", "digits", "--normal", "1"]) == 2
    assert "--normal names the normal classes" in capsys.readouterr().err
    assert main(["anomaly", str(run), "--ood", "digits", "--json", str(js)]) == 0
    r = json.loads(js.read_text())
    assert r["auroc"] == pytest.approx(0.5) and r["mean_in"] == r["mean_out"]  # the same binarized images
    assert main(["anomaly", str(run), "--ood", "digits", "--k", "3"]) == 2
    assert "--k sets the IWAE samples of --score likelihood" in capsys.readouterr().err


def test_anomaly_command_needs_normal_classes_or_an_ood_set(vae_run, capsys):
    assert main(["anomaly", str(vae_run)]) == 2
    assert "give --normal CLASSES" in capsys.readouterr().err
    assert main(["anomaly", str(vae_run), "--normal", "12"]) == 2
    assert "--normal 12" in capsys.readouterr().err
    assert main(["anomaly", str(vae_run), "--ood", "moons"]) == 2
    assert "moons" in capsys.readouterr().err


# ------------------------------------------------------------------------------------ inpainting
def test_vae_inpainting_keeps_known_pixels_and_beats_its_starting_fill(vae_run, digits_test):
    model = genzoo.load(vae_run)
    x = digits_test.x[:64]
    known = make_mask("left", (8, 8))
    filled = inpaint(model, x, known, iters=10, code_steps=50)
    assert torch.equal(filled * known, x * known)
    assert all(p.grad is None for p in model.parameters())  # the code was optimised, not the model
    # better than the hole left at 0, where it starts, and than the known pixels' mean
    start = (x * known).flatten(1).sum(1) / known.sum()
    assert masked_mse(filled, x, known) < 0.8 * masked_mse(x * known, x, known)
    assert masked_mse(filled, x, known) < masked_mse(
        x * known + start.view(-1, 1, 1, 1) * (1 - known), x, known
    )
    no_code = inpaint(model, x, known, iters=10, code_steps=0)
    assert not torch.equal(no_code, filled)  # the MAP code step changes the fill


def test_inpaint_by_reconstruction_refuses_sampler_options_and_models_without_a_decoder(zeros_ae):
    model = genzoo.load(zeros_ae)
    with pytest.raises(GenzooError, match="jump_length apply to sampler-based inpainting"):
        inpaint(model, torch.rand(2, 1, 8, 8), make_mask("left", (8, 8)), jump_length=3)
    with pytest.raises(GenzooError, match="ae has none"):  # an ae has no likelihood to fit a code to
        inpaint(model, torch.rand(2, 1, 8, 8), make_mask("left", (8, 8)), code_steps=5)
    with torch.no_grad():  # the code optimisation needs gradients: it must work inside no_grad too
        filled = inpaint(genzoo.load(zeros_ae), torch.rand(2, 1, 8, 8), make_mask("left", (8, 8)), iters=2)
    assert filled.shape == (2, 1, 8, 8)
    with pytest.raises(GenzooError, match="cannot inpaint: it needs an encoder and decoder"):
        inpaint(object(), torch.rand(2, 1, 8, 8), make_mask("left", (8, 8)))


def test_inpaint_command_fills_with_an_autoencoder(zeros_ae, tmp_path, capsys):
    out = tmp_path / "i.png"
    assert main(["inpaint", str(zeros_ae), "--mask", "left", "-n", "4", "--iters", "3", "-o", str(out)]) == 0
    assert "MSE on the filled pixels" in capsys.readouterr().out and out.is_file()
    assert main(["inpaint", str(zeros_ae), "--resamples", "2", "-o", str(out)]) == 2
    assert "--resamples apply to the diffusion models" in capsys.readouterr().err
    assert main(["inpaint", str(zeros_ae), "--code-steps", "5", "-o", str(out)]) == 2
    assert "ae has none" in capsys.readouterr().err


def test_inpaint_command_still_uses_a_diffusion_models_sampler(tmp_path, capsys):
    run = train(tiny_spec("ddpm", steps=2, **QUICK), tmp_path / "ddpm", progress=False)
    out = tmp_path / "d.png"
    assert main(["inpaint", str(run), "--steps", "4", "-n", "2", "-o", str(out)]) == 0 and out.is_file()
    capsys.readouterr()
    assert main(["inpaint", str(run), "--iters", "3", "-o", str(out)]) == 2
    assert "--iters and --code-steps apply to inpainting by reconstruction" in capsys.readouterr().err
    assert main(["anomaly", str(run), "--normal", "0", "-n", "20", "--score", "likelihood"]) == 0
    assert "score likelihood" in capsys.readouterr().out  # the diffusion bound as the score


# ------------------------------------------------------------------------- generative classifier
def test_class_posterior_is_bayes_rule():
    ll = torch.tensor([[-1.0, -2.0, -3.0], [-5.0, -1.0, -1.0]], dtype=torch.float64)
    post = classify.class_posterior(ll)
    torch.testing.assert_close(post.exp().sum(1), torch.ones(2, dtype=torch.float64))
    torch.testing.assert_close(post, torch.log_softmax(ll, 1))
    prior = torch.tensor([0.25, 0.25, 0.5], dtype=torch.float64)
    p = classify.class_posterior(ll, prior).exp()
    # row 2: equal likelihoods of classes 1 and 2, so the posterior follows the prior 1 : 2
    assert p[1, 2] / p[1, 1] == pytest.approx(2.0)
    # a class absent from the labels keeps one count, so no class has prior 0
    assert classify.class_prior(torch.tensor([0, 0, 2]), 3).tolist() == pytest.approx([0.5, 0.25, 0.25])


def test_generative_classifier_beats_chance_and_uses_paired_draws(cvae_run, digits_test):
    model = genzoo.load(cvae_run)
    x, y = digits_test.x[:120], digits_test.y[:120]
    ll = classify.class_log_likelihoods(model, x, k=4, seed=0)
    assert ll.shape == (120, 10)
    torch.testing.assert_close(ll, classify.class_log_likelihoods(model, x, k=4, seed=0))
    acc = float((ll.argmax(1) == y).double().mean())
    assert acc > 0.5  # chance: 0.1
    e = classify.class_log_likelihoods(model, x, bound="elbo", seed=0)
    assert float((e.argmax(1) == y).double().mean()) > 0.5


def test_corruptions_and_their_errors():
    x = torch.rand(3, 1, 8, 8)
    assert torch.equal(classify.corrupt(x, "clean"), x)
    occ = classify.corrupt(x, "occlude:left")
    assert occ[..., :4].abs().sum() == 0 and torch.equal(occ[..., 4:], x[..., 4:])
    torch.testing.assert_close(classify.corrupt(x, "gaussian:0.3", 1), classify.corrupt(x, "gaussian:0.3", 1))
    with pytest.raises(ConfigError, match="--corruptions"):
        classify.check_corruptions(["clean", "blur:3"])
    with pytest.raises(ConfigError, match="occlude:middle"):
        classify.check_corruptions(["occlude:middle"])


def test_classify_command_compares_both_classifiers(cvae_run, zeros_ae, tmp_path, capsys):
    js = tmp_path / "c.json"
    argv = [
        "classify",
        str(cvae_run),
        "-n",
        "60",
        "--k",
        "2",
        "--steps",
        "50",
        "--corruptions",
        "clean,occlude:left",
    ]
    assert main([*argv, "--json", str(js)]) == 0
    report = json.loads(js.read_text())
    assert set(report["accuracy"]) == {"clean", "occlude:left"} and report["n_test"] == 60
    assert all(0 <= v <= 1 for r in report["accuracy"].values() for v in r.values())
    assert main(["classify", str(zeros_ae)]) == 2
    assert "ae is not class-conditional" in capsys.readouterr().err
    assert math.isfinite(report["accuracy"]["clean"]["generative"])
