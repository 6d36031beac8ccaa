"""Progress of the library's long loops, on stderr, for the command line.

Silent unless switched on: ``genzoo.cli.main`` switches it on for the command it runs, so Python
callers of the library see nothing unless they ask (``with progress.enabled(): ...``). When on, a
loop that knows its total shows a tqdm bar if stderr is a terminal, else a plain line about every
``interval`` seconds::

    genzoo: eval likelihood 3,000/10,000 images, about 2 min left

and, timed on its first chunk, a loop expected to take a while says up front what it will do::

    genzoo: IWAE k=1000 on 10,000 images: about 4 min; --n to use fewer

Only the outermost running loop reports (sampling inside ``augment`` stays quiet). Nothing goes
to stdout, so results and ``--json`` stay clean. ``$GENZOO_PROGRESS``: ``off`` silences the
command line; a number sets the interval in seconds (default 10).

    with progress.task(len(x), "eval likelihood", "images", hint="--n to use fewer") as p:
        for chunk in x.split(500):
            ...
            p.update(len(chunk))

    for chunk in progress.track(x.split(500), len(x), "anomaly scores", size=len):
        ...
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from time import monotonic
from typing import Any, TextIO, TypeVar

from tqdm import tqdm

T = TypeVar("T")
DEFAULT_INTERVAL = 10.0  # seconds between plain lines (stderr not a terminal)


@dataclass
class _Settings:
    on: bool = False
    interval: float = DEFAULT_INTERVAL
    stream: TextIO | None = None  # None: sys.stderr when written (pytest swaps it)
    clock: Callable[[], float] = field(default=monotonic)
    tty: bool | None = None  # None: ask the stream
    depth: int = 0  # running reporting loops (only the outermost one reports)


_settings = _Settings()


@contextmanager
def enabled(
    on: bool = True,
    *,
    interval: float | None = None,
    stream: TextIO | None = None,
    clock: Callable[[], float] | None = None,
    tty: bool | None = None,
) -> Iterator[None]:
    """Switch progress reports on (or off) inside the block; the previous settings come back after.
    ``clock`` (seconds) and ``tty`` are for tests."""
    s = _settings
    old = (s.on, s.interval, s.stream, s.clock, s.tty, s.depth)
    s.on, s.depth = on, 0  # a loop left open by an error elsewhere does not silence this block
    s.interval = s.interval if interval is None else float(interval)
    s.stream, s.clock, s.tty = stream, clock or monotonic, tty
    try:
        yield
    finally:
        s.on, s.interval, s.stream, s.clock, s.tty, s.depth = old


def from_environment(env: dict[str, str] | None = None) -> dict[str, Any]:
    """The command line's settings from $GENZOO_PROGRESS: ``off``/``0``/``no`` silences, a number
    is the interval of plain lines in seconds; unset or anything else: on, every 10 s."""
    value = (os.environ if env is None else env).get("GENZOO_PROGRESS", "").strip().lower()
    if value in ("off", "0", "no", "false"):
        return {"on": False}
    try:
        return {"on": True, "interval": max(0.0, float(value))}
    except ValueError:
        return {"on": True}


def duration(seconds: float) -> str:
    """A rough human duration: '20 s', '4 min', '1.5 h'."""
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def _stream() -> TextIO:
    return _settings.stream or sys.stderr


def _is_tty(stream: TextIO) -> bool:
    if _settings.tty is not None:
        return _settings.tty
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Task:
    """One loop's progress; ``update(n)`` after each chunk of n units. Silent unless reports are
    on and no other loop is reporting. ``what`` (default "DESC on TOTAL UNIT") and ``hint`` make
    the up-front line, written after the first chunk when the rest looks longer than half an
    interval."""

    def __init__(
        self, total: int, desc: str, unit: str = "images", *, what: str | None = None, hint: str | None = None
    ) -> None:
        self.total, self.desc, self.unit, self.hint, self.done = int(total), desc, unit, hint, 0
        self.what = what or f"{desc} on {self.total:,} {unit}"
        self.active = _settings.on and _settings.depth == 0 and self.total > 0
        self.bar: tqdm | None = None
        if self.active:
            _settings.depth += 1
            self.t0 = self.last = _settings.clock()
            stream = _stream()
            if _is_tty(stream):
                self.bar = tqdm(total=self.total, desc=desc, unit=f" {unit}", file=stream, leave=False)

    def _write(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line, file=_stream())
        else:
            print(line, file=_stream(), flush=True)

    def update(self, n: int = 1) -> None:
        first = self.done == 0
        self.done += n
        if not self.active:
            return
        if self.bar is not None:
            self.bar.update(n)
        now = _settings.clock()
        elapsed = now - self.t0
        left = elapsed / self.done * max(0, self.total - self.done)
        if first:
            if self.done < self.total and left >= _settings.interval / 2:
                hint = f"; {self.hint}" if self.hint else ""
                self._write(f"genzoo: {self.what}: about {duration(elapsed + left)}{hint}")
            self.last = now
        elif self.bar is None and self.done < self.total and now - self.last >= _settings.interval:
            self.last = now
            self._write(
                f"genzoo: {self.desc} {self.done:,}/{self.total:,} {self.unit}, about {duration(left)} left"
            )

    def close(self) -> None:
        if self.active:
            self.active = False
            _settings.depth -= 1
            if self.bar is not None:
                self.bar.close()

    def __enter__(self) -> Task:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def task(
    total: int, desc: str, unit: str = "images", *, what: str | None = None, hint: str | None = None
) -> Task:
    """A ``Task`` to use as a context manager: ``with task(n, "eval likelihood") as p: ... p.update(b)``."""
    return Task(total, desc, unit, what=what, hint=hint)


def track(
    items: Iterable[T],
    total: int,
    desc: str,
    unit: str = "images",
    *,
    size: Callable[[T], int] | None = None,
    what: str | None = None,
    hint: str | None = None,
) -> Iterator[T]:
    """Yield ``items``, counting ``size(item)`` units (1 without ``size``) once each is processed."""
    with Task(total, desc, unit, what=what, hint=hint) as p:
        for item in items:
            yield item
            p.update(size(item) if size else 1)
