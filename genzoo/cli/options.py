"""Options shared by several commands: config dataclass fields as flags, data and feature options,
and the iterative samplers' --sampler/--steps/... (sample, eval, bench, inpaint).

Model fields are flat (``--latent-dim 16``), training fields too (``--steps``), and data fields
are prefixed (``--data mnist --data-root DIR``); one option per dataclass field, so a field added
to a config is a flag without further edits.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from genzoo import config as cfgio
from genzoo import sampling
from genzoo.data import DataConfig, TensorData, sources
from genzoo.errors import ConfigError
from genzoo.models.capabilities import ITERATIVE_OPTIONS

SECTIONS = cfgio.SECTIONS


def flag(section: str, name: str) -> str:
    """The option of a config field: ``--latent-dim`` (model, train) or ``--data-root`` (data)."""
    if section == "data":
        return "--data" if name == "name" else "--data-" + name.replace("_", "-")
    return "--" + name.replace("_", "-")


def _number(kind: type) -> Any:
    """argparse type: an int or a float, with a message that says which was expected."""

    def parse(s: str) -> Any:
        try:
            return kind(s)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {what}, got {s!r}") from None

    parse.__name__ = kind.__name__
    return parse


whole_number = _number(int)  # argparse type: any int, e.g. a seed


def _parser_type(tp: Any):
    """The argparse type of a config field: numbers, comma-separated tuples, 'none' for optionals."""
    optional, inner = cfgio.split_optional(tp)
    if get_origin(inner) is tuple:
        item = _number(get_args(inner)[0])

        def parse_tuple(s: str) -> tuple:
            try:
                return tuple(item(v) for v in s.split(",") if v.strip())
            except argparse.ArgumentTypeError:
                what = "whole numbers" if item.__name__ == "int" else "numbers"
                raise argparse.ArgumentTypeError(f"expected comma-separated {what}, got {s!r}") from None

        parse_tuple.__name__ = f"{item.__name__}s"  # "ints", "floats"
        return parse_tuple
    base = _number(inner) if inner in (int, float) else str
    if not optional:
        return base

    def parse_optional(s: str) -> Any:
        return None if s.lower() == "none" else base(s)

    parse_optional.__name__ = base.__name__
    return parse_optional


def add_config_options(
    p: argparse.ArgumentParser, section: str, cls: type, dest: dict, defaults: dict | None = None
) -> None:
    """One option per dataclass field; ``dest`` maps argparse dest -> (section, field); ``defaults``:
    the values that replace the dataclass defaults in the help (a family's train_defaults)."""
    group = p.add_argument_group(f"{section} options ({cls.__name__})")
    for name, tp in cfgio.field_types(cls).items():
        option = flag(section, name)
        key = f"{section}__{name}"
        if key in dest or any(f == option for f in (flag(s, n) for s, n in dest.values())):
            raise RuntimeError(f"option {option} defined twice")  # a programming error
        dest[key] = (section, name)
        default = (defaults or {}).get(
            name, next(f.default for f in dataclasses.fields(cls) if f.name == name)
        )
        _, inner = cfgio.split_optional(tp)
        help_ = f"default: {default}"
        if inner is bool:
            group.add_argument(
                option, dest=key, action=argparse.BooleanOptionalAction, default=None, help=help_
            )
        elif get_origin(inner) is Literal:
            group.add_argument(option, dest=key, choices=get_args(inner), default=None, help=help_)
        else:
            if get_origin(inner) is tuple:
                help_ += " (comma-separated)"
            group.add_argument(
                option, dest=key, type=_parser_type(tp), default=None, help=help_, metavar=name.upper()
            )


def sections_from_args(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The config fields given on the command line, by section (fields not given are absent)."""
    out: dict[str, dict[str, Any]] = {s: {} for s in SECTIONS}
    for key, value in vars(args).items():
        if "__" in key and value is not None:
            section, name = key.split("__", 1)
            out[section][name] = value
    return out


def add_data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-root", default=None, help="where mnist/fashion-mnist live")
    p.add_argument("--data-path", default=None, help="folder dataset: the directory of real images")
    p.add_argument(
        "--data-image-size", type=whole_number, default=None, help="resize the real images to N x N"
    )
    p.add_argument("--data-channels", type=whole_number, default=None, help="real images as 1 or 3 channels")


def data_from_args(args: argparse.Namespace) -> DataConfig:
    return DataConfig(
        name=args.data,
        root=args.data_root,
        path=args.data_path,
        image_size=args.data_image_size,
        channels=args.data_channels,
    )


def dataset_name(s: str) -> str:
    """argparse type: a dataset's registered name, whatever its case or ``_``/``-`` (``MNIST``,
    ``fashion_mnist``); an unknown one is an error offering the close names."""
    try:
        return sources.canonical_name(s)
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def positive_int(s: str) -> int:
    """argparse type: a whole number >= 1 (a count of images, rows, evaluations)."""
    n = whole_number(s)
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {s!r}")
    return n


def non_negative_float(s: str) -> float:
    """argparse type: a finite number >= 0 (a noise scale such as --eta or --churn)."""
    x = _number(float)(s)
    if not (math.isfinite(x) and x >= 0):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {s!r}")
    return x


def _check_parents(path: Path, s: str) -> None:
    """Refuse a path below a file; missing folders are fine (the writers create them)."""
    for parent in path.parents:  # nearest first
        if parent.exists():
            if not parent.is_dir():
                raise argparse.ArgumentTypeError(f"cannot write {s!r}: {parent} is a file, not a folder")
            return


class OutputFile:
    """argparse type: a file to write; missing folders above it are created when it is written.
    An existing directory (unless ``directory_ok``: the command then names the file inside it), a
    path below a file, or a suffix other than ``suffixes`` is refused (before any work is done,
    so nothing is computed to be lost)."""

    def __init__(self, *suffixes: str, directory_ok: bool = False) -> None:
        self.suffixes = suffixes
        self.directory_ok = directory_ok
        self.__name__ = "file name"

    def __call__(self, s: str) -> Path:
        path = Path(s)
        ending = f" ending in {' or '.join(self.suffixes)}" if self.suffixes else ""
        if path.is_dir() and self.directory_ok:
            return path
        if path.is_dir():
            raise argparse.ArgumentTypeError(f"{s!r} is a directory; give a file name{ending}")
        if self.suffixes and path.suffix.lower() not in self.suffixes:
            raise argparse.ArgumentTypeError(f"cannot write {s!r}: expected a file name{ending}")
        _check_parents(path, s)
        return path


class OutputDir:
    """argparse type: a directory to create or write into; an existing file is refused."""

    __name__ = "directory"

    def __call__(self, s: str) -> Path:
        path = Path(s)
        if path.exists() and not path.is_dir():
            raise argparse.ArgumentTypeError(f"{s!r} is a file, not a directory")
        _check_parents(path, s)
        return path


def mirror_url(s: str) -> str:
    """argparse type: a base URL (http, https or file)."""
    if urllib.parse.urlsplit(s).scheme not in ("http", "https", "file"):
        raise argparse.ArgumentTypeError(
            f"expected a URL starting with http://, https:// or file://, got {s!r}"
        )
    return s


def image_count(s: str) -> int:
    """argparse type: a number of images to score (at least MIN_IMAGES)."""
    from genzoo.eval.evaluate import MIN_IMAGES

    try:
        n = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of images, got {s!r}") from None
    if n < MIN_IMAGES:
        raise argparse.ArgumentTypeError(f"at least {MIN_IMAGES} images are needed to score, got {n}")
    return n


def add_feature_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="cpu", help="where features are computed, e.g. cuda (default cpu)")
    p.add_argument(
        "--features",
        choices=("auto", "genzoo", "inception"),
        default="auto",
        help="feature network: the dataset's shipped one (genzoo), Inception-v3 with your weights, or auto "
        "(Inception if --inception-weights is given, else the shipped one if any, else Inception if its "
        "weights are found)",
    )
    p.add_argument(
        "--inception-weights",
        default=None,
        metavar="PATH",
        help="pytorch-fid's pt_inception-2015-12-05-6726825d.pth or a .safetensors with its tensors "
        "(default: $GENZOO_INCEPTION_WEIGHTS, else where `genzoo download inception` puts it)",
    )


def add_which(p: argparse.ArgumentParser) -> None:
    """``--which latest|best``: which checkpoint of a run a command loads."""
    p.add_argument(
        "--which",
        choices=("latest", "best"),
        default="latest",
        help="a run's latest checkpoint, or the best one kept by --select-by (default latest)",
    )


def add_run_and_png(
    p: argparse.ArgumentParser,
    run_help: str = "run directory or saved model",
    suffixes: tuple[str, ...] = (".png",),
    output_help: str = "PNG file to write (folders are created)",
) -> None:
    """The RUN argument, ``--which`` and ``-o/--output FILE.png`` (or another of ``suffixes``) of
    the commands that draw a model's pictures."""
    p.add_argument("run", type=Path, help=run_help)
    add_which(p)
    p.add_argument("-o", "--output", type=OutputFile(*suffixes), required=True, help=output_help)


def data_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """``--data``/``--data-root`` as the data overrides of ``genzoo.Run.data`` (None: the run's own)."""
    return {"name": args.data, "root": args.data_root}


def run_split(args: argparse.Namespace, split: str, whole: bool = False) -> tuple[TensorData, DataConfig]:
    """``genzoo.Run(args.run).data(split)`` with ``--which``/``--data``/``--data-root``, and its
    data settings: a split of the data the run was trained on, checked against the model's shape.
    ``whole``: every class and example of the split, even if training kept only some
    (``--data-classes``, ``--data-limit``): the test set of anomaly detection and classification."""
    from genzoo.run import Run

    run = Run(args.run)
    part = run.data(split, which=args.which, whole=whole, **data_overrides(args))
    return part, run.data_config(args.which, whole=whole, **data_overrides(args))


def add_run_data_options(p: argparse.ArgumentParser) -> None:
    """``--data``/``--data-root`` of the commands that read a run's own data (or another set)."""
    p.add_argument(
        "--data", type=dataset_name, default=None, help="dataset (default: the one the model was trained on)"
    )
    p.add_argument("--data-root", default=None)


def add_split_data_options(p: argparse.ArgumentParser) -> None:
    """``--data``/``--data-root``/``--split`` of the commands that draw pictures of test images."""
    add_run_data_options(p)
    p.add_argument("--split", choices=("train", "test"), default="test")


def step_list(s: str) -> list[int]:
    """argparse type: comma-separated training steps (whole numbers >= 0)."""
    try:
        steps = [int(v) for v in s.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated steps, e.g. 7000,9000,10000; got {s!r}"
        ) from None
    if not steps or min(steps) < 0:
        raise argparse.ArgumentTypeError(f"expected comma-separated steps >= 0, got {s!r}")
    return steps


# -- iterative samplers: --sampler/--steps/... of sample, eval, bench, inpaint (DESIGN: one shared option)
SAMPLER_OPTIONS = ITERATIVE_OPTIONS  # sampler, steps, eta, spacing, churn, guidance
# the sampler options of the commands that draw samples without a class (eval, bench)
UNCONDITIONED = ("sampler", "steps", "eta", "spacing", "churn")

# each option of an iterative sampler: its flag's argparse keywords, defined once for every command
_SAMPLER_FLAGS: dict[str, dict[str, Any]] = {
    "sampler": {"choices": sampling.SAMPLERS, "default": None, "help": "default: the model's"},
    "steps": {
        "type": positive_int,
        "default": None,
        "help": "steps of the sampler's grid, a network evaluation each (edm: 2 x steps - 1 in all; ddpm: all T)",
    },
    "eta": {
        "type": non_negative_float,
        "default": None,
        "help": "ddim and dpm++sde: the noise added per step, 0 deterministic (ddim: 1 ancestral; dpm++sde: 1 the SDE, default)",
    },
    "spacing": {
        "choices": sampling.SPACINGS,
        "default": None,
        "help": "the step grid: even in t, in log-SNR, or Karras et al.'s noise levels (rho 7); auto: the sampler's own",
    },
    "churn": {
        "type": non_negative_float,
        "default": None,
        "help": "edm: S_churn; a step in the churn's range first raises sigma by min(S_churn / steps, 0.414) (0: deterministic Heun; default: the model's, 30)",
    },
    "guidance": {
        "type": float,
        "default": None,
        "help": "classifier-free guidance w (0 unconditional, 1 conditional)",
    },
    "prompt": {
        "default": None,
        "help": "conditional models: a class by its name, e.g. 'ankle boot' or 'seven'",
    },
}


def add_sampler_options(
    p: argparse.ArgumentParser,
    options: Sequence[str] = (*SAMPLER_OPTIONS, "prompt"),
    title: str = "iterative samplers (diffusion models)",
    **helps: str,
) -> argparse._ArgumentGroup:
    """The flags of ``options`` (default: --sampler/--steps/--eta/--spacing/--churn/--guidance/--prompt)
    of any model with an iterative sampler, in one group (returned); ``helps`` replaces an option's help."""
    g = p.add_argument_group(title)
    for name in options:
        g.add_argument(
            f"--{name}", **(_SAMPLER_FLAGS[name] | ({"help": helps[name]} if name in helps else {}))
        )
    return g


def given_sampler_options(
    args: argparse.Namespace, options: Sequence[str] = SAMPLER_OPTIONS
) -> dict[str, Any]:
    """The sampler options given on the command line (those not None), unchecked."""
    return {k: v for k in options if (v := getattr(args, k, None)) is not None}
