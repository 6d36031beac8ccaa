"""One conformance suite over every registered model (shapes, persistence, determinism, learning)."""

from __future__ import annotations

import pytest
import torch

import genzoo
from genzoo import config as cfgio
from genzoo.errors import CheckpointError
from genzoo.registry import get_model_class, list_models
from tests.conftest import DATA_SHAPES, SHAPE, TINY

MODELS = list_models()


def build(name: str, seed: int = 0, shape: tuple[int, ...] | None = None):
    shape = shape or DATA_SHAPES.get(name, (SHAPE,))[0]
    torch.manual_seed(seed)
    cls = get_model_class(name)
    return cls(cfgio.from_dict(cls.config_class, TINY[name]), shape)


@pytest.fixture
def images(name) -> torch.Tensor:
    """conftest's 16 fixed examples in [0, 1], in the data shape of the model under test."""
    return torch.rand(16, *DATA_SHAPES.get(name, (SHAPE,))[0], generator=torch.Generator().manual_seed(123))


def labels(model, n: int) -> torch.Tensor | None:
    """Class labels for a conditional model (one that declares num_classes), else None."""
    k = getattr(model, "num_classes", None)
    return None if k is None else torch.arange(n) % k


def batch(model, x: torch.Tensor):
    return (x, labels(model, len(x)))


def cond(model, x: torch.Tensor) -> dict:
    """Keyword arguments that give a conditional model the labels of x (encode/reconstruct)."""
    y = labels(model, len(x))
    return {} if y is None else {"y": y}


def test_every_model_has_a_tiny_config():
    assert set(MODELS) <= set(TINY), f"add tiny configs for {set(MODELS) - set(TINY)} in conftest.TINY"


@pytest.mark.parametrize("shape", [SHAPE, (3, 12, 20), (1, 28, 28)], ids=["gray8", "rgb12x20", "gray28"])
@pytest.mark.parametrize("name", MODELS)
def test_loss_and_shapes(name, shape):
    if name in DATA_SHAPES:  # a model of other data: its own shape for this case
        shape = DATA_SHAPES[name][[SHAPE, (3, 12, 20), (1, 28, 28)].index(shape)]
    images = torch.rand(16, *shape, generator=torch.Generator().manual_seed(1))
    model = build(name, shape=shape)
    for player in model.players:
        out = model.loss(batch(model, images), player)
        assert out.loss.shape == () and torch.isfinite(out.loss)
        assert all(v.shape == () for v in out.terms.values())
    model.prepare_for_sampling(images)
    x = model.sample(5, generator=torch.Generator().manual_seed(0))
    assert x.shape == (5, *shape)
    assert len(shape) != 3 or (x.min() >= 0 and x.max() <= 1)  # images come back in the data's range
    if hasattr(model, "encode"):
        z = model.encode(images)
        # a flow's code keeps the data's size: it declares latent_dim itself, not in its config
        assert z.shape == (16, getattr(model, "latent_dim", None) or model.config.latent_dim)
        assert model.decode(z).shape == images.shape
        if hasattr(model, "reconstruct"):
            assert model.reconstruct(images).shape == images.shape


@pytest.mark.parametrize("name", MODELS)
def test_save_load_round_trip(name, images, tmp_path):
    model = build(name)
    model.prepare_for_sampling(images)
    model.save(tmp_path / "m")
    loaded = genzoo.load(tmp_path / "m")
    assert type(loaded) is type(model) and loaded.config == model.config
    a, b = model.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    model.eval()
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    assert torch.equal(model.sample(4, generator=g1), loaded.sample(4, generator=g2))
    if hasattr(model, "reconstruct"):
        assert torch.equal(model.reconstruct(images), loaded.reconstruct(images))


@pytest.mark.parametrize("name", MODELS)
def test_load_rejects_other_model_type_and_mismatched_weights(name, images, tmp_path):
    model = build(name)
    model.save(tmp_path / "m")
    other = next(get_model_class(n) for n in MODELS if get_model_class(n) is not type(model))
    with pytest.raises(CheckpointError, match=r"holds a .* model, not"):
        other.load(tmp_path / "m")
    size = next(k for k in ("latent_dim", "channels") if isinstance(TINY[name].get(k), int))
    cfg = dict(TINY[name], **{size: TINY[name][size] + 1})
    bigger = type(model)(cfgio.from_dict(type(model).config_class, cfg), model.shape)
    with pytest.raises(CheckpointError, match="does not match"):
        bigger.load_weights(model.state_dict(), "test weights")


@pytest.mark.parametrize("name", MODELS)
def test_seeded_determinism(name, images):
    m1, m2 = build(name, seed=3), build(name, seed=3)
    assert all(torch.equal(p, q) for p, q in zip(m1.parameters(), m2.parameters(), strict=True))
    torch.manual_seed(5)
    l1 = m1.loss(batch(m1, images), m1.players[0]).loss
    torch.manual_seed(5)
    l2 = m2.loss(batch(m2, images), m2.players[0]).loss
    assert torch.equal(l1, l2)
    assert not all(
        torch.equal(p, q) for p, q in zip(m1.parameters(), build(name, 4).parameters(), strict=True)
    )


@pytest.mark.parametrize("name", MODELS)
def test_one_step_changes_the_weights_of_each_player(name, images):
    model = build(name)
    for player in model.players:
        params = model.player_parameters(player)
        before = [p.detach().clone() for p in params]
        opt = torch.optim.AdamW(params, lr=1e-3)
        model.loss(batch(model, images), player).loss.backward()
        opt.step()
        changed = [not torch.equal(a, p) for a, p in zip(before, params, strict=True)]
        assert any(changed), f"player {player} did not change its weights"


@pytest.mark.parametrize("name", [n for n in MODELS if hasattr(get_model_class(n), "reconstruct")])
def test_overfits_a_tiny_batch(name, images):
    model = build(name)
    x = images[:8]
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    torch.manual_seed(0)
    first = model.loss(batch(model, x)).terms["mse"].item()
    for _ in range(300):
        opt.zero_grad()
        model.loss(batch(model, x)).loss.backward()
        opt.step()
    model.eval()
    final = torch.nn.functional.mse_loss(model.reconstruct(x, **cond(model, x)), x).item()
    assert final < 0.25 * first, (first, final)
