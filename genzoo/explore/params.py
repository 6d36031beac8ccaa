"""Checked request parameters: every number bounded, every name from a known list. A bad value is a
``BadRequest`` (HTTP 400) whose message names the field and what it may be."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from genzoo.errors import GenzooError

MISSING: Any = object()
MAX_SEED = 2**31 - 1
MAX_CODE = 1e4  # |z_i| bound of a code sent by the page


class BadRequest(GenzooError):
    """A request the explorer cannot answer as sent (HTTP 400)."""


def _given(body: Mapping[str, Any], name: str, default: Any) -> tuple[Any, bool]:
    """(the value sent, True), or (``default``, False) when none was sent; BadRequest if required."""
    if name in body and body[name] is not None:
        return body[name], True
    if default is MISSING:
        raise BadRequest(f"{name} is required")
    return default, False


def integer(body: Mapping[str, Any], name: str, lo: int, hi: int, default: Any = MISSING) -> int:
    v, given = _given(body, name, default)
    if not given:
        return v
    if isinstance(v, str) and v.strip().lstrip("-").isdigit() and len(v) < 20:
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise BadRequest(f"{name} must be a whole number in {lo}..{hi}, got {str(v)[:40]!r}")
    return v


def number(body: Mapping[str, Any], name: str, lo: float, hi: float, default: Any = MISSING) -> float:
    v, given = _given(body, name, default)
    if not given:
        return v
    if isinstance(v, str):
        try:
            v = float(v[:40])
        except ValueError:
            pass
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or not lo <= v <= hi:
        raise BadRequest(f"{name} must be a number in {lo:g}..{hi:g}, got {str(v)[:40]!r}")
    return float(v)


def choice(body: Mapping[str, Any], name: str, options: Sequence[str], default: Any = MISSING) -> str:
    v, given = _given(body, name, default)
    if not given:
        return v
    if not isinstance(v, str) or v not in options:
        raise BadRequest(f"{name} must be one of {', '.join(options)}, got {str(v)[:40]!r}")
    return v


def text(body: Mapping[str, Any], name: str, limit: int = 200, default: Any = MISSING) -> str:
    v, given = _given(body, name, default)
    if not given:
        return v
    if not isinstance(v, str) or len(v) > limit:
        raise BadRequest(f"{name} must be text of at most {limit} characters")
    return v


def code(body: Mapping[str, Any], name: str, d: int) -> torch.Tensor:
    """A latent code: a list of d finite numbers, |z_i| <= MAX_CODE -> (d,) float32."""
    v, _ = _given(body, name, MISSING)
    if not isinstance(v, list) or len(v) != d:
        raise BadRequest(f"{name} must be a list of {d} numbers (the model's latent size)")
    if not all(isinstance(a, int | float) and not isinstance(a, bool) for a in v):
        raise BadRequest(f"{name} must hold numbers only")
    z = torch.tensor(v, dtype=torch.float64)
    if not bool(torch.isfinite(z).all()) or float(z.abs().max()) > MAX_CODE:
        raise BadRequest(f"{name} must hold finite numbers of size at most {MAX_CODE:g}")
    return z.float()


def names(body: Mapping[str, Any], name: str, known: Sequence[str]) -> list[str]:
    v, _ = _given(body, name, [])
    if not isinstance(v, list) or not all(isinstance(a, str) for a in v) or len(v) > len(known):
        raise BadRequest(f"{name} must be a list of slider names")
    bad = [a for a in v if a not in known]
    if bad:
        raise BadRequest(f"unknown slider {bad[0][:40]!r} in {name}")
    return v


def values(body: Mapping[str, Any], name: str, known: Sequence[str]) -> dict[str, float]:
    v, _ = _given(body, name, {})
    if not isinstance(v, dict) or len(v) > len(known):
        raise BadRequest(f"{name} must map slider names to numbers")
    out = {}
    for k in v:
        if k not in known:
            raise BadRequest(f"unknown slider {str(k)[:40]!r} in {name}")
        out[k] = number(v, k, -1e4, 1e4)
    return out
