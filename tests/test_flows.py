"""Normalizing flows (realnvp, glow): invertibility, log-determinants against autograd, a density
that integrates to one, the bits/dim arithmetic by hand, and one-line errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genzoo import latent
from genzoo.data import DataConfig, load_dataset
from genzoo.errors import ConfigError
from genzoo.eval.likelihood import evaluate_likelihood
from genzoo.models.flow import FlowConfig, Glow, GlowConfig, RealNVP
from genzoo.nn.flows import ActNorm, AffineCoupling, InvConv1x1, SplineCoupling, squeeze, unsqueeze
from genzoo.nn.splines import params_per_dim, rq_spline


def _jiggle(module: torch.nn.Module, seed: int = 0, scale: float = 0.1) -> None:
    """Move every weight off its initial value (zero-initialised couplings start as the identity)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))


def _images(n: int = 6, shape=(1, 8, 8), seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, *shape), generator=g).float() / 255


MODELS = {
    "realnvp-both": lambda s: RealNVP(FlowConfig(levels=2, depth=4, channels=8, blocks=1), s),
    "realnvp-checker-actnorm": lambda s: RealNVP(
        FlowConfig(levels=1, depth=3, mask="checkerboard", channels=8, blocks=1, actnorm=True), s
    ),
    "glow": lambda s: Glow(GlowConfig(levels=2, depth=2, channels=8, blocks=1), s),
    "realnvp-spline": lambda s: RealNVP(
        FlowConfig(levels=2, depth=2, channels=8, blocks=1, coupling="spline", bins=5), s
    ),
    "glow-spline": lambda s: Glow(GlowConfig(levels=1, depth=2, channels=8, blocks=1, coupling="spline"), s),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_inverse_of_forward_is_the_identity(name):
    torch.manual_seed(0)
    model = MODELS[name]((1, 8, 8))
    model.train()
    model.loss((_images(), None))  # actnorm's data-dependent init
    _jiggle(model)
    model.eval()
    y = torch.randn(5, 1, 8, 8)
    z, _ = model.to_latent(y)
    assert z.shape == (5, 64)
    assert (model.from_latent(z) - y).abs().max() < 1e-5
    x = _images()
    assert torch.equal(model.decode(model.encode(x)), x)  # images come back on their 256 levels


def test_mlp_flow_inverse_and_toolkit():
    torch.manual_seed(0)
    model = RealNVP(FlowConfig(depth=6, hidden=16, actnorm=True), (2,))
    model.train()
    model.loss((torch.randn(64, 2) * 3, None))
    _jiggle(model)
    model.eval()
    x = torch.randn(10, 2) * 2
    assert (model.decode(model.encode(x)) - x).abs().max() < 1e-5
    assert latent.can_encode(model)


def _jacobian_logdet(fn, x: torch.Tensor) -> float:
    """log |det J| of fn at one example x (1, *shape), J computed by autograd, (D, D)."""
    flat = x.flatten()
    jac = torch.autograd.functional.jacobian(lambda v: fn(v.view_as(x)).flatten(), flat)
    return float(torch.linalg.slogdet(jac)[1])


LAYERS = {
    "coupling-checkerboard": (lambda: AffineCoupling("checkerboard", 4, 8, 1, parity=1), (1, 4, 2, 3)),
    "coupling-channel": (lambda: AffineCoupling("channel", 4, 8, 2, parity=0), (1, 4, 2, 3)),
    "coupling-channel-odd": (lambda: AffineCoupling("channel", 3, 8, 1, parity=1), (1, 3, 2, 2)),
    "coupling-half": (lambda: AffineCoupling("half", 5, 8, 2, parity=1), (1, 5)),
    "spline-checkerboard": (lambda: SplineCoupling("checkerboard", 3, 8, 1, parity=0, bins=4), (1, 3, 2, 3)),
    "spline-channel-odd": (
        lambda: SplineCoupling("channel", 3, 8, 1, parity=1, bins=6, bound=2.0),
        (1, 3, 2, 2),
    ),
    "spline-half": (lambda: SplineCoupling("half", 5, 8, 2, parity=0), (1, 5)),
    "actnorm-image": (lambda: ActNorm(4, image=True), (1, 4, 2, 3)),
    "actnorm-vector": (lambda: ActNorm(5, image=False), (1, 5)),
    "invconv1x1": (lambda: InvConv1x1(4), (1, 4, 2, 3)),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_layer_logdet_matches_autograd(name):
    torch.manual_seed(1)
    make, shape = LAYERS[name]
    layer = make().double()
    _jiggle(layer, scale=0.3)
    layer.eval()
    x = torch.randn(shape, dtype=torch.float64)
    y, logdet = layer(x)
    assert logdet.shape == (1,)
    assert logdet.item() == pytest.approx(_jacobian_logdet(lambda v: layer(v)[0], x), abs=1e-8)
    assert (layer.inverse(y) - x).abs().max() < 1e-10


def _spline_case(n: int = 4000, bins: int = 7, bound: float = 3.0, dtype=torch.float64, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, generator=g, dtype=dtype) * 2.0  # about 13% of them outside [-3, 3]
    params = torch.randn(n, params_per_dim(bins), generator=g, dtype=dtype) * 2.0
    return x, params, bound


def test_spline_inverse_logdet_and_tails():
    x, params, bound = _spline_case()
    y, log_grad = rq_spline(x, params, bound)
    x_back, log_grad_inv = rq_spline(y, params, bound, inverse=True)
    assert (x_back - x).abs().max() < 1e-9
    assert (log_grad + log_grad_inv).abs().max() < 1e-9  # (g^-1)' = 1 / g'
    # log g' against autograd, elementwise (g acts on each element alone)
    xg = x.clone().requires_grad_()
    (grad,) = torch.autograd.grad(rq_spline(xg, params, bound)[0].sum(), xg)
    assert (grad.log() - log_grad).abs().max() < 1e-9
    # [-B, B] onto itself, the identity outside it; continuous at the ends
    outside = x.abs() > bound
    assert (
        outside.any()
        and torch.equal(y[outside], x[outside])
        and torch.equal(log_grad[outside], 0 * x[outside])
    )
    assert (y[~outside].abs() <= bound + 1e-12).all()
    ends = torch.tensor([-bound, bound], dtype=x.dtype)
    assert torch.allclose(rq_spline(ends, params[:2], bound)[0], ends, atol=1e-12)
    # zero parameters: equal bins, all slopes 1, the identity
    y0, lg0 = rq_spline(x, torch.zeros_like(params), bound)
    assert (y0 - x).abs().max() < 1e-12 and lg0.abs().max() < 1e-12
    # fp32: the round trip holds to 1e-5 for parameters of a trained coupling's size; for extreme
    # ones (slopes down to 1e-6) an error of y's rounding divided by g' is the conditioning, so
    # the error measured in y (times g') stays under 1e-5 (the inverse itself is still exact)
    for scale, bound_x in ((0.25, 1e-5), (1.0, None)):
        x32, p32, _ = _spline_case(dtype=torch.float32, seed=1)
        y32, lg32 = rq_spline(x32, p32 * scale, bound)
        err = (rq_spline(y32, p32 * scale, bound, inverse=True)[0] - x32).abs()
        assert (err * lg32.exp()).max() < 1e-5
        assert bound_x is None or err.max() < bound_x


def test_spline_is_monotonic_and_its_bins_are_what_the_parameters_say():
    bins, bound = 4, 1.0
    params = torch.zeros(1, params_per_dim(bins), dtype=torch.float64)
    params[0, 0] = 3.0  # the first bin much wider than the others
    grid = torch.linspace(-1.5, 1.5, 20001, dtype=torch.float64)
    y, _ = rq_spline(grid, params.expand(len(grid), -1), bound)
    assert (y.diff() > 0).all()
    # equal heights, widths softmax([3, 0, 0, 0]) (floored at 1e-3 of 2B): the first knot maps to -B + 2B/4
    w = 1e-3 + (1 - 4e-3) * torch.softmax(params[0, :bins], 0)
    knot = torch.tensor([-bound + 2 * bound * float(w[0])], dtype=torch.float64)
    assert rq_spline(knot, params, bound)[0].item() == pytest.approx(-bound + 2 * bound / 4, abs=1e-12)


def test_spline_options_are_checked():
    with pytest.raises(ConfigError, match="coupling must be affine or spline, got 'cubic'"):
        RealNVP(FlowConfig(coupling="cubic"), (2,))
    with pytest.raises(ConfigError, match="bins must be at least 2"):
        RealNVP(FlowConfig(coupling="spline", bins=1), (2,))
    with pytest.raises(ConfigError, match="spline_bound must be > 0"):
        RealNVP(FlowConfig(coupling="spline", spline_bound=0), (2,))


def test_squeeze_is_a_permutation():
    x = torch.randn(2, 3, 4, 6)
    assert torch.equal(unsqueeze(squeeze(x)), x)
    assert _jacobian_logdet(squeeze, x[:1]) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("name", list(MODELS))
def test_whole_flow_logdet_matches_autograd(name):
    torch.manual_seed(2)
    model = MODELS[name]((1, 4, 4)).double()
    model.train()
    model.to_latent(torch.randn(8, 1, 4, 4, dtype=torch.float64))  # actnorm init
    _jiggle(model, scale=0.05)
    model.eval()
    y = torch.randn(1, 1, 4, 4, dtype=torch.float64)
    _, logdet = model.to_latent(y)
    assert logdet.item() == pytest.approx(_jacobian_logdet(lambda v: model.to_latent(v)[0], y), abs=1e-6)


def test_bits_per_dim_by_hand():
    """At initialisation every coupling is the identity (zero last layers), so z = logit(p) and
    log p(v) is known in closed form; genzoo eval's bits/dim must match a hand computation."""
    a = 0.05
    model = RealNVP(FlowConfig(levels=1, depth=2, channels=4, blocks=1, logit_alpha=a), (1, 4, 4)).eval()
    x = _images(3, (1, 4, 4))
    out = evaluate_likelihood(model, x, seed=0)
    u = torch.rand(x.shape, generator=torch.Generator().manual_seed(0)).double().numpy()  # eval's draw
    v = (np.round(x.double().numpy() * 255) + u) / 256
    p = a + (1 - 2 * a) * v
    y = np.log(p) - np.log1p(-p)
    d = 16
    log_pv = (-0.5 * y**2 - 0.5 * math.log(2 * math.pi) + math.log(1 - 2 * a) - np.log(p * (1 - p))).reshape(
        3, d
    )
    nll = -(log_pv.sum(1) - d * math.log(256))  # -log P(x) bound, nats
    assert out["nll_nats"] == pytest.approx(nll.mean(), rel=1e-5)
    assert out["bits_per_dim"] == pytest.approx((nll / (d * math.log(2))).mean(), rel=1e-5)
    assert "lower bound" in out["kind"]
    assert model.likelihood_bins is None


@pytest.mark.parametrize("coupling", ["affine", "spline"])
def test_trained_toy_density_integrates_to_one(coupling):
    torch.manual_seed(0)
    x = load_dataset(DataConfig(name="moons"), "train").x
    model = RealNVP(
        FlowConfig(depth=6 if coupling == "affine" else 4, hidden=32, blocks=2, coupling=coupling), (2,)
    )
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(300):
        idx = torch.randint(0, len(x), (256,))
        loss = model.loss((x[idx], None)).loss
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    assert loss.item() < first - 0.3  # it learned something
    n, lim = 400, 6.0
    g = torch.linspace(-lim, lim, n)
    grid = torch.stack(torch.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    cell = (2 * lim / (n - 1)) ** 2
    mass = float(model.log_likelihood(grid).exp().sum() * cell)
    assert mass == pytest.approx(1.0, abs=0.03)
    assert model.likelihood_bins is None and "exact" in model.likelihood_kind


def test_bad_image_size_is_one_clear_line():
    with pytest.raises(ConfigError, match=r"must divide by 4; the data are 30x30") as e:
        RealNVP(FlowConfig(levels=2), (1, 30, 30))
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="logit_alpha"):
        RealNVP(FlowConfig(logit_alpha=0.5), (1, 8, 8))
    with pytest.raises(ConfigError, match="at least 2 dimensions"):
        RealNVP(FlowConfig(), (1,))


def test_sample_temperature():
    model = RealNVP(FlowConfig(levels=1, depth=2, channels=4, blocks=1), (2,)).eval()
    g = torch.Generator().manual_seed(0)
    z_cold = model.sample(2000, generator=g, temperature=0.5)
    g = torch.Generator().manual_seed(0)
    z_hot = model.sample(2000, generator=g)  # identity flow at init: samples are z itself
    assert torch.allclose(z_cold, 0.5 * z_hot)
    with pytest.raises(ConfigError, match="temperature"):
        model.sample(2, temperature=0.0)
    images = RealNVP(FlowConfig(levels=1, depth=2, channels=4, blocks=1), (1, 8, 8)).eval()
    s = images.sample(4, temperature=0.7)
    assert s.shape == (4, 1, 8, 8) and s.min() >= 0 and s.max() <= 1


def test_loss_under_bf16_autocast_is_close_to_fp32():
    torch.manual_seed(0)
    model = RealNVP(FlowConfig(levels=2, depth=2, channels=8, blocks=1), (1, 8, 8))
    _jiggle(model, scale=0.05)
    x = _images(16)
    torch.manual_seed(3)
    full = model.loss((x, None)).loss
    torch.manual_seed(3)
    with torch.autocast("cpu", torch.bfloat16):
        half = model.loss((x, None)).loss
    assert half.dtype == torch.float32 and torch.isfinite(half)
    assert half.item() == pytest.approx(full.item(), rel=1e-2)


def test_interpolation_in_z_ends_at_the_images():
    model = MODELS["glow"]((1, 8, 8)).eval()
    x = _images(2)
    path = latent.interpolate(model, x[0], x[1], steps=5)
    assert path.shape == (5, 1, 8, 8)
    assert torch.equal(path[0], x[0]) and torch.equal(path[-1], x[1])


def test_sample_command_takes_a_temperature_for_a_flow_only(tmp_path, capsys):
    from genzoo.cli import main
    from genzoo.train import train
    from tests.conftest import tiny_spec

    flow = train(tiny_spec("realnvp", steps=2, image_every=0, threads=1), tmp_path / "f", progress=False)
    ae = train(tiny_spec("ae", steps=2, image_every=0, threads=1), tmp_path / "a", progress=False)
    out = tmp_path / "s.png"
    assert (
        main(["sample", str(flow), "-n", "4", "--temperature", "0.7", "-o", str(out)]) == 0 and out.is_file()
    )
    assert main(["sample", str(flow), "--temperature", "0", "-o", str(out)]) == 2
    assert "--temperature must be a number > 0" in capsys.readouterr().err
    assert main(["sample", str(ae), "--temperature", "0.7", "-o", str(out)]) == 2
    assert (
        "--temperature applies to models that sample with one (glow, realnvp), not ae"
        in capsys.readouterr().err
    )


def _actnorm_worker(rank: int, port: int, out: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        torch.manual_seed(0)
        layer = ActNorm(3, image=True).train()
        g = torch.Generator().manual_seed(100 + rank)  # each process its own first batch
        x = torch.randn(8, 3, 4, 4, generator=g) * (1 + rank) + 5 * rank
        layer(x)
        torch.save({"bias": layer.bias.detach(), "logs": layer.logs.detach(), "x": x}, f"{out}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow  # two processes
def test_actnorm_init_is_rank_zeros_on_every_process(tmp_path):
    """Glow under DDP: actnorm's data-dependent init takes rank 0's first batch on both ranks."""
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    mp.start_processes(_actnorm_worker, args=(port, str(tmp_path)), nprocs=2, start_method="spawn")
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    assert torch.equal(r0["bias"], r1["bias"]) and torch.equal(r0["logs"], r1["logs"])
    x0 = r0["x"]
    assert torch.allclose(r0["bias"], x0.mean((0, 2, 3), keepdim=True))
    assert torch.allclose(r0["logs"], -torch.log(x0.std((0, 2, 3), keepdim=True) + 1e-6))
    assert not torch.allclose(
        r0["bias"], r1["x"].mean((0, 2, 3), keepdim=True), atol=0.5
    )  # rank 1's own differs
