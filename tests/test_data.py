"""Tests for genzoo.data: digits, toy sets, idx (md5, download, parsing) and folder loaders.

Real MNIST / Fashion-MNIST files are found only through $GENZOO_DATA; tests that need them
skip when it is unset. Downloads are served from 127.0.0.1 only.
"""

import gzip
import hashlib
import os
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genzoo.data import DataConfig, convert_images, data_root, list_datasets, load_dataset
from genzoo.data.idx import IMAGE_MAGIC, LABEL_MAGIC, read_idx
from genzoo.errors import ConfigError, DataError

REAL = os.environ.get("GENZOO_DATA")
needs_real = pytest.mark.skipif(not REAL, reason="GENZOO_DATA is not set (real MNIST files)")
TOY = ["moons", "rings", "eight-gaussians", "swiss-roll"]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
T10K = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def flip_byte(path: Path, offset: int = 100) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


# ---------------------------------------------------------------- digits, toy, generic


def test_digits_shapes_range_split():
    train = load_dataset(DataConfig(name="digits"), "train")
    test = load_dataset(DataConfig(name="digits"), "test")
    assert (len(train), len(test)) == (1500, 297)
    assert train.x.shape == (1500, 1, 8, 8) and train.x.dtype == torch.float32
    assert train.y.dtype == torch.int64 and set(train.y.tolist()) == set(range(10))
    assert 0.0 <= train.x.min() and train.x.max() == 1.0
    assert train.info.shape == (1, 8, 8) and train.info.is_image()
    assert train.info.value_range == (0.0, 1.0)
    assert train.info.class_names == tuple("0123456789")
    again = load_dataset(DataConfig(name="digits"), "train")
    assert torch.equal(train.x, again.x) and torch.equal(train.y, again.y)
    both = torch.bincount(torch.cat([train.y, test.y]), minlength=10)
    assert both.sum() == 1797 and (both > 170).all()


def test_limit_and_bad_split_and_name():
    data = load_dataset(DataConfig(name="digits", limit=10), "train")
    full = load_dataset(DataConfig(name="digits"), "train")
    assert len(data) == 10 and torch.equal(data.x, full.x[:10])
    with pytest.raises(DataError, match="valid"):
        load_dataset(DataConfig(name="digits"), "valid")
    # settings are configuration errors (not "data missing"), each naming its field and option
    with pytest.raises(ConfigError, match="mnist.*fashion-mnist.*moons") as err:
        load_dataset(DataConfig(name="cifar10"))
    assert "cifar10" in str(err.value)
    with pytest.raises(ConfigError, match=r"limit \(--data-limit\)"):
        load_dataset(DataConfig(name="digits", limit=0))


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"n_points": 0}, r"n_points \(--data-n-points\) must be positive"),  # even where unused
        ({"image_size": 0}, r"image_size \(--data-image-size\) must be positive"),
        ({"channels": 2}, r"channels \(--data-channels\) must be 1 or 3"),
        ({"name": "moons", "image_size": 8}, "--data-image-size.*2-D points"),
        ({"name": "rings", "channels": 3}, "--data-channels.*2-D points"),
        ({"path": "/some/images"}, "--data-path.*folder dataset; digits does not read it"),
    ],
)
def test_settings_that_cannot_apply_are_refused(changes, message):
    with pytest.raises(ConfigError, match=message):
        load_dataset(DataConfig(**({"name": "digits"} | changes)))


def test_a_data_root_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match="--data-root.*is a file"):
        load_dataset(DataConfig(name="digits", root=str(tmp_path / "file")))
    with pytest.raises(ConfigError, match="--data-root.*is a file"):
        list_datasets(str(tmp_path / "file"))


def test_image_sets_are_resized_and_given_channels():
    gray = load_dataset(DataConfig(name="digits"), "test")
    big = load_dataset(DataConfig(name="digits", image_size=16, channels=3), "test")
    assert big.x.shape == (297, 3, 16, 16) and big.info.shape == (3, 16, 16)
    assert big.info.class_names == gray.info.class_names and torch.equal(big.y, gray.y)
    assert 0.0 <= big.x.min() and big.x.max() <= 1.0
    assert torch.equal(big.x[:, 0], big.x[:, 1]) and torch.equal(big.x[:, 0], big.x[:, 2])  # gray as RGB
    # the same settings give the same tensor (training and evaluation read identical images)
    assert torch.equal(big.x, load_dataset(DataConfig(name="digits", image_size=16, channels=3), "test").x)
    # a size already equal is not resampled; limit then resize keeps the first examples
    same = load_dataset(DataConfig(name="digits", image_size=8, channels=1), "test")
    assert torch.equal(same.x, gray.x) and same.info == gray.info
    small = load_dataset(DataConfig(name="digits", image_size=4, limit=5), "test")
    assert small.x.shape == (5, 1, 4, 4)
    # antialiased resampling keeps each image's mean brightness
    assert (small.x.mean((1, 2, 3)) - gray.x[:5].mean((1, 2, 3))).abs().max() < 0.02


def test_convert_images_rgb_to_gray_uses_luma():
    x = torch.zeros(2, 3, 4, 4)
    x[:, 1] = 1.0  # pure green
    gray = convert_images(x, None, 1)
    assert gray.shape == (2, 1, 4, 4) and torch.allclose(gray, torch.full_like(gray, 0.587))
    assert torch.equal(convert_images(x, None, None), x)


@pytest.mark.parametrize("name", TOY)
def test_toy_sets(name):
    cfg = DataConfig(name=name, n_points=500)
    a, b = load_dataset(cfg, "train"), load_dataset(cfg, "train")
    test = load_dataset(cfg, "test")
    assert a.x.shape == (500, 2) and a.x.dtype == torch.float32
    assert a.info.shape == (2,) and a.info.value_range is None and not a.info.is_image()
    assert torch.equal(a.x, b.x) and not torch.equal(a.x, test.x)
    assert 0.5 < a.x.std().item() < 1.5 and a.x.mean().abs().max() < 0.3
    if a.y is None:
        assert name == "swiss-roll" and a.info.class_names is None
    else:
        assert a.y.shape == (500,) and a.y.dtype == torch.int64
        assert set(a.y.tolist()) == set(range(len(a.info.class_names)))


def test_data_root(monkeypatch, tmp_path):
    monkeypatch.setenv("GENZOO_DATA", str(tmp_path / "env"))
    assert data_root(str(tmp_path / "arg")) == tmp_path / "arg"
    assert data_root() == tmp_path / "env"
    monkeypatch.delenv("GENZOO_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data_root() == tmp_path / "xdg" / "genzoo"


def test_list_datasets_presence(tmp_path):
    rows = {r["name"]: r for r in list_datasets(str(tmp_path))}
    assert set(rows) >= {"digits", "mnist", "fashion-mnist", "folder", *TOY}
    assert rows["digits"]["present"] and rows["moons"]["present"]
    assert not rows["mnist"]["present"] and not rows["folder"]["present"]
    assert "--data-path" in rows["folder"]["description"]
    assert rows["mnist"]["shape"] == (1, 28, 28) and rows["mnist"]["classes"] == 10
    assert rows["swiss-roll"]["classes"] is None
    for r in rows.values():
        assert set(r) == {"name", "shape", "classes", "description", "present"}


# ---------------------------------------------------------------- real idx data


@needs_real
def test_list_datasets_real_present():
    rows = {r["name"]: r for r in list_datasets()}
    assert rows["mnist"]["present"] and rows["fashion-mnist"]["present"]


@needs_real
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_idx_real(name):
    test = load_dataset(DataConfig(name=name), "test", download=False)
    train = load_dataset(DataConfig(name=name), "train", download=False)
    assert test.x.shape == (10000, 1, 28, 28) and train.x.shape == (60000, 1, 28, 28)
    assert test.x.dtype == torch.float32 and test.y.dtype == torch.int64
    assert test.x.min() == 0.0 and test.x.max() == 1.0
    assert test.info.value_range == (0.0, 1.0) and len(test.info.class_names) == 10
    counts = (torch.bincount(test.y).tolist(), torch.bincount(train.y).tolist())
    if name == "mnist":
        assert counts == (MNIST_TEST_COUNTS, MNIST_TRAIN_COUNTS)
        assert test.info.class_names[3] == "3"
    else:
        assert counts == ([1000] * 10, [6000] * 10)
        assert test.info.class_names[0] == "T-shirt/top"
        assert test.info.class_names[9] == "Ankle boot"
    big = load_dataset(DataConfig(name=name, image_size=32, limit=100), "test", download=False)
    assert big.x.shape == (100, 1, 32, 32) and big.info.shape == (1, 32, 32)  # e.g. for a DCGAN


@pytest.fixture
def mnist_t10k(tmp_path) -> Path:
    """A directory holding copies of the real MNIST t10k files (the small ones)."""
    if not REAL:
        pytest.skip("GENZOO_DATA is not set (real MNIST files)")
    src = Path(REAL) / "mnist"
    dst = tmp_path / "copies"
    dst.mkdir()
    for f in T10K:
        shutil.copyfile(src / f, dst / f)
    return dst


def test_md5_mismatch_names_file_and_both_md5s(tmp_path, mnist_t10k):
    root = tmp_path / "root"
    shutil.copytree(mnist_t10k, root / "mnist")
    bad = root / "mnist" / T10K[1]
    good_md5 = md5(bad)
    flip_byte(bad)
    bad_md5 = md5(bad)
    with pytest.raises(DataError) as err:
        load_dataset(DataConfig(name="mnist", root=str(root)), "test", mirrors=["http://x.invalid"])
    msg = str(err.value)
    assert T10K[1] in msg and good_md5 in msg and bad_md5 in msg and "delete" in msg
    assert md5(bad) == bad_md5  # the user's file was not replaced


def test_md5_mismatch_without_real_data(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    (folder / T10K[0]).write_bytes(b"not the real file")
    with pytest.raises(DataError) as err:
        load_dataset(DataConfig(name="mnist", root=str(tmp_path)), "test", download=False)
    msg = str(err.value)
    assert str(folder / T10K[0]) in msg and md5(folder / T10K[0]) in msg
    assert "9fb629c4189551a2d022fa330f9573f3" in msg


def test_missing_without_download(tmp_path):
    with pytest.raises(DataError) as err:
        load_dataset(DataConfig(name="fashion-mnist", root=str(tmp_path)), "test", download=False)
    msg = str(err.value)
    assert T10K[0] in msg and str(tmp_path / "fashion-mnist") in msg and "GENZOO_DATA" in msg


# ---------------------------------------------------------------- parsing


def test_read_idx_truncated_and_garbled(tmp_path):
    good = gzip.compress(b"\x00\x00\x08\x03" + (2).to_bytes(4, "big") + b"\x00\x00\x00\x02" * 2)
    path = tmp_path / "x-idx3.gz"
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x03" + b"\x00\x00\x00\x02" * 3 + bytes(8)))
    assert read_idx(path, IMAGE_MAGIC).shape == (2, 2, 2)
    cases = {
        "truncated gzip": good[: len(good) // 2],
        "not gzip": b"hello world, not a gzip file",
        "bad magic": gzip.compress(b"\x00\x00\x08\x01" + bytes(20)),
        "short data": gzip.compress(b"\x00\x00\x08\x03" + b"\x00\x00\x00\x02" * 3 + bytes(5)),
        "empty": gzip.compress(b""),
    }
    for what, blob in cases.items():
        path.write_bytes(blob)
        with pytest.raises(DataError, match=str(path)):
            read_idx(path, IMAGE_MAGIC if what != "bad magic" else LABEL_MAGIC + 2)
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x03" + bytes(12)))
    with pytest.raises(DataError, match="2049"):
        read_idx(path, LABEL_MAGIC)


def test_truncated_real_file_is_rejected(tmp_path, mnist_t10k):
    root = tmp_path / "root"
    shutil.copytree(mnist_t10k, root / "mnist")
    f = root / "mnist" / T10K[0]
    f.write_bytes(f.read_bytes()[:50000])
    with pytest.raises(DataError, match=T10K[0]):
        load_dataset(DataConfig(name="mnist", root=str(root)), "test", download=False)


# ---------------------------------------------------------------- download from 127.0.0.1


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_download_from_local_mirror(tmp_path, mnist_t10k, serve):
    site = tmp_path / "site"
    shutil.copytree(mnist_t10k, site / "mnist")
    (tmp_path / "empty").mkdir()
    dead = serve(tmp_path / "empty")  # 404 for everything: the next mirror is tried
    root = tmp_path / "root"
    data = load_dataset(
        DataConfig(name="mnist", root=str(root)),
        "test",
        mirrors=[dead, serve(site)],
    )
    assert data.x.shape == (10000, 1, 28, 28)
    assert torch.bincount(data.y).tolist() == MNIST_TEST_COUNTS
    assert _leftovers(root) == sorted(T10K)


def test_download_via_env_mirror(tmp_path, mnist_t10k, serve, monkeypatch):
    site = tmp_path / "site"
    shutil.copytree(mnist_t10k, site / "mnist")
    monkeypatch.setenv("GENZOO_MIRROR", serve(site).rstrip("/"))
    data = load_dataset(DataConfig(name="mnist", root=str(tmp_path / "root"), limit=5), "test")
    assert data.x.shape == (5, 1, 28, 28)
    assert _leftovers(tmp_path / "root") == sorted(T10K)


def test_download_corrupt_copy_leaves_nothing(tmp_path, mnist_t10k, serve):
    site = tmp_path / "site"
    shutil.copytree(mnist_t10k, site / "mnist")
    flip_byte(site / "mnist" / T10K[0])
    base = serve(site)
    root = tmp_path / "root"
    with pytest.raises(DataError) as err:
        load_dataset(DataConfig(name="mnist", root=str(root)), "test", mirrors=[base])
    msg = str(err.value)
    assert T10K[0] in msg and f"{base}mnist/{T10K[0]}" in msg
    assert "9fb629c4189551a2d022fa330f9573f3" in msg and md5(site / "mnist" / T10K[0]) in msg
    assert _leftovers(root) == []


def test_download_garbage_leaves_nothing(tmp_path, serve):
    (tmp_path / "site" / "mnist").mkdir(parents=True)
    (tmp_path / "site" / "mnist" / T10K[0]).write_bytes(b"garbage" * 1000)
    base = serve(tmp_path / "site")
    root = tmp_path / "root"
    with pytest.raises(DataError, match="md5 mismatch, expected 9fb629c4"):
        load_dataset(DataConfig(name="mnist", root=str(root)), "test", mirrors=[base])
    assert _leftovers(root) == []


def test_download_404_and_refused(tmp_path, serve):
    (tmp_path / "empty").mkdir()
    missing = serve(tmp_path / "empty")
    with socket.socket() as s:  # a port with (almost surely) nobody listening
        s.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{s.getsockname()[1]}/"
    root = tmp_path / "root"
    with pytest.raises(DataError) as err:
        load_dataset(DataConfig(name="mnist", root=str(root)), "test", mirrors=[missing, refused])
    msg = str(err.value)
    assert f"{missing}mnist/{T10K[0]}" in msg and "404" in msg
    assert f"{refused}mnist/{T10K[0]}" in msg
    assert _leftovers(root) == []


# ---------------------------------------------------------------- folder of images


def _png(path: Path, size=(6, 4), mode="L", value=128) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    color = value if mode == "L" else (value, 255 - value, 0)
    Image.new(mode, size, color).save(path)


def _folder(path, **kw) -> DataConfig:
    return DataConfig(name="folder", path=str(path), **kw)


def test_folder_gray_flat(tmp_path):
    for i in range(3):
        _png(tmp_path / f"img{i}.png", value=50 * i)
    (tmp_path / "notes.txt").write_text("not an image")
    train = load_dataset(_folder(tmp_path), "train")
    test = load_dataset(_folder(tmp_path), "test")
    assert train.x.shape == (3, 1, 4, 6) and train.y is None
    assert train.info.shape == (1, 4, 6) and train.info.class_names is None
    assert torch.equal(train.x, test.x)  # fewer than 10 images: test = train
    values = sorted(round(v * 255) for v in train.x.amax(dim=(1, 2, 3)).tolist())
    assert values == [0, 50, 100]


def test_folder_classes_rgb_and_channels(tmp_path):
    _png(tmp_path / "cat" / "a.png", mode="RGB")
    _png(tmp_path / "cat" / "b.JPG", mode="RGB")
    _png(tmp_path / "dog" / "deep" / "c.jpeg")
    data = load_dataset(_folder(tmp_path), "train")
    assert data.info.shape == (3, 4, 6) and data.info.class_names == ("cat", "dog")
    assert sorted(data.y.tolist()) == [0, 0, 1]
    gray = load_dataset(_folder(tmp_path, channels=1), "train")
    assert gray.x.shape == (3, 1, 4, 6)
    with pytest.raises(ConfigError, match="channels"):
        load_dataset(_folder(tmp_path, channels=2))


def test_folder_sizes_and_resize(tmp_path):
    _png(tmp_path / "a.png", size=(8, 8))
    _png(tmp_path / "b.png", size=(12, 10))
    with pytest.raises(DataError, match="different sizes.*set --data-image-size N"):
        load_dataset(_folder(tmp_path))
    data = load_dataset(_folder(tmp_path, image_size=5, channels=3), "train")
    assert data.x.shape == (2, 3, 5, 5)
    assert 0.0 <= data.x.min() and data.x.max() <= 1.0


def test_folder_split_90_10(tmp_path):
    for i in range(20):
        _png(tmp_path / f"{i:02d}.png", size=(2, 2), value=10 * i)
    train = load_dataset(_folder(tmp_path), "train")
    test = load_dataset(_folder(tmp_path), "test")
    assert (len(train), len(test)) == (18, 2)
    ids = lambda d: {round(v * 25.5) for v in d.x[:, 0, 0, 0].tolist()}  # noqa: E731
    assert ids(train).isdisjoint(ids(test)) and len(ids(train) | ids(test)) == 20
    assert torch.equal(train.x, load_dataset(_folder(tmp_path), "train").x)


def test_folder_errors(tmp_path):
    with pytest.raises(DataError, match="--data-path"):
        load_dataset(DataConfig(name="folder"))
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(_folder(tmp_path / "nope"))
    with pytest.raises(DataError, match="no .png"):
        load_dataset(_folder(tmp_path))
    _png(tmp_path / "good.png")
    (tmp_path / "bad.png").write_bytes(b"this is not a png")
    with pytest.raises(DataError, match="bad.png"):
        load_dataset(_folder(tmp_path))
    (tmp_path / "bad.png").unlink()
    noisy = np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)
    Image.fromarray(noisy).save(tmp_path / "cut.png")
    blob = (tmp_path / "cut.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match="cut.png"):
        load_dataset(_folder(tmp_path, image_size=8))


def test_data_classes_keeps_those_classes_with_the_same_binarized_pixels():
    from genzoo.data import DataConfig, load_dataset

    whole = load_dataset(DataConfig(name="digits", binarize="static"), "test")
    three = load_dataset(DataConfig(name="digits", binarize="static", classes=(3,)), "test")
    assert set(three.y.tolist()) == {3} and len(three) == int((whole.y == 3).sum())
    assert torch.equal(three.x, whole.x[whole.y == 3])  # one draw per image, whatever is kept
    some = load_dataset(DataConfig(name="digits", classes=(3, 5), limit=7), "train")
    assert len(some) == 7 and set(some.y.tolist()) <= {3, 5}  # the limit counts the kept examples
    with pytest.raises(ConfigError, match=r"classes \(--data-classes\) 10 out of range: digits has 10"):
        load_dataset(DataConfig(name="digits", classes=(10,)), "train")
    with pytest.raises(ConfigError, match="class indices >= 0"):
        load_dataset(DataConfig(name="digits", classes=(-1,)), "train")


def test_data_sources_are_registered_and_an_unknown_name_lists_them():
    from genzoo.data import sources
    from genzoo.errors import ConfigError

    names = [s.name for s in sources.sources()]
    assert names[:4] == ["digits", "mnist", "fashion-mnist", "folder"] and "moons" in names and "csv" in names
    assert [r["name"] for r in list_datasets()] == names  # `genzoo datasets` lists the registry
    assert sources.get_source("folder").options == ("path",)
    assert sources.names(reading="stride") == ("kdd-tsad-135", "ecg-anomaly", "csv")
    with pytest.raises(ConfigError, match=r"unknown dataset 'nope'; known datasets: digits, mnist, .*csv$"):
        load_dataset(DataConfig(name="nope"))
    with pytest.raises(ConfigError, match="unknown dataset 'nope'"):
        sources.get_source("nope")


def test_the_data_sources_do_not_import_the_module_that_loads_them():
    import ast

    import genzoo.data

    # base asks the registry (sources), which imports the source modules: none imports base back
    root = Path(genzoo.data.__file__).parent
    for m in ("digits", "idx", "folder", "toy2d", "timeseries", "sources", "types"):
        tree = ast.parse((root / f"{m}.py").read_text())
        for node in ast.walk(tree):  # imports for type checking only are not run
            if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
                node.body = []
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert "genzoo.data.base" not in imported and "genzoo.data" not in imported, m
