"""Graceful stops: SIGINT (Ctrl-C) and SIGTERM (a scheduler, ``timeout``) ask training to stop.

While training, a signal only sets a flag; the trainer finishes the step it is in, writes a
checkpoint at that step and raises ``TrainingStopped`` with exit code 128 + signal number (130
for SIGINT, 143 for SIGTERM). Further signals while stopping are ignored with a note: under
``torchrun`` a Ctrl-C reaches each worker twice (from the terminal and forwarded by torchrun), so
a second signal cannot mean "abort"; SIGKILL still does, and leaves the last complete checkpoint.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType, TracebackType

HANDLED = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """Context manager: while active, SIGINT/SIGTERM set ``signum`` instead of killing the process.

    Only the main thread can own signal handlers; elsewhere (a training call from a worker thread)
    this does nothing and signals keep their usual effect.
    """

    def __init__(self, announce: bool = True) -> None:
        self.signum: int | None = None
        self.announce = announce
        self._previous: dict[int, object] = {}

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.signum is None:
            self.signum = signum
            if self.announce:
                print(
                    f"\ngenzoo: {name} received; finishing this step and writing a checkpoint",
                    file=sys.stderr,
                    flush=True,
                )
        elif self.announce:
            print(f"genzoo: {name} again; already stopping (SIGKILL aborts at once)", file=sys.stderr)

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for s in HANDLED:
                self._previous[s] = signal.signal(s, self._handler)
        return self

    def __exit__(
        self, tp: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for s, h in self._previous.items():
            signal.signal(s, h)  # type: ignore[arg-type]
        self._previous.clear()

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def exit_code(self) -> int:
        return 128 + int(self.signum or 0)

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum else "a stop request"
