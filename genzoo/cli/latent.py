"""``genzoo interpolate | traverse | latent-map``: pictures of a model's latent space.

For any model that can encode and decode (see ``genzoo.latent``), on the run's own test split
(or ``--data``). The logic lives in ``genzoo.latent`` (paths, traversals) and
``genzoo.latent_map`` (2-D maps); this module reads options and data.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

import torch

from genzoo import conditional, latent, viz
from genzoo.cli.options import add_run_and_png, add_run_data_options, positive_int, run_split, whole_number
from genzoo.data import TensorData
from genzoo.errors import ConfigError, GenzooError
from genzoo.latent_map import latent_map


def ints(s: str) -> tuple[int, ...]:
    """argparse type: comma-separated whole numbers, e.g. 0,1,5 (at least one)."""
    try:
        values = tuple(int(v) for v in s.split(",") if v.strip())
    except ValueError:
        values = ()
    if not values:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {s!r}")
    return values


def positive_number(s: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        v = float(s)
    except ValueError:
        v = math.nan
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {s!r}")
    return v


def _command(sub, name: str, help_: str, description: str, handler) -> argparse.ArgumentParser:
    c = sub.add_parser(name, help=help_, description=description)
    add_run_and_png(c, "run directory or saved model (one that can encode and decode)")
    if name != "traverse":  # traverse draws nothing at random (--index names its image)
        c.add_argument("--seed", type=whole_number, default=0, help="which test images are drawn")
    add_run_data_options(c)
    c.set_defaults(handler=handler)
    return c


def add_parsers(sub) -> None:
    i = _command(
        sub,
        "interpolate",
        "decoded paths between the codes of two test images",
        "Decoded paths between the codes of test images: each row is image a, the decoded path "
        "from its code to b's (both ends included), image b. A cvae encodes each image with its label and decodes the path with a's; its random "
        "pairs are drawn within one class.",
        cmd_interpolate,
    )
    i.add_argument("--from", dest="from_", type=whole_number, default=None, metavar="I", help="test image a")
    i.add_argument("--to", type=whole_number, default=None, metavar="J", help="test image b (with --from)")
    i.add_argument(
        "--rows", type=positive_int, default=8, help="without --from/--to: random pairs (default 8)"
    )
    i.add_argument("--steps", type=positive_int, default=10, help="points on each path, >= 2 (default 10)")
    i.add_argument("--slerp", action="store_true", help="spherical instead of linear interpolation")
    t = _command(
        sub,
        "traverse",
        "vary one latent dimension at a time",
        "One latent dimension at a time: each row is a test image, then its code decoded with "
        "that dimension set to each of --steps values in [-range, range], the others kept. The "
        "code is encode(x): an autoencoder's code, a VAE's posterior mean; a cvae decodes with the "
        "image's own label.",
        cmd_traverse,
    )
    t.add_argument(
        "--dims", type=ints, default=None, help="comma-separated dims (default: the first min(latent, 10))"
    )
    t.add_argument(
        "--range",
        dest="range_",
        type=positive_number,
        metavar="R",
        default=3.0,
        help="values from -R to R (default 3: the VAE prior's +-3 sd; an autoencoder's "
        "codes have their own scale, see latent-map)",
    )
    t.add_argument("--steps", type=positive_int, default=9, help="values per dim, >= 2 (default 9)")
    t.add_argument("--index", type=whole_number, default=0, help="the test image whose code is varied")
    m = _command(
        sub,
        "latent-map",
        "2-D map of the test codes beside PCA of the pixels",
        "Test codes coloured by label (PCA beyond 2 dims, or --tsne) beside PCA of the pixels; "
        "a 2-D latent of an image model adds the decoded grid over the codes.",
        cmd_latent_map,
    )
    m.add_argument("-n", type=positive_int, default=2000, help="test images drawn (default 2000)")
    m.add_argument("--tsne", action="store_true", help="t-SNE of the codes instead of PCA")


def _load(args: argparse.Namespace, images: bool) -> Any:
    import genzoo

    model = genzoo.load(args.run, which=args.which)
    latent.check_can_encode(model, args.command)
    if images:
        latent.check_images(model, args.command)
    return model


def _test_data(args: argparse.Namespace, model: Any) -> tuple[TensorData, str]:
    """The run's test split (or --data's), checked against the model's shape; (data, name)."""
    test, data = run_split(args, "test")
    if conditional.is_conditional(model) and test.y is None:
        raise GenzooError(
            f"{model.model_type} encodes with class labels; the {data.name} test split has none"
        )
    if len(test) == 0:
        raise GenzooError(f"the {data.name} test split is empty")
    return test, data.name


def _check_index(option: str, i: int, n: int, name: str) -> None:
    if not 0 <= i < n:
        raise ConfigError(f"{option} {i} is out of range: the {name} test split has {n} images (0..{n - 1})")


def _check_steps(steps: int) -> None:
    if steps < 2:
        raise ConfigError(f"--steps must be at least 2 (both ends are included), got {steps}")


def cmd_interpolate(args: argparse.Namespace) -> None:
    if (args.from_ is None) != (args.to is None):
        given = "--from" if args.from_ is not None else "--to"
        raise ConfigError(f"{given} needs both --from and --to (or neither, for --rows random pairs)")
    _check_steps(args.steps)
    model = _load(args, images=False)
    if len(model.shape) not in (2, 3):
        latent.check_images(model, args.command)
    test, name = _test_data(args, model)
    cond = conditional.is_conditional(model)
    if args.from_ is not None:
        _check_index("--from", args.from_, len(test), name)
        _check_index("--to", args.to, len(test), name)
        i, j = torch.tensor([args.from_]), torch.tensor([args.to])
    else:
        g = torch.Generator().manual_seed(args.seed)
        i, j = latent.random_pairs(len(test), args.rows, test.y if cond else None, g)
    ya, yb = (test.y[i], test.y[j]) if cond else (None, None)
    paths = latent.interpolate_rows(model, test.x[i], test.x[j], args.steps, args.slerp, ya, yb)
    if len(model.shape) == 2:  # series: the first path, a panel per step
        viz.save_rows([paths[0]], args.output, ("interpolation",))
        print(f"wrote {args.output}")
        return
    rows = [torch.cat([test.x[a : a + 1], p, test.x[b : b + 1]]) for a, b, p in zip(i, j, paths, strict=True)]
    viz.save_grid(rows, args.output)
    print(f"wrote {args.output}")


def cmd_traverse(args: argparse.Namespace) -> None:
    _check_steps(args.steps)
    model = _load(args, images=True)
    test, name = _test_data(args, model)
    _check_index("--index", args.index, len(test), name)
    x = test.x[args.index]
    y = test.y[args.index] if conditional.is_conditional(model) else None
    d = latent.latent_codes(model, x[None], None if y is None else y[None]).shape[1]
    if args.dims is not None:
        bad = [k for k in args.dims if not 0 <= k < d]
        if bad:
            raise ConfigError(
                f"--dims {','.join(map(str, bad))} out of range: the model's latent_dim is {d} (dims 0..{d - 1})"
            )
    out = latent.traverse(model, x, args.dims, args.range_, args.steps, y)  # (D, steps, *shape)
    viz.save_grid([torch.cat([x[None], row]) for row in out], args.output)
    print(f"wrote {args.output}")


def cmd_latent_map(args: argparse.Namespace) -> None:
    model = _load(args, images=False)
    test, name = _test_data(args, model)
    n = min(args.n, len(test))
    g = torch.Generator().manual_seed(args.seed)
    idx = torch.randperm(len(test), generator=g)[:n].sort().values  # a seeded subset, in split order
    y = None if test.y is None else test.y[idx]
    fig = latent_map(
        model,
        test.x[idx],
        y,
        method="tsne" if args.tsne else "pca",
        seed=args.seed,
        class_names=test.info.class_names,
        title=f"{model.model_type} on {name}: {n} test images",
    )
    viz.save_figure(fig, args.output)
    print(f"wrote {args.output}")
