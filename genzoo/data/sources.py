"""Data-source registry: name -> (loader, description, kind, which data options apply).

Each source module (digits, idx, folder, toy2d, timeseries) registers its sources when it is
imported, as the model families do (``genzoo.registry``); ``load_dataset``, the checks of a
``DataConfig`` and ``genzoo datasets`` ask this registry instead of chains over dataset names.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from genzoo import names as genzoo_names  # (names() below lists the sources)
from genzoo.errors import ConfigError

if TYPE_CHECKING:
    from genzoo.data.base import DataConfig
    from genzoo.data.types import TensorData

# the DataConfig fields a source may read besides those every source honours (limit, classes,
# and for images image_size, channels, binarize)
SOURCE_OPTIONS = ("path", "window", "stride", "n_points")


@dataclass(frozen=True)
class Source:
    name: str
    # (cfg, split, root=, download=, mirrors=) -> the whole split; root (the data root, resolved),
    # download and mirrors matter to the downloaded sets (mnist, fashion-mnist) only
    load: Callable[..., TensorData]
    description: str
    kind: Literal["images", "points", "series"]
    options: tuple[str, ...] = ()  # of SOURCE_OPTIONS, the fields this source reads
    needs: tuple[str, ...] = ()  # of options, those it cannot do without (csv: path)
    shape: tuple[int, ...] | None = None  # per-example shape as stored (None: depends on the files)
    classes: int | None = None
    present: Callable[[Path], bool] = lambda root: True  # usable without a download (data root given)
    converts_itself: bool = False  # image_size/channels applied by the loader as it reads (folder)

    def row(self, root: Path) -> dict[str, Any]:
        """The row of ``genzoo datasets``: name, shape, classes, description, present."""
        return dict(
            name=self.name,
            shape=self.shape,
            classes=self.classes,
            description=self.description,
            present=self.present(root),
        )


_SOURCES: dict[str, Source] = {}
_MODULES = ("digits", "idx", "folder", "toy2d", "timeseries")  # in the order `genzoo datasets` lists


def register(*sources: Source) -> None:
    """Make data sources available under their names."""
    for s in sources:
        if s.name in _SOURCES and _SOURCES[s.name] != s:
            raise RuntimeError(f"data source {s.name!r} registered twice")
        bad = [o for o in s.options if o not in SOURCE_OPTIONS]
        if bad or not set(s.needs) <= set(s.options):
            raise RuntimeError(f"data source {s.name!r}: bad options {s.options} / needs {s.needs}")
        _SOURCES[s.name] = s


def _ensure_loaded() -> None:
    import importlib

    for m in _MODULES:
        importlib.import_module(f"genzoo.data.{m}")  # importing registers the module's sources


def get_source(name: str) -> Source:
    """The source named ``name`` (see ``canonical_name``); an unknown name is one ConfigError
    offering the close names and listing the registered ones."""
    return _SOURCES[canonical_name(name)]


def canonical_name(name: str) -> str:
    """The registered name of dataset ``name``, matched up to case and ``_``/``-`` (``MNIST``,
    ``fashion_mnist``); an unknown one is a ConfigError that offers the close names."""
    _ensure_loaded()
    found = genzoo_names.match(name, _SOURCES)
    if found is None:
        raise ConfigError(
            genzoo_names.unknown("dataset", name, [s.name for s in sources()], "known datasets")
        )
    return found


def canonical(cfg: DataConfig) -> DataConfig:
    """``cfg`` with its dataset under the registered name (what a run's config records)."""
    name = canonical_name(cfg.name)
    return cfg if name == cfg.name else dataclasses.replace(cfg, name=name)


def sources() -> list[Source]:
    """Every registered source: the built-in modules' in ``_MODULES`` order, then any other."""
    _ensure_loaded()

    def rank(s: Source) -> int:
        module = getattr(s.load, "__module__", "").rsplit(".", 1)[-1]
        return _MODULES.index(module) if module in _MODULES else len(_MODULES)

    return sorted(_SOURCES.values(), key=rank)  # stable: a module's sources in its own order


def names(*, reading: str | None = None, kind: str | None = None) -> tuple[str, ...]:
    """Names of the sources (that read option ``reading``, of ``kind``), in order."""
    return tuple(
        s.name
        for s in sources()
        if (reading is None or reading in s.options) and (kind is None or s.kind == kind)
    )


def load(cfg: DataConfig, split: str, **kw: Any) -> TensorData:
    return get_source(cfg.name).load(cfg, split, **kw)
