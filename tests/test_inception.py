"""Inception-v3 (FID variant) features for data without a shipped network.

The real weights cannot be had here, so these tests use random weights in the same format
(a .pth state dict with pytorch-fid's names, fc and num_batches_tracked included). The
architecture itself was checked against pytorch-fid's network by scripts/check_inception_port.py
(identical features for the same random weights); the tensor count and block shapes below pin it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genzoo.cli import main
from genzoo.data import DataConfig
from genzoo.errors import CheckpointError, ConfigError
from genzoo.eval import features, inception
from genzoo.eval.evaluate import evaluate_images
from genzoo.eval.reference import dataset_key
from genzoo.eval.samples_file import load_samples


@functools.cache
def _random_state() -> dict[str, torch.Tensor]:
    return inception.random_weights(0)


def random_state() -> dict[str, torch.Tensor]:
    """A state dict shaped like pytorch-fid's file (fc and num_batches_tracked included)."""
    return dict(_random_state())


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("inception") / "random-inception.pth"
    torch.save(random_state(), path)
    return path


@pytest.fixture(scope="module")
def net(weights) -> inception.InceptionV3FID:
    return inception.load_inception(weights)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_architecture_matches_inception_v3(net):
    # 21,820,000 numbers: the count of pytorch-fid's blocks up to the pool (scripts/check_inception_port.py)
    assert sum(v.numel() for k, v in net.state_dict().items() if "num_batches" not in k) == 21_820_000
    shapes = {}
    hooks = [
        getattr(net, name).register_forward_hook(
            lambda m, i, o, name=name: shapes.__setitem__(name, o.shape[1:])
        )
        for name in ("Conv2d_4a_3x3", "Mixed_5d", "Mixed_6e", "Mixed_7c")
    ]
    with torch.no_grad():
        out = net(torch.rand(2, 3, 40, 30))
    for h in hooks:
        h.remove()
    assert out.shape == (2, 2048)
    assert shapes == {
        "Conv2d_4a_3x3": (192, 71, 71),
        "Mixed_5d": (288, 35, 35),
        "Mixed_6e": (768, 17, 17),
        "Mixed_7c": (2048, 8, 8),
    }


@pytest.mark.slow
@torch.no_grad()
def test_features_equal_pytorch_fids_on_pinned_random_weights(net):
    # printed by scripts/check_inception_port.py from pytorch-fid 0.3.0's own network (2026-11-24):
    # any change to a block, a pool variant, the resize or the input scaling moves these numbers
    f = net(inception.golden_input())
    expected_head = [
        [0.668323, 4.222284, 0.230088, 3.501743, 0.876343, 1.45649],
        [0.644701, 5.103747, 0.050443, 3.986934, 0.913739, 1.515364],
    ]
    assert torch.allclose(f[:, :6], torch.tensor(expected_head), rtol=1e-4, atol=1e-4)
    assert f.sum(1).tolist() == pytest.approx([6518.375, 6210.5015], rel=1e-5)


def test_fid_pools_exclude_padding():
    x = torch.ones(1, 2, 5, 5)
    assert torch.equal(inception._avg_pool_3x3(x), x)  # padding counted would give 4/9 in the corners


@pytest.mark.slow
@torch.no_grad()
def test_features_are_batch_independent_and_gray_means_repeated_rgb(net):
    x = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    f = net(x)
    assert torch.allclose(f[1:2], net(x[1:2]), atol=1e-5)
    assert torch.allclose(f, net(x.expand(-1, 3, -1, -1)), atol=1e-6)
    assert torch.equal(net((x * 255).round().to(torch.uint8)), net((x * 255).round() / 255))
    assert not torch.allclose(f[0], f[1])


@pytest.mark.slow
def test_pth_and_safetensors_load_the_same_network(weights, net, tmp_path):
    from genzoo import io

    st = tmp_path / "w.safetensors"
    io.save_tensors(st, {k: v for k, v in random_state().items() if "num_batches" not in k})
    other = inception.load_inception(st)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(other(x), net(x))


@pytest.mark.slow
def test_wrong_weights_are_named(tmp_path, weights):
    state = random_state()
    cases = {
        "missing Mixed_7c.branch_pool.bn.bias": {
            k: v for k, v in state.items() if k != "Mixed_7c.branch_pool.bn.bias"
        },
        "unexpected extra.weight": state | {"extra.weight": torch.zeros(1)},
        "wrong shape Conv2d_1a_3x3.conv.weight": state
        | {"Conv2d_1a_3x3.conv.weight": torch.zeros(32, 1, 3, 3)},
    }
    for expected, bad in cases.items():
        torch.save(bad, tmp_path / "bad.pth")
        with pytest.raises(CheckpointError, match=expected):
            inception.load_inception(tmp_path / "bad.pth")
    (tmp_path / "cut.pth").write_bytes(weights.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="cannot read Inception weights.*corrupt or truncated"):
        inception.load_inception(tmp_path / "cut.pth")
    with pytest.raises(CheckpointError, match="not found.*genzoo download inception"):
        inception.load_inception(tmp_path / "absent.pth")


class Payload:  # a pickle that would run code on load with weights_only=False
    def __reduce__(self):
        return (print, ("this must never run",))


def test_a_pickle_with_code_is_refused(tmp_path, capsys):
    with open(tmp_path / "evil.pth", "wb") as f:
        pickle.dump({"Conv2d_1a_3x3.conv.weight": Payload()}, f, protocol=2)
    with pytest.raises(CheckpointError, match=r"cannot read Inception weights .*Python objects \(print\)"):
        inception.load_inception(tmp_path / "evil.pth")
    assert "must never run" not in capsys.readouterr().out


@pytest.mark.slow
def test_a_file_that_is_not_weights_is_named_in_one_line(tmp_path, weights):
    """torch.load's message is many lines of advice (load it unsafely, file an issue): never quoted."""
    (tmp_path / "empty.pth").write_bytes(b"")
    (tmp_path / "text.pth").write_text("hello\n")
    (tmp_path / "garbage").write_bytes(b"\x00\x01not a weights file\xff")
    (tmp_path / "cut.pth").write_bytes(weights.read_bytes()[:300])
    torch.save([torch.zeros(2)], tmp_path / "list.pth")
    for name in ("empty.pth", "text.pth", "garbage", "cut.pth", "list.pth"):
        with pytest.raises(CheckpointError) as e:
            inception.load_inception(tmp_path / name)
        message = str(e.value)
        assert "\n" not in message and str(tmp_path / name) in message, message
        assert "expected pytorch-fid's pt_inception-2015-12-05-6726825d.pth" in message, message
        assert "weights_only" not in message, message


def test_a_genzoo_checkpoint_is_not_inception(tmp_path):
    from genzoo.models.autoencoder import AEConfig, Autoencoder

    Autoencoder(AEConfig(), (1, 8, 8)).save(tmp_path / "ae")
    with pytest.raises(CheckpointError, match="not an Inception-v3 FID state dict.*missing"):
        inception.load_inception(tmp_path / "ae" / "model.safetensors")


# ---------------------------------------------------------------- scoring a folder of RGB images


@pytest.fixture
def rgb_folder(tmp_path) -> Path:
    """40 RGB 12x12 images of coloured stripes: test split = 4 images, train = 36."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "rgb"
    folder.mkdir()
    for i in range(40):
        img = np.zeros((12, 12, 3), np.uint8)
        img[:, :, i % 3] = rng.integers(100, 255)
        img[:: 2 + i % 3] = rng.integers(0, 255, 3)
        Image.fromarray(img).save(folder / f"{i:02d}.png")
    return folder


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("GENZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("GENZOO_INCEPTION_WEIGHTS", raising=False)


@pytest.mark.slow
def test_score_a_folder_with_inception(rgb_folder, weights, tmp_path, no_weights, capsys):
    from genzoo.data import load_dataset

    data = DataConfig(name="folder", path=str(rgb_folder))
    with pytest.raises(
        ConfigError, match="no shipped feature network for 'folder'.*genzoo download inception"
    ):
        evaluate_images(torch.rand(4, 3, 12, 12), data)
    test = load_dataset(data, "test").x  # (4, 3, 12, 12)
    same = evaluate_images(test, data, features="inception", inception_weights=str(weights))
    assert same["feature_net"] == "inception-v3" and same["feature_net_sha256"] == sha256(weights)
    assert any("not comparable with published FID" in n for n in same["feature_notes"])
    noise = evaluate_images(
        torch.rand(4, 3, 12, 12), data, features="inception", inception_weights=str(weights)
    )
    # 4 images in 2048 dimensions: a rank-deficient covariance, so "0" is only 0 to ~1e-5 relative
    assert abs(same["samples"]["fid"]) < 1e-4 * noise["samples"]["fid"]
    assert any("rank-deficient" in n for n in same["feature_notes"])
    assert noise["samples"]["fid"] > same["real_floor"]["fid"] > 0
    # the CLI, channels-last uint8 samples as numpy pipelines write them, weights found through the env
    np.savez(tmp_path / "s.npz", samples=(test.permute(0, 2, 3, 1) * 255).round().numpy().astype(np.uint8))
    args = ["eval", "--samples", str(tmp_path / "s.npz"), "--data", "folder", "--data-path", str(rgb_folder)]
    assert main([*args, "--inception-weights", str(weights), "--json", str(tmp_path / "e.json")]) == 0
    out = capsys.readouterr().out
    assert "in inception-v3 features" in out and "not comparable with published FID" in out
    result = json.loads((tmp_path / "e.json").read_text())
    assert result["samples"]["fid"] == pytest.approx(same["samples"]["fid"], abs=1e-3)
    assert main([*args, "--features", "genzoo"]) == 2  # no shipped network for a folder: a clear error
    assert "no shipped feature network for 'folder'" in capsys.readouterr().err


def test_the_cache_key_of_a_folder_follows_its_files(rgb_folder):
    data = DataConfig(name="folder", path=str(rgb_folder))
    key = dataset_key(data)
    assert key.startswith("folder-") and dataset_key(data) == key
    assert dataset_key(DataConfig(name="folder", path=str(rgb_folder), image_size=8)) != key
    Image.new("RGB", (12, 12)).save(rgb_folder / "new.png")
    assert dataset_key(data) != key
    assert dataset_key(DataConfig(name="mnist", root="/anywhere")) == "mnist"


@pytest.mark.slow
def test_auto_features_for_a_run_without_a_shipped_network(
    tmp_path, weights, rgb_folder, no_weights, monkeypatch
):
    run = tmp_path / "ae"
    train = ["train", "ae", "--steps", "2", "--batch-size", "8", "--data", "folder"]
    train += ["--data-path", str(rgb_folder), "--data-image-size", "8"]  # 4 test images
    assert main([*train, "--out", str(run), "--quiet"]) == 0
    assert main(["eval", str(run), "--n", "8"]) == 0  # a folder: no shipped network, no weights
    result = json.loads((run / "eval.json").read_text())
    assert "samples" not in result and "reconstruction" in result
    assert any("genzoo download inception" in n for n in result["notes"])
    assert main(["eval", str(run), "--n", "8", "--features", "inception"]) == 2  # asked for: an error
    monkeypatch.setenv("GENZOO_INCEPTION_WEIGHTS", str(weights))
    assert main(["eval", str(run), "--n", "8"]) == 0
    result = json.loads((run / "eval.json").read_text())
    assert result["feature_net"] == "inception-v3" and result["samples"]["n_samples"] == 8


@pytest.mark.slow
def test_bench_on_a_folder_with_inception(rgb_folder, weights, tmp_path, no_weights, capsys):
    out = tmp_path / "bench.md"
    argv = ["bench", "--data", "folder", "--data-path", str(rgb_folder), "--models", "ae", "--budget", "2s"]
    argv += ["--n", "8", "--evals", "1", "--out", str(out), "--work", str(tmp_path / "work")]
    assert main([*argv, "--inception-weights", str(weights)]) == 0
    assert "batch size 36 instead of 128" in capsys.readouterr().out  # 36 training images
    report = out.read_text()
    assert "FID (inception-v3 features)" in report and "not comparable with published FID" in report
    assert "against 4 test images" in report and out.with_suffix(".png").is_file()


def test_load_samples_layouts(tmp_path):
    x = np.random.default_rng(0).random((5, 3, 6, 7)).astype(np.float32)
    for name, arr in (("nchw", x), ("nhwc", x.transpose(0, 2, 3, 1))):
        np.savez(tmp_path / f"{name}.npz", x=arr)
        assert torch.equal(load_samples(tmp_path / f"{name}.npz"), torch.from_numpy(x))
    np.savez(tmp_path / "bad.npz", x=np.zeros((5, 6)))
    with pytest.raises(ConfigError, match=r"expected images"):
        load_samples(tmp_path / "bad.npz")
    np.save(tmp_path / "x.npy", x)  # an .npy is read as the array itself
    assert torch.equal(load_samples(tmp_path / "x.npy"), torch.from_numpy(x))
    np.savez(tmp_path / "be.npz", x=x.astype(">f4"))  # big-endian: torch cannot take it directly
    assert torch.equal(load_samples(tmp_path / "be.npz"), torch.from_numpy(x))


def test_corrupt_sample_files_are_one_line_errors(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "real.npz", x=rng.random((20, 1, 8, 8)).astype(np.float32))
    real = (tmp_path / "real.npz").read_bytes()
    np.savez_compressed(tmp_path / "packed.npz", x=rng.random((200, 1, 8, 8)).astype(np.float32))
    packed = bytearray((tmp_path / "packed.npz").read_bytes())
    packed[len(packed) // 2] ^= 0xFF
    files = {
        "random.npz": rng.bytes(300),
        "truncated.npz": real[: len(real) // 2],
        "truncated-end.npz": real[:-30],
        "pickle.npz": b"\x80\x04\x95" + rng.bytes(60),  # the pickle protocol opcode first
        "pickle-proto2.npz": pickle.dumps({"x": Payload()}, protocol=2),
        "bad-crc.npz": bytes(packed),
        "empty.npz": b"",
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    np.savez(tmp_path / "objects.npz", x=np.array([1, "a"], dtype=object))
    np.savez(tmp_path / "nothing.npz")
    for name in [*files, "objects.npz", "nothing.npz"]:
        with pytest.raises(ConfigError) as e:
            load_samples(tmp_path / name)
        assert "\n" not in str(e.value) and str(e.value).startswith(str(tmp_path / name)), str(e.value)
    assert "must never run" not in capsys.readouterr().out
    argv = ["eval", "--samples", str(tmp_path / "pickle.npz"), "--data", "digits"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "genzoo never does" in err and "pickle.npz" in err


# ---------------------------------------------------------------- genzoo download inception


@pytest.mark.slow
def test_download_inception_from_a_local_mirror(tmp_path, weights, serve, monkeypatch, capsys):
    site = tmp_path / "site" / "inception"
    site.mkdir(parents=True)
    (site / inception.FID_WEIGHTS_FILE).write_bytes(weights.read_bytes())
    base = serve(tmp_path / "site")
    dest = tmp_path / "w" / "deeper" / "inception.pth"
    argv = ["download", "inception", "--mirror", base, "--out", str(dest)]
    # our random file is not pytorch-fid's: the sha256 check refuses it and leaves nothing behind
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert (
        "sha256 mismatch, expected 6726825d" in err and len(err.strip().splitlines()) == 1
    )  # every URL tried, one line
    assert not (tmp_path / "w").exists()
    # with its own hash as the expected one, the same path succeeds, and a second call keeps the file
    monkeypatch.setattr(inception, "FID_SHA256_PREFIX", sha256(weights)[:8])
    assert main(argv) == 0 and sha256(dest) == sha256(weights)
    assert main(["download", "inception", "--mirror", "http://127.0.0.1:9/", "--out", str(dest)]) == 0
    assert features.inception_extractor(dest).notes == (
        "Inception features computed as pytorch-fid does (bilinear resize to 299x299)",
    )
    dest.write_bytes(b"not the weights")  # a different file is never overwritten
    assert main(argv) == 2 and "move it away" in capsys.readouterr().err
    assert dest.read_bytes() == b"not the weights"
    # a directory means pytorch-fid's file name inside it, for --out and --inception-weights alike
    assert main(["download", "inception", "--mirror", base, "--out", str(tmp_path / "w")]) == 0
    assert sha256(tmp_path / "w" / inception.FID_WEIGHTS_FILE) == sha256(weights)
    assert features.inception_weights_path(tmp_path / "w") == tmp_path / "w" / inception.FID_WEIGHTS_FILE


# ---------------------------------------------------------------- evaluation logic, with a cheap extractor


class Pixels(torch.nn.Module):
    """Features = the pixels themselves: fast enough to test the evaluation plumbing."""

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)


def pixels() -> features.Extractor:
    return features.Extractor("pixels", "0" * 64, Pixels(), None, 500)


def test_reference_sets_ignore_limit_and_follow_settings(no_weights):
    from genzoo.data import load_dataset
    from genzoo.eval.reference import reference_features

    full = len(load_dataset(DataConfig(name="digits"), "test"))
    ref = reference_features(DataConfig(name="digits", limit=16), "test", 10_000, pixels())
    assert len(ref) == full > 16
    assert dataset_key(DataConfig(name="mnist", limit=16)) == "mnist"
    resized = dataset_key(DataConfig(name="mnist", image_size=14))  # resized images: other references
    assert resized.startswith("mnist-") and resized != dataset_key(DataConfig(name="mnist", channels=3))


@pytest.mark.slow
def test_bad_images_and_options_are_named(no_weights, weights, tmp_path, capsys):
    data = DataConfig(name="digits")
    x = torch.rand(8, 1, 8, 8)
    x[0, 0, 0, 0] = float("nan")
    with pytest.raises(ConfigError, match="1 pixel values are NaN"):
        evaluate_images(x, data, features=pixels())
    with pytest.raises(ConfigError, match="divide by 255"):
        evaluate_images(torch.full((8, 1, 8, 8), 200.0), data, features=pixels())
    ok = evaluate_images((torch.rand(8, 1, 8, 8) * 255).to(torch.uint8), data, features=pixels())
    assert ok["samples"]["n_samples"] == 8  # uint8 tensors are read as 0..255
    with pytest.raises(ConfigError, match="at least 4"):
        evaluate_images(torch.rand(3, 1, 8, 8), data, features=pixels())
    with pytest.raises(ConfigError, match="unknown device 'gpu'"):
        evaluate_images(torch.rand(8, 1, 8, 8), data, features=pixels(), device="gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            evaluate_images(torch.rand(8, 1, 8, 8), data, features=pixels(), device="cuda")
    with pytest.raises(ConfigError, match="unknown feature network 'bogus'"):
        features.choose_extractor("bogus", "folder", weights)
    # explicit weights choose Inception even where a shipped network exists
    assert features.choose_extractor("auto", "mnist", weights).name == "inception-v3"
    assert features.choose_extractor("auto", "mnist").name == "genzoo-mnist"
    np.savez(tmp_path / "s.npz", x=np.zeros((8, 8, 8), np.uint8))
    with pytest.raises(SystemExit):
        main(["eval", "--samples", str(tmp_path / "s.npz"), "--data", "digits", "--n", "2"])
    assert "at least 4 images" in capsys.readouterr().err


@pytest.mark.slow
def test_runs_on_points_and_moved_folders(tmp_path, weights, rgb_folder, no_weights, monkeypatch, capsys):
    monkeypatch.setenv("GENZOO_INCEPTION_WEIGHTS", str(weights))
    run = tmp_path / "moons"
    common = ["--steps", "2", "--batch-size", "8", "--quiet"]
    moons = ["--data", "moons", "--data-n-points", "64", "--arch", "mlp"]
    assert main(["train", "ae", *moons, *common, "--out", str(run)]) == 0
    assert main(["eval", str(run), "--n", "8"]) == 0  # Inception weights found, but points are not images
    result = json.loads((run / "eval.json").read_text())
    assert "samples" not in result and any("not image data" in n for n in result["notes"])
    run = tmp_path / "folder"
    data = ["--data", "folder", "--data-path", str(rgb_folder), "--data-image-size", "8"]
    assert main(["train", "ae", *data, *common, "--out", str(run)]) == 0
    moved = tmp_path / "moved"
    rgb_folder.rename(moved)
    assert main(["eval", str(run), "--n", "4", "--data-path", str(moved)]) == 0
    result = json.loads((run / "eval.json").read_text())
    assert result["feature_net"] == "inception-v3" and result["reconstruction"]["n"] == 4
    # weights named on the command line must load: a typo is an error, not a quiet skip
    typo = ["eval", str(run), "--n", "4", "--data-path", str(moved), "--inception-weights", "typo.pth"]
    assert main(typo) == 2 and "Inception weights not found at typo.pth" in capsys.readouterr().err
    # a diverged model's samples skip the sample scores; reconstruction is still measured
    import genzoo.eval.evaluate as ev

    monkeypatch.setattr(ev, "draw_samples", lambda model, n, seed=0: torch.full((n, 3, 8, 8), float("nan")))
    assert main(["eval", str(run), "--n", "4", "--data-path", str(moved)]) == 0
    result = json.loads((run / "eval.json").read_text())
    assert "samples" not in result and "reconstruction" in result
    assert any("NaN or inf" in n for n in result["notes"])
    np.savez(tmp_path / "empty.npz", x=np.zeros((0, 8, 8, 3), np.uint8))
    empty = ["eval", "--samples", str(tmp_path / "empty.npz"), "--data", "folder", "--data-path", str(moved)]
    assert main(empty) == 2 and "at least 4 images" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*empty, "--n", "abc"])
    assert "expected a number of images, got 'abc'" in capsys.readouterr().err
