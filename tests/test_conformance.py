"""One conformance suite over every registered model (shapes, persistence, determinism, learning), and
each declared capability's contract (genzoo.models.capabilities) over every model that declares it."""

from __future__ import annotations

import dataclasses
import json
import typing

import pytest
import torch

import genzoo
from genzoo import config as cfgio
from genzoo.errors import CheckpointError, GenzooError
from genzoo.eval.likelihood import evaluate_likelihood
from genzoo.models import capabilities as caps
from genzoo.models.capabilities import Capability
from genzoo.registry import get_model_class, list_models
from genzoo.seeds import seeds_from
from tests.conftest import DATA_SHAPES, SHAPE, TINY

MODELS = list_models()


def declaring(cap: Capability) -> list[str]:
    """The registered families that declare ``cap``."""
    return [n for n in MODELS if cap in get_model_class(n).capabilities]


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
    """Class labels for a conditional model, else None."""
    return torch.arange(n) % model.num_classes if caps.has(model, Capability.CONDITIONAL) else None


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
    if caps.has(model, Capability.ENCODER):
        y = labels(model, len(images))
        z = model.encode(images, y)
        assert z.shape == (16, model.latent_dim)
        assert model.decode(z, y).shape == images.shape
        assert model.reconstruct(images, y).shape == images.shape


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
    if caps.has(model, Capability.ENCODER):
        assert torch.equal(
            model.reconstruct(images, **cond(model, images)),
            loaded.reconstruct(images, **cond(model, images)),
        )


NEW_DEFAULT = object()  # what a later release's defaults stand for below: no saved value may take it


def with_new_defaults(config_class: type) -> type:
    """``config_class`` as a later release might ship it: the same fields, every default changed."""
    params = config_class.__dataclass_params__
    fields = [
        (name, tp, dataclasses.field(default=NEW_DEFAULT))
        for name, tp in cfgio.field_types(config_class).items()
    ]
    return dataclasses.make_dataclass(
        config_class.__name__, fields, bases=(config_class,), kw_only=True, frozen=params.frozen
    )


@pytest.mark.parametrize("name", MODELS)
def test_a_saved_model_keeps_every_setting_when_the_defaults_change(name, images, tmp_path, monkeypatch):
    """config.json names every field of the model's config, so a model saved now loads with the
    settings it was saved with after a release changes its family's defaults (issue 22, item 4)."""
    model = build(name)
    model.prepare_for_sampling(images)
    model.save(tmp_path / "m")
    saved = json.loads((tmp_path / "m" / "config.json").read_text())["model"]
    cls = get_model_class(name)
    assert sorted(saved) == sorted(f.name for f in dataclasses.fields(cls.config_class))
    monkeypatch.setattr(cls, "config_class", with_new_defaults(cls.config_class))
    loaded = genzoo.load(tmp_path / "m")
    assert isinstance(loaded.config, cls.config_class)  # built from the changed class
    assert cfgio.to_dict(loaded.config) == cfgio.to_dict(model.config)
    model.eval()
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(model.sample(2, generator=g1), loaded.sample(2, generator=g2))


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


@pytest.mark.parametrize("name", declaring(Capability.ENCODER))
def test_overfits_a_tiny_batch(name, images):
    model = build(name)
    x = images[:8]
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    torch.manual_seed(0)
    terms = model.loss(batch(model, x)).terms
    if "mse" not in terms:  # a flow: reconstruct is exact by construction (test_encoder_contract)
        pytest.skip(f"{name} does not learn its reconstruction")
    first = terms["mse"].item()
    for _ in range(300):
        opt.zero_grad()
        model.loss(batch(model, x)).loss.backward()
        opt.step()
    model.eval()
    final = torch.nn.functional.mse_loss(model.reconstruct(x, **cond(model, x)), x).item()
    assert final < 0.25 * first, (first, final)


# ------------------------------------------------------------------------- the capability contracts
def ready(name: str, images: torch.Tensor):
    """A tiny model of ``name`` fitted for sampling on ``images``, in eval mode."""
    model = build(name)
    model.prepare_for_sampling(images)
    return model.eval()


def protocol_members(protocol: type) -> set[str]:
    """The attributes and methods a protocol (and its protocol bases) asks for."""
    out: set[str] = set()
    for klass in protocol.__mro__:
        if klass in (object, typing.Protocol, typing.Generic) or not getattr(klass, "_is_protocol", False):
            continue
        out |= set(getattr(klass, "__annotations__", {}))
        out |= {k for k, v in vars(klass).items() if callable(v) and not k.startswith("_")}
    return out


@pytest.mark.parametrize("name", MODELS)
def test_declared_capabilities_are_provided(name, images):
    model = ready(name, images)
    declared = caps.capabilities(model)
    assert Capability.SAMPLER in declared and declared <= type(model).capabilities
    if Capability.ENCODER in declared:
        assert Capability.DECODER in declared  # an encoder's codes decode
    for cap in declared:
        missing = [m for m in protocol_members(caps.PROTOCOLS[cap]) if not hasattr(model, m)]
        assert not missing, f"{name} declares {cap} but lacks {missing}"
    assert name in caps.families_with(next(iter(type(model).capabilities)))


def test_a_missing_capability_names_the_families_that_have_it():
    gan = build("gan")
    with pytest.raises(
        GenzooError,
        match=r"gan has no encoder and decoder; interpolate needs a model that can encode and decode \(.*vae.*\)",
    ):
        caps.require(gan, Capability.ENCODER, "interpolate")
    assert set(caps.families_with(Capability.ENCODER)) >= {"ae", "vae", "realnvp", "glow", "seq-ae"}
    assert "gan" not in caps.families_with(Capability.ENCODER)


@pytest.mark.parametrize("name", MODELS)
def test_sampler_per_sample_seeds_do_not_depend_on_the_batch(name, images):
    model = ready(name, images)
    many = model.sample(4, seeds=[11, 12, 13, 14])
    one = model.sample(1, seeds=[13])
    torch.testing.assert_close(one[0], many[2], atol=1e-4, rtol=1e-4)
    assert not torch.equal(many[0], many[1])  # different seeds, different samples
    # a generator stands for the seeds it draws
    drawn = seeds_from(torch.Generator().manual_seed(5), 3)
    torch.testing.assert_close(
        model.sample(3, generator=torch.Generator().manual_seed(5)), model.sample(3, seeds=drawn)
    )
    with pytest.raises(GenzooError, match="seeds"):
        model.sample(2, seeds=[1])
    with pytest.raises(GenzooError, match="does not take"):
        model.sample(2, seeds=[1, 2], no_such_option=3)
    assert model.training is False and model.sample(0, seeds=[]).shape == (0, *model.shape)


@pytest.mark.parametrize("name", MODELS)
def test_sampler_honours_class_labels_only_where_conditional(name, images):
    model = ready(name, images)
    seeds = [1, 2, 3]
    if not caps.has(model, Capability.CONDITIONAL):
        with pytest.raises(GenzooError, match="not class-conditional"):
            model.sample(3, seeds=seeds, y=0)
        return
    with torch.no_grad():  # an untrained net may ignore its label (zero-initialised output layers)
        g = torch.Generator().manual_seed(0)
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g))
    a, b = model.sample(3, seeds=seeds, y=0), model.sample(3, seeds=seeds, y=1)
    assert not torch.allclose(a, b)
    # no labels: each drawn from its sample's seed, so the same seed gives the same labelled sample
    free = model.sample(3, seeds=seeds)
    own = torch.stack([model.sample(1, seeds=[s])[0] for s in seeds])
    torch.testing.assert_close(free, own, atol=1e-4, rtol=1e-4)
    with pytest.raises(GenzooError, match="class labels must be in"):
        model.sample(2, seeds=[1, 2], y=model.num_classes)
    assert len(model.class_names) == model.num_classes


@pytest.mark.parametrize("name", declaring(Capability.DECODER))
def test_decoder_contract(name, images):
    model = ready(name, images)
    z = model.sample_latent(3, seeds=[4, 5, 6])
    assert z.shape == (3, model.latent_dim)
    torch.testing.assert_close(model.sample_latent(1, seeds=[5])[0], z[1])
    y = labels(model, 3)
    x = model.decode(z, y)
    assert x.shape == (3, *model.shape)
    if not model.sample_options:  # sample is decode of the prior's codes (a flow scales them by T)
        kw = {} if y is None else {"y": y}
        torch.testing.assert_close(model.sample(3, seeds=[4, 5, 6], **kw), x, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", declaring(Capability.ENCODER))
def test_encoder_contract(name, images):
    model = ready(name, images)
    if len(model.shape) == 2:  # series: every step observed (reconstruct keeps x's mask channel)
        images = torch.cat([images[..., :-1], torch.ones_like(images[..., -1:])], -1)
    y = labels(model, len(images))
    z = model.encode(images, y)
    assert z.shape == (len(images), model.latent_dim) and torch.isfinite(z).all()
    torch.testing.assert_close(model.reconstruct(images, y), model.decode(z, y))
    if caps.has(model, Capability.LIKELIHOOD) and not caps.has(model, Capability.VARIATIONAL):
        # an invertible flow: decode(encode(x)) is x itself on its 256 levels
        x = (images * 255).round() / 255
        torch.testing.assert_close(model.decode(model.encode(x)), x, atol=1e-4, rtol=0)


@pytest.mark.parametrize("name", declaring(Capability.LIKELIHOOD))
def test_likelihood_contract_matches_what_eval_reports(name, images):
    model = ready(name, images)
    if not caps.has(model, Capability.LIKELIHOOD):
        pytest.skip(f"{name} has no likelihood on these data")
    x = (images[:6] * 255).round() / 255
    kw = {} if model.likelihood_k is None else {"k": 4}
    ll = model.log_likelihood(x, generator=torch.Generator().manual_seed(0), **kw)
    assert ll.shape == (6,) and torch.isfinite(ll).all()
    assert isinstance(model.likelihood_kind, str) and model.likelihood_kind
    report = evaluate_likelihood(model, x, batch=6, seed=0, **kw)
    assert report["nll_nats"] == pytest.approx(float(-ll.mean()), rel=1e-5)
    assert report["kind"] == model.likelihood_kind
    if model.likelihood_k is None:
        with pytest.raises(GenzooError, match="k"):
            model.log_likelihood(x, k=4)


@pytest.mark.parametrize("name", declaring(Capability.VARIATIONAL))
def test_variational_contract(name, images):
    model = ready(name, images)
    y = labels(model, 5)
    terms = model.elbo_terms(images[:5], y, generator=torch.Generator().manual_seed(0))
    assert terms["recon"].shape == terms["kl"].shape == (5,) and (terms["kl"] >= 0).all()
    assert terms["mu"].shape == (5, model.latent_dim)
    logits = model.decode_logits(terms["mu"], y)
    assert model.pixel_nll(logits, images[:5]).shape[0] == 5


@pytest.mark.parametrize("name", declaring(Capability.ITERATIVE))
def test_iterative_sampler_contract(name, images):
    model = ready(name, images)
    for sampler in model.samplers:  # each with its default steps
        settings = model.sampler_settings(sampler=sampler)  # what a report says the samples came from
        assert settings["sampler"] == sampler and settings["network_evals"] >= settings["steps"] >= 1
        assert json.loads(json.dumps(settings)) == settings
        final = model.sample(2, seeds=[3, 4], sampler=sampler)
        rows = model.trajectory(2, frames=3, seeds=[3, 4], sampler=sampler)
        assert len(rows) == 3 and all(r.shape == (2, *model.shape) for r in rows)
        torch.testing.assert_close(rows[-1], final)


@pytest.mark.parametrize("name", declaring(Capability.INPAINTER))
def test_inpainter_contract(name, images):
    model = ready(name, images)
    known = torch.ones(1, 1, *model.shape[1:])
    known[..., 2:6, 2:6] = 0
    out = model.inpaint(images[:2], known, seeds=[1, 2], steps=4, resamples=1, jump_length=1)
    again = model.inpaint(images[1:2], known, seeds=[2], steps=4, resamples=1, jump_length=1)
    assert out.shape == images[:2].shape and (out >= 0).all() and (out <= 1).all()
    torch.testing.assert_close(out[1:], again, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", declaring(Capability.DENOISER))
def test_denoiser_contract(name, images):
    model = ready(name, images)
    noisy = model.corrupt(images, torch.Generator().manual_seed(0))
    assert noisy.shape == images.shape and not torch.equal(noisy, images)
