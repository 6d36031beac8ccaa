"""Latent-space toolkit: encoding, decoding, interpolation and traversal of the codes of any model
that declares the Encoder capability (``genzoo.models.capabilities``), asked by capability, not family.

The code of an image is ``z = encode(x)``, (B, d): the deterministic code of an autoencoder, the
posterior mean mu(x) of a VAE. A class-conditional model (the Conditional capability)
takes labels y, (B,) long, in ``encode(x, y)`` and ``decode(z, y)``; every function here passes
them through (and, for such a model, asks for them: without labels its ``infer_labels`` is used).

The lecture's point: an autoencoder is trained only on codes of real images, so the decoder is
undefined between them; a VAE's KL term fills the space (q(z|x) overlaps N(0, I)), so decoded
paths between codes stay on the data manifold. ``interpolate`` and ``traverse`` show this;
``genzoo.latent_map`` draws the codes beside PCA of the pixels (and, for a 2-D latent, the decoded grid).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from genzoo import progress
from genzoo.errors import GenzooError
from genzoo.models import capabilities as caps
from genzoo.models.base import device_of as model_device
from genzoo.models.base import evaluating
from genzoo.models.capabilities import Capability
from genzoo.models.capabilities import kind as model_kind


# ---------------------------------------------------------------------------------- capabilities
def can_encode(model: object) -> bool:
    """True for a model that declares the Encoder capability (encode, decode, reconstruct)."""
    return caps.has(model, Capability.ENCODER)


def check_can_encode(model: object, what: str = "this") -> None:
    """A GenzooError unless the model can encode and decode, naming the families that can."""
    caps.require(model, Capability.ENCODER, what)


def check_images(model: Any, what: str) -> None:
    """A GenzooError unless the model's data are images (C, H, W): decoded strips need pictures."""
    if len(model.shape) != 3:
        raise GenzooError(
            f"{what} draws decoded images; this {model_kind(model)} models data of shape {model.shape}, "
            "not images (latent-map still works for its codes)"
        )


def _labels(model: Any, x: torch.Tensor, y: Any) -> torch.Tensor | None:
    """Labels (B,) long for a conditional model (inferred if not given), None for any other."""
    if not caps.has(model, Capability.CONDITIONAL):
        return None
    if y is None:
        return model.infer_labels(x)  # a conditional encoder infers its labels (Conditional contract)
    y = torch.as_tensor(y, dtype=torch.long)
    return y.expand(x.shape[0]) if y.dim() == 0 else y


# ------------------------------------------------------------------------------- encode / decode
def _chunked(
    model: Any, fn: Any, t: torch.Tensor, y: torch.Tensor | None, batch: int, desc: str = "encoding"
) -> torch.Tensor:
    """fn(t, y), a method of ``model``, of t (N, ...) in chunks of ``batch`` on the model's device, in
    eval mode, without gradients: the results concatenated on the CPU."""
    dev = model_device(model)
    out = []
    with torch.no_grad(), evaluating(model):
        n = t.shape[0]
        for i in progress.track(range(0, n, batch), n, desc, size=lambda i: min(batch, n - i)):
            yb = None if y is None else y[i : i + batch].to(dev)
            out.append(fn(t[i : i + batch].to(dev), yb))
    return torch.cat(out).cpu()


def latent_codes(model: Any, x: torch.Tensor, y: Any = None, batch: int = 500) -> torch.Tensor:
    """The codes z = encode(x) (or encode(x, y) for a conditional model) of x (N, *shape): (N, d)."""
    check_can_encode(model, "encoding")
    with torch.no_grad(), evaluating(model):
        y = _labels(model, x, y)
    return _chunked(model, model.encode, x, y, batch)


def decode(model: Any, z: torch.Tensor, y: Any = None, batch: int = 500) -> torch.Tensor:
    """decode(z, y) of codes z (N, d) in chunks: (N, *shape) on the CPU. Any Decoder (an
    autoencoder's decoder, a VAE's, a flow's inverse, a GAN's generator); a conditional model
    needs labels y (an int or (N,))."""
    caps.require(model, Capability.DECODER, "decoding codes")
    if caps.has(model, Capability.CONDITIONAL):
        if y is None:
            raise GenzooError(f"{model_kind(model)} is class-conditional: give the labels y to decode with")
        y = torch.as_tensor(y, dtype=torch.long)
        y = y.expand(z.shape[0]) if y.dim() == 0 else y
    return _chunked(model, model.decode, z, y, batch, "decoding")


def reconstruct(model: Any, x: torch.Tensor, y: Any = None, batch: int = 500) -> torch.Tensor:
    """decode(encode(x, y), y) of x (N, *shape) in eval mode, in chunks: (N, *shape) on the CPU; a
    conditional model without labels uses its inferred ones."""
    check_can_encode(model, "reconstruction")
    with torch.no_grad(), evaluating(model):
        y = _labels(model, x, y)
    return _chunked(model, model.reconstruct, x, y, batch, "reconstructing")


# ------------------------------------------------------------------------------------ paths in z
def lerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Linear interpolation z(t) = (1 - t) z0 + t z1: z0, z1 (..., d), t (T,) -> (..., T, d).
    Written with (1 - t) and t so that t = 0 and t = 1 give z0 and z1 exactly."""
    t = t.to(z0.dtype)[:, None]  # (T, 1)
    return (1 - t) * z0.unsqueeze(-2) + t * z1.unsqueeze(-2)


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Spherical interpolation (Shoemake 1985; White 2016 for generative models):
    z(t) = sin((1 - t) omega) / sin(omega) z0 + sin(t omega) / sin(omega) z1,
    omega = arccos(z0 . z1 / (|z0| |z1|)), the angle between the codes.

    z0, z1 (..., d), t (T,) -> (..., T, d). For |z0| = |z1| = r every z(t) has norm r (a great
    circle), where lerp cuts through the low-norm middle that a Gaussian prior rarely visits.
    Parallel, opposite or zero codes (sin(omega) < eps) fall back to lerp."""
    t64 = t.to(torch.float64)[:, None]  # (T, 1)
    n0, n1 = z0.double().norm(dim=-1), z1.double().norm(dim=-1)  # (...)
    cos = (F.normalize(z0.double(), dim=-1) * F.normalize(z1.double(), dim=-1)).sum(-1).clamp(-1.0, 1.0)
    omega = torch.acos(cos)[..., None, None]  # (..., 1, 1)
    sin_omega = torch.sin(omega)
    w0 = torch.sin((1 - t64) * omega) / sin_omega  # (..., T, 1)
    w1 = torch.sin(t64 * omega) / sin_omega
    out = w0.to(z0.dtype) * z0.unsqueeze(-2) + w1.to(z0.dtype) * z1.unsqueeze(-2)  # (..., T, d)
    degenerate = (sin_omega < eps) | (n0.min(n1) < eps)[..., None, None]  # (..., 1, 1)
    return torch.where(degenerate, lerp(z0, z1, t), out)


def latent_path(z0: torch.Tensor, z1: torch.Tensor, steps: int = 10, spherical: bool = False) -> torch.Tensor:
    """``steps`` points from z0 to z1, both endpoints included (t = linspace(0, 1, steps)):
    z0, z1 (..., d) -> (..., steps, d)."""
    if steps < 2:
        raise GenzooError(f"an interpolation needs at least 2 steps (its two endpoints), got {steps}")
    t = torch.linspace(0.0, 1.0, steps, dtype=torch.float64)
    return (slerp if spherical else lerp)(z0, z1, t)


def interpolate_rows(
    model: Any,
    xa: torch.Tensor,
    xb: torch.Tensor,
    steps: int = 10,
    slerp: bool = False,
    ya: Any = None,
    yb: Any = None,
) -> torch.Tensor:
    """Decoded paths between the codes of xa and xb, each (B, *shape): (B, steps, *shape).

    A conditional model encodes each image with its own label (ya, yb; yb defaults to ya) and
    decodes the whole path with the start image's label ya."""
    check_can_encode(model, "interpolation")
    if steps < 2:
        raise GenzooError(f"an interpolation needs at least 2 steps (its two endpoints), got {steps}")
    ya = _labels(model, xa, ya)
    yb = ya if yb is None and ya is not None else _labels(model, xb, yb)
    # one image at a time (batch=1): a row does not depend on the rows drawn with it (float
    # kernels round differently per batch size), and its ends equal decode(encode(a)) bit for bit
    za, zb = latent_codes(model, xa, ya, batch=1), latent_codes(model, xb, yb, batch=1)  # (B, d) each
    z = latent_path(za, zb, steps, spherical=slerp)  # (B, steps, d)
    y = None if ya is None else ya.repeat_interleave(steps)  # (B * steps,)
    x = decode(model, z.flatten(0, 1), y, batch=1)  # (B * steps, *shape)
    return x.view(xa.shape[0], steps, *x.shape[1:])


def interpolate(
    model: Any,
    a: torch.Tensor,
    b: torch.Tensor,
    steps: int = 10,
    slerp: bool = False,
    y: Any = None,
    y_b: Any = None,
) -> torch.Tensor:
    """Decoded images along the path from encode(a) to encode(b), images a, b (*shape):
    (steps, *shape); the first is decode(encode(a)), the last decode(encode(b)). ``slerp``: the
    spherical path. A conditional model: y labels a (and decodes the path), y_b labels b (default y)."""
    ya = None if y is None else torch.as_tensor(y, dtype=torch.long).reshape(1)
    yb = None if y_b is None else torch.as_tensor(y_b, dtype=torch.long).reshape(1)
    return interpolate_rows(model, a.unsqueeze(0), b.unsqueeze(0), steps, slerp, ya, yb)[0]


def random_pairs(
    n: int, rows: int, labels: torch.Tensor | None = None, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``rows`` pairs (i, j), i != j, of indices into n examples, each (rows,) long. With labels
    (n,), both ends of a pair share a class (for conditional models: one label decodes the path)."""
    if n < 2:
        raise GenzooError(f"random pairs need at least 2 test images, got {n}")
    if labels is None:
        i = torch.randint(n, (rows,), generator=generator)
        j = (i + 1 + torch.randint(n - 1, (rows,), generator=generator)) % n  # uniform over j != i
        return i, j
    labels = labels.long()
    classes, counts = labels.unique(return_counts=True)
    usable = classes[counts >= 2]  # classes with at least two members
    if len(usable) == 0:
        raise GenzooError("no class has two test images to pair")
    members = [torch.nonzero(labels == c).flatten() for c in usable.tolist()]
    pick = torch.randint(len(members), (rows,), generator=generator)  # a class per row
    ii, jj = [], []
    for k in pick.tolist():
        m = members[k]
        a = int(torch.randint(len(m), (1,), generator=generator))
        b = (a + 1 + int(torch.randint(len(m) - 1, (1,), generator=generator))) % len(m)
        ii.append(int(m[a]))
        jj.append(int(m[b]))
    return torch.tensor(ii), torch.tensor(jj)


# ------------------------------------------------------------------------------------ traversal
def check_dims(dims: Sequence[int], latent_dim: int) -> list[int]:
    """The dims as a list; a GenzooError naming latent_dim if any is outside 0..latent_dim-1."""
    bad = [d for d in dims if not 0 <= d < latent_dim]
    if bad or not dims:
        raise GenzooError(
            f"latent dims {list(bad or dims)} are out of range: latent_dim is {latent_dim}, "
            f"so the dims are 0..{latent_dim - 1}"
        )
    return list(dims)


def traverse_codes(z: torch.Tensor, dims: Sequence[int], range_: float = 3.0, steps: int = 9) -> torch.Tensor:
    """Copies of one code z (d,) with dimension k set to each of linspace(-range_, range_, steps),
    for each k in dims (the others kept): (len(dims), steps, d)."""
    if steps < 2:
        raise GenzooError(f"a traversal needs at least 2 steps, got {steps}")
    if not range_ > 0:
        raise GenzooError(f"the traversal range must be > 0, got {range_}")
    dims = check_dims(dims, z.shape[-1])
    values = torch.linspace(-range_, range_, steps, dtype=z.dtype)  # (steps,)
    out = z.reshape(1, 1, -1).repeat(len(dims), steps, 1)  # (D, steps, d)
    for row, k in enumerate(dims):
        out[row, :, k] = values
    return out


def traverse(
    model: Any,
    x: torch.Tensor,
    dims: Sequence[int] | None = None,
    range_: float = 3.0,
    steps: int = 9,
    y: Any = None,
) -> torch.Tensor:
    """Decode the code of one image x (*shape) with one dimension at a time swept over
    [-range_, range_] (absolute values: the prior N(0, 1)'s scale for a VAE; an autoencoder's codes
    have no fixed scale, see ``genzoo.latent_map`` for theirs): (len(dims), steps, *shape). dims default to
    the first min(d, 10). A conditional model encodes and decodes with the image's label y."""
    check_can_encode(model, "traversal")
    yx = _labels(model, x.unsqueeze(0), None if y is None else torch.as_tensor(y).reshape(1))
    z = latent_codes(model, x.unsqueeze(0), yx)[0]  # (d,)
    dims = list(range(min(z.shape[0], 10))) if dims is None else dims
    codes = traverse_codes(z, dims, range_, steps)  # (D, steps, d)
    labels = None if yx is None else yx.expand(codes.shape[0] * steps)
    out = decode(model, codes.flatten(0, 1), labels, batch=1)  # (D * steps, *shape), as interpolate
    return out.view(codes.shape[0], steps, *out.shape[1:])
