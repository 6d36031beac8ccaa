"""Forgiving model and dataset names: case and ``_``/``-`` variants are the registered name (and a
run records that), a close typo gets "did you mean"."""

from __future__ import annotations

import json

import pytest

from genzoo.cli import main
from genzoo.data import DataConfig, load_dataset, sources
from genzoo.errors import ConfigError
from genzoo.registry import canonical_name, get_model_class


@pytest.mark.parametrize(
    "asked, name",
    [
        ("MNIST", "mnist"),
        ("fashion_mnist", "fashion-mnist"),
        ("Fashion-MNIST", "fashion-mnist"),
        ("digits", "digits"),
    ],
)
def test_dataset_names_ignore_case_and_underscores(asked, name):
    assert sources.canonical_name(asked) == name
    assert sources.get_source(asked).name == name
    assert sources.canonical(DataConfig(name=asked)).name == name


def test_model_names_ignore_case_and_underscores():
    assert canonical_name("VAE") == "vae" and get_model_class("Beta_VAE").model_type == "beta-vae"


def test_close_typos_get_did_you_mean():
    with pytest.raises(ConfigError, match=r"^unknown model 'vea'; did you mean vae\? available: acgan"):
        get_model_class("vea")
    with pytest.raises(ConfigError, match=r"^unknown dataset 'digts'; did you mean digits\? known datasets"):
        load_dataset(DataConfig(name="digts"), "test")
    with pytest.raises(ConfigError, match=r"^unknown dataset 'nope'; known datasets: digits"):
        sources.get_source("nope")  # nothing close: just the list


def test_train_with_a_typo_is_one_line_and_capitals_are_recorded_canonically(tmp_path, capsys):
    assert main(["train", "vea", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("genzoo: error: unknown model 'vea'; did you mean vae?") and err.count("\n") == 1
    run = tmp_path / "ae"
    args = ["train", "AE", "--data", "DIGITS", "--steps", "2", "--batch-size", "16", "--latent-dim", "2"]
    assert main([*args, "--out", str(run), "--quiet", "--image-every", "0"]) == 0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["model_type"] == "ae" and cfg["data"]["name"] == "digits"


def test_cli_dataset_options_offer_close_names(capsys):
    with pytest.raises(SystemExit) as e:  # argparse's one-line error
        main(["eval", "somewhere", "--data", "mnsit"])
    assert e.value.code == 2
    assert "unknown dataset 'mnsit'; did you mean mnist" in capsys.readouterr().err
