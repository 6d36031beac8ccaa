"""Config dataclasses: strict JSON round trip."""

from __future__ import annotations

import json

import pytest

from genzoo import config as cfgio
from genzoo.data import DataConfig
from genzoo.errors import ConfigError
from genzoo.models.autoencoder import AEConfig, DAEConfig, DeepAEConfig
from genzoo.train import TrainConfig

ALL = [AEConfig, DAEConfig, DeepAEConfig, TrainConfig, DataConfig]


@pytest.mark.parametrize("cls", ALL)
def test_json_round_trip(cls):
    cfg = cls()
    again = cfgio.from_dict(cls, json.loads(json.dumps(cfgio.to_dict(cfg))))
    assert again == cfg


def test_values_are_checked_and_converted():
    cfg = cfgio.from_dict(AEConfig, {"channels": [8, 16], "latent_dim": 3, "arch": "mlp"})
    assert cfg.channels == (8, 16) and cfg.latent_dim == 3
    assert cfgio.from_dict(TrainConfig, {"lr": 1}).lr == 1.0  # an int is a valid float
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['latnt_dim'\]"):
        cfgio.from_dict(AEConfig, {"latnt_dim": 3})
    with pytest.raises(ConfigError, match="latent_dim must be an integer"):
        cfgio.from_dict(AEConfig, {"latent_dim": "3"})
    with pytest.raises(ConfigError, match="latent_dim must be an integer"):
        cfgio.from_dict(AEConfig, {"latent_dim": True})
    with pytest.raises(ConfigError, match=r"arch must be one of \['conv', 'mlp'\]"):
        cfgio.from_dict(AEConfig, {"arch": "transformer"})
    with pytest.raises(ConfigError, match=r"channels\[1\] must be an integer"):
        cfgio.from_dict(AEConfig, {"channels": [8, "x"]})
    with pytest.raises(ConfigError, match="must not be null"):
        cfgio.from_dict(AEConfig, {"loss": None})
    assert cfgio.from_dict(DataConfig, {"root": None}).root is None


def test_replace_does_not_mutate_and_diff_names_fields():
    a = AEConfig()
    b = cfgio.replace(a, latent_dim=2)
    assert a.latent_dim == 32 and b.latent_dim == 2
    assert cfgio.diff(a, b) == {"latent_dim": (32, 2)}
