"""Few labels: ``pretrain-eval`` and ``augment`` (genzoo.apps.pretrain, genzoo.apps.augment) on tiny
seeded models trained on the embedded 8x8 digits (1,500 training, 297 test images, 10 classes)."""

from __future__ import annotations

import json
import math

import pytest
import torch

import genzoo
from genzoo import config as cfgio
from genzoo.apps.augment import augment_eval, sample_per_class, training_sets
from genzoo.apps.classifier import fit
from genzoo.apps.pretrain import (
    encoder_classifier,
    encoder_parameters,
    label_subset,
    pretrain_eval,
)
from genzoo.cli import main
from genzoo.data import DataConfig, load_dataset
from genzoo.errors import ConfigError, GenzooError
from genzoo.models.capabilities import Capability
from genzoo.registry import get_model_class
from tests.conftest import TINY, Stub, tiny_spec


@pytest.fixture(scope="module")
def digits():
    cfg = DataConfig(name="digits")
    return load_dataset(cfg, "train"), load_dataset(cfg, "test")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, str]:
    """A tiny conv ae (code 16) and a tiny cvae, 80 seeded steps each on digits."""
    from genzoo.train import train

    root = tmp_path_factory.mktemp("fewlabels")
    quiet = {"steps": 80, "threads": 1, "image_every": 0, "ckpt_every": 80, "log_every": 40}
    spec = tiny_spec("ae", **quiet)
    spec.model = cfgio.replace(spec.model, latent_dim=16)
    train(spec, root / "ae", progress=False)
    train(tiny_spec("cvae", **quiet), root / "cvae", progress=False)
    return {"ae": str(root / "ae"), "cvae": str(root / "cvae")}


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# ------------------------------------------------------------------------------ few-label subsets
def test_few_label_subsets_are_balanced_and_seeded(digits):
    y = digits[0].y
    a, b, again = label_subset(y, 50, 0, 10), label_subset(y, 50, 1, 10), label_subset(y, 50, 0, 10)
    assert torch.equal(a, again)
    assert not torch.equal(a, b)
    for idx in (a, b):
        assert len(idx) == 50 and len(idx.unique()) == 50
        assert torch.bincount(y[idx], minlength=10).tolist() == [5] * 10
    assert torch.bincount(y[label_subset(y, 23, 0, 10)], minlength=10).tolist() == [3, 3, 3] + [2] * 7


def test_bad_label_counts_are_one_clear_error(digits):
    y = digits[0].y
    with pytest.raises(ConfigError, match="fewer than one label per class"):
        label_subset(y, 5, 0, 10)
    with pytest.raises(ConfigError, match="more than the 1500 labelled"):
        label_subset(y, 5000, 0, 10)


# ------------------------------------------------------------------------------- pretrain-eval
def _deep_ae() -> torch.nn.Module:
    cls = get_model_class("deep-ae")
    torch.manual_seed(0)
    return cls(cfgio.from_dict(cls.config_class, TINY["deep-ae"]), (1, 8, 8))


@pytest.mark.parametrize("kind", ["ae", "deep-ae"])
def test_fine_tuning_changes_only_the_encoder_of_a_copy(kind, runs, digits):
    model = genzoo.load(runs["ae"]) if kind == "ae" else _deep_ae()
    enc_prefix = "encoder." if kind == "ae" else "enc."
    before = _state(model)
    x, y = digits[0].x[:100], digits[0].y[:100]
    clf, params = encoder_classifier(model, x, 10, seed=0)
    names = {id(p): n for n, p in clf.model.named_parameters()}
    reached = [names[id(p)] for p in encoder_parameters(clf.model, x[:2])]
    assert reached and all(n.startswith(enc_prefix) for n in reached)
    assert len(params) == len(reached) + 2  # the encoder's and the head's weight and bias
    fit(clf, x, y, steps=20, seed=0, params=params)
    after = dict(clf.model.named_parameters())
    for name, value in before.items():  # the loaded model is untouched
        assert torch.equal(model.state_dict()[name], value), name
    for name, p in after.items():  # the copy: every encoder tensor moved, nothing else
        assert torch.equal(p, before[name]) != name.startswith(enc_prefix), name


def test_the_scratch_copy_is_reinitialised(runs, digits):
    model = genzoo.load(runs["ae"])
    before = _state(model)
    x = digits[0].x[:50]
    scratch, _ = encoder_classifier(model, x, 10, seed=3, reset=True)
    again, _ = encoder_classifier(model, x, 10, seed=3, reset=True)
    other, _ = encoder_classifier(model, x, 10, seed=4, reset=True)
    for name, p in scratch.model.named_parameters():
        if name.startswith("encoder."):
            assert not torch.equal(p, before[name]), name  # drawn afresh
            assert torch.equal(p, dict(again.model.named_parameters())[name])  # seeded
            assert not torch.equal(p, dict(other.model.named_parameters())[name])
            if p.dim() >= 2:  # PyTorch's default Linear/Conv init: |w| <= 1 / sqrt(fan_in)
                assert float(p.detach().abs().max()) <= 1 / math.sqrt(p[0].numel()) + 1e-6, name
        else:
            assert torch.equal(p, before[name]), name  # the decoder is the trained one
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())


def test_pretrain_eval_beats_chance_on_digits(runs, digits):
    model = genzoo.load(runs["ae"])
    before = _state(model)
    r = pretrain_eval(model, *digits, 100, seeds=(0,), steps=150)
    assert set(r["rows"]) == {"fine-tune", "scratch", "logistic"}
    assert r["code_dim"] == 16 and r["test_size"] == 297 and r["num_classes"] == 10
    for name, row in r["rows"].items():
        assert len(row["acc"]) == 1 and row["std"] == 0.0
        assert row["mean"] > 0.4, (name, row)  # chance is 0.1
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())
    again = pretrain_eval(model, *digits, 100, seeds=(0,), steps=150)
    assert again["rows"] == r["rows"]  # deterministic under the seed


def test_pretrain_refuses_a_conditional_encoder_and_models_without_one(runs, digits):
    with pytest.raises(GenzooError, match="cvae is class-conditional"):
        pretrain_eval(genzoo.load(runs["cvae"]), *digits, 100)
    cls = get_model_class("gan")
    gan = cls(cfgio.from_dict(cls.config_class, TINY["gan"]), (1, 8, 8))
    with pytest.raises(GenzooError, match="gan has no encoder"):
        pretrain_eval(gan, *digits, 100)


# ------------------------------------------------------------------------------------- augment
class LabelPainter(Stub):
    """A stand-in conditional model whose sample of class c is an image filled with c / 10."""

    model_type = "painter"
    capabilities = frozenset({Capability.SAMPLER, Capability.CONDITIONAL})
    num_classes = 3
    class_names = ("0", "1", "2")

    def __init__(self) -> None:
        super().__init__((1, 2, 2))

    def check_labels(self, y, n):
        return torch.as_tensor(y, dtype=torch.long).expand(n)

    def _sample(self, seeds, y):
        return (y.float() / 10)[:, None, None, None].expand(len(seeds), *self.shape).clone()


def test_augment_adds_labels_plus_k_times_per_class_correctly_labelled_examples():
    xg, yg = sample_per_class(LabelPainter(), 4, seed=0)
    assert xg.shape == (12, 1, 2, 2) and torch.bincount(yg).tolist() == [4, 4, 4]
    x, y = torch.full((5, 1, 2, 2), 0.9), torch.tensor([0, 1, 2, 0, 1])
    sets = training_sets(x, y, (xg, yg))
    assert {k: len(v[1]) for k, v in sets.items()} == {
        "real": 5,
        "real + generated": 17,
        "generated only": 12,
    }
    xa, ya = sets["real + generated"]
    assert torch.equal(xa[:5], x) and torch.equal(ya[:5], y)
    assert torch.allclose(xa[5:].flatten(1).mean(1), ya[5:].float() / 10)  # each image has its own label


def test_augment_eval_with_a_tiny_cvae(runs, digits):
    model = genzoo.load(runs["cvae"])
    r = augment_eval(model, *digits, 50, per_class=5, seeds=(0,), steps=100)
    assert r["examples"] == {"real": 50, "real + generated": 100, "generated only": 50}
    assert r["rows"]["real"]["mean"] > 0.5  # chance is 0.1
    assert r["rows"]["generated only"]["mean"] > 0.15  # the samples carry their class
    samples = [sample_per_class(model, 5, 0)]
    again = augment_eval(model, *digits, 50, per_class=5, seeds=(0,), steps=100, samples=samples)
    assert again["rows"] == r["rows"]  # given samples = the ones drawn with the seed


def test_augment_refuses_an_unconditional_model_and_foreign_sampler_options(runs, digits):
    with pytest.raises(GenzooError, match="ae is not class-conditional"):
        augment_eval(genzoo.load(runs["ae"]), *digits, 100)
    with pytest.raises(ConfigError, match="--guidance does not apply to cvae"):
        augment_eval(genzoo.load(runs["cvae"]), *digits, 100, sample_options={"guidance": 2.0})


# ----------------------------------------------------------------------------------------- CLI
def test_cli_prints_the_tables_and_writes_json(runs, tmp_path, capsys):
    out = tmp_path / "pre.json"
    argv = [
        "pretrain-eval",
        runs["ae"],
        "--labels",
        "30",
        "--seeds",
        "2",
        "--steps",
        "20",
        "--json",
        str(out),
    ]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "ae (code 16) on digits: 30 labels, 2 seeds" in text
    for row in ("| fine-tune", "| scratch", "| logistic"):
        assert row in text and "±" in text
    saved = json.loads(out.read_text())
    assert len(saved["rows"]["scratch"]["acc"]) == 2 and saved["labels"] == 30
    argv = ["augment", runs["cvae"], "--labels", "20", "--per-class", "3", "--seeds", "1", "--steps", "20"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "cvae on digits: 20 real labels + 3 generated per class" in text
    assert "| real + generated" in text and "| generated only" in text


@pytest.mark.parametrize(
    "command, run, extra, message",
    [
        ("augment", "ae", [], "ae is not class-conditional"),
        ("pretrain-eval", "cvae", [], "cvae is class-conditional"),
        ("pretrain-eval", "ae", ["--labels", "5"], "--labels 5 is fewer than one label per class"),
        ("augment", "cvae", ["--labels", "100000"], "--labels 100000 is more than the 1500"),
        ("augment", "cvae", ["--guidance", "2"], "--guidance does not apply to cvae"),
        ("augment", "cvae", ["--guidance", "-1"], "--guidance must be a number >= 0"),
        ("augment", "cvae", ["--sample-steps", "4"], "--sample-steps does not apply to cvae"),
    ],
)
def test_cli_bad_input_is_one_line(command, run, extra, message, runs, capsys):
    assert main([command, runs[run], *extra]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("genzoo: error: ") and message in lines[0], lines
