"""Latent-space toolkit: lerp/slerp, interpolation, traversal, 2-D maps, and the three commands."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import genzoo
from genzoo import config as cfgio
from genzoo import latent, latent_map, viz
from genzoo.cli import main
from genzoo.data import DataConfig, load_dataset
from genzoo.errors import GenzooError
from genzoo.models.autoencoder import AEConfig
from genzoo.models.capabilities import Capability
from genzoo.train import RunSpec, TrainConfig, train
from tests.conftest import Stub, tiny_spec

DIGITS_TEST = 297  # images in the embedded digits test split


# --------------------------------------------------------------------------------- stand-ins
class LinearAE(Stub):
    """A deterministic stand-in: encode = linear (B, 1, 4, 4) -> (B, d), decode = sigmoid(linear);
    ``seen`` records every (z, y) given to decode."""

    model_type = "linear-ae"
    capabilities = frozenset(
        {Capability.SAMPLER, Capability.DECODER, Capability.ENCODER, Capability.CONDITIONAL}
    )

    def __init__(self, d: int = 3, num_classes: int | None = None, seed: int = 0) -> None:
        super().__init__((1, 4, 4))
        torch.manual_seed(seed)
        k = num_classes or 0
        self.num_classes, self.latent_dim = num_classes, d
        self.class_names = tuple(str(i) for i in range(k))
        self.enc, self.dec = nn.Linear(16 + k, d), nn.Linear(d + k, 16)
        self.seen: list[tuple[torch.Tensor, torch.Tensor | None]] = []

    def declared_capabilities(self) -> frozenset[Capability]:
        return self.capabilities - (set() if self.num_classes else {Capability.CONDITIONAL})

    def decoded(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Every z (N, d) and y (N,) given to decode since the last call, in order."""
        zs, ys = zip(*self.seen, strict=True)
        self.seen.clear()
        return torch.cat(zs), None if ys[0] is None else torch.cat(ys)

    def _cat(self, h: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if self.num_classes is None:
            return h
        return torch.cat([h, nn.functional.one_hot(y, self.num_classes).float()], 1)

    def encode(self, x, y=None):
        return self.enc(self._cat(x.flatten(1), y))

    def decode(self, z, y=None):
        self.seen.append((z.clone(), None if y is None else y.clone()))
        return torch.sigmoid(self.dec(self._cat(z, y))).view(-1, *self.shape)


class SampleOnly(Stub):
    """A model that can only sample (no encoder)."""

    model_type = "sampler"

    def __init__(self) -> None:
        super().__init__((1, 4, 4))

    def _sample(self, seeds, y):
        return torch.rand(len(seeds), *self.shape)


def images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, 4, 4, generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------------------- lerp / slerp
def test_lerp_hits_both_ends_and_the_midpoint_exactly():
    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(2, 7, generator=g), torch.randn(2, 7, generator=g)
    path = latent.latent_path(z0, z1, steps=5)  # (2, 5, 7)
    assert path.shape == (2, 5, 7)
    assert torch.equal(path[:, 0], z0) and torch.equal(path[:, -1], z1)
    assert torch.equal(path[:, 2], (z0 + z1) / 2)
    # points are evenly spaced on the segment
    gaps = (path[:, 1:] - path[:, :-1]).norm(dim=-1)
    torch.testing.assert_close(gaps, gaps[:, :1].expand_as(gaps))


def test_slerp_keeps_the_norm_and_turns_at_a_constant_rate():
    g = torch.Generator().manual_seed(1)
    z0 = 3.0 * nn.functional.normalize(torch.randn(4, 8, generator=g), dim=-1)
    z1 = 3.0 * nn.functional.normalize(torch.randn(4, 8, generator=g), dim=-1)
    t = torch.linspace(0, 1, 11)
    path = latent.slerp(z0, z1, t)  # (4, 11, 8)
    assert torch.equal(path[:, 0], z0) and torch.equal(path[:, -1], z1)
    torch.testing.assert_close(path.norm(dim=-1), torch.full((4, 11), 3.0))
    # angle(z(t), z0) = t * omega
    omega = torch.acos((z0 * z1).sum(-1) / 9.0)  # (4,)
    angle = torch.acos(((path * z0[:, None]).sum(-1) / 9.0).clamp(-1, 1))  # (4, 11)
    torch.testing.assert_close(angle, t[None] * omega[:, None], atol=1e-3, rtol=0)
    # the straight line cuts inside the sphere: its midpoint is shorter
    assert (latent.lerp(z0, z1, t)[:, 5].norm(dim=-1) < 3.0 - 1e-3).all()


def test_slerp_of_parallel_or_zero_codes_falls_back_to_lerp():
    z0 = torch.tensor([1.0, 2.0, 2.0])
    t = torch.linspace(0, 1, 5)
    for z1 in (2 * z0, torch.zeros(3)):
        out = latent.slerp(z0, z1, t)
        assert torch.isfinite(out).all()
        torch.testing.assert_close(out, latent.lerp(z0, z1, t))


# ------------------------------------------------------------------------------- interpolation
@pytest.mark.parametrize("spherical", [False, True])
def test_interpolation_ends_are_the_reconstructions(spherical):
    model = LinearAE()
    a, b = images(2)
    out = latent.interpolate(model, a, b, steps=6, slerp=spherical)
    assert out.shape == (6, 1, 4, 4)
    with torch.no_grad():
        ra, rb = model.decode(model.encode(a[None]))[0], model.decode(model.encode(b[None]))[0]
    assert torch.equal(out[0], ra) and torch.equal(out[-1], rb)
    assert not torch.equal(out[1], out[0])


@pytest.mark.parametrize("run", ["vae2", "ae"])
def test_interpolation_of_a_trained_model_ends_at_its_reconstructions(runs, run):
    model = genzoo.load(runs[run])
    x = load_dataset(DataConfig(name="digits"), "test").x[:2]
    a, b = x[0], x[1]
    out = latent.interpolate(model, a, b, steps=4)
    with torch.no_grad():
        assert torch.equal(out[0], model.decode(model.encode(a[None]))[0])
        assert torch.equal(out[-1], model.decode(model.encode(b[None]))[0])


def test_a_conditional_model_decodes_the_path_with_the_start_label():
    model = LinearAE(num_classes=3)
    a, b = images(2)
    out = latent.interpolate(model, a, b, steps=4, y=2, y_b=0)
    z, y = model.decoded()
    assert y.tolist() == [2, 2, 2, 2]
    za = model.encode(a[None], torch.tensor([2]))[0]
    zb = model.encode(b[None], torch.tensor([0]))[0]  # b is encoded with its own label
    assert torch.equal(z[0], za.detach()) and torch.equal(z[-1], zb.detach())
    assert out.shape == (4, 1, 4, 4)


def test_steps_below_two_and_models_without_an_encoder_are_refused():
    a, b = images(2)
    with pytest.raises(GenzooError, match="at least 2"):
        latent.interpolate(LinearAE(), a, b, steps=1)
    with pytest.raises(GenzooError, match="no encoder and decoder"):
        latent.interpolate(SampleOnly(), a, b)
    with pytest.raises(GenzooError, match="no encoder and decoder"):
        latent.latent_codes(SampleOnly(), images(3))
    toy = LinearAE()
    toy.shape = (2,)
    with pytest.raises(GenzooError, match="not images"):
        latent.check_images(toy, "interpolate")


def test_random_pairs_are_distinct_seeded_and_within_one_class():
    labels = torch.tensor([0, 1, 0, 2, 1, 0, 3])  # class 2 and 3 have one member: never drawn
    i, j = latent.random_pairs(7, 200, labels, torch.Generator().manual_seed(0))
    assert (i != j).all() and torch.equal(labels[i], labels[j])
    assert set(labels[i].tolist()) == {0, 1}
    again = latent.random_pairs(7, 200, labels, torch.Generator().manual_seed(0))
    assert torch.equal(again[0], i) and torch.equal(again[1], j)
    i, j = latent.random_pairs(5, 300, None, torch.Generator().manual_seed(1))
    assert (i != j).all() and set(i.tolist()) == set(range(5)) and set(j.tolist()) == set(range(5))


# ------------------------------------------------------------------------------------ traversal
def test_traverse_codes_change_only_the_chosen_dim():
    z = torch.randn(6, generator=torch.Generator().manual_seed(0))
    codes = latent.traverse_codes(z, [1, 4], range_=2.0, steps=5)  # (2, 5, 6)
    assert codes.shape == (2, 5, 6)
    values = torch.linspace(-2, 2, 5)
    for row, k in enumerate([1, 4]):
        assert torch.equal(codes[row, :, k], values)
        others = [c for c in range(6) if c != k]
        assert torch.equal(codes[row][:, others], z[others].expand(5, -1))


def test_traverse_decodes_exactly_those_codes_with_the_image_label():
    model = LinearAE(d=4, num_classes=3)
    x = images(1)[0]
    out = latent.traverse(model, x, dims=[0, 3], range_=1.5, steps=3, y=1)
    assert out.shape == (2, 3, 1, 4, 4)
    z = model.encode(x[None], torch.tensor([1]))[0].detach()
    decoded, y = model.decoded()
    assert torch.equal(decoded, latent.traverse_codes(z, [0, 3], 1.5, 3).flatten(0, 1))
    assert y.tolist() == [1] * 6


def test_traverse_default_dims_and_bad_arguments():
    x = images(1)[0]
    assert latent.traverse(LinearAE(d=3), x).shape[0] == 3
    assert latent.traverse(LinearAE(d=12), x, steps=2).shape[:2] == (10, 2)
    with pytest.raises(GenzooError, match="latent_dim is 3"):
        latent.traverse(LinearAE(d=3), x, dims=[0, 3])
    with pytest.raises(GenzooError, match="range must be > 0"):
        latent.traverse(LinearAE(d=3), x, range_=0.0)
    with pytest.raises(GenzooError, match="at least 2"):
        latent.traverse(LinearAE(d=3), x, steps=1)


# -------------------------------------------------------------------------------------- maps
def test_map_2d_keeps_2d_codes_and_projects_more_by_pca():
    from sklearn.decomposition import PCA

    g = torch.Generator().manual_seed(0)
    two = torch.randn(50, 2, generator=g)
    np.testing.assert_array_equal(latent_map.map_2d(two), two.double().numpy())
    five = torch.randn(50, 5, generator=g) * torch.tensor([5.0, 1, 1, 3, 0.1])
    got = latent_map.map_2d(five)
    want = PCA(n_components=2, random_state=0).fit_transform(five.double().numpy())
    np.testing.assert_allclose(got, want, atol=1e-9)
    assert got[:, 0].var() >= got[:, 1].var()
    assert latent_map.map_2d(torch.randn(30, 6, generator=g), "tsne").shape == (30, 2)


def test_decoded_grid_puts_z1_left_to_right_and_z2_upwards():
    class Coords(LinearAE):
        def decode(self, z, y=None):  # pixel (0, 0) shows z1, pixel (0, 1) z2 / 4, both in [0, 1]
            out = torch.zeros(z.shape[0], 1, 2, 2)
            out[:, 0, 0, 0], out[:, 0, 0, 1] = z[:, 0], z[:, 1] / 4
            return out

    codes = torch.stack([torch.linspace(0, 1, 101), torch.linspace(2, 4, 101).flip(0)], 1)  # (101, 2)
    arr, extent = latent_map.decoded_grid(Coords(d=2), codes, n=3)
    assert arr.shape == (6, 6, 1)
    z1, z2 = arr[0::2, 0::2, 0], arr[0::2, 1::2, 0]  # (3, 3) each: rows top to bottom
    assert (np.diff(z1.astype(int), axis=1) > 0).all() and (np.diff(z2.astype(int), axis=0) < 0).all()
    np.testing.assert_allclose(extent, (0.01, 0.99, 2.02, 3.98), atol=1e-6)  # 1st..99th percentiles


@pytest.mark.parametrize("d, panels", [(2, 3), (5, 2)])
def test_latent_map_has_a_decoded_grid_only_for_a_2d_latent(d, panels, tmp_path):
    x = images(40)
    y = torch.arange(40) % 4
    fig = latent_map.latent_map(LinearAE(d=d), x, y, class_names=["a", "b", "c", "d"])
    assert len(fig.axes) == panels
    assert fig.axes[0].get_title().endswith("(codes)" if d == 2 else "(PCA)")
    path = viz.save_figure(fig, tmp_path / "m.png")
    w, h = Image.open(path).size
    assert w / h > (3 if panels == 3 else 2) and w / h < panels + 1


# ---------------------------------------------------------------------------------- CLI, digits
def _tiny(model_type: str, out, data: dict | None = None, **model) -> str:
    spec = tiny_spec(model_type, data, steps=4, ckpt_every=4, image_every=0, warmup_steps=0, log_every=2)
    spec = dataclasses.replace(spec, model=cfgio.replace(spec.model, **model))
    train(spec, out, progress=False)
    return str(out)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("latent")
    moons = RunSpec(
        "ae",
        AEConfig(arch="mlp", latent_dim=2, hidden=(8,), loss="mse", output="identity"),
        DataConfig(name="moons", n_points=300),
        TrainConfig(steps=2, batch_size=32, log_every=1, image_every=0, ckpt_every=2, warmup_steps=0),
    )
    train(moons, root / "moons", progress=False)
    return {
        "ae": _tiny("ae", root / "ae"),  # conv, latent 4
        "vae2": _tiny("vae", root / "vae2", latent_dim=2),
        "cvae": _tiny("cvae", root / "cvae"),
        "moons": str(root / "moons"),
    }


def _size(cols: int, rows: int, side: int = 8, pad: int = 2) -> tuple[int, int]:
    """Pixel size of a viz.save_grid picture of rows x cols images (8 x 8 images are scaled 7x)."""
    scale = 56 // side
    return (cols * (side + pad) + pad) * scale, (rows * (side + pad) + pad) * scale


def test_interpolate_writes_rows_of_pairs(runs, tmp_path, capsys):
    out = tmp_path / "i.png"
    assert main(["interpolate", runs["ae"], "-o", str(out), "--rows", "3", "--steps", "5"]) == 0
    assert Image.open(out).size == _size(7, 3) and "wrote" in capsys.readouterr().out
    assert main(["interpolate", runs["ae"], "-o", str(out), "--from", "3", "--to", "8", "--slerp"]) == 0
    assert Image.open(out).size == _size(12, 1)


def test_interpolate_a_cvae_between_two_test_images_is_the_api_strip(runs, tmp_path):
    out = tmp_path / "c.png"
    assert (
        main(["interpolate", runs["cvae"], "-o", str(out), "--from", "3", "--to", "7", "--steps", "4"]) == 0
    )
    test = load_dataset(DataConfig(name="digits"), "test")
    model = genzoo.load(runs["cvae"])
    path = latent.interpolate(model, test.x[3], test.x[7], 4, y=test.y[3], y_b=test.y[7])
    want = viz.grid_array([torch.cat([test.x[3:4], path, test.x[7:8]])], scale=7)[..., 0]
    np.testing.assert_array_equal(np.asarray(Image.open(out)), want)


def test_traverse_writes_one_row_per_dim(runs, tmp_path):
    out = tmp_path / "t.png"
    assert main(["traverse", runs["ae"], "-o", str(out)]) == 0
    assert Image.open(out).size == _size(10, 4)  # the image, then 9 steps; latent 4 -> 4 rows
    argv = ["traverse", runs["cvae"], "-o", str(out), "--dims", "1,3", "--steps", "3", "--range", "2"]
    assert main([*argv, "--index", "5"]) == 0
    assert Image.open(out).size == _size(4, 2)


def test_latent_map_has_three_panels_for_a_2d_latent(runs, tmp_path):
    sizes = {}
    for name in ("vae2", "ae", "moons"):
        out = tmp_path / f"{name}.png"
        assert main(["latent-map", runs[name], "-o", str(out), "-n", "120"]) == 0
        sizes[name] = Image.open(out).size
    w, h = sizes["vae2"]
    assert w / h > 3  # codes, pixels, decoded grid
    for name in ("ae", "moons"):  # latent 4: codes by PCA, pixels; moons: points are not images
        w, h = sizes[name]
        assert 2 < w / h < 3


def test_latent_map_with_tsne(runs, tmp_path):
    assert main(["latent-map", runs["cvae"], "-o", str(tmp_path / "t.png"), "-n", "60", "--tsne"]) == 0
    assert Image.open(tmp_path / "t.png").format == "PNG"


@pytest.mark.parametrize(
    "run, args, message",
    [
        ("ae", ["interpolate", "--from", "2"], "--from needs both --from and --to"),
        ("ae", ["interpolate", "--to", "2"], "--to needs"),
        ("ae", ["interpolate", "--from", "0", "--to", "297"], f"has {DIGITS_TEST} images (0..296)"),
        ("ae", ["interpolate", "--from", "-1", "--to", "3"], "--from -1 is out of range"),
        ("ae", ["interpolate", "--steps", "1"], "--steps must be at least 2"),
        ("ae", ["traverse", "--steps", "1"], "--steps must be at least 2"),
        ("ae", ["traverse", "--dims", "0,4"], "latent_dim is 4"),
        ("ae", ["traverse", "--index", "297"], "--index 297 is out of range"),
        ("ae", ["traverse", "--range", "0"], "--range: expected a number > 0"),
        ("ae", ["traverse", "--range", "-2"], "--range: expected a number > 0"),
        ("ae", ["traverse", "--dims", "1,x"], "--dims: expected comma-separated"),
        ("ae", ["latent-map", "-n", "0"], "-n: expected a whole number >= 1"),
        ("moons", ["interpolate"], "not images"),
        ("moons", ["traverse"], "not images"),
        ("missing", ["interpolate"], "does not exist"),
        ("missing", ["latent-map"], "does not exist"),
        ("ae", ["latent-map", "--data", "moons"], "the model expects (1, 8, 8)"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_no_file(runs, tmp_path, capsys, run, args, message):
    out = tmp_path / "x.png"
    path = runs.get(run, str(tmp_path / run))
    try:
        code = main([args[0], path, "-o", str(out), *args[1:]])
    except SystemExit as e:  # argparse
        code = e.code
    assert code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert "Traceback" not in "\n".join(lines)
    if len(lines) == 2 and lines[1].startswith("see 'genzoo"):
        lines = lines[:1]  # argparse's one error line, then a pointer to --help
    assert len(lines) == 1 and lines[0].startswith("genzoo") and message in lines[0], lines
    assert not out.exists()


@pytest.mark.parametrize("command", ["interpolate", "traverse", "latent-map"])
def test_a_model_that_cannot_encode_is_refused(runs, tmp_path, capsys, monkeypatch, command):
    monkeypatch.setattr(genzoo, "load", lambda *a, **k: SampleOnly())
    assert main([command, runs["ae"], "-o", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("genzoo: error: sampler has no encoder and decoder") and "\n" not in err
    assert not (tmp_path / "x.png").exists()


def test_help_lists_the_commands():
    from genzoo.cli import build_parser

    text = build_parser().format_help()
    assert all(c in text for c in ("interpolate", "traverse", "latent-map"))
