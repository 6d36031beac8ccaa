"""genzoo: the classic deep generative models with one API and one CLI."""

from __future__ import annotations

__version__ = "0.1.0"

from pathlib import Path  # noqa: E402


def load(path: str | Path, ema: bool | None = None, which: str = "latest"):
    """Load a saved model or a run's checkpoint: its latest, or with ``which="best"`` the one kept
    by ``--select-by`` (EMA weights by default when present)."""
    from genzoo import io
    from genzoo.registry import get_model_class

    mdir = io.resolve_model_dir(path, which)
    cfg = io.read_config(mdir)
    return get_model_class(cfg["model_type"]).load(mdir, ema=ema)


def list_models() -> list[str]:
    from genzoo.registry import list_models as _list

    return _list()


def __getattr__(name: str):
    """``genzoo.Run``, imported when first used (so that ``import genzoo`` stays cheap)."""
    if name == "Run":
        from genzoo.run import Run

        return Run
    raise AttributeError(f"module 'genzoo' has no attribute {name!r}")


__all__ = ["Run", "__version__", "list_models", "load"]
