"""Class-conditional models: the one helper that the CLI and the apps ask.

A model is class-conditional when it declares ``num_classes`` (and ``class_names``) and its
``sample`` takes labels ``y``; no ``isinstance`` on model families. ``--class`` of ``genzoo
sample`` (shared by every conditional family) is resolved here, so Python users get the same
parsing: an index, a class name (case-insensitive), or ``all``.
"""

from __future__ import annotations

import torch

from genzoo.errors import GenzooError


def is_conditional(model: object) -> bool:
    return getattr(model, "num_classes", None) is not None


def class_indices(model: object, spec: str) -> list[int]:
    """The classes named by ``spec``: 'all', an index, or a class name; a clear error otherwise."""
    if not is_conditional(model):
        kind = getattr(model, "model_type", type(model).__name__)
        raise GenzooError(f"{kind} is not class-conditional; --class needs a conditional model such as cvae")
    names = list(getattr(model, "class_names", ()) or [str(i) for i in range(model.num_classes)])
    text = spec.strip()
    if text.lower() == "all":
        return list(range(len(names)))
    lowered = [n.lower() for n in names]
    if text.lower() in lowered:
        return [lowered.index(text.lower())]
    if text.lstrip("-").isdigit() and 0 <= int(text) < len(names):
        return [int(text)]
    raise GenzooError(f"unknown class {spec!r}; the classes are: {', '.join(names)} (or all)")


def sample_rows(
    model: object, spec: str, per_class: int, generator: torch.Generator | None = None
) -> list[torch.Tensor]:
    """One row of ``per_class`` samples for each class named by ``spec``."""
    return [
        model.sample(per_class, generator=generator, y=torch.full((per_class,), c, dtype=torch.long))
        for c in class_indices(model, spec)
    ]
