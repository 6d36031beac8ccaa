"""Evaluation: FID/KID/precision-recall maths, the shipped feature network, eval commands."""

from __future__ import annotations

import json
import math
import re
import shutil

import numpy as np
import pytest
import torch

from genzoo.cli import main
from genzoo.errors import CheckpointError, ConfigError, DataError
from genzoo.eval import features, metrics
from genzoo.eval.likelihood import bits_per_dim, evaluate_likelihood
from genzoo.models.capabilities import Capability
from tests.conftest import Stub


def gaussian(n: int, d: int, mean: float = 0.0, std: float = 1.0, seed: int = 0) -> torch.Tensor:
    return mean + std * torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_fid_of_a_set_with_itself_is_zero():
    x = gaussian(2000, 8)
    assert abs(metrics.fid(x, x)) < 1e-6


def test_fid_matches_the_closed_form_for_gaussians():
    # Diagonal covariances: FID = |mu_a - mu_b|^2 + sum_i (sqrt(va_i) - sqrt(vb_i))^2.
    a, b = gaussian(4000, 4, seed=1), gaussian(4000, 4, seed=2) * 2.0 + 0.5
    mu_a, mu_b, va, vb = a.mean(0), b.mean(0), a.var(0), b.var(0)
    # the sample covariances are not exactly diagonal, so compare with the full formula via numpy
    sa, sb = np.cov(a.numpy().T), np.cov(b.numpy().T)
    w, v = np.linalg.eigh(sa)
    root_a = v @ np.diag(np.sqrt(w)) @ v.T
    cross = np.linalg.eigvals(root_a @ sb @ root_a)
    expected = float((mu_a - mu_b).pow(2).sum()) + np.trace(sa + sb) - 2 * np.sqrt(cross.real.clip(0)).sum()
    assert metrics.fid(a, b) == pytest.approx(expected, rel=1e-6)
    diag_only = float((mu_a - mu_b).pow(2).sum() + (va.sqrt() - vb.sqrt()).pow(2).sum())
    assert metrics.fid(a, b) == pytest.approx(diag_only, rel=0.05)  # ~ 4 * 0.25 + 4 * 1 = 5


def test_fid_grows_with_the_distance_between_distributions():
    ref = gaussian(2000, 8, seed=3)
    scores = [metrics.fid(ref, gaussian(2000, 8, mean=m, seed=4)) for m in (0.0, 0.25, 0.5, 1.0)]
    assert scores == sorted(scores) and scores[-1] == pytest.approx(8.0, rel=0.1)


@pytest.mark.parametrize(("n_real", "n_fake", "size"), [(300, 100, 100), (100, 300, 100), (300, 200, 50)])
def test_kid_equals_torchmetrics_with_the_same_subsets(n_real, n_fake, size):
    import warnings

    from torchmetrics.image.kid import KernelInceptionDistance

    real, fake = gaussian(n_real, 8, seed=1), gaussian(n_fake, 8, mean=0.3, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        m = KernelInceptionDistance(feature=metrics.PassThrough(8), subsets=20, subset_size=size)
    m.update(real.double(), real=True)
    m.update(fake.double(), real=False)
    torch.manual_seed(5)
    want_mean, want_std = (float(v) for v in m.compute())
    got_mean, got_std = metrics.kid(real, fake, subsets=20, subset_size=size, seed=5)
    assert got_mean == pytest.approx(want_mean, rel=1e-9, abs=1e-12)
    assert got_std == pytest.approx(want_std, rel=1e-9, abs=1e-12)


def test_kid_is_unbiased_on_equal_distributions():
    same = [
        metrics.kid(gaussian(1000, 8, seed=s), gaussian(1000, 8, seed=s + 100), subset_size=500)[0]
        for s in range(4)
    ]
    shifted = metrics.kid(gaussian(1000, 8, seed=0), gaussian(1000, 8, mean=0.5, seed=1), subset_size=500)[0]
    assert abs(np.mean(same)) < 0.02 * shifted
    assert min(same) < 0 < shifted or abs(min(same)) < 0.02 * shifted  # an unbiased estimate can go below 0


def test_precision_and_recall_on_known_toy_distributions():
    real = gaussian(1500, 2, seed=5).float()
    same = metrics.precision_recall(real, gaussian(1500, 2, seed=6).float())
    collapsed = metrics.precision_recall(real, gaussian(1500, 2, std=0.1, seed=7).float())
    far = metrics.precision_recall(real, gaussian(1500, 2, mean=20.0, seed=8).float())
    assert same[0] > 0.9 and same[1] > 0.9
    assert collapsed[0] > 0.99 and collapsed[1] < 0.2  # good samples, little diversity
    assert far == (0.0, 0.0)


def test_class_coverage_and_psnr():
    logits = torch.eye(4)[torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])]
    assert metrics.class_shares(logits) == [0.25] * 4 and metrics.class_coverage([0.25] * 4) == pytest.approx(
        1.0
    )
    assert metrics.class_coverage([1.0, 0, 0, 0]) == pytest.approx(0.25)
    x = torch.zeros(2, 1, 4, 4)
    assert metrics.psnr(x + 0.1, x) == pytest.approx(20.0)


def test_bits_per_dim_of_known_densities():
    class Uniform(Stub):  # p(x) = 1 on [0, 1]^D: every 8-bit image has probability 256^-D -> 8 bits/dim
        capabilities = frozenset({Capability.SAMPLER, Capability.LIKELIHOOD})
        likelihood_k, likelihood_bins, likelihood_kind = None, 256, "exact"

        def log_likelihood(self, x, *, y=None, k=None, generator=None):
            return torch.zeros(len(x))

    got = evaluate_likelihood(Uniform((1, 4, 4)), torch.rand(10, 1, 4, 4))
    assert got["bits_per_dim"] == pytest.approx(8.0)
    nll = torch.tensor([16 * math.log(2)])  # 1 bit/dim of continuous density over 16 dims
    assert float(bits_per_dim(nll, 16, n_bins=None)) == pytest.approx(1.0)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENZOO_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.mark.parametrize("dataset", ["mnist", "fashion-mnist"])
def test_feature_net_reproduces_its_stored_accuracy(dataset, real_data_root):
    from genzoo.data import DataConfig, load_dataset

    net, entry = features.load_feature_net(dataset)
    test = load_dataset(DataConfig(name=dataset, root=real_data_root), "test")
    _, logits = features.extract(net, test.x)
    acc = float((logits.argmax(1) == test.y).float().mean())
    assert acc == pytest.approx(entry["test_accuracy"], abs=6e-4)  # the whole test split, as recorded
    assert entry["test_accuracy"] >= {"mnist": 0.99, "fashion-mnist": 0.90}[dataset]


def test_digits_feature_net_reproduces_its_stored_accuracy():
    from genzoo.data import DataConfig, load_dataset

    net, entry = features.load_feature_net("digits")  # checks the sha256 too
    assert features.sha256_file(features.WEIGHTS_DIR / entry["file"]) == entry["sha256"]
    assert isinstance(net, features.DigitsFeatureNet) and entry["arch"] == "conv-8x8-64"
    test = load_dataset(DataConfig(name="digits"), "test")
    feats, logits = features.extract(net, test.x)
    assert len(test) == 297 and feats.shape == (297, 64)
    acc = float((logits.argmax(1) == test.y).float().mean())
    assert acc == pytest.approx(entry["test_accuracy"], abs=1e-4)  # the same images right, 1/297 = 0.0034
    assert entry["test_accuracy"] >= 0.95
    assert features.shipped_extractor("digits").input_shape == (1, 8, 8)


def test_feature_net_architecture_follows_the_image_shape():
    from genzoo.errors import ConfigError

    assert features.ARCHITECTURES[features.arch_for_shape((1, 28, 28))] is features.FeatureNet
    assert features.ARCHITECTURES[features.arch_for_shape((1, 8, 8))] is features.DigitsFeatureNet
    for name, cls in features.ARCHITECTURES.items():
        out = cls(10).features(torch.rand(2, *cls.input_shape))
        assert out.shape == (2, cls.num_features), name
    with pytest.raises(ConfigError, match=r"no feature network architecture for images of shape \(3, 8, 8\)"):
        features.arch_for_shape((3, 8, 8))


def test_a_feature_net_with_the_wrong_hash_is_refused(tmp_path, monkeypatch):
    for f in features.WEIGHTS_DIR.iterdir():
        shutil.copy(f, tmp_path / f.name)
    data = bytearray((tmp_path / "mnist.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (tmp_path / "mnist.safetensors").write_bytes(bytes(data))
    monkeypatch.setattr(features, "WEIGHTS_DIR", tmp_path)
    monkeypatch.setattr(features, "MANIFEST", tmp_path / "manifest.json")
    with pytest.raises(CheckpointError, match="sha256"):
        features.load_feature_net("mnist")
    with pytest.raises(Exception, match="no shipped feature network for 'folder'"):
        features.load_feature_net("folder")


def test_real_images_score_near_the_floor_and_noise_raises_fid(real_data_root, cache, tmp_path, capsys):
    from genzoo.data import DataConfig, load_dataset
    from genzoo.eval.evaluate import evaluate_images

    train = load_dataset(DataConfig(name="mnist", root=real_data_root), "train").x
    g = torch.Generator().manual_seed(0)
    train = train[torch.randperm(len(train), generator=g)[:1000]]  # MNIST's train order is not random
    fids = [
        evaluate_images(
            (train + s * torch.randn(train.shape, generator=g)).clamp(0, 1), "mnist", real_data_root
        )["samples"]["fid"]
        for s in (0.0, 0.1, 0.3)
    ]
    assert fids == sorted(fids) and fids[2] > 5 * fids[0]
    np.savez(tmp_path / "s.npz", x=(train[:, 0] * 255).round().to(torch.uint8).numpy())
    assert (
        main(
            [
                "eval",
                "--samples",
                str(tmp_path / "s.npz"),
                "--data",
                "mnist",
                "--data-root",
                real_data_root,
                "--json",
                str(tmp_path / "e.json"),
            ]
        )
        == 0
    )
    result = json.loads((tmp_path / "e.json").read_text())
    assert (
        result["samples"]["n_samples"] == 1000
        and result["samples"]["fid"] < 1.5 * result["real_floor"]["fid"]
    )
    assert "in genzoo-mnist features" in capsys.readouterr().out


def test_eval_of_a_checkpoint_without_the_data(real_data_root, cache, tmp_path, monkeypatch, capsys):
    run = tmp_path / "ae"
    args = [
        "train",
        "ae",
        "--data",
        "mnist",
        "--data-root",
        real_data_root,
        "--data-limit",
        "512",
        "--steps",
        "20",
    ]
    assert main([*args, "--batch-size", "64", "--latent-dim", "4", "--out", str(run), "--quiet"]) == 0
    assert main(["eval", str(run), "--n", "500"]) == 0  # builds the cached reference once
    first = json.loads((run / "eval.json").read_text())
    assert first["reconstruction"]["n"] == 500 and first["samples"]["n_samples"] == 500
    monkeypatch.delenv("GENZOO_DATA", raising=False)
    (run / "eval.json").unlink()
    assert main(["eval", str(run), "--n", "500", "--data-root", str(tmp_path / "empty")]) == 0
    again = json.loads((run / "eval.json").read_text())
    assert again["samples"]["fid"] == pytest.approx(first["samples"]["fid"])
    assert "reconstruction" not in again and any("test data not available" in n for n in again["notes"])
    shutil.rmtree(cache)
    with pytest.raises(DataError, match="not cached"):
        from genzoo.data import DataConfig
        from genzoo.eval.reference import reference_features

        empty = DataConfig(name="mnist", root=str(tmp_path / "empty"))
        reference_features(empty, "test", 10_000, features.shipped_extractor("mnist"))


def test_bench_writes_a_table_and_a_plot(real_data_root, cache, tmp_path):
    out = tmp_path / "bench.md"
    argv = [
        "bench",
        "--data",
        "mnist",
        "--data-root",
        real_data_root,
        "--budget",
        "3s",
        "--models",
        "ae",
        "--n",
        "500",
        "--evals",
        "2",
        "--out",
        str(out),
        "--work",
        str(tmp_path / "runs"),
    ]
    assert main(argv) == 0
    text = out.read_text()
    assert "| ae |" in text and "real data (train subset)" in text and "GFLOP/s" in text
    assert (tmp_path / "bench.png").stat().st_size > 1000
    res = json.loads((tmp_path / "bench.json").read_text())
    points = res["results"][0]["points"]
    assert len(points) == 2 and res["matmul_flops"] > 1e8
    assert points[0]["train_s"] < points[1]["train_s"] and points[0]["step"] < points[1]["step"]


def test_eval_of_a_saved_model_without_data_needs_data(tmp_path, capsys):
    from genzoo.models.autoencoder import AEConfig, Autoencoder

    model = Autoencoder(AEConfig(latent_dim=2, channels=(4,)), (1, 8, 8))
    model.prepare_for_sampling(torch.rand(20, 1, 8, 8))
    model.save(tmp_path / "m")
    assert main(["eval", str(tmp_path / "m"), "--n", "50"]) == 2
    assert "pass --data NAME" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "m"), "--n", "50", "--data", "digits"]) == 0
    result = json.loads((tmp_path / "m/eval.json").read_text())
    assert result["reconstruction"]["n"] == 50 and result["samples"]["n_samples"] == 50
    assert any("rank-deficient" in n for n in result["feature_notes"])  # 50 samples in 64 dimensions
    assert main(["eval", str(tmp_path / "m"), "--data", "moons"]) == 2


def test_digits_real_images_score_near_the_floor_and_noise_raises_fid(cache):
    from genzoo.data import DataConfig, load_dataset
    from genzoo.eval.evaluate import evaluate_images

    train = load_dataset(DataConfig(name="digits"), "train").x  # (1500, 1, 8, 8); the test split has 297
    g = torch.Generator().manual_seed(0)
    results = [
        evaluate_images((train + s * torch.randn(train.shape, generator=g)).clamp(0, 1), "digits")
        for s in (0.0, 0.1, 0.3)
    ]
    fids = [r["samples"]["fid"] for r in results]
    assert fids == sorted(fids) and fids[2] > 5 * fids[0]
    clean = results[0]
    assert clean["feature_net"] == "genzoo-digits" and clean["feature_net_test_accuracy"] >= 0.95
    assert clean["samples"]["n_reference"] == 297 and clean["real_floor"]["n_samples"] == 1500
    assert clean["samples"]["fid"] == pytest.approx(clean["real_floor"]["fid"], rel=1e-6)  # the same images
    assert clean["feature_notes"] == []  # 297 references in 64 dimensions: no rank-deficiency note
    more = evaluate_images(train.repeat(2, 1, 1, 1), "digits")  # more samples than training images
    assert more["real_floor"]["n_samples"] == 1500
    assert any("uses all 1500 training images" in n and "--n 1500" in n for n in more["feature_notes"])


def test_eval_of_a_digits_run_reports_fid(cache, tmp_path, capsys):
    run = tmp_path / "ae"
    train = ["train", "ae", "--data", "digits", "--steps", "20", "--batch-size", "64", "--latent-dim", "4"]
    assert main([*train, "--out", str(run), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--n", "1500"]) == 0
    out = capsys.readouterr().out
    result = json.loads((run / "eval.json").read_text())
    assert not any("skipped" in n for n in result["notes"]), result["notes"]
    s = result["samples"]
    assert result["feature_net"] == "genzoo-digits" and s["n_samples"] == 1500 and s["n_reference"] == 297
    assert math.isfinite(s["fid"]) and s["fid"] > result["real_floor"]["fid"] > 0
    assert 0 <= s["precision"] <= 1 and 0 <= s["recall"] <= 1 and len(s["class_shares"]) == 10
    assert result["real_floor"]["n_samples"] == 1500 and result["feature_notes"] == []
    assert "in genzoo-digits features" in out and "1500 samples vs 297 test images" in out


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err and len(lines) == 1 and lines[0].startswith("genzoo: error:"), err
    return lines[0]


def test_resized_digits_fall_back_from_the_shipped_network(cache, tmp_path, monkeypatch, capsys):
    """A run on 16x16 digits cannot use genzoo-digits (1x8x8): with auto it is scored like data
    without a shipped network (Inception if found, else a note), asked for it is an error."""
    monkeypatch.setenv("GENZOO_INCEPTION_WEIGHTS", str(tmp_path / "absent.pth"))
    run = tmp_path / "r16"
    train = [
        "train",
        "ae",
        "--data",
        "digits",
        "--data-image-size",
        "16",
        "--steps",
        "2",
        "--batch-size",
        "8",
    ]
    assert main([*train, "--latent-dim", "4", "--channels", "8,16", "--out", str(run), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--n", "8"]) == 0
    result = json.loads((run / "eval.json").read_text())
    assert "samples" not in result and result["reconstruction"]["n"] == 8
    note = next(n for n in result["notes"] if n.startswith("sample scores skipped"))
    assert "takes 1x8x8 images" in note and "1x16x16" in note and "genzoo download inception" in note
    assert main(["eval", str(run), "--n", "8", "--features", "genzoo"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "1x8x8" in line and "1x16x16" in line and "--features inception" in line
    # the shape decides: as stored, the shipped network; resized, Inception when its weights are found
    assert features.choose_extractor("auto", "digits", shape=(1, 8, 8)).name == "genzoo-digits"
    with pytest.raises(ConfigError, match=r"takes 1x8x8 images, these digits images are 3x8x8"):
        features.choose_extractor("genzoo", "digits", shape=(3, 8, 8))

    class Pixels(torch.nn.Module):  # a cheap stand-in for Inception: features = pixels
        def features(self, x):
            return x.flatten(1)

    weights = tmp_path / "inception.pth"
    weights.write_bytes(b"stand-in")
    monkeypatch.setenv("GENZOO_INCEPTION_WEIGHTS", str(weights))
    monkeypatch.setattr(
        features,
        "inception_extractor",
        lambda path=None: features.Extractor("inception-v3", "1" * 64, Pixels(), None, 500),
    )
    assert main(["eval", str(run), "--n", "8"]) == 0
    result = json.loads((run / "eval.json").read_text())
    assert result["feature_net"] == "inception-v3" and result["samples"]["n_samples"] == 8
    assert any(
        n.startswith("Inception features because the shipped genzoo-digits") for n in result["feature_notes"]
    )
    # samples of another shape than the data they are compared with: one line naming both
    np.savez(tmp_path / "s.npz", x=np.zeros((8, 16, 16), np.uint8))
    samples = ["eval", "--samples", str(tmp_path / "s.npz"), "--data", "digits", "--n", "8"]
    assert main(samples) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "1x16x16" in line and "1x8x8" in line and "--data-image-size" in line
    assert main([*samples, "--data-image-size", "16"]) == 0
    assert "in inception-v3 features" in capsys.readouterr().out


def test_resized_digits_without_inception_stop_bench_before_training(cache, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GENZOO_INCEPTION_WEIGHTS", str(tmp_path / "absent.pth"))
    argv = ["bench", "--data", "digits", "--data-image-size", "16", "--models", "ae", "--budget", "1s"]
    argv += ["--n", "8", "--work", str(tmp_path / "work"), "--out", str(tmp_path / "b.md")]
    assert main(argv) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "takes 1x8x8 images" in line and "no Inception weights" in line
    assert not (tmp_path / "work").exists()


@pytest.mark.parametrize(
    "models, args, message",
    [
        (
            "ae",
            ["--sampler", "ddim"],
            "--sampler apply to models with an iterative sampler (cddpm, ddpm); none of ae has one",
        ),
        (
            "ae,ddpm",
            ["--steps", "5000"],
            "--steps must be between 1 and the model's 1000 timesteps, got 5000",
        ),
        (
            "ddpm",
            ["--sampler", "ddpm", "--eta", "1"],
            "--eta applies to the ddim and dpm++sde samplers; ddpm has no eta",
        ),
    ],
)
def test_bench_sampler_options_are_checked_before_training(cache, tmp_path, capsys, models, args, message):
    argv = ["bench", "--data", "digits", "--models", models, "--budget", "1s", "--n", "8", *args]
    assert main([*argv, "--work", str(tmp_path / "work"), "--out", str(tmp_path / "b.md")]) == 2
    assert message in _one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "work").exists()


def test_bench_draws_a_diffusion_models_samples_with_the_sampler_given(cache, tmp_path, monkeypatch):
    import genzoo.bench

    # what this test is about is how the scored samples are drawn: a fixed rate for the calibration
    # run and the matmul throughput keep a full-size U-Net's bench to a few training steps
    monkeypatch.setattr(genzoo.bench, "measure_steps_per_s", lambda *args, **kwargs: 3.0)
    monkeypatch.setattr(genzoo.bench, "matmul_flops", lambda *args, **kwargs: 1e9)
    out = tmp_path / "bench.md"
    argv = ["bench", "--data", "digits", "--models", "ddpm", "--budget", "1s", "--evals", "1", "--n", "16"]
    argv += ["--sampler", "ddim", "--steps", "2", "--out", str(out), "--work", str(tmp_path / "work")]
    assert main(argv) == 0
    result = json.loads(out.with_suffix(".json").read_text())["results"][0]
    assert result["sampler"] == {
        "sampler": "ddim",
        "steps": 2,
        "network_evals": 2,
        "eta": 0.0,
        "spacing": "time",
    }
    assert "| ddpm (ddim, 2 steps) |" in out.read_text()


def test_bench_reports_the_smaller_digits_floor(cache, tmp_path):
    out = tmp_path / "bench.md"
    argv = ["bench", "--data", "digits", "--models", "ae", "--budget", "1s", "--evals", "1", "--n", "1600"]
    assert main([*argv, "--out", str(out), "--work", str(tmp_path / "work")]) == 0
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["floor"]["n_samples"] == 1500 and report["results"][0]["points"][0]["n_samples"] == 1600
    note = "the real-data floor uses all 1500 training images, fewer than the 1600 samples"
    assert any(n.startswith(note) for n in report["meta"]["feature_notes"])
    assert f"Note: {note}" in out.read_text()


def test_unreadable_reference_caches_are_rebuilt(cache):
    from genzoo.eval.evaluate import evaluate_images

    x = torch.rand(8, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    first = evaluate_images(x, "digits")
    files = sorted((cache / "stats").iterdir())
    assert {f.suffix for f in files} == {".safetensors", ".json"}
    for damage in (b"", b"\x00garbage", None):
        for f in files:
            if damage is not None:
                f.write_bytes(damage)
            elif f.suffix == ".json":  # valid JSON, but not the floor's scores
                f.write_text('{"fid": "x"}')
            else:  # a valid safetensors file without the features
                from genzoo import io

                io.save_tensors(f, {"other": torch.zeros(1)})
        again = evaluate_images(x, "digits")
        assert again["samples"]["fid"] == pytest.approx(first["samples"]["fid"])
        assert again["real_floor"] == pytest.approx(first["real_floor"])
    assert sorted((cache / "stats").iterdir()) == files  # rewritten in place


def test_damaged_saved_models_are_one_line_errors(cache, tmp_path, capsys):
    from genzoo.models.autoencoder import AEConfig, Autoencoder

    good = tmp_path / "good"
    model = Autoencoder(AEConfig(latent_dim=2, channels=(4,)), (1, 8, 8))
    model.prepare_for_sampling(torch.rand(20, 1, 8, 8))
    model.save(good, data={"name": "digits"})
    config = json.loads((good / "config.json").read_text())
    damaged = {
        "no shape": {k: v for k, v in config.items() if k != "shape"},
        "no model": {k: v for k, v in config.items() if k != "model"},
        "a list": [1, 2],
        "shape of strings": config | {"shape": "abc"},
        "negative shape": config | {"shape": [1, -8, 8]},
        "data not an object": config | {"data": 5},
        "model not an object": config | {"model": 5},
    }
    for what, cfg in damaged.items():
        bad = tmp_path / what.replace(" ", "-")
        shutil.copytree(good, bad)
        (bad / "config.json").write_text(json.dumps(cfg))
        for command in (["eval", str(bad), "--n", "8"], ["info", str(bad)]):
            assert main(command) == 2, (what, command)
            assert "config.json is not a genzoo model config" in _one_error_line(capsys.readouterr().err)
    cut = tmp_path / "cut"
    shutil.copytree(good, cut)
    (cut / "model.safetensors").write_bytes((good / "model.safetensors").read_bytes()[:100])
    assert main(["eval", str(cut), "--n", "8"]) == 2
    assert "not a readable safetensors file" in _one_error_line(capsys.readouterr().err)
    # a damaged state.json costs only the step in the report, not the scores
    for state in ("{", "[]", '{"step": "x"}'):
        (good / "state.json").write_text(state)
        assert main(["eval", str(good), "--n", "8"]) == 0
        result = json.loads((good / "eval.json").read_text())
        assert "step" not in result and "fid" in result["samples"]
        assert any("training step unknown" in n for n in result["notes"])


def test_bench_by_default_runs_every_family_that_fits_the_data():
    from genzoo.bench import models_for
    from genzoo.registry import list_models

    images, series = models_for((1, 8, 8)), models_for((64, 2))
    assert "ae" in images and "seq-ae" not in images and series == ["seq-ae"]
    assert set(images) | set(series) == set(list_models())


def test_save_samples_round_trips_exactly(tmp_path):
    from genzoo.eval.samples_file import load_labels, load_samples, save_samples

    x = torch.rand(7, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([3, 1, 4, 1, 5, 9, 2])
    save_samples(tmp_path / "s.npz", x, y)
    assert torch.equal(load_samples(tmp_path / "s.npz"), x)
    assert torch.equal(load_labels(tmp_path / "s.npz"), y)
    save_samples(tmp_path / "u.npz", x)  # no labels: none stored
    assert torch.equal(load_samples(tmp_path / "u.npz"), x) and load_labels(tmp_path / "u.npz") is None
    with pytest.raises(ConfigError, match="7 samples need 7 labels"):
        save_samples(tmp_path / "bad.npz", x, y[:3])


def test_sample_to_npz_is_what_eval_samples_scores(cache, tmp_path, capsys):
    """genzoo sample -o x.npz writes the samples (and a conditional model's labels) that genzoo eval
    --samples reads; the text of eval names the scale and direction of every figure."""
    from genzoo.eval.samples_file import load_labels, load_samples
    from genzoo.train import train
    from tests.conftest import tiny_spec

    spec = tiny_spec("cvae", steps=2, ckpt_every=2, image_every=0, warmup_steps=0, log_every=1, threads=1)
    train(spec, tmp_path / "cvae", progress=False)
    out = tmp_path / "s.npz"
    assert main(["sample", str(tmp_path / "cvae"), "-n", "12", "-o", str(out)]) == 0
    x, y = load_samples(out), load_labels(out)
    assert x.shape == (12, 1, 8, 8) and y is not None and y.shape == (12,)
    import genzoo

    model = genzoo.load(tmp_path / "cvae")
    assert torch.equal(y, model.sample_labels(range(12), None))  # the labels drawn per seed
    assert torch.allclose(x, model.sample(12, seeds=range(12), y=y))
    assert main(["sample", str(tmp_path / "cvae"), "-n", "3", "--class", "all", "-o", str(out)]) == 0
    assert torch.equal(load_labels(out), torch.arange(10).repeat_interleave(3))
    assert main(["sample", str(tmp_path / "cvae"), "-n", "5", "--class", "7", "-o", str(out)]) == 0
    assert load_labels(out).tolist() == [7] * 5
    capsys.readouterr()
    assert main(["eval", "--samples", str(out), "--data", "digits", "--json", str(tmp_path / "e.json")]) == 0
    text = capsys.readouterr().out
    result = json.loads((tmp_path / "e.json").read_text())
    assert set(result) == {
        "dataset", "model_type", "feature_net", "feature_net_sha256", "feature_net_test_accuracy",
        "samples", "real_floor", "feature_notes",
    }  # fmt: skip
    assert "not comparable with Inception FID/KID" in text
    lines = {line.split()[0]: line for line in text.splitlines() if line.strip()}
    for name in ("FID", "KID", "precision", "recall"):
        assert "is better" in lines[name], lines[name]
    assert "raw MMD^2, not x1000" in lines["KID"] and "can be negative" in lines["KID"]
    assert "0 to 1" in lines["precision"] and "0 to 1" in lines["recall"]
    assert "effective number of classes / classes, 1 = all 10 classes equally often" in text
    assert re.search(r"7: \d+\.\d%", text)  # the shares named by class, as percentages


def test_eval_scores_the_parts_of_a_split_sampling_as_the_whole(cache, tmp_path, capsys):
    """genzoo sample over disjoint seed ranges (parallel processes) gives the samples of one run over
    all the seeds, and eval --samples A B scores the parts exactly as the whole; parts of another
    image shape are one line naming both files."""
    from genzoo.eval.samples_file import load_samples, save_samples
    from genzoo.train import train
    from tests.conftest import tiny_spec

    train(
        tiny_spec("vae", steps=2, image_every=0, warmup_steps=0, threads=1), tmp_path / "vae", progress=False
    )
    run, whole, a, b = str(tmp_path / "vae"), tmp_path / "w.npz", tmp_path / "a.npz", tmp_path / "b.npz"
    assert main(["sample", run, "-n", "12", "-o", str(whole)]) == 0
    assert main(["sample", run, "--seed", "0", "-n", "5", "-o", str(a)]) == 0
    assert main(["sample", run, "--seed", "5", "-n", "7", "-o", str(b)]) == 0
    # the same seeds' samples (up to the rounding of a batch of 5 or 7 against one of 12)
    torch.testing.assert_close(torch.cat([load_samples(a), load_samples(b)]), load_samples(whole))
    save_samples(whole, torch.cat([load_samples(a), load_samples(b)]))  # the parts as one file
    scores = []
    for files in ([whole], [a, b]):
        out = tmp_path / f"e{len(files)}.json"
        assert main(["eval", "--samples", *map(str, files), "--data", "digits", "--json", str(out)]) == 0
        scores.append(json.loads(out.read_text())["samples"])
    assert scores[0]["n_samples"] == 12 and scores[0]["fid"] == scores[1]["fid"]
    np.savez(tmp_path / "big.npz", x=np.zeros((3, 16, 16), np.uint8))
    capsys.readouterr()
    assert main(["eval", "--samples", str(a), str(tmp_path / "big.npz"), "--data", "digits"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "big.npz holds images of shape (1, 16, 16)" in line and "a.npz holds (1, 8, 8)" in line


def test_only_sample_writes_npz(tmp_path):
    from genzoo.cli import build_parser

    args = build_parser().parse_args(["sample", "run", "-o", str(tmp_path / "s.npz")])
    assert args.output.suffix == ".npz"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["reconstruct", "run", "-o", str(tmp_path / "r.npz")])
