"""``genzoo sample | reconstruct | denoise``: load a model and write a PNG grid (``sample -o x.npz``:
the raw samples, and their labels, for ``genzoo eval --samples``); ``genzoo progress``: a run's
training pictures as a strip or an animated GIF."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch

from genzoo import conditional, latent, viz
from genzoo.cli.generate import class_spec, one_class, sampler_kwargs
from genzoo.cli.options import (
    OutputFile,
    add_run_and_png,
    add_sampler_options,
    add_split_data_options,
    positive_int,
    run_split,
    step_list,
    whole_number,
)
from genzoo.errors import ConfigError, GenzooError
from genzoo.eval.samples_file import save_samples
from genzoo.models import capabilities as caps
from genzoo.models.capabilities import Capability
from genzoo.registry import model_classes


def _run_command(sub, name: str, help_: str, **output: object) -> argparse.ArgumentParser:
    c = sub.add_parser(name, help=help_)
    add_run_and_png(c, **output)
    c.add_argument("--seed", type=whole_number, default=0)
    c.set_defaults(handler=cmd_images)
    return c


def add_parsers(sub) -> None:
    s = _run_command(
        sub,
        "sample",
        "draw new examples from a model",
        suffixes=(".png", ".npz"),
        output_help="PNG grid to write, or .npz: the raw samples (key x) and, for a conditional model, "
        "their labels (key y), as `genzoo eval --samples` reads them (folders are created)",
    )
    s.add_argument(
        "-n",
        type=positive_int,
        default=None,
        help="number of samples (default 64; with --class all: per class, default 8)",
    )
    s.add_argument(
        "--class",
        dest="class_",
        default=None,
        metavar="CLASS",
        help="conditional models: a class index or name, or 'all' for one row per class",
    )
    add_sampler_options(s)
    s.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="torch threads (default: torch's, one per core; a diffusion model samples fastest on all of them, "
        "docs/diffusion.md)",
    )
    s.add_argument(
        "--temperature",
        type=float,
        default=None,
        help="flows: z ~ N(0, T^2 I); below 1 trades diversity for cleaner samples (default: the model's)",
    )
    s.add_argument(
        "--trajectory",
        action="store_true",
        help="iterative samplers: the reverse path x_T -> x_0, a row per sample (-n, default 8)",
    )
    pr = sub.add_parser(
        "progress",
        help="a run's progress pictures side by side (.png) or as an animated GIF (.gif)",
        description="The pictures the trainer wrote every --image-every steps (progress/step-N.png), "
        "labelled with their step: up to 8 evenly spaced (or --steps) side by side, or every one as GIF frames.",
    )
    pr.add_argument("run", type=Path, help="run directory")
    pr.add_argument(
        "-o", "--output", type=OutputFile(".png", ".gif"), required=True, help="strip.png or training.gif"
    )
    pr.add_argument("--steps", type=step_list, default=None, help="steps to show, e.g. 7000,9000,10000")
    pr.add_argument("--ms", type=positive_int, default=400, help="GIF: milliseconds per frame (default 400)")
    pr.set_defaults(handler=cmd_progress)
    for name, help_ in (
        ("reconstruct", "originals above, reconstructions below"),
        ("denoise", "clean / corrupted / restored rows"),
    ):
        c = _run_command(sub, name, help_)
        c.add_argument("-n", type=positive_int, default=8, help="images per row")
        add_split_data_options(c)
        if name == "denoise":
            c.add_argument(
                "--noise", default=None, help="corruption (default: the model's own), e.g. mask:0.5"
            )


def cmd_progress(args: argparse.Namespace) -> None:
    if not args.run.is_dir():
        raise GenzooError(f"{args.run} is not a run directory")
    shown = viz.save_progress(args.run, args.output, args.steps, args.ms)
    print(f"wrote {args.output} (steps {', '.join(map(str, shown))})")


def _eval_data(args: argparse.Namespace) -> torch.Tensor:
    """The first n examples of the run's dataset (or --data), for reconstruct/denoise."""
    return run_split(args, args.split)[0].x[: args.n]


def cmd_images(args: argparse.Namespace) -> None:
    """sample / reconstruct / denoise: load a model and write a PNG grid."""
    import genzoo
    from genzoo.data import apply_noise

    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    model = genzoo.load(args.run, which=args.which)
    # said after the samples are written, so that a bad option stays one error line
    note = genzoo.Run(args.run).short_note(args.which) if args.command == "sample" else None
    if len(model.shape) not in (2, 3):
        raise GenzooError(
            f"{args.command} draws images or series; this model's data have shape {model.shape}"
        )
    if args.command != "sample":
        caps.require(model, Capability.ENCODER, f"genzoo {args.command}")
    if args.command == "denoise" and not caps.has(model, Capability.DENOISER) and args.noise is None:
        raise GenzooError(
            f"{model.model_type} is not a denoising model; pass --noise to corrupt inputs anyway"
        )
    g = torch.Generator().manual_seed(args.seed)
    if args.command == "sample" and args.output.suffix.lower() == ".npz":
        x, y = _sample_array(model, args)
        save_samples(args.output, x, y)
        labelled = f" and their {len(y)} labels" if y is not None else ""
        print(f"wrote {args.output} ({len(x)} samples{labelled}; score them with genzoo eval --samples)")
        _say(note)
        return
    with torch.no_grad():
        if args.command == "sample":
            rows = _sample_rows(model, args)
        elif args.command == "reconstruct":
            x = _eval_data(args)
            rows = [x, latent.reconstruct(model, x)]
        else:
            x = _eval_data(args)
            noisy = apply_noise(x, args.noise, g) if args.noise else model.corrupt(x, g)
            rows = [x, noisy, latent.reconstruct(model, noisy)]
    labels = {"sample": ("sample",), "reconstruct": ("series", "reconstruction")}
    viz.save_rows(rows, args.output, labels.get(args.command, ("series", "corrupted", "restored")))
    print(f"wrote {args.output}")
    _say(note)


def _say(note: str | None) -> None:
    """A note for the user on stderr (e.g. that a run is too short to sample from), if any."""
    if note:
        print(note, file=sys.stderr)


@torch.no_grad()
def _sample_array(model, args: argparse.Namespace) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The samples (n, *shape) of ``genzoo sample -o x.npz`` and, for a conditional model, their
    labels (n,): the --class given (with 'all': -n per class), else those drawn from the seeds."""
    if args.trajectory:
        raise ConfigError("--trajectory draws a picture of the reverse path; write it to a .png")
    kw = _sample_kwargs(model, args)
    spec = class_spec(model, args)
    if spec is None:
        n = args.n or 64
        seeds = range(args.seed, args.seed + n)
        y = model.sample_labels(seeds, None)
        return model.sample(n, seeds=seeds, y=y, **kw), y
    n = args.n or (8 if spec.strip().lower() == "all" else 64)
    rows = conditional.sample_rows(model, spec, n, seeds=range(args.seed, args.seed + n), **kw)
    return torch.cat(rows), torch.tensor(conditional.class_indices(model, spec)).repeat_interleave(n)


def _sample_kwargs(model, args: argparse.Namespace) -> dict:
    """The sampler options of ``genzoo sample`` (--sampler/--steps, --temperature), checked."""
    kw = sampler_kwargs(model, args)
    if args.temperature is not None:
        if "temperature" not in caps.sample_options(model):
            raise GenzooError(
                f"--temperature applies to models that sample with one "
                f"({', '.join(n for n, c in model_classes().items() if 'temperature' in c.sample_options)}), "
                f"not {model.model_type}"
            )
        if not (math.isfinite(args.temperature) and args.temperature > 0):
            raise ConfigError(f"--temperature must be a number > 0, got {args.temperature}")
        kw["temperature"] = args.temperature
    return kw


def _sample_rows(model, args: argparse.Namespace) -> list[torch.Tensor]:
    """The rows of ``genzoo sample``: a square grid, a row per class, or the reverse trajectory."""
    kw = _sample_kwargs(model, args)
    spec = class_spec(model, args)
    if args.trajectory:
        caps.require(model, Capability.ITERATIVE, "--trajectory")
        n = args.n or 8
        if spec is not None:
            kw["y"] = one_class(model, spec, "--trajectory")
        frames = model.trajectory(n, seeds=range(args.seed, args.seed + n), **kw)  # each (n, *shape)
        return [torch.stack([f[i] for f in frames]) for i in range(n)]
    if spec is not None:
        all_classes = spec.strip().lower() == "all"
        n = args.n or (8 if all_classes else 64)
        rows = conditional.sample_rows(model, spec, n, seeds=range(args.seed, args.seed + n), **kw)
        return rows if all_classes else viz.chunk_rows(rows[0], max(1, math.ceil(math.sqrt(n))))
    n = args.n or 64
    x = model.sample(n, seeds=range(args.seed, args.seed + n), **kw)
    return viz.chunk_rows(x, max(1, math.ceil(math.sqrt(n))))
