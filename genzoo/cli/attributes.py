"""``genzoo attributes | arithmetic | edit``: attribute vectors, latent arithmetic and sliders.

The logic lives in ``genzoo.apps.attributes`` (centroids), ``attribute_file`` (the file),
``pixel_statistics``, ``attribute_table`` and ``genzoo.apps.arithmetic`` (expressions, edits);
this module reads options and data.
"""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path
from typing import Any

import torch

from genzoo import conditional, latent, viz
from genzoo.apps import arithmetic as arith
from genzoo.apps import attribute_file
from genzoo.apps import attributes as attr
from genzoo.apps.pixel_statistics import pixel_statistics
from genzoo.cli.options import (
    OutputFile,
    add_run_and_png,
    add_run_data_options,
    add_which,
    data_overrides,
    positive_int,
    run_split,
    whole_number,
)
from genzoo.errors import ConfigError, GenzooError

# "-2..2" starts with '-': argparse would take it for an option unless it looks like a number
_NEGATIVE = re.compile(r"^-\d+$|^-\d*\.\d+$|^-\d*\.?\d*\.\.")


def attribute_source(s: str) -> str:
    """argparse type: ``pixels``, ``labels`` or an existing attribute table file (CelebA layout)."""
    if s in attr.SOURCES or Path(s).is_file():
        return s
    raise argparse.ArgumentTypeError(
        f"expected pixels, labels or an attribute table file (CelebA list_attr layout), got {s!r}"
    )


def expression(s: str) -> str:
    """argparse type: a latent-arithmetic expression such as "7 + 2*thick - 2*thin" (syntax checked)."""
    try:
        arith.parse_expression(s)
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return s


def amount_range(s: str) -> tuple[float, float]:
    """argparse type: ``A..B``, two finite numbers that differ (e.g. -2..2)."""
    a, sep, b = s.partition("..")
    try:
        lo, hi = float(a), float(b)
    except ValueError:
        lo = hi = math.nan
    if not sep or not (math.isfinite(lo) and math.isfinite(hi)) or lo == hi:
        raise argparse.ArgumentTypeError(
            f"expected a range A..B of two different numbers, e.g. -2..2; got {s!r}"
        )
    return lo, hi


def _parser(sub, name: str, help_: str, description: str, handler) -> argparse.ArgumentParser:
    c = sub.add_parser(name, help=help_, description=description)
    c._negative_number_matcher = _NEGATIVE  # so that --amount -2..2 is a value
    c.set_defaults(handler=handler)
    return c


def _attributes_option(c: argparse.ArgumentParser) -> None:
    c.add_argument(
        "--attributes",
        type=Path,
        default=None,
        metavar="FILE",
        help=f"attributes file (default: RUN/{attribute_file.FILE_NAME}, written by `genzoo attributes RUN`)",
    )


def add_parsers(sub) -> None:
    a = _parser(
        sub,
        "attributes",
        "attribute vectors: mean codes of images with and without an attribute",
        "Centroids of the codes of the run's training images (a GAN: of sampled latents): for each "
        "pixel statistic (thickness, slant, width, height, brightness) the mean code of the top and "
        "bottom quartile (thick/thin, right-slanted/left-slanted, wide/narrow, tall/short, bright/dark), "
        "for each class its mean code, or for each attribute of a CelebA list_attr table the mean code "
        "with (1) and without (-1) it. Used by `genzoo arithmetic` and `genzoo edit`.",
        cmd_attributes,
    )
    a.add_argument(
        "run", type=Path, help="run directory or saved model (one with codes: ae/vae family or GAN)"
    )
    add_which(a)
    a.add_argument(
        "--from",
        dest="source",
        type=attribute_source,
        default="pixels",
        metavar="pixels|labels|FILE",
        help="pixel statistics (and class centroids if the data have labels), class labels only, or a "
        "table in CelebA's list_attr layout matched to a folder dataset by file name (default pixels)",
    )
    a.add_argument(
        "-o",
        "--output",
        type=OutputFile(".safetensors"),
        default=None,
        help=f"file to write (default: RUN/{attribute_file.FILE_NAME})",
    )
    a.add_argument(
        "-n", type=positive_int, default=10000, help="images (or GAN latents) used (default 10000)"
    )
    a.add_argument("--seed", type=whole_number, default=0, help="which images are drawn (or latents sampled)")
    a.add_argument(
        "--split", choices=("train", "test"), default="train", help="images of this split (default train)"
    )
    add_run_data_options(a)
    a.add_argument(
        "--ignore-missing",
        action="store_true",
        help="skip table rows whose image is not in the folder (e.g. the full CelebA table with a subset)",
    )

    r = _parser(
        sub,
        "arithmetic",
        "decode a sum of named mean codes, e.g. '7 + thick - thin'",
        "Latent arithmetic: z = sum of coefficient * centroid over the terms of --expr (names from "
        "`genzoo attributes`; an attribute name such as thickness stands for its vector high - low), "
        "decoded (a GAN: generated). The picture shows each term decoded, then the result; a "
        "class-conditional model draws one row per class.",
        cmd_arithmetic,
    )
    add_run_and_png(r, "run directory or saved model with an attributes file")
    r.add_argument(
        "--expr",
        type=expression,
        default=None,
        help='the expression (required), e.g. "7 + 2*thick - 2*thin"; quote names with spaces',
    )
    _attributes_option(r)

    e = _parser(
        sub,
        "edit",
        "slide a test image's code along an attribute vector",
        "The code z of test image --image (a GAN: a sampled latent, --seed) moved along the attribute "
        "vector v = mean(z | high) - mean(z | low) of --attr: decode(z + a v) for --steps amounts a in "
        "--amount. The picture is the original, then the decoded row; for a pixel attribute the "
        "statistic of each decoded image is printed.",
        cmd_edit,
    )
    add_run_and_png(e, "run directory or saved model with an attributes file")
    e.add_argument(
        "--attr", required=True, help="attribute (thickness), its high or low name (thick, thin), a class"
    )
    e.add_argument("--image", type=whole_number, default=None, metavar="I", help="test image (default 0)")
    e.add_argument(
        "--amount", type=amount_range, default=(-2.0, 2.0), metavar="A..B", help="amounts a (default -2..2)"
    )
    e.add_argument("--steps", type=positive_int, default=9, help="amounts in the row, >= 2 (default 9)")
    e.add_argument("--seed", type=whole_number, default=0, help="a GAN's sampled latent")
    add_run_data_options(e)
    _attributes_option(e)


# ------------------------------------------------------------------------------------- handlers
def _load(args: argparse.Namespace) -> Any:
    import genzoo

    model = genzoo.load(args.run, which=args.which)
    attr.check_latent(model, f"{args.command}")
    latent.check_images(model, args.command)
    return model


def _attributes_path(args: argparse.Namespace) -> Path:
    return args.attributes if args.attributes is not None else Path(args.run) / attribute_file.FILE_NAME


def _read_attributes(args: argparse.Namespace, model: Any) -> attr.Attributes:
    path = _attributes_path(args)
    if args.attributes is None and not path.is_file():
        raise GenzooError(
            f"{args.run} has no attribute vectors ({path} not found); run `genzoo attributes {args.run}` "
            "first, or give --attributes FILE"
        )
    return attribute_file.load_attributes(path, model)


def cmd_attributes(args: argparse.Namespace) -> None:
    from genzoo.apps.attribute_sources import run_attributes
    from genzoo.run import Run

    run = Run(args.run)
    model = run.model(args.which)
    attr.check_latent(model)
    out = args.output or Path(args.run) / attribute_file.FILE_NAME
    attrs = run_attributes(
        run, args.source, which=args.which, split=args.split, n=args.n, seed=args.seed,
        ignore_missing=args.ignore_missing, model=model, **data_overrides(args),
    )  # fmt: skip
    attribute_file.save_attributes(attrs, out)
    print(f"{len(attrs.names)} centroids over {attrs.meta['images']} {attrs.meta['codes']}")
    if attrs.pairs:
        print("attributes (high/low): " + ", ".join(f"{a} ({h}/{lo})" for a, (h, lo) in attrs.pairs.items()))
    if attrs.classes:
        print("classes: " + ", ".join(attrs.classes))
    print(f"wrote {out}")


def cmd_arithmetic(args: argparse.Namespace) -> None:
    model = _load(args)
    attrs = _read_attributes(args, model)
    if args.expr is None:  # checked here, so that a bad RUN or --attributes speaks first
        raise ConfigError(f'arithmetic needs --expr, e.g. --expr "7 + thick - thin"; names: {attrs.known()}')
    labels = list(range(model.num_classes)) if conditional.is_conditional(model) else [None]
    rows = []
    for y in labels:
        terms, images = arith.arithmetic(model, attrs, args.expr, y)
        rows.append(images)
    viz.save_grid(rows, args.output)
    shown = " ".join(f"{'+' if c >= 0 else '-'} {abs(c):g}*{n}" for c, n in terms).lstrip("+ ")
    print(
        f"terms: {shown}; the picture: each term decoded, then the result"
        + (", one row per class" if labels[0] is not None else "")
    )
    print(f"wrote {args.output}")


# what the numbers of each pixel statistic mean (genzoo.apps.pixel_statistics), for edit's printout
STAT_UNITS = {
    "brightness": "mean pixel value, 0 = black to 1 = white",
    "width": "pixels: columns holding ink",
    "height": "pixels: rows holding ink",
    "thickness": "pixels: the stroke width, 2 x ink area / ink perimeter",
    "slant": "shear of the ink, > 0 leans right, 0 upright, 1 = one pixel right per pixel up",
}


def cmd_edit(args: argparse.Namespace) -> None:
    if args.steps < 2:
        raise ConfigError(f"--steps must be at least 2 (both ends are included), got {args.steps}")
    model = _load(args)
    y = None
    if latent.can_encode(model):
        test, data = run_split(args, "test")
        i = 0 if args.image is None else args.image
        if not 0 <= i < len(test):
            raise ConfigError(
                f"--image {i} is out of range: the {data.name} test split has {len(test)} images"
            )
        x = test.x[i : i + 1]
        if conditional.is_conditional(model):
            if test.y is None:
                raise GenzooError(
                    f"{model.model_type} encodes with class labels; the {data.name} test split has none"
                )
            y = test.y[i : i + 1]
        attrs = _read_attributes(args, model)
        z = latent.latent_codes(model, x, y)
    else:
        if args.image is not None:
            raise ConfigError(
                f"--image does not apply: a {model.model_type} cannot encode images; its edit starts from a "
                "sampled latent (--seed)"
            )
        attrs = _read_attributes(args, model)
        g = torch.Generator().manual_seed(args.seed)
        z = model.sample_latent(1, g).cpu()
        if conditional.is_conditional(model):
            y = torch.randint(model.num_classes, (1,), generator=g)
        x = None
    a = arith.amounts(*args.amount, args.steps)
    row = arith.edit(model, attrs, args.attr, z, a, y)[0]  # (T, *shape)
    viz.save_grid([row if x is None else torch.cat([x, row])], args.output)
    stat = arith.statistic_of(attrs, args.attr)
    print("amounts:   " + " ".join(f"{v:6.2f}" for v in a.tolist()))
    print(f"  (amounts: multiples of the {args.attr} vector, high - low centroid; 0 = the starting code)")
    if stat is not None:
        s = pixel_statistics(row)[stat[0]]
        print(f"{stat[0]:<10} " + " ".join(f"{v:6.2f}" for v in s.tolist()))
        print(f"  ({stat[0]} of each image: {STAT_UNITS.get(stat[0], 'see genzoo.apps.pixel_statistics')})")
    print(f"wrote {args.output}")
