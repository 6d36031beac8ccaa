"""Command-line interface: a dispatcher over one module per group of commands.

Each command module (``info``, ``train``, ``images``, ``latent``, ``evaluate``, and the applications'
``detect``, ``retrieve``, ``attributes``, ``fewlabels``) has ``add_parsers(sub)``,
which adds its subcommands and sets ``handler`` on each; ``run`` calls the handler of the
command given. A new command is added in its module (or a new module listed in ``COMMANDS``).
Training options are generated from the config dataclasses (see ``options``): model and
training fields are flat (``--latent-dim 16``, ``--steps``), data fields prefixed (``--data
mnist --data-root DIR``); ``--config`` takes a run's ``config.json`` and flags override it.
"""

from __future__ import annotations

import argparse
import sys

from genzoo import __version__
from genzoo.cli import (
    attributes,
    detect,
    evaluate,
    fewlabels,
    generate,
    images,
    info,
    latent,
    retrieve,
    train,
)
from genzoo.errors import GenzooError, TrainingStopped

COMMANDS = (
    info,
    train,
    images,
    generate,
    latent,
    evaluate,
    detect,
    retrieve,
    attributes,
    fewlabels,
)  # modules with add_parsers(sub), in help order


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="genzoo",
        allow_abbrev=False,
        description="Classic deep generative models: train, sample, reconstruct, evaluate.",
    )
    p.add_argument("--version", action="version", version=f"genzoo {__version__}")
    p.add_argument("--debug", action="store_true", help="show full tracebacks")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.add_parsers(sub)
    return p


def run(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args) or 0


def main(argv: list[str] | None = None) -> int:
    """Run a command: 0 on success; for bad input, data or checkpoints one line ``genzoo: error:
    ...`` on stderr and 2 (a traceback only with --debug); after a signal stop of training, its
    message and 128 + the signal."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        return run(argv)
    except TrainingStopped as e:  # not an error: the run was checkpointed and can be resumed
        if str(e):  # other ranks of a distributed run stop silently; rank 0 speaks for all
            print(f"genzoo: {e}", file=sys.stderr)
        return e.exit_code
    except GenzooError as e:
        if debug:
            raise
        print(f"genzoo: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a file system problem the checks could not foresee (permissions, disk full)
        if debug:
            raise
        print(f"genzoo: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("genzoo: interrupted; the last checkpoint is kept", file=sys.stderr)
        return 130
