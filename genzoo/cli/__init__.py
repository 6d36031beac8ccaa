"""Command-line interface: a dispatcher over one module per group of commands.

Each command module (``info``, ``train``, ``images``, ``latent``, ``evaluate``, and the applications'
``detect``, ``retrieve``, ``attributes``, ``fewlabels``) has ``add_parsers(sub)``,
which adds its subcommands and sets ``handler`` on each; ``run`` imports only the module of the
command given and calls its handler. A new command is added in its module and listed, with its
help line, in ``COMMANDS``.
Training options are generated from the config dataclasses (see ``options``): model and
training fields are flat (``--latent-dim 16``, ``--steps``), data fields prefixed (``--data
mnist --data-root DIR``); ``--config`` takes a run's ``config.json`` and flags override it.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from genzoo import __version__, progress
from genzoo.errors import GenzooError, TrainingStopped

# command -> (module in genzoo.cli that adds it, its one-line help), in help order. A module's
# commands are adjacent; a module is imported only when one of its commands runs (``genzoo
# --help`` imports none). tests/test_cli.py checks this table against what the modules add.
COMMANDS: dict[str, tuple[str, str]] = {
    "datasets": ("info", "list datasets and whether they are present locally"),
    "info": ("info", "config, steps, losses, data and version of a run"),
    "train": ("train", "train a model (see: genzoo train MODEL --help)"),
    "sample": ("images", "draw new examples from a model"),
    "progress": ("images", "a run's progress pictures side by side (.png) or as an animated GIF (.gif)"),
    "reconstruct": ("images", "originals above, reconstructions below"),
    "denoise": ("images", "clean / corrupted / restored rows"),
    "forward": (
        "generate",
        "the forward (noising) process q(x_t | x_{t-1}) on real test images, a row per image",
    ),
    "inpaint": ("generate", "fill a masked region of test images: rows original, masked, filled"),
    "interpolate": ("latent", "decoded paths between the codes of two test images"),
    "traverse": ("latent", "vary one latent dimension at a time"),
    "latent-map": ("latent", "2-D map of the test codes beside PCA of the pixels"),
    "eval": ("evaluate", "score a run (FID/KID/precision/recall, reconstruction) or a .npz of images"),
    "bench": ("evaluate", "train models for the same time budget, score them, write a table and a plot"),
    "download": ("evaluate", "fetch a dataset or the FID Inception weights (checksums checked)"),
    "anomaly": (
        "detect",
        "score test images as anomalies: AUROC/AUPRC per class, or against another dataset",
    ),
    "classify": ("detect", "the generative classifier p(y|x) by Bayes' rule, beside a discriminative one"),
    "retrieve": ("retrieve", "nearest neighbours of test images in a model's code space"),
    "attributes": ("attributes", "attribute vectors: mean codes of images with and without an attribute"),
    "arithmetic": ("attributes", "decode a sum of named mean codes, e.g. '7 + thick - thin'"),
    "edit": ("attributes", "slide a test image's code along an attribute vector"),
    "pretrain-eval": (
        "fewlabels",
        "few labels: fine-tuned pre-trained encoder vs scratch vs logistic regression on codes",
    ),
    "augment": ("fewlabels", "few labels: a classifier on real data vs real + class-conditional samples"),
    "explore": (
        "explore",
        "explore models in the browser: sliders with locks, interpolation, prompts, diffusion",
    ),
    "lab": ("lab", "train the four lab models (ae, dae, vae, dcgan) on digits; write one HTML report"),
    "export": (
        "export",
        "a model's decoder, encoder, generator, flow inverse or denoiser as ONNX (checked with onnxruntime)",
    ),
}


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are the one line that matters and a pointer to --help
    (as git and cargo do), not the usage block; exit status 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\nsee '{self.prog} --help'\n")


def build_parser(only: str | None = None, *, lazy: bool = False) -> argparse.ArgumentParser:
    """The whole parser; with ``lazy``, only the module of command ``only`` (None: no module) is
    imported, and the other commands are listed by their help line."""
    p = Parser(
        prog="genzoo",
        allow_abbrev=False,
        description="Classic deep generative models: train, sample, reconstruct, evaluate.",
    )
    p.add_argument("--version", action="version", version=f"genzoo {__version__}")
    p.add_argument("--debug", action="store_true", help="show full tracebacks")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    wanted = COMMANDS[only][0] if only in COMMANDS else None
    loaded: set[str] = set()
    for name, (module, help_) in COMMANDS.items():
        if name in sub.choices:
            continue  # added by its module with an earlier command
        if not lazy or module == wanted:
            if module not in loaded:
                importlib.import_module(f"genzoo.cli.{module}").add_parsers(sub)
                loaded.add(module)
        else:
            sub.add_parser(name, help=help_)  # listed in the help; never run (its module is not loaded)
    return p


def command_of(argv: list[str]) -> str | None:
    """The command named in ``argv`` (the first word not an option), None if none is known."""
    for a in argv:
        if not a.startswith("-"):
            return a if a in COMMANDS else None
    return None


def run(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = command_of(argv)
    if command == "train":  # the model is a subcommand: forgive its case, offer close names
        from genzoo.cli.train import canonical_model

        argv = canonical_model(argv)
    args = build_parser(command, lazy=True).parse_args(argv)
    return args.handler(args) or 0


def main(argv: list[str] | None = None) -> int:
    """Run a command: 0 on success; for bad input, data or checkpoints one line ``genzoo: error:
    ...`` on stderr and 2 (a traceback only with --debug); after a signal stop of training, its
    message and 128 + the signal."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        with progress.enabled(**progress.from_environment()):  # long loops report on stderr
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
