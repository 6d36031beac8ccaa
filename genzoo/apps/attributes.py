"""Attribute vectors: mean codes of images with and without an attribute (the lecture's sliders).

For an attribute a with a "high" and a "low" group of images, the attribute vector is

    v_a = mean(z | a high) - mean(z | a low),        z = encode(x), (N, d) -> v_a (d,)

(White 2016, "Sampling generative networks"; Larsen et al. 2016 for the CelebA face attributes).
An ``Attributes`` object keeps the *centroids* (the group means) with names, so that an expression
"7 + thick - thin" is a sum of named centroids (``genzoo.apps.arithmetic``) and ``edit --attr thick``
adds amount * (thick - thin) to a code. Three sources of groups:

- ``pixels``: statistics computed from the images themselves (``genzoo.apps.pixel_statistics``);
  high = top quartile of the statistic, low = bottom quartile (ties at the quartile included in
  both groups' boundary as ``>= q75`` and ``<= q25``);
- ``labels``: one centroid per class, named by the class name ("7");
- a CelebA ``list_attr``-style table (``genzoo.apps.attribute_table``): high = value 1, low = -1
  (or 0), matched to a folder dataset by file name.

A model that can encode (ae, vae, ...; ``genzoo.latent.can_encode``) gives the codes of real
images; a GAN cannot encode, so its groups are formed over sampled latents z ~ N(0, I) and the
images G(z) (``sample_latent``/``generate``, asked by capability); their class is the model's own
label (cgan) or the class the shipped classifier gives G(z).

This module computes the centroids (``compute_attributes``); ``genzoo.apps.attribute_file`` saves
and loads them, and ``genzoo.apps.attribute_sources`` picks the images of a run for each source.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from genzoo import conditional, latent
from genzoo.apps.pixel_statistics import PIXEL_ATTRIBUTES, pixel_statistics, quartile_groups
from genzoo.errors import ConfigError, DataError, GenzooError
from genzoo.models import capabilities as caps
from genzoo.models.capabilities import Capability

SOURCES = ("pixels", "labels")  # or a table file


# --------------------------------------------------------------------------- attribute centroids
@dataclass
class Attributes:
    """Named centroids (mean codes) of groups of images, and the attributes they form.

    centroids (K, d) float32, counts (K,) long: group sizes; names[k] names centroid k; pairs maps
    an attribute to its (high, low) centroid names; classes lists the centroids that are classes
    (their counts partition the images, so the mean of the other classes is known too)."""

    names: tuple[str, ...]
    centroids: torch.Tensor
    counts: torch.Tensor
    pairs: dict[str, tuple[str, str]] = field(default_factory=dict)
    classes: tuple[str, ...] = ()
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def latent_dim(self) -> int:
        return int(self.centroids.shape[1])

    def _find(self, name: str, pool: Sequence[str]) -> str | None:
        if name in pool:
            return name
        lowered = [p for p in pool if p.lower() == name.lower()]
        return lowered[0] if len(lowered) == 1 else None

    def known(self) -> str:
        """The names an expression or --attr may use, as one short list."""
        names = list(self.pairs) + [n for n in self.names if n not in self.pairs]
        return ", ".join(names[:40]) + (", ..." if len(names) > 40 else "")

    def centroid(self, name: str) -> torch.Tensor:
        """The mean code (d,) of the group ``name``; a GenzooError listing the names if unknown."""
        found = self._find(name, self.names)
        if found is None:
            raise GenzooError(f"unknown centroid {name!r}; the attributes file has: {self.known()}")
        return self.centroids[self.names.index(found)]

    def vector(self, name: str) -> torch.Tensor:
        """The attribute vector (d,) of ``name``: an attribute or its high name -> high - low; its low
        name -> low - high; a class c -> mean(z | c) - mean(z | not c) (from the class counts)."""
        attr = self._find(name, list(self.pairs))
        if attr is not None:
            hi, lo = self.pairs[attr]
            return self.centroid(hi) - self.centroid(lo)
        for hi, lo in self.pairs.values():
            if self._find(name, [hi]) is not None:
                return self.centroid(hi) - self.centroid(lo)
            if self._find(name, [lo]) is not None:
                return self.centroid(lo) - self.centroid(hi)
        cls = self._find(name, self.classes)
        if cls is not None:
            idx = [self.names.index(c) for c in self.classes]
            n = self.counts[idx].double()  # (C,)
            mu = self.centroids[idx].double()  # (C, d)
            k = self.classes.index(cls)
            rest = n.sum() - n[k]
            if rest <= 0:
                raise GenzooError(f"class {cls!r} holds every image: it has no 'not {cls}' group")
            other = ((n[:, None] * mu).sum(0) - n[k] * mu[k]) / rest
            return (mu[k] - other).float()
        raise GenzooError(f"unknown attribute {name!r}; the attributes file has: {self.known()}")

    def attribute_of(self, name: str) -> tuple[str, float] | None:
        """(attribute, +1 or -1) for an attribute, its high or its low name; None for anything else."""
        attr = self._find(name, list(self.pairs))
        if attr is not None:
            return attr, 1.0
        for a, (hi, lo) in self.pairs.items():
            if self._find(name, [hi]) is not None:
                return a, 1.0
            if self._find(name, [lo]) is not None:
                return a, -1.0
        return None


def group_means(
    z: torch.Tensor, groups: dict[str, torch.Tensor]
) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """Means of codes z (N, d) over boolean masks (N,) by name: (names, centroids (K, d), counts (K,))."""
    names, means, counts = [], [], []
    for name, mask in groups.items():
        k = int(mask.sum())
        if k == 0:
            raise GenzooError(f"no image falls in the group {name!r}: its mean code is undefined")
        names.append(name)
        means.append(z[mask].double().mean(0).float())
        counts.append(k)
    return names, torch.stack(means), torch.tensor(counts, dtype=torch.long)


def attributes_from_codes(
    z: torch.Tensor,
    *,
    statistics: dict[str, torch.Tensor] | None = None,
    table: dict[str, torch.Tensor] | None = None,
    labels: torch.Tensor | None = None,
    class_names: Sequence[str] | None = None,
    meta: dict[str, Any] | None = None,
) -> Attributes:
    """Centroids of codes z (N, d) for every group given:

    - statistics: pixel statistic name -> values (N,); high/low = top/bottom quartile
      (centroid names from PIXEL_ATTRIBUTES, e.g. thick/thin);
    - table: attribute -> high mask (N,) bool, every other image low ("Smiling"/"not-Smiling");
    - labels (N,) long with class_names: one centroid per class that has images."""
    groups: dict[str, torch.Tensor] = {}
    pairs: dict[str, tuple[str, str]] = {}
    classes: list[str] = []
    for stat, s in (statistics or {}).items():
        hi_name, lo_name = PIXEL_ATTRIBUTES.get(stat, (f"high-{stat}", f"low-{stat}"))
        if float(s.max() - s.min()) <= 0:
            raise GenzooError(f"the pixel statistic {stat} is the same for every image: no attribute")
        groups[hi_name], groups[lo_name] = quartile_groups(s)
        pairs[stat] = (hi_name, lo_name)
    for attr, high in (table or {}).items():
        high = high.bool()
        if bool(high.all()) or not bool(high.any()):
            which = "every" if bool(high.all()) else "no"
            raise DataError(f"attribute {attr!r} is 1 for {which} image used: it has no high and low group")
        groups[attr], groups[f"not-{attr}"] = high, ~high
        pairs[attr] = (attr, f"not-{attr}")
    if labels is not None:
        labels = labels.long()
        k = int(labels.max()) + 1 if len(labels) else 0
        names = list(class_names) if class_names and len(class_names) >= k else [str(i) for i in range(k)]
        for c in range(len(names)):
            mask = labels == c
            if bool(mask.any()):
                if names[c] in groups:
                    raise GenzooError(f"class name {names[c]!r} is also an attribute name")
                groups[names[c]] = mask
                classes.append(names[c])
    if not groups:
        raise GenzooError("no attribute groups: give pixel statistics, a table or class labels")
    names, cents, counts = group_means(z, groups)
    md = {k: str(v) for k, v in (meta or {}).items()}
    return Attributes(tuple(names), cents, counts, pairs, tuple(classes), md)


# ------------------------------------------------------------------------------- codes of models
def can_sample_latent(model: object) -> bool:
    """True for a model with a latent space to draw from and decode (the Decoder capability)."""
    return caps.has(model, Capability.DECODER)


def check_latent(model: object, what: str = "attribute vectors") -> None:
    """A GenzooError unless the model has codes to move (the Decoder capability: every encoder, GANs)."""
    caps.require(model, Capability.DECODER, what)


def latent_dim(model: Any) -> int:
    """The size d of a model's codes (Decoder contract; a flow's is the data's size)."""
    check_latent(model, "a latent size")
    return int(model.latent_dim)


def decode_codes(model: Any, z: torch.Tensor, y: Any = None, batch: int = 500) -> torch.Tensor:
    """Images of codes z (N, d): decode(z) of any Decoder (G(z) of a GAN); (N, *shape).
    A class-conditional model needs labels y (an int or (N,))."""
    return latent.decode(model, z, y, batch)


@torch.no_grad()
def sampled_codes(
    model: Any,
    n: int,
    seed: int = 0,
    classify: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """For a GAN: n latents z ~ N(0, I) (seeded), the images G(z) and their labels: the drawn
    labels of a conditional model, else ``classify(images)`` (class indices (n,)) if given, else None."""
    check_latent(model, "sampled latents")
    seeds = list(range(seed, seed + n))  # per-sample seeds: latent i and its label from seed + i alone
    z = model.sample_latent(n, seeds=seeds).cpu()
    y = model.sample_labels(seeds, None)
    x = decode_codes(model, z, y)
    if y is None and classify is not None:
        y = classify(x)
    return z, x, y


def weights_fingerprint(model: Any) -> str:
    """sha256 (16 hex digits) of a model's state dict: which weights an attributes file belongs to."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


# ------------------------------------------------------------------------------ the whole recipe
def compute_attributes(
    model: Any,
    x: torch.Tensor | None = None,
    y: torch.Tensor | None = None,
    *,
    source: str = "pixels",
    table: dict[str, torch.Tensor] | None = None,
    class_names: Sequence[str] | None = None,
    n: int = 10000,
    seed: int = 0,
    classify: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> Attributes:
    """Attribute centroids of a model's codes.

    A model that can encode: the codes of images x (N, *shape) (labels y (N,) or None), at most n of
    them (a seeded subset). A GAN: n sampled latents and G(z) (``sampled_codes``; labels from a
    conditional model or ``classify``). source: ``pixels`` (pixel statistics, plus class centroids when
    there are labels), ``labels`` (class centroids only) or ``table`` (``table``: attribute -> high
    mask (N,) over x, plus class centroids when there are labels)."""
    check_latent(model)
    if source not in ("pixels", "labels", "table"):
        raise ConfigError(f"unknown attribute source {source!r}; use pixels, labels or a table")
    if latent.can_encode(model):
        if x is None:
            raise GenzooError(f"{model.model_type} encodes images: give the images x")
        if len(x) > n:
            keep = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n].sort().values
            x, y = x[keep], None if y is None else y[keep]
            table = None if table is None else {k: v[keep] for k, v in table.items()}
        yz = y if conditional.is_conditional(model) else None
        if conditional.is_conditional(model) and y is None:
            raise GenzooError(f"{model.model_type} encodes with class labels; these images have none")
        z = latent.latent_codes(model, x, yz)
        how = "codes of images"
    else:
        if source == "table":
            raise GenzooError(
                f"{model.model_type} cannot encode images, so a table of image attributes does not apply"
            )
        z, x, y = sampled_codes(model, n, seed, classify)
        how = "sampled latents"
    if conditional.is_conditional(model):  # its codes carry no class (y is given to the decoder)
        if source == "labels":
            raise GenzooError(
                f"{model.model_type} is class-conditional: its codes carry no class, so class centroids do not apply"
            )
        y = None
    if source == "labels" and y is None:
        raise GenzooError("--from labels needs class labels, and these images have none")
    if len(z) < 4:
        raise GenzooError(f"attribute vectors need at least 4 images, got {len(z)}")
    meta = {
        "source": source,
        "model_type": latent.model_kind(model),
        "weights": weights_fingerprint(model),
        "codes": how,
        "images": len(z),
        "rule": "pixels: top vs bottom quartile; table: 1 vs -1/0; labels: class means",
    }
    return attributes_from_codes(
        z,
        statistics=pixel_statistics(x) if source == "pixels" else None,
        table=table if source == "table" else None,
        labels=y,
        class_names=class_names,
        meta=meta,
    )
