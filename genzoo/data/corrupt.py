"""Input corruptions for denoising autoencoders and inpainting, as pure functions.

A spec is "kind:level":
  gaussian:S    x + S * eps, eps ~ N(0, 1), clamped to [0, 1]   (S >= 0, the std)
  mask:P        each pixel set to 0 with probability P           (0 <= P <= 1)
  saltpepper:P  each pixel set to 0 or 1 (equally likely) with probability P
  none          no corruption ("none:0" also accepted)
"""

from __future__ import annotations

import math

import torch

from genzoo.errors import ConfigError

KINDS = ("gaussian", "mask", "saltpepper", "none")
VALID_FORMS = "gaussian:STD, mask:P, saltpepper:P (0 <= P <= 1) or none"


def parse_noise(spec: str) -> tuple[str, float]:
    """Parse a noise spec into (kind, level); ConfigError naming the spec if it is invalid."""
    text = str(spec).strip().lower()
    kind, sep, level_text = text.partition(":")
    if kind not in KINDS:
        raise ConfigError(f"unknown noise {spec!r}; valid forms: {VALID_FORMS}")
    if kind == "none":
        if sep and _number(spec, level_text) != 0.0:
            raise ConfigError(f"noise {spec!r}: 'none' takes no level; valid forms: {VALID_FORMS}")
        return "none", 0.0
    if not sep or not level_text.strip():
        raise ConfigError(f"noise {spec!r} needs a level, e.g. {kind}:0.3; valid: {VALID_FORMS}")
    level = _number(spec, level_text)
    if kind in ("mask", "saltpepper") and level > 1.0:
        raise ConfigError(f"noise {spec!r}: probability must be <= 1; valid forms: {VALID_FORMS}")
    return kind, level


def _number(spec: str, text: str) -> float:
    """A finite, non-negative level, or ConfigError."""
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(
            f"noise {spec!r}: level {text.strip()!r} is not a number; valid forms: {VALID_FORMS}"
        ) from None
    if not math.isfinite(value) or value < 0:
        raise ConfigError(
            f"noise {spec!r}: level must be finite and >= 0; valid forms: {VALID_FORMS}",
        )
    return value


def apply_noise(
    x: torch.Tensor,
    spec: str,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Corrupt a batch x (any shape, floating point, values in [0, 1]) by `spec`.

    Returns a new tensor of the same shape and dtype; x is not modified. All randomness comes
    from `generator` (on x's device), so a seeded generator reproduces the result exactly.
    """
    kind, level = parse_noise(spec)
    if not x.is_floating_point():
        raise TypeError(f"apply_noise needs a floating-point tensor, got {x.dtype}")
    if kind == "none" or level == 0.0:
        return x.clone()
    if kind == "gaussian":
        eps = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        return (x + level * eps).clamp_(0.0, 1.0)
    u = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    if kind == "mask":
        return x.masked_fill(u < level, 0.0)
    # saltpepper: u < P/2 -> 0 (pepper), P/2 <= u < P -> 1 (salt), else unchanged
    out = x.masked_fill(u < level / 2, 0.0)
    return out.masked_fill((u >= level / 2) & (u < level), 1.0)
