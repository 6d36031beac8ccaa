"""``genzoo explore``: every capability of a trained model as a local web page (sliders with lock
toggles, interpolation, class prompts, diffusion's streamed trajectory, inpainting with a brush,
likelihood, training history). ``create_app(runs)`` returns the ASGI app; ``genzoo.explore.serve``
runs it with uvicorn. Needs the ``explore`` extra (starlette, uvicorn)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.applications import Starlette


def create_app(runs: Any, *, max_queue: int = 8) -> Starlette:
    """The explorer's ASGI app over ``runs`` (run or saved-model directories)."""
    from genzoo.explore.app import create_app as make

    return make(runs, max_queue=max_queue)


def find_runs(root: str | Path = "runs", depth: int = 2) -> list[Path]:
    """Run (or saved-model) directories under ``root``, ``depth`` levels down, sorted."""
    from genzoo.errors import GenzooError
    from genzoo.run import Run

    root = Path(root)
    found: list[Path] = []
    level = [root] if root.is_dir() else []
    for _ in range(depth):
        nxt = []
        for d in level:
            for sub in sorted(p for p in d.iterdir() if p.is_dir()):
                try:
                    Run(sub)
                except GenzooError:
                    nxt.append(sub)
                else:
                    found.append(sub)
        level = nxt
    return found


__all__ = ["create_app", "find_runs"]
