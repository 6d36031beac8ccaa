"""A real explorer server on 127.0.0.1 in a background thread (uvicorn), for the browser and fuzz
tests and the explorer benchmark."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
# Chromium's own background connections are refused by a closed network, many at a time; these
# flags keep it quiet (see the workplace notes on headless Chromium)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextlib.contextmanager
def serving(runs: Sequence[str | Path], max_queue: int = 8) -> Iterator[str]:
    """The base URL of an explorer over ``runs`` on a free port of 127.0.0.1, stopped afterwards."""
    import uvicorn

    from genzoo.explore import create_app

    app = create_app(list(runs), max_queue=max_queue)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the explorer server did not start")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
