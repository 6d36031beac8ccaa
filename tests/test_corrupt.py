"""Tests for genzoo.data.corrupt: noise specs and their statistics."""

import pytest
import torch

from genzoo.data import apply_noise, parse_noise
from genzoo.errors import ConfigError


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("gaussian:0.5", ("gaussian", 0.5)),
        ("mask:0.3", ("mask", 0.3)),
        ("saltpepper:0.2", ("saltpepper", 0.2)),
        ("mask:1", ("mask", 1.0)),
        ("gaussian:0", ("gaussian", 0.0)),
        ("none", ("none", 0.0)),
        ("none:0", ("none", 0.0)),
        (" Gaussian:0.25 ", ("gaussian", 0.25)),
    ],
)
def test_parse_noise_valid(spec, expected):
    assert parse_noise(spec) == expected


@pytest.mark.parametrize(
    "spec",
    [
        "blur:0.1",
        "",
        "gaussian",
        "gaussian:",
        "gaussian:abc",
        "gaussian:nan",
        "gaussian:inf",
        "mask:-0.1",
        "mask:1.5",
        "saltpepper:2",
        "none:0.5",
    ],
)
def test_parse_noise_invalid(spec):
    with pytest.raises(ConfigError) as err:
        parse_noise(spec)
    msg = str(err.value)
    assert repr(spec) in msg
    assert "gaussian:" in msg and "mask:" in msg and "saltpepper:" in msg


def test_gaussian_statistics():
    x = torch.full((4, 1, 100, 100), 0.5)
    out = apply_noise(x, "gaussian:0.05", _gen())
    diff = out - x
    assert abs(diff.std().item() - 0.05) < 0.05 * 0.03
    assert abs(diff.mean().item()) < 0.002


def test_gaussian_is_clamped():
    x = torch.full((1, 1, 64, 64), 0.5)
    out = apply_noise(x, "gaussian:2", _gen())
    assert out.min().item() == 0.0 and out.max().item() == 1.0
    assert (out == 0).float().mean() > 0.2 and (out == 1).float().mean() > 0.2


def test_mask_fraction():
    x = torch.ones(200_000)
    out = apply_noise(x, "mask:0.3", _gen())
    zeros = (out == 0).float().mean().item()
    assert abs(zeros - 0.3) < 0.01
    assert set(out.unique().tolist()) == {0.0, 1.0}


def test_saltpepper_values_and_fraction():
    x = torch.full((200_000,), 0.5)
    out = apply_noise(x, "saltpepper:0.2", _gen())
    changed = out != 0.5
    assert set(out[changed].unique().tolist()) == {0.0, 1.0}
    assert abs(changed.float().mean().item() - 0.2) < 0.01
    assert abs((out == 0).float().mean().item() - 0.1) < 0.01
    assert abs((out == 1).float().mean().item() - 0.1) < 0.01


@pytest.mark.parametrize("spec", ["gaussian:0.3", "mask:0.5", "saltpepper:0.3"])
def test_seeded_generator_reproduces(spec):
    x = torch.rand(8, 1, 8, 8, generator=_gen(123))
    a = apply_noise(x, spec, _gen(7))
    b = apply_noise(x, spec, _gen(7))
    c = apply_noise(x, spec, _gen(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("spec", ["gaussian:0.3", "mask:0.5", "saltpepper:0.3", "none"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_input_untouched_shape_dtype_kept(spec, dtype):
    x = torch.rand(3, 2, 5, 7, generator=_gen(1), dtype=dtype)
    before = x.clone()
    out = apply_noise(x, spec, _gen(2))
    assert torch.equal(x, before)
    assert out.shape == x.shape and out.dtype == dtype
    assert out.data_ptr() != x.data_ptr()
    if spec == "none":
        assert torch.equal(out, x)


def test_zero_level_is_identity():
    x = torch.rand(2, 1, 4, 4, generator=_gen(3))
    for spec in ("gaussian:0", "mask:0", "saltpepper:0"):
        assert torch.equal(apply_noise(x, spec, _gen()), x)
