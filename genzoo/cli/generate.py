"""Iterative samplers on the command line: the sampler options of ``genzoo sample`` checked against
the model (the flags themselves, shared with eval, bench and inpaint, are in ``options.py``), and
``genzoo forward`` (the noising process on real images) and ``genzoo inpaint`` (fill a masked region)."""

from __future__ import annotations

import argparse

import torch

from genzoo import conditional, viz
from genzoo.apps.inpaint import baseline_fills, inpaint, make_mask, masked_mse
from genzoo.cli.options import (
    add_run_and_png,
    add_sampler_options,
    add_split_data_options,
    given_sampler_options,
    positive_int,
    run_split,
    step_list,
    whole_number,
)
from genzoo.errors import ConfigError, GenzooError
from genzoo.models import capabilities as caps
from genzoo.models.capabilities import Capability


def sampler_kwargs(model: object, args: argparse.Namespace) -> dict:
    """The sampler options given, checked against what the model supports."""
    return caps.iterative_options(model, given_sampler_options(args))


def class_spec(model: object, args: argparse.Namespace) -> str | None:
    """--class or --prompt (a prompt is matched to a class name) as a --class spec."""
    if getattr(args, "prompt", None) is not None:
        if getattr(args, "class_", None) is not None:
            raise ConfigError("give --class or --prompt, not both")
        return str(conditional.class_from_prompt(model, args.prompt))
    return getattr(args, "class_", None)


def one_class(model: object, spec: str, what: str) -> int:
    """The single class a --class/--prompt spec names ('all' is an error for ``what``)."""
    classes = conditional.class_indices(model, spec)
    if len(classes) != 1:
        raise ConfigError(f"{what} takes one class, not {spec!r}")
    return classes[0]


def add_parsers(sub) -> None:
    f = sub.add_parser(
        "forward",
        help="the forward (noising) process q(x_t | x_{t-1}) on real test images, a row per image",
    )
    add_run_and_png(f)
    f.add_argument("-n", type=positive_int, default=6, help="images (rows)")
    f.add_argument("--t", type=step_list, default=None, help="0-based steps to show (default: 8 up to T-1)")
    add_split_data_options(f)
    f.set_defaults(handler=cmd_forward)
    p = sub.add_parser(
        "inpaint",
        help="fill a masked region of test images: rows original, masked, filled",
        description="One command for every family that can fill pixels. Diffusion models: RePaint (the "
        "known pixels follow the forward process at every step, the rest the model). Autoencoders and "
        "VAEs: the reconstruction iterated with the known pixels clamped, then (VAEs) the code "
        "optimised against the known pixels. Prints the MSE on the filled pixels, beside the training "
        "mean image's and the nearest training image's (on the known pixels) fills.",
    )
    add_run_and_png(p)
    p.add_argument("--mask", default="center", help="center | left | random | FILE.png (dark = fill)")
    p.add_argument("-n", type=positive_int, default=8, help="images")
    p.add_argument(
        "--iters",
        type=positive_int,
        default=None,
        help="autoencoders/VAEs: clamped reconstructions (default 3)",
    )
    p.add_argument(
        "--code-steps",
        type=whole_number,
        default=None,
        help="VAEs: Adam steps on the code against the known pixels (default 100; 0: none)",
    )
    g = add_sampler_options(
        p,
        ("sampler", "steps"),
        "diffusion models (RePaint)",
        sampler="RePaint runs the ancestral chain: ddpm (the default) is the one sampler it takes",
        steps="grid steps of the ancestral chain (default 10 x the model's sample_steps)",
    )
    g.add_argument("--jump-length", type=positive_int, default=None, help="steps per jump back (10)")
    g.add_argument("--resamples", type=positive_int, default=None, help="passes over each jump (5; 1: none)")
    p.add_argument(
        "--class", dest="class_", default=None, metavar="CLASS", help="conditional models: the class"
    )
    add_sampler_options(p, ("prompt", "guidance"), "class-conditional models")
    p.add_argument("--seed", type=whole_number, default=0)
    add_split_data_options(p)
    p.set_defaults(handler=cmd_inpaint)


def _load(args: argparse.Namespace, need: Capability, what: str):
    import genzoo

    model = genzoo.load(args.run, which=args.which)
    caps.require(model, need, what)
    if len(model.shape) != 3:
        raise GenzooError(f"{args.command} writes images; this model's data have shape {model.shape}")
    return model


def cmd_forward(args: argparse.Namespace) -> None:
    model = _load(args, Capability.ITERATIVE, "the forward (noising) process")
    T = model.config.timesteps
    ts = sorted(set(args.t)) if args.t else sorted({round(v) for v in torch.linspace(0, T - 1, 8).tolist()})
    x = run_split(args, args.split)[0].x[: args.n]
    frames = model.forward_process(x, ts, seed=0)  # [x_0, x_t1, x_t2, ...], each (n, *shape)
    viz.save_grid([torch.stack([f[i] for f in frames]) for i in range(len(x))], args.output)
    print(f"wrote {args.output} (columns: x_0, then t = {', '.join(str(t + 1) for t in ts)} of {T})")


def cmd_inpaint(args: argparse.Namespace) -> None:
    import genzoo

    model = genzoo.load(args.run, which=args.which)
    if len(model.shape) != 3:
        raise GenzooError(f"inpaint fills images; this model's data have shape {model.shape}")
    known = make_mask(args.mask, tuple(model.shape[1:]), seed=args.seed)
    x = run_split(args, args.split)[0].x[: args.n]
    if args.code_steps is not None and args.code_steps < 0:
        raise ConfigError(f"--code-steps must be >= 0, got {args.code_steps}")
    recon = {"iters": args.iters, "code_steps": args.code_steps}
    given = {
        "sampler": args.sampler,
        "steps": args.steps,
        "jump_length": args.jump_length,
        "resamples": args.resamples,
        "guidance": args.guidance,
    }
    kw = {k: v for k, v in given.items() if v is not None}
    spec = class_spec(model, args)
    if spec is not None:
        kw["y"] = one_class(model, spec, "inpaint")
    if caps.has(model, Capability.INPAINTER):
        kw["seeds"] = range(args.seed, args.seed + len(x))
        if any(v is not None for v in recon.values()):
            raise ConfigError(
                f"--iters and --code-steps apply to inpainting by reconstruction; {model.model_type} "
                "inpaints with its sampler (--sampler, --steps, --jump-length, --resamples)"
            )
    elif kw:
        options = ", ".join("--" + k.replace("_", "-") for k in kw if k != "y")
        raise ConfigError(
            f"{options or '--class/--prompt'} apply to the diffusion models' inpainting; "
            f"{model.model_type} fills by reconstruction (--iters, --code-steps)"
        )
    filled = inpaint(model, x, known, **{k: v for k, v in recon.items() if v is not None}, **kw)
    viz.save_grid([x, x * known + 0.5 * (1 - known), filled], args.output)
    others = baseline_fills(x, known, run_split(args, "train")[0].x)
    vs = ", ".join(f"{name} fill {masked_mse(f, x, known):.5f}" for name, f in others.items())
    print(
        f"wrote {args.output}; MSE on the filled pixels {masked_mse(filled, x, known):.5f} ({vs}; n={len(x)})"
    )
