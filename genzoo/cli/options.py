"""Options shared by several commands: config dataclass fields as flags, data and feature options.

Model fields are flat (``--latent-dim 16``), training fields too (``--steps``), and data fields
are prefixed (``--data mnist --data-root DIR``); one option per dataclass field, so a field added
to a config is a flag without further edits.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any, Literal, get_args, get_origin

from genzoo import config as cfgio
from genzoo.data import DataConfig

SECTIONS = ("model", "train", "data")


def flag(section: str, name: str) -> str:
    """The option of a config field: ``--latent-dim`` (model, train) or ``--data-root`` (data)."""
    if section == "data":
        return "--data" if name == "name" else "--data-" + name.replace("_", "-")
    return "--" + name.replace("_", "-")


def _parser_type(tp: Any):
    optional, inner = cfgio.split_optional(tp)
    if get_origin(inner) is tuple:
        item = get_args(inner)[0]
        return lambda s: tuple(item(v) for v in s.split(",") if v.strip())
    base = inner if inner in (int, float, str) else str
    if optional:
        return lambda s: None if s.lower() == "none" else base(s)
    return base


def add_config_options(p: argparse.ArgumentParser, section: str, cls: type, dest: dict) -> None:
    """One option per dataclass field; ``dest`` maps argparse dest -> (section, field)."""
    group = p.add_argument_group(f"{section} options ({cls.__name__})")
    for name, tp in cfgio.field_types(cls).items():
        option = flag(section, name)
        key = f"{section}__{name}"
        if key in dest or any(f == option for f in (flag(s, n) for s, n in dest.values())):
            raise RuntimeError(f"option {option} defined twice")  # a programming error
        dest[key] = (section, name)
        default = next(f.default for f in dataclasses.fields(cls) if f.name == name)
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
    p.add_argument("--data-image-size", type=int, default=None, help="folder dataset: resize real images")
    p.add_argument("--data-channels", type=int, default=None, help="folder dataset: 1 or 3")


def data_from_args(args: argparse.Namespace) -> DataConfig:
    return DataConfig(
        name=args.data,
        root=args.data_root,
        path=args.data_path,
        image_size=args.data_image_size,
        channels=args.data_channels,
    )


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
