"""Latent arithmetic and attribute sliders on the centroids of ``genzoo.apps.attributes``.

- ``arithmetic``: an expression "7 + 2*thick - 2*thin" is z = sum_k c_k m_k over named centroids
  m_k (d,) (an attribute name such as ``thickness`` stands for its vector high - low), decoded.
- ``edit``: the slider z(a) = z + a v_attr for amounts a in [A, B], decoded: (B, T, *shape).
- ``slider_report``: the measured check that an edit does what it says: the pixel statistic of the
  decoded images should rise with a (monotone share, Spearman correlation) while the class given
  by a classifier stays that of the unedited decode (a = 0).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import torch

from genzoo.apps.attributes import Attributes, decode_codes
from genzoo.apps.pixel_statistics import pixel_statistics
from genzoo.errors import ConfigError, GenzooError

Terms = list[tuple[float, str]]
_TOKEN = re.compile(r"'[^']*'|\"[^\"]*\"|[+*]|[^\s+*]+")


# ---------------------------------------------------------------------------------- expressions
def parse_expression(text: str) -> Terms:
    """Terms (coefficient, name) of an expression: names joined by + and -, each with an optional
    coefficient ``2*``: "7 + thick - thin" -> [(1, '7'), (1, 'thick'), (-1, 'thin')].

    A number followed by ``*`` is a coefficient, a bare number is a name (class "7"); a ``-``
    inside a word belongs to the name (not-Smiling), one before a word or standing alone is the
    operator; names with spaces go in quotes ('ankle boot'). A ConfigError names what is wrong."""
    if not text or not text.strip():
        raise ConfigError("empty expression; write e.g. '7 + thick - thin'")
    tokens: list[str] = []
    for tok in _TOKEN.findall(text):
        if len(tok) >= 2 and tok[0] in "'\"" and tok[-1] == tok[0]:
            tokens.append("name:" + tok[1:-1])
            continue
        if "'" in tok or '"' in tok:
            raise ConfigError(f"malformed expression {text!r}: unclosed quote in {tok!r}")
        while tok.startswith("-") and len(tok) > 1:  # "-thin" -> "-", "thin"
            tokens.append("-")
            tok = tok[1:]
        tokens.append(tok if tok in ("+", "-", "*") else "name:" + tok)

    def bad(why: str) -> ConfigError:
        return ConfigError(f"malformed expression {text!r}: {why}")

    terms: Terms = []
    i, sign, expect_term = 0, 1.0, True
    if tokens and tokens[0] in ("+", "-"):
        sign, i = (-1.0 if tokens[0] == "-" else 1.0), 1
    while i < len(tokens):
        if not expect_term:
            if tokens[i] not in ("+", "-"):
                prev = terms[-1][1]
                raise bad(f"expected + or - between {prev!r} and {tokens[i].removeprefix('name:')!r}")
            sign, expect_term, i = (-1.0 if tokens[i] == "-" else 1.0), True, i + 1
            continue
        if i >= len(tokens) or not tokens[i].startswith("name:"):
            raise bad(f"expected a name, got {tokens[i]!r}")
        word = tokens[i].removeprefix("name:")
        coef = 1.0
        if i + 1 < len(tokens) and tokens[i + 1] == "*":  # a coefficient: NUMBER * NAME
            try:
                coef = float(word)
            except ValueError:
                raise bad(f"{word!r} before '*' is not a number") from None
            if not math.isfinite(coef):
                raise bad(f"coefficient {word!r} is not finite")
            i += 2
            if i >= len(tokens) or not tokens[i].startswith("name:"):
                raise bad(f"expected a name after {word}*")
            word = tokens[i].removeprefix("name:")
        if not word:
            raise bad("an empty name")
        terms.append((sign * coef, word))
        expect_term, i = False, i + 1
    if expect_term:
        raise bad("it ends with an operator" if terms or len(tokens) > 0 else "no terms")
    return terms


def expression_code(attrs: Attributes, terms: Terms) -> torch.Tensor:
    """z = sum_k c_k m_k (d,): m_k the centroid named (or, for an attribute name, its vector)."""
    z = torch.zeros(attrs.latent_dim, dtype=torch.float64)
    for coef, name in terms:
        z += coef * _term_code(attrs, name).double()
    return z.float()


def _term_code(attrs: Attributes, name: str) -> torch.Tensor:
    try:
        return attrs.centroid(name)
    except GenzooError:
        if attrs.attribute_of(name) is None:
            raise GenzooError(
                f"unknown name {name!r} in the expression; the attributes file has: {attrs.known()}"
            ) from None
        return attrs.vector(name)


def arithmetic(model: Any, attrs: Attributes, expr: str, y: Any = None) -> tuple[Terms, torch.Tensor]:
    """The terms of ``expr`` and the decoded images (T + 1, *shape): each term's code (centroid or
    vector) and, last, the result z = sum c_k m_k. y: the label of a class-conditional model."""
    terms = parse_expression(expr)
    codes = torch.stack([_term_code(attrs, n) for _, n in terms] + [expression_code(attrs, terms)])
    return terms, decode_codes(model, codes, y)


# ----------------------------------------------------------------------------------------- edits
def amounts(lo: float, hi: float, steps: int) -> torch.Tensor:
    """linspace(lo, hi, steps) (steps,), both ends included."""
    if steps < 2:
        raise ConfigError(f"a slider needs at least 2 steps, got {steps}")
    return torch.linspace(lo, hi, steps)


def edit_codes(z: torch.Tensor, v: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """The slider z + a v: codes z (B, d), vector v (d,), amounts a (T,) -> (B, T, d)."""
    return z[:, None, :] + a.to(z.dtype)[None, :, None] * v.to(z.dtype)[None, None, :]


def edit(
    model: Any, attrs: Attributes, attr: str, z: torch.Tensor, a: torch.Tensor, y: Any = None
) -> torch.Tensor:
    """Decoded sliders of codes z (B, d) along the vector of ``attr``: (B, T, *shape) for amounts a
    (T,). y: labels (B,) of a class-conditional model (each row decodes with its own)."""
    v = attrs.vector(attr)
    codes = edit_codes(z, v, a)  # (B, T, d)
    yy = None if y is None else torch.as_tensor(y, dtype=torch.long).reshape(-1).repeat_interleave(len(a))
    x = decode_codes(model, codes.flatten(0, 1), yy)
    return x.view(z.shape[0], len(a), *x.shape[1:])


def statistic_of(attrs: Attributes, attr: str) -> tuple[str, float] | None:
    """(pixel statistic, direction +1/-1) that ``attr`` should move, for a pixel attribute; else None."""
    found = attrs.attribute_of(attr)
    if found is None or attrs.meta.get("source") != "pixels":
        return None
    return found


# ------------------------------------------------------------------------------ measured check
def spearman(s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """Spearman rank correlation of each row of s (B, T) with a (T,) (average ranks for ties): (B,)."""

    def ranks(v: torch.Tensor) -> torch.Tensor:  # (B, T) -> average ranks
        order = v.argsort(-1)
        r = torch.empty_like(v, dtype=torch.float64)
        r.scatter_(-1, order, torch.arange(v.shape[-1], dtype=torch.float64).expand_as(v).contiguous())
        eq = v[..., :, None] == v[..., None, :]  # (B, T, T) ties
        return (eq.double() * r[..., None, :]).sum(-1) / eq.double().sum(-1)

    rs, ra = ranks(s.double()), ranks(a.double()[None].expand_as(s))
    rs, ra = rs - rs.mean(-1, keepdim=True), ra - ra.mean(-1, keepdim=True)
    den = (rs.norm(dim=-1) * ra.norm(dim=-1)).clamp(min=1e-12)
    return (rs * ra).sum(-1) / den


def slider_report(
    images: torch.Tensor,
    a: torch.Tensor,
    statistic: str,
    direction: float = 1.0,
    classify: Callable[[torch.Tensor], torch.Tensor] | None = None,
    reference: torch.Tensor | None = None,
) -> dict[str, Any]:
    """How a slider's decoded images (B, T, *shape) at amounts a (T,) move a pixel statistic:

    monotone: share of rows whose statistic (times direction) never falls along a and ends higher;
    spearman: mean over rows of the rank correlation of statistic (times direction) with a;
    mean_statistic: the statistic's mean at each amount (T,); and with ``classify`` (images ->
    class indices) and ``reference`` (B,) classes (the unedited decode's), class_kept: the share
    of rows whose class equals the reference at each amount (T,)."""
    b, t = images.shape[:2]
    s = pixel_statistics(images.flatten(0, 1))[statistic].view(b, t)  # (B, T)
    d = direction * s
    monotone = ((d.diff(dim=1) >= -1e-6).all(1) & (d[:, -1] > d[:, 0])).float().mean()
    out: dict[str, Any] = {
        "statistic": statistic,
        "direction": direction,
        "amounts": [round(float(v), 4) for v in a],
        "monotone": float(monotone),
        "spearman": float(spearman(d, a).mean()),
        "mean_statistic": [float(v) for v in s.mean(0)],
    }
    if classify is not None and reference is not None:
        c = classify(images.flatten(0, 1)).view(b, t)
        out["class_kept"] = [float(v) for v in (c == reference[:, None]).float().mean(0)]
    return out
