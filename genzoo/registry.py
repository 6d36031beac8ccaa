"""Model registry: name -> model class (which names its own config class).

Used by the CLI, ``genzoo.load`` and the conformance tests instead of an if/elif chain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from genzoo import names
from genzoo.errors import ConfigError

if TYPE_CHECKING:
    from genzoo.models.base import GenerativeModel

_MODELS: dict[str, type[GenerativeModel]] = {}
M = TypeVar("M")


def register(cls: M) -> M:
    """Class decorator: make a model available under ``cls.model_type``."""
    name = cls.model_type  # type: ignore[attr-defined]
    if name in _MODELS and _MODELS[name] is not cls:
        raise RuntimeError(f"model type {name!r} registered twice")
    _MODELS[name] = cls  # type: ignore[assignment]
    return cls


def _ensure_loaded() -> None:
    import genzoo.models  # noqa: F401  (importing registers the built-in families)


def canonical_name(name: str) -> str:
    """The registered name of model ``name``, matched up to case and ``_``/``-`` (``VAE``,
    ``beta_vae``); an unknown one is a ConfigError that offers the close names (``vea``: vae)."""
    _ensure_loaded()
    found = names.match(name, _MODELS)
    if found is None:
        raise ConfigError(names.unknown("model", name, list_models()))
    return found


def get_model_class(name: str) -> type[GenerativeModel]:
    return _MODELS[canonical_name(name)]


def list_models() -> list[str]:
    _ensure_loaded()
    return sorted(_MODELS)


def model_classes() -> dict[str, type[GenerativeModel]]:
    """Every registered family: name -> model class, sorted by name."""
    _ensure_loaded()
    return {name: _MODELS[name] for name in sorted(_MODELS)}
