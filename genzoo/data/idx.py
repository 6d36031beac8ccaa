"""MNIST and Fashion-MNIST from the canonical gzipped IDX files, md5-checked, downloaded if asked.

Files live in `<data root>/<name>/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz`. A present
file with the wrong md5 is never overwritten; a download goes to a temporary file in the same
directory, is checked, and only then moved into place.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np
import torch

from genzoo.data.sources import Source, register
from genzoo.data.types import DatasetInfo, TensorData
from genzoo.errors import DataError
from genzoo.fetch import download_verified, file_digest, mirrors_from_env

# file name -> (md5, size in bytes), identical to the canonical files
CHECKSUMS: dict[str, dict[str, tuple[str, int]]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": ("f68b3c2dcbeaaa9fbdd348bbdeb94873", 9912422),
        "train-labels-idx1-ubyte.gz": ("d53e105ee54ea40749a09fcbcd1e9432", 28881),
        "t10k-images-idx3-ubyte.gz": ("9fb629c4189551a2d022fa330f9573f3", 1648877),
        "t10k-labels-idx1-ubyte.gz": ("ec29112dd5afa0611ce80d1b7f02629c", 4542),
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", 26421880),
        "train-labels-idx1-ubyte.gz": ("25c81989df183df01b3e8a0aad5dffbe", 29515),
        "t10k-images-idx3-ubyte.gz": ("bef4ecab320f06d8554ea6380940ec79", 4422102),
        "t10k-labels-idx1-ubyte.gz": ("bb300cfdad3c16e7a12a480ee83cd310", 5148),
    },
}
DEFAULT_MIRRORS = {
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ],
    "fashion-mnist": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
}
CLASS_NAMES = {
    "mnist": tuple(str(d) for d in range(10)),
    "fashion-mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat")
    + ("Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
}
DESCRIPTIONS = {
    "mnist": "MNIST 28x28 handwritten digits (60000 train / 10000 test)",
    "fashion-mnist": "Fashion-MNIST 28x28 clothing images (60000 train / 10000 test)",
}
IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049  # IDX magic: 0x0000 0x08 (uint8) ndim
_md5_cache: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> md5


def split_files(split: str) -> tuple[str, str]:
    """The (images, labels) file names of a split."""
    prefix = "train" if split == "train" else "t10k"
    return f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"


def files_present(name: str, root: Path) -> bool:
    """True if all four files of `name` exist under `root` with the expected sizes."""
    folder = root / name
    return all(
        (folder / f).is_file() and (folder / f).stat().st_size == size
        for f, (_, size) in CHECKSUMS[name].items()
    )


def file_md5(path: Path) -> str:
    """md5 of a file, cached in-process by (path, size, mtime)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _md5_cache:
        _md5_cache[key] = file_digest(path, "md5")
    return _md5_cache[key]


def mirror_urls(name: str, file: str, mirrors: list[str] | None = None) -> list[str]:
    """URLs to try for `file`: `{base}/{name}/{file}` for given mirrors (argument, else the
    comma-separated $GENZOO_MIRROR), else the official mirrors' `{base}{file}`."""
    if mirrors is None:
        mirrors = mirrors_from_env()
    if mirrors:
        return [f"{base.rstrip('/')}/{name}/{file}" for base in mirrors]
    return [base + file for base in DEFAULT_MIRRORS[name]]


def download(name: str, file: str, root: Path, mirrors: list[str] | None = None) -> Path:
    """Download `file` of dataset `name` into `root/name`, trying each mirror in order."""
    expected = CHECKSUMS[name][file][0]
    urls = mirror_urls(name, file, mirrors)
    return download_verified(urls, root / name / file, "md5", expected, name, DataError)


def read_idx(path: Path, magic: int) -> np.ndarray:
    """Parse a gzipped IDX file of unsigned bytes: (N, H, W) for 2051, (N,) for 2049."""
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: not a readable gzip file (truncated or corrupt?): {e}") from e
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header or int.from_bytes(data[:4], "big") != magic:
        found = int.from_bytes(data[:4], "big") if len(data) >= 4 else None
        raise DataError(f"{path}: not an IDX file with magic {magic} (found {found})")
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if len(data) != header + int(np.prod(dims)):
        raise DataError(
            f"{path}: IDX header says {dims} = {header + int(np.prod(dims))} bytes, "
            f"file has {len(data)} (truncated or garbled)"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _locate(name: str, file: str, root: Path, download_ok: bool, mirrors: list[str] | None):
    """Path of a present, md5-verified file, downloading it when missing and allowed."""
    path = root / name / file
    expected = CHECKSUMS[name][file][0]
    if not path.is_file():
        if not download_ok:
            raise DataError(
                f"{name}: file {file} is missing (looked in {root / name}). Put the canonical "
                f"files there, point --data-root or GENZOO_DATA at a directory containing "
                f"{name}/, or allow downloading."
            )
        return download(name, file, root, mirrors)
    actual = file_md5(path)
    if actual != expected:
        raise DataError(
            f"{name}: {path} has md5 {actual}, expected {expected} (corrupt or a different "
            f"file); delete it to download a fresh copy"
        )
    return path


def load_idx(
    name: str, split: str, root: Path, *, download: bool = True, mirrors: list[str] | None = None
) -> TensorData:
    """One split of mnist / fashion-mnist: x (N, 1, 28, 28) float32 in [0, 1], y (N,) int64."""
    img_file, lbl_file = split_files(split)
    img_path = _locate(name, img_file, root, download, mirrors)
    lbl_path = _locate(name, lbl_file, root, download, mirrors)
    images = read_idx(img_path, IMAGE_MAGIC)  # (N, 28, 28) uint8
    labels = read_idx(lbl_path, LABEL_MAGIC)  # (N,) uint8
    bad = images.shape[1:] != (28, 28) or len(images) != len(labels) or len(labels) == 0
    if bad or labels.max() > 9:
        raise DataError(
            f"{name} {split}: {img_path.name} {images.shape} does not match "
            f"{lbl_path.name} {labels.shape} (expected (N, 28, 28) images and N labels 0..9)"
        )
    x = images.astype(np.float32)[:, None]  # (N, 1, 28, 28)
    np.divide(x, 255.0, out=x)
    info = DatasetInfo(
        name=name,
        shape=(1, 28, 28),
        value_range=(0.0, 1.0),
        class_names=CLASS_NAMES[name],
    )
    y = torch.from_numpy(labels.astype(np.int64))
    return TensorData(x=torch.from_numpy(x), y=y, info=info, split=split)


register(
    *(
        Source(
            name=name,
            load=lambda cfg, split, *, root, download=True, mirrors=None, _n=name: load_idx(
                _n, split, root, download=download, mirrors=mirrors
            ),
            description=DESCRIPTIONS[name],
            kind="images",
            shape=(1, 28, 28),
            classes=10,
            present=lambda root, _n=name: files_present(_n, root),
        )
        for name in CHECKSUMS
    )
)
