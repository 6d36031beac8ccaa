"""Typed config dataclasses <-> JSON, with strict checking of keys and types.

Every config in genzoo is a keyword-only dataclass of plain fields (int, float, bool, str,
``Literal[...]``, ``tuple[int, ...]`` and ``X | None``). This module is the single source of
truth for turning them into JSON and back, and the CLI builds its options from the same fields.
"""

from __future__ import annotations

import dataclasses
import types
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from genzoo.errors import ConfigError

T = TypeVar("T")
SECTIONS = ("model", "train", "data")  # the config sections of a run (config.json, --config, flags)


def field_types(cls: type) -> dict[str, Any]:
    """Resolved type hints of a config dataclass's fields, in declaration order."""
    hints = get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config (tuples become lists)."""
    out = {}
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        out[f.name] = list(v) if isinstance(v, tuple) else v
    return out


def split_optional(tp: Any) -> tuple[bool, Any]:
    """(True, X) for ``X | None``, else (False, tp)."""
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(get_args(tp)) == 2:
            return True, args[0]
    return False, tp


def coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against type ``tp`` (converting lists to tuples); ConfigError if it fails."""
    optional, inner = split_optional(tp)
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{where} must not be null")
    tp = inner
    origin = get_origin(tp)
    if origin is Literal:
        choices = get_args(tp)
        if value not in choices:
            raise ConfigError(f"{where} must be one of {list(choices)}, got {value!r}")
        return value
    if origin is tuple:
        item_tp = get_args(tp)[0]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where} must be a list, got {value!r}")
        return tuple(coerce(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config field type {tp!r} at {where}")  # a programming error


def from_dict(cls: type[T], data: dict[str, Any] | None, what: str = "config") -> T:
    """Build config ``cls`` from a JSON dict; unknown or ill-typed keys are a ConfigError."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{what} must be a JSON object, got {type(data).__name__} {data!r:.40}")
    data = dict(data)
    types_ = field_types(cls)
    unknown = sorted(set(data) - set(types_))
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in {what}; known keys: {', '.join(types_)}")
    kwargs = {k: coerce(v, types_[k], f"{what}.{k}") for k, v in data.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"invalid {what}: {e}") from e


def replace(cfg: T, **changes: Any) -> T:
    """A checked copy of ``cfg`` with some fields changed (the original is never mutated)."""
    merged = to_dict(cfg) | changes
    return from_dict(type(cfg), merged, type(cfg).__name__)


def diff(a: Any, b: Any) -> dict[str, tuple[Any, Any]]:
    """Fields whose values differ between two configs of the same class."""
    da, db = to_dict(a), to_dict(b)
    return {k: (da[k], db[k]) for k in da if da[k] != db[k]}


__all__ = ["coerce", "diff", "field_types", "from_dict", "replace", "to_dict"]
