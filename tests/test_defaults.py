"""Every family's default training settings work on every dataset ``genzoo datasets`` lists for
its kind of data (a default batch larger than a small set is fitted to the set, with one note)."""

from __future__ import annotations

import os

import pytest

from genzoo import config as cfgio
from genzoo.cli import main
from genzoo.data import DataConfig, list_datasets
from genzoo.errors import ConfigError
from genzoo.registry import get_model_class, list_models
from genzoo.train import RunSpec, train, train_config_for
from tests.conftest import TINY

DATASETS = list_datasets(os.environ.get("GENZOO_DATA"))


def fits(model_type: str, row: dict) -> bool:
    """The family models data of this rank, and a conditional family gets the labels it needs."""
    cls = get_model_class(model_type)
    if not row.get("shape") or len(row["shape"]) not in cls.data_ranks:
        return False
    return "num_classes" not in cfgio.to_dict(cls.config_class()) or bool(row["classes"])


def model_config(model_type: str, row: dict):
    """The tiny config (speed) with what the data needs and the CLI's errors ask for: an MLP for
    points, the data's class count for a conditional family."""
    cls = get_model_class(model_type)
    fields = cfgio.to_dict(cls.config_class())
    cfg = dict(TINY[model_type])
    if len(row["shape"]) == 1 and "arch" in fields:
        cfg["arch"] = "mlp"
    if "num_classes" in fields:
        cfg["num_classes"] = row["classes"]
    return cfgio.from_dict(cls.config_class, cfg)


PAIRS = [(m, r["name"]) for r in DATASETS for m in list_models() if fits(m, r)]


@pytest.mark.slow
@pytest.mark.parametrize("model_type, data", PAIRS, ids=[f"{m}-{d}" for m, d in PAIRS])
def test_family_defaults_train_on_every_listed_dataset(model_type, data, tmp_path):
    """Two steps with the family's default training settings (batch size included) on the whole
    training set; tiny networks only for speed."""
    row = next(r for r in DATASETS if r["name"] == data)
    if "aeon" in row["description"]:
        pytest.importorskip("aeon", reason=f"{data} is read from the aeon package, not installed here")
    if "--data-path" in row["description"]:
        pytest.skip(f"{data} needs a path to the user's own files")
    if not row["present"]:
        pytest.skip(f"{data} is not present under GENZOO_DATA ({os.environ.get('GENZOO_DATA')})")
    spec = RunSpec(
        model_type,
        model_config(model_type, row),
        DataConfig(name=data, root=os.environ.get("GENZOO_DATA")),
        train_config_for(model_type, steps=2, image_every=0, threads=1),
    )
    assert spec.train.batch_size == train_config_for(model_type).batch_size  # the default batch
    assert (train(spec, tmp_path / "r", progress=False) / "checkpoints" / "latest").is_file()


def test_a_default_batch_is_fitted_to_a_small_set_and_a_chosen_one_is_not(tmp_path, capsys):
    """50 training series (like UCR GunPoint) with seq-ae's default batch of 128: trained with
    batch 50 and one note; an explicit --batch-size larger than the set stays an error."""
    argv = ["train", "seq-ae", "--data", "sines", "--data-limit", "50", "--steps", "2", "--quiet"]
    argv += ["--hidden", "8", "--latent-dim", "2", "--threads", "1", "--image-every", "0"]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    notes = [line for line in err if "batch_size" in line]
    assert notes == [
        "genzoo: note: batch_size 128 is larger than the 50 training examples of sines; "
        "training with batch_size 50 (pass --batch-size to choose another)"
    ]
    assert '"batch_size": 50' in (tmp_path / "a" / "config.json").read_text()
    assert main(["train", "seq-ae", "--resume", str(tmp_path / "a"), "--steps", "3", "--quiet"]) == 0
    assert main([*argv, "--batch-size", "64", "--out", str(tmp_path / "b")]) == 2
    assert "batch_size 64 is larger than the 50 training examples" in capsys.readouterr().err
    spec = RunSpec(
        "seq-ae",
        cfgio.from_dict(get_model_class("seq-ae").config_class, TINY["seq-ae"]),
        DataConfig(name="sines", limit=50),
        train_config_for("seq-ae", steps=1, batch_size=64),
    )
    with pytest.raises(ConfigError, match="larger than the 50 training examples"):
        train(spec, tmp_path / "c", progress=False, fit_batch=False)
