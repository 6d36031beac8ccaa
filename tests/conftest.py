"""Shared fixtures: small configs for every registered model, and the data root from the environment."""

from __future__ import annotations

import functools
import http.server
import os
import threading
from pathlib import Path

import pytest

# Under pytest-xdist (`make test`, CI: one worker per core) each worker runs torch on one thread,
# and so do the processes a test starts (python -m genzoo, torchrun): N workers x N threads would
# oversubscribe the cores. A plain `pytest -n0` keeps torch's default.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"

import torch  # noqa: E402  (after OMP_NUM_THREADS: the OpenMP pool reads it once)

from genzoo.data import DataConfig
from genzoo.models.base import GenerativeModel
from genzoo.train import RunSpec, TrainConfig

if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)

# the precision the quality tests train in: fp32 (CI); GENZOO_TEST_PRECISION=bf16 to see how they
# fare in bf16 on a CPU with native bf16 (not a CI setting: bf16 may miss a quality threshold)
TEST_PRECISION = os.environ.get("GENZOO_TEST_PRECISION", "fp32")

# Tiny, fast configs for the conformance suite. A newly registered model must add an entry
# here (test_every_model_has_a_tiny_config fails otherwise).
TINY: dict[str, dict] = {
    "ae": {"arch": "conv", "latent_dim": 4, "channels": (8, 16)},
    "dae": {"arch": "conv", "latent_dim": 4, "channels": (8, 16), "noise": "gaussian:0.3"},
    "deep-ae": {"latent_dim": 4, "hidden": (32, 16), "pretrain_steps": 0},
    "vae": {"arch": "conv", "latent_dim": 4, "channels": (16, 32)},
    "beta-vae": {  # also the conformance case of a multi-parameter decoder (a logistic mixture)
        "arch": "mlp",
        "latent_dim": 4,
        "hidden": (32,),
        "likelihood": "logistic-mixture",
        "mixtures": 2,
        "activation": "relu",
        "beta": 0.5,
        "kl_warmup_steps": 10,
        "free_bits": 0.1,
    },
    "cvae": {"arch": "conv", "latent_dim": 4, "channels": (8, 16), "num_classes": 10},
    "hvae": {"arch": "mlp", "latent_dim": 3, "bottom_dim": 4, "hidden": (32,), "top_hidden": (16,)},
    "gan": {"latent_dim": 4, "hidden": (16, 32), "loss": "minimax", "label_smoothing": 0.1},
    "dcgan": {"latent_dim": 4, "channels": (8, 16), "g_channels": (16, 8), "d_steps": 2},
    "cgan": {"latent_dim": 4, "channels": (8,), "g_channels": (16, 8), "conditioning": "concat"},
    "acgan": {"latent_dim": 4, "channels": (8,), "g_channels": (8,), "spectral_norm": True, "loss": "hinge"},
    # attention on (the default is off): the conformance suite keeps the self-attention block covered
    "ddpm": {
        "timesteps": 20,
        "channels": 8,
        "channel_mult": (1, 2),
        "sample_steps": 4,
        "vlb_timesteps": 5,
        "attention": True,
    },
    "cddpm": {"timesteps": 20, "channels": 8, "channel_mult": (1, 2), "sample_steps": 3, "attention": False},
    "realnvp": {"levels": 2, "depth": 2, "channels": 8, "blocks": 1, "hidden": 16},
    "glow": {"levels": 2, "depth": 2, "channels": 8, "blocks": 1, "hidden": 16},
    "seq-ae": {"cell": "lstm", "hidden": 16, "latent_dim": 4, "bidirectional": True},
}
SHAPE = (1, 8, 8)
# models of data other than images (C, H, W): their per-example shapes in the conformance suite,
# one for each of its image shapes (a series model's (T, D + 1): D values and a mask channel)
DATA_SHAPES: dict[str, tuple[tuple[int, ...], ...]] = {"seq-ae": ((16, 2), (12, 4), (20, 3))}


@pytest.fixture
def images() -> torch.Tensor:
    """16 fixed 'images' (16, 1, 8, 8) in [0, 1]."""
    g = torch.Generator().manual_seed(123)
    return torch.rand(16, *SHAPE, generator=g)


def tiny_spec(model_type: str = "ae", data: dict | None = None, **train) -> RunSpec:
    from genzoo import config as cfgio
    from genzoo.registry import get_model_class

    cls = get_model_class(model_type)
    # fp32 unless a test asks otherwise: tests that assert what a training learned must hold on
    # every CPU (AVX2, AVX-512-BF16, AMX), where "auto" may differ; the bf16 path of each family
    # is tested on its own in test_precision.py (GENZOO_TEST_PRECISION=bf16 reruns them in bf16)
    tc = {
        "precision": TEST_PRECISION,
        "steps": 20,
        "batch_size": 32,
        "log_every": 5,
        "image_every": 10,
        "ckpt_every": 10,
        "warmup_steps": 5,
    }
    return RunSpec(
        model_type,
        cfgio.from_dict(cls.config_class, TINY.get(model_type, {})),
        cfgio.from_dict(DataConfig, {"name": "digits"} | (data or {})),
        cfgio.from_dict(TrainConfig, tc | train),
    )


@pytest.fixture
def real_data_root() -> str:
    root = os.environ.get("GENZOO_DATA")
    if not root:
        pytest.skip("GENZOO_DATA is not set (point it at a folder holding mnist/ and fashion-mnist/)")
    return root


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def serve(monkeypatch):
    """serve(directory) -> base URL of a local HTTP server; all servers stop at teardown."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.delenv("GENZOO_MIRROR", raising=False)
    servers = []

    def start(directory: Path) -> str:
        handler = functools.partial(_QuietHandler, directory=str(directory))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


class Stub(GenerativeModel):
    """A stand-in model for tests of apps and commands: a subclass declares its ``capabilities``
    (and ``model_type``) as a family does and implements what they ask; no config."""

    model_type = "stub"
    config_class = type(None)

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__(None, shape)


# -- parallel runs (pytest-xdist; pyproject's addopts: -n auto --dist loadgroup) ------------------
def pytest_xdist_auto_num_workers(config) -> int:
    """One worker per core this process may use (the affinity mask, not the machine's count), at
    most 8: each worker holds torch and its data sets in memory."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cores, 8))


def _module_fixtures(item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    defs = info.name2fixturedefs.values() if info else ()
    return any(d.scope in ("module", "class", "package") for fixturedefs in defs for d in fixturedefs)


def pytest_collection_modifyitems(config, items) -> None:
    """Under xdist, start the long (``slow``) tests first, so that one of them is not what a
    worker is still running after the other has finished the rest; a test that shares a module
    fixture keeps its place (moved, it would build that fixture twice)."""
    if not hasattr(config, "workerinput"):
        return
    items.sort(key=lambda item: not (item.get_closest_marker("slow") and not _module_fixtures(item)))
