"""Evaluation: FID/KID/precision-recall maths, the shipped feature network, eval commands."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch

from genzoo.cli import main
from genzoo.errors import CheckpointError, DataError
from genzoo.eval import features, metrics
from genzoo.eval.likelihood import bits_per_dim, evaluate_likelihood


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
    class Uniform:  # p(x) = 1 on [0, 1]^D: every 8-bit image has probability 256^-D -> 8 bits/dim
        def log_likelihood(self, x):
            return torch.zeros(len(x))

    assert evaluate_likelihood(Uniform(), torch.rand(10, 1, 4, 4))["bits_per_dim"] == pytest.approx(8.0)
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
    assert "FID (genzoo-mnist features)" in capsys.readouterr().out


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
        from genzoo.eval.evaluate import reference_features

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
    assert "FID (genzoo-digits features)" in out and "1500 vs 297 test" in out
