"""The bf16 path of every family, tested on its own (quality tests pin fp32), and what
``precision="auto"`` picks and says why."""

from __future__ import annotations

import json
import statistics

import pytest
import torch

from genzoo import config as cfgio
from genzoo import io
from genzoo import precision as prec
from genzoo.cli import main
from genzoo.data import DataConfig
from genzoo.models import capabilities as caps
from genzoo.models.capabilities import Capability
from genzoo.registry import get_model_class, list_models
from genzoo.train import RunSpec, TrainConfig, train
from tests.conftest import DATA_SHAPES, SHAPE, TINY, tiny_spec

# a fixed batch: `limit` examples, all of them in every step
FIXED = 16
# the tiny configs, with what would make the loss rise on purpose taken out (a KL warm-up)
CHANGES = {"beta-vae": {"kl_warmup_steps": 0}}
SERIES = {"name": "sines", "window": 16}  # (16, 2): a series model's data


def bf16_spec(name: str, steps: int) -> RunSpec:
    cls = get_model_class(name)
    data = (SERIES if name in DATA_SHAPES else {"name": "digits"}) | {"limit": FIXED}
    tc = {"precision": "bf16", "steps": steps, "batch_size": FIXED, "lr": 3e-3, "warmup_steps": 0}
    tc |= {"schedule": "constant", "log_every": 1, "image_every": 0, "ckpt_every": 10**6, "threads": 1}
    return RunSpec(
        name,
        cfgio.from_dict(cls.config_class, TINY[name] | CHANGES.get(name, {})),
        cfgio.from_dict(DataConfig, data),
        cfgio.from_dict(TrainConfig, tc),
    )


def records(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("name", list_models())
def test_bf16_training_learns_and_saves_fp32(name, tmp_path):
    """Forced bf16: a few dozen steps on one fixed batch lower the loss (the mean of the last 6
    steps below that of the first 6; a GAN's players alternate, so each player is checked
    against the other held still, below), and every saved tensor is float32."""
    multi = len(get_model_class(name).players) > 1
    run = train(bf16_spec(name, 8 if multi else 30), tmp_path / "r", progress=False)
    m = records(run)
    assert {r["precision"] for r in m} == {"bf16"}
    assert m[0]["precision_reason"] == "bf16: set by precision=bf16"
    if not multi:
        losses = [r["loss"] for r in m]
        first, last = statistics.mean(losses[:6]), statistics.mean(losses[-6:])
        assert last < first, (first, last, losses)
    ck = io.resolve_model_dir(run)
    files = sorted(ck.glob("*.safetensors"))
    assert io.WEIGHTS in {f.name for f in files}
    for f in files:
        for k, t in io.load_tensors(f).items():
            assert not t.is_floating_point() or t.dtype == torch.float32, (f.name, k, t.dtype)


@pytest.mark.parametrize("name", [m for m in list_models() if len(get_model_class(m).players) > 1])
def test_each_player_of_a_multi_player_model_learns_under_bf16(name):
    """Each player, the others held still, lowers its own loss on a fixed batch under the
    trainer's bf16 autocast (a GAN's alternating losses need not fall together)."""
    cls = get_model_class(name)
    images = torch.rand(FIXED, *SHAPE, generator=torch.Generator().manual_seed(0))
    for player in cls.players:
        torch.manual_seed(0)
        model = cls(cfgio.from_dict(cls.config_class, TINY[name]), SHAPE).train()
        y = torch.arange(FIXED) % model.num_classes if caps.has(model, Capability.CONDITIONAL) else None
        opt = torch.optim.Adam(model.player_parameters(player), lr=3e-3)
        losses = []
        for _ in range(20):
            torch.manual_seed(1)  # the same noise z every step: one fixed batch for G too
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = model.loss((images, y), player).loss.float()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        first, last = statistics.mean(losses[:4]), statistics.mean(losses[-4:])
        assert last < first, (player, losses)


# -- what auto picks, and why ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "kind, declares, expected",
    [
        ("AMX", True, "bf16: native bf16 (AMX) and ddpm on 1x8x8 images declares it"),
        ("AVX-512-BF16", True, "bf16: native bf16 (AVX-512-BF16) and ddpm on 1x8x8 images declares it"),
        (None, True, "fp32: ddpm on 1x8x8 images declares bf16 but this CPU has no native bf16"),
        ("AMX", False, "fp32: ddpm on 1x8x8 images gains nothing from bf16"),
    ],
)
def test_auto_decides_per_model_and_says_why(monkeypatch, kind, declares, expected):
    monkeypatch.setattr(prec, "native_bf16_kind", lambda: kind)
    choice = prec.choose_precision("auto", declares, "ddpm on 1x8x8 images")
    assert choice.reason.startswith(expected)
    assert choice.precision == expected[:4]
    assert prec.choose_precision("fp32", True, "x") == prec.PrecisionChoice(
        "fp32", "fp32: set by precision=fp32"
    )


@pytest.mark.parametrize("name", ["gan", "cgan"])
def test_a_2d_mlp_gan_trains_in_fp32_even_with_native_bf16(name):
    """A 2-D MLP of 128 units gains nothing from bf16 (docs/training.md): auto gives fp32."""
    cls = get_model_class(name)
    cfg = {"arch": "mlp", "latent_dim": 2, "hidden": (128, 128)} | (
        {"num_classes": 8} if name == "cgan" else {}
    )
    model = cls(cfgio.from_dict(cls.config_class, cfg), (2,))
    assert not model.bf16_default() and model.precision_name() == f"{name} mlp on 2-D points"


def test_every_model_declares_its_default_on_each_architecture():
    """bf16_default answers for every family and data shape (a bool, never an error)."""
    for name in list_models():
        cls = get_model_class(name)
        for shape in DATA_SHAPES.get(name, (SHAPE, (1, 28, 28))):
            model = cls(cfgio.from_dict(cls.config_class, TINY[name]), shape)
            assert isinstance(model.bf16_default(), bool)


def test_auto_choice_is_logged_once_and_shown_by_info(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(prec, "native_bf16_kind", lambda: None)  # as on an AVX2-only CPU
    run = train(tiny_spec("ae", precision="auto", steps=4, log_every=2, image_every=0), tmp_path / "r", progress=False)  # fmt: skip
    m = records(run)
    assert m[0]["precision"] == "fp32" and "precision_reason" not in m[1]
    assert m[0]["precision_reason"] == (
        "fp32: ae conv on 1x8x8 images declares bf16 but this CPU has no native bf16"
    )  # fmt: skip
    capsys.readouterr()
    assert main(["info", str(run)]) == 0
    assert f"precision:  {m[0]['precision_reason']}" in capsys.readouterr().out
    monkeypatch.setattr(prec, "native_bf16_kind", lambda: "AMX")  # a resume on an AMX machine
    train(tiny_spec("ae", precision="auto", steps=6, log_every=2, image_every=0), run, resume=True, progress=False)  # fmt: skip
    m = records(run)
    assert [r["precision"] for r in m] == ["fp32", "fp32", "bf16"]
    assert m[2]["precision_reason"] == "bf16: native bf16 (AMX) and ae conv on 1x8x8 images declares it"
