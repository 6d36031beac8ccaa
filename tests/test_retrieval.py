"""Retrieval and semantic hashing (genzoo.apps.retrieval, ``genzoo retrieve``) on tiny seeded models."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from PIL import Image

import genzoo
from genzoo import config as cfgio
from genzoo.apps import retrieval
from genzoo.cli import main
from genzoo.data import DataConfig, load_dataset
from genzoo.errors import GenzooError
from genzoo.models.autoencoder import AEConfig
from genzoo.registry import get_model_class
from tests.conftest import SHAPE, TINY, tiny_spec

QUIET = {"image_every": 0, "warmup_steps": 0, "log_every": 50, "threads": 1}


def _train(tmp_path_factory, name: str, model_type: str = "ae", steps: int = 150, **model):
    from genzoo.train import train

    spec = tiny_spec(model_type, steps=steps, ckpt_every=steps, **QUIET)
    if model:
        spec = dataclasses.replace(spec, model=cfgio.replace(spec.model, **model))
    run = tmp_path_factory.mktemp(name) / "run"
    train(spec, run, progress=False)
    return run


@pytest.fixture(scope="module")
def ae_run(tmp_path_factory):
    torch.manual_seed(0)
    return _train(tmp_path_factory, "ret-ae")


@pytest.fixture(scope="module")
def digits():
    cfg = DataConfig(name="digits")
    return load_dataset(cfg, "train"), load_dataset(cfg, "test")


def _err_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    if len(lines) == 2 and lines[1].startswith("see 'genzoo"):
        lines = lines[:1]  # argparse's one error line, then a pointer to --help
    assert len(lines) == 1 and "error:" in lines[0], err
    return lines[0]


def _run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


# ------------------------------------------------------------------------------- scores, exactly
def test_average_precision_matches_a_hand_computed_case():
    db = torch.tensor([[1.0], [2.0], [3.0], [4.0]])
    db_labels = torch.tensor([0, 1, 0, 1])
    q = torch.tensor([[0.0], [2.9]])
    q_labels = torch.tensor([0, 1])
    # query 0: ranking 1, 2, 3, 4 -> relevant at ranks 1 and 3: AP = (1/1 + 2/3) / 2 = 5/6
    # query 2.9: ranking 3, 2, 4, 1 (distances .1, .9, 1.1, 1.9) -> relevant at ranks 2 and 3:
    # AP = (1/2 + 2/3) / 2 = 7/12; mAP = (5/6 + 7/12) / 2 = 17/24
    ap = retrieval.average_precision(db, db_labels, q, q_labels, "l2", chunk=1)
    assert torch.allclose(ap, torch.tensor([5 / 6, 7 / 12], dtype=torch.float64))
    assert retrieval.mean_average_precision(db, db_labels, q, q_labels, "l2") == pytest.approx(17 / 24)
    _, idx = retrieval.search(db, q, k=2, metric="l2")
    assert idx.tolist() == [[0, 1], [2, 1]]
    assert retrieval.precision_at_k(idx, db_labels, q_labels).tolist() == [0.5, 0.5]
    # a query whose class is absent from the database has AP 0
    assert float(retrieval.average_precision(db, db_labels, q[:1], torch.tensor([7]), "l2")[0]) == 0.0


def test_average_precision_breaks_hamming_ties_by_database_index():
    db = torch.tensor([[1, 0], [0, 1], [1, 1], [0, 0]], dtype=torch.bool)
    labels = torch.tensor([1, 0, 0, 0])
    q = torch.tensor([[0, 0]], dtype=torch.bool)
    # distances 1, 1, 2, 0 -> ranking 3, 0, 1, 2 (0 before 1: tie by index); relevant (label 1) at rank 2
    ap = retrieval.average_precision(db, labels, q, torch.tensor([1]), "hamming")
    assert float(ap[0]) == pytest.approx(1 / 2)
    dist, idx = retrieval.search(db, q, k=4, metric="hamming")
    assert idx.tolist() == [[3, 0, 1, 2]] and dist.tolist() == [[0, 1, 1, 2]]


def test_hamming_search_equals_brute_force():
    g = torch.Generator().manual_seed(0)
    db = torch.rand(300, 70, generator=g) > 0.5  # 70 bits: two 64-bit words
    q = torch.rand(25, 70, generator=g) > 0.5
    dist, idx = retrieval.search(db, q, k=17, metric="hamming")
    brute = (q[:, None, :] != db[None, :, :]).sum(-1)  # (Q, N)
    order = torch.sort(brute, dim=1, stable=True).indices[:, :17]  # ties by database index
    assert torch.equal(idx, order)
    assert torch.equal(dist.long(), torch.gather(brute, 1, order))
    # and the popcount distances equal sklearn's Hamming metric (a fraction of the bits)
    from sklearn.metrics import pairwise_distances

    sk = pairwise_distances(q.numpy(), db.numpy(), metric="hamming") * 70
    words = retrieval.pack_bits
    assert np.array_equal(retrieval.hamming_distances(words(q), words(db)), np.rint(sk).astype(np.int64))


def test_float_search_matches_the_full_ranking():
    g = torch.Generator().manual_seed(1)
    db, q = torch.randn(200, 8, generator=g), torch.randn(10, 8, generator=g)
    for metric in ("cosine", "l2"):
        _, idx = retrieval.search(db, q, k=5, metric=metric)
        d = retrieval._distances(q, db, metric)
        assert torch.equal(idx, torch.sort(d, dim=1, stable=True).indices[:, :5]), metric


# --------------------------------------------------------------------------- models and baselines
def test_precision_above_chance_after_training(ae_run, digits):
    train, test = digits
    model = genzoo.load(ae_run)
    q = test.x[:200]
    chance = float((train.y[None, :] == test.y[:200, None]).float().mean())  # ~0.1
    # hamming: 4 bits (latent_dim 4) make only 16 buckets, so its margin is smaller
    for metric, margin in (("cosine", 0.3), ("l2", 0.3), ("hamming", 0.04)):
        res = retrieval.retrieve(model, train.x, q, k=10, metric=metric)
        p = float(retrieval.precision_at_k(res.indices, train.y, test.y[:200]).mean())
        assert p > chance + margin, (metric, p, chance)
    z_db, z_q = retrieval.codes(model, train.x), retrieval.codes(model, q)
    assert retrieval.mean_average_precision(z_db, train.y, z_q, test.y[:200], "cosine") > chance + 0.1
    # an untrained model of the same shape is much worse than the trained one
    fresh = get_model_class("ae")(cfgio.from_dict(AEConfig, TINY["ae"]), SHAPE)
    fresh.eval()
    z_db0, z_q0 = retrieval.codes(fresh, train.x), retrieval.codes(fresh, q)
    assert retrieval.mean_average_precision(z_db0, train.y, z_q0, test.y[:200], "cosine") < (
        retrieval.mean_average_precision(z_db, train.y, z_q, test.y[:200], "cosine")
    )


def test_baselines_have_the_asked_length_and_beat_chance(digits):
    train, test = digits
    q, qy = test.x[:100], test.y[:100]
    assert retrieval.pixel_codes(q).shape == (100, 64)
    pca = retrieval.pca_codes(train.x, q, 8)
    bits = retrieval.pca_hash(train.x, q, 16)
    lsh = retrieval.lsh_hash(train.x, q, 16, seed=3)
    assert pca.shape == (100, 8) and bits.shape == (100, 16) and bits.dtype == torch.bool
    assert torch.equal(lsh, retrieval.lsh_hash(train.x, q, 16, seed=3))  # seeded
    train_bits = retrieval.pca_hash(train.x, train.x, 16)
    assert abs(float(train_bits.float().mean()) - 0.5) < 0.02  # median thresholds: balanced bits
    _, idx = retrieval.search(train_bits, bits, k=10, metric="hamming")
    assert float(retrieval.precision_at_k(idx, train.y, qy).mean()) > 0.5
    assert retrieval.query_time(train_bits, bits, "hamming", repeats=1) > 0


@pytest.mark.slow
@pytest.mark.parametrize("code, steps", [("sigmoid-noise", 400), ("straight-through", 120)])
def test_binary_code_option_trains_and_gives_bits(code, steps, tmp_path_factory, digits):
    torch.manual_seed(0)
    run = _train(tmp_path_factory, f"ret-{code}", steps=steps, code=code, latent_dim=16)
    model = genzoo.load(run)
    assert model.config.code == code and model.code_threshold == 0.5
    train, test = digits
    z = retrieval.codes(model, test.x[:50])
    if code == "sigmoid-noise":
        assert float(z.min()) > 0 and float(z.max()) < 1  # eval mode: sigmoid(h) in (0, 1)
    else:  # eval mode: the bits themselves, what the decoder was trained on
        assert set(z.unique().tolist()) <= {0.0, 1.0}
    bits = retrieval.binary_codes(model, test.x[:50])
    assert bits.dtype == torch.bool and torch.equal(bits, z > 0.5)
    losses = [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert losses[-1] < losses[0]
    if code == "sigmoid-noise":  # Hamming retrieval on its 16 bits beats chance (~0.1)
        res = retrieval.retrieve(model, train.x, test.x[:200], k=10, metric="hamming")
        assert float(retrieval.precision_at_k(res.indices, train.y, test.y[:200]).mean()) > 0.2
    # while training, straight-through gives exact bits and a gradient through the sigmoid
    model.train()
    x = test.x[:8]
    z = model.encode(x)
    if code == "straight-through":
        assert set(z.unique().tolist()) <= {0.0, 1.0}
    z.sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder.parameters())


def test_old_configs_without_the_code_key_load_as_real_codes():
    cfg = cfgio.from_dict(AEConfig, {"latent_dim": 4})
    assert cfg.code == "real"
    model = get_model_class("ae")(cfgio.from_dict(AEConfig, TINY["ae"]), SHAPE)
    assert model.code_threshold is None
    with pytest.raises(GenzooError, match="code_noise"):
        get_model_class("ae")(cfgio.from_dict(AEConfig, TINY["ae"] | {"code_noise": -1.0}), SHAPE)


# ----------------------------------------------------------------------------------------- CLI
def test_cli_writes_the_neighbours_picture(ae_run, tmp_path, capsys):
    out = tmp_path / "n.png"
    assert main(["retrieve", str(ae_run), "--query", "0,3", "-k", "5", "-o", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert stdout.count("precision@5 = ") == 2 and "query 3 (label" in stdout
    w, h = Image.open(out).size
    assert w / h == pytest.approx(6 / 2, rel=0.1)  # 2 rows: the query and 5 neighbours
    out2 = tmp_path / "h.png"
    argv = ["retrieve", str(ae_run), "--query", "1", "--metric", "hamming", "--database", "test"]
    assert main([*argv, "--n-db", "50", "-o", str(out2)]) == 0 and out2.is_file()
    assert "50 images" in capsys.readouterr().out
    # the test-split database leaves the queries out
    assert retrieval.database_indices(6, exclude=[1, 4]).tolist() == [0, 2, 3, 5]
    assert retrieval.database_indices(6, exclude=[1], limit=2).tolist() == [0, 2]


def test_retrieve_is_deterministic(ae_run, digits):
    train, test = digits
    model = genzoo.load(ae_run)
    a = retrieval.retrieve(model, train.x, test.x[:3], k=4, metric="l2")
    b = retrieval.retrieve(model, train.x, test.x[:3], k=4, metric="l2")
    assert torch.equal(a.indices, b.indices)  # deterministic


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    return _train(tmp_path_factory, "ret-gan", "gan", steps=2)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--query", "99999"], "--query 99999 out of range"),
        (["--query", "-1"], "--query -1 out of range"),
        (["--query", "a,b"], "--query"),
        (["--n-db", "5", "-k", "10"], "-k 10 is more than the 5 images"),
        (["-k", "0"], "--neighbours"),
        (["--metric", "manhattan"], "--metric"),
        (["--data", "nope"], "nope"),
    ],
)
def test_bad_input_is_one_line(ae_run, tmp_path, capsys, extra, message):
    assert _run(["retrieve", str(ae_run), "-o", str(tmp_path / "x.png"), *extra]) == 2
    assert message in _err_line(capsys)


def test_a_model_without_encode_is_refused(gan_run, tmp_path, capsys):
    assert _run(["retrieve", str(gan_run), "-o", str(tmp_path / "x.png")]) == 2
    assert "has no encoder" in _err_line(capsys)
    with pytest.raises(GenzooError, match="has no encoder"):
        retrieval.codes(genzoo.load(gan_run), torch.zeros(2, *SHAPE))


def test_a_conditional_model_and_bad_api_input_are_refused():
    cvae = get_model_class("cvae")(cfgio.from_dict(get_model_class("cvae").config_class, TINY["cvae"]), SHAPE)
    with pytest.raises(GenzooError, match="class-conditional"):
        retrieval.codes(cvae, torch.zeros(2, *SHAPE))
    db = torch.zeros(4, 3)
    with pytest.raises(GenzooError, match="unknown metric"):
        retrieval.search(db, db, 2, "manhattan")
    with pytest.raises(GenzooError, match="database size 4"):
        retrieval.search(db, db, 5, "l2")
    with pytest.raises(GenzooError, match="binary codes"):
        retrieval.search(db + 0.5, db, 2, "hamming")
    with pytest.raises(GenzooError, match="same d"):
        retrieval.search(db, torch.zeros(2, 5), 2, "l2")
