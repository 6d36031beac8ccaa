"""``genzoo explore``: serve the explorer page for some runs (``genzoo.explore``)."""

from __future__ import annotations

import argparse
import ipaddress
import sys
from pathlib import Path

from genzoo.cli.options import positive_int
from genzoo.errors import GenzooError

LOCAL = ("127.0.0.1", "localhost", "::1")


def add_parsers(sub) -> None:
    c = sub.add_parser(
        "explore",
        help="explore models in the browser: sliders with locks, interpolation, prompts, diffusion",
        description="Start a local web page for trained runs: samples by seed, reconstructions, a "
        "slider per latent dimension and per attribute (with lock toggles), interpolation, class "
        "prompts, diffusion's trajectory as it is computed, inpainting with a brush, likelihood and "
        "the training history. With no RUN, the runs under ./runs. Needs the explore extra: "
        "pip install 'genzoo[explore]'.",
    )
    c.add_argument(
        "runs",
        nargs="*",
        type=Path,
        metavar="RUN",
        help="run directories or saved models (default: ./runs/*)",
    )
    c.add_argument(
        "--host",
        type=host,
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1, this machine only)",
    )
    c.add_argument("--port", type=port, default=8000, help="port (default 8000; 0 picks a free one)")
    c.add_argument(
        "--queue", type=positive_int, default=8, metavar="N", help="requests a model keeps waiting before 429"
    )
    c.add_argument(
        "--threads",
        type=positive_int,
        default=1,
        help="torch threads (default 1: a slider's small decode is fastest on one, measured in docs/explorer.md)",
    )
    c.set_defaults(handler=cmd_explore)


def host(text: str) -> str:
    """An IP address or localhost."""
    if text != "localhost":
        try:
            ipaddress.ip_address(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not an IP address (e.g. 127.0.0.1) or localhost"
            ) from None
    return text


def port(text: str) -> int:
    """A TCP port, 0..65535 (0: a free one)."""
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number in 0..65535")
    return int(text)


def cmd_explore(args: argparse.Namespace) -> None:
    try:
        import uvicorn

        from genzoo.explore import create_app, find_runs
    except ImportError as e:
        raise GenzooError(
            f"genzoo explore needs the explore extra ({e.name} is missing): pip install 'genzoo[explore]'"
        ) from None
    runs = list(args.runs) or find_runs("runs")
    if not runs:
        raise GenzooError(
            "no runs to explore under ./runs; train one first, e.g. `genzoo train vae --data digits --steps 2000`, "
            "or `make demo`, or name a run: genzoo explore RUN"
        )
    if args.host not in LOCAL:
        print(
            f"genzoo: warning: listening on {args.host}: anyone who can reach this machine can use the models",
            file=sys.stderr,
        )
    import torch

    torch.set_num_threads(args.threads)
    app = create_app(runs, max_queue=args.queue)
    names = ", ".join(r.name for r in app.state.explorer.runs.values())
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning")
    server = uvicorn.Server(config)
    host = f"[{args.host}]" if ":" in args.host else args.host

    async def announce() -> None:  # the address once the socket is bound (port 0: the one chosen)
        import asyncio

        while not server.started:
            await asyncio.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1] if server.servers else args.port
        print(f"exploring {names}\nopen http://{host}:{port}/  (Ctrl-C to stop)", flush=True)

    async def serve() -> None:
        import asyncio

        task = asyncio.create_task(announce())
        await server.serve()
        task.cancel()

    import asyncio

    asyncio.run(serve())
