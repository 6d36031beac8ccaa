"""Forgiving names: a model or dataset named with other capitals or ``_`` for ``-`` (``MNIST``,
``fashion_mnist``, ``Beta_VAE``) is the registered one; a close typo gets "did you mean"."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def key(name: str) -> str:
    """The form names are compared in: lower case, ``-`` for ``_``, no surrounding spaces."""
    return name.strip().lower().replace("_", "-")


def match(name: str, known: Iterable[str]) -> str | None:
    """The registered name in ``known`` that ``name`` spells, up to case and ``_``/``-``; else None."""
    known = list(known)
    if name in known:
        return name
    return {key(k): k for k in known}.get(key(name))


def unknown(kind: str, name: str, known: Iterable[str], listing: str = "available") -> str:
    """One line for an unknown name: the closest (difflib's ratio, and any within 0.1 of it),
    then every known name."""
    known = list(known)
    asked = key(name)
    close = difflib.get_close_matches(asked, known, n=3, cutoff=0.6)
    ratio = {k: difflib.SequenceMatcher(None, asked, k).ratio() for k in close}
    close = [k for k in close if ratio[k] >= ratio[close[0]] - 0.1]  # the nearest, and any as near
    guess = f"did you mean {' or '.join(close)}? " if close else ""
    return f"unknown {kind} {name!r}; {guess}{listing}: {', '.join(known)}"
