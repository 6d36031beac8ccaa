"""``genzoo pretrain-eval, augment``: learning from few labels with a generative model.

On the run's own training and test splits (or ``--data``/``--data-root``); the logic lives in
``genzoo.apps.pretrain`` and ``genzoo.apps.augment``, this module reads options and data and
prints the table (test accuracy, mean ± std over ``--seeds`` seeds 0..N-1).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from genzoo import io
from genzoo.cli.options import (
    OutputFile,
    add_run_data_options,
    add_sampler_options,
    add_which,
    positive_int,
    run_split,
)
from genzoo.errors import ConfigError


def _common(sub, name: str, help_: str, description: str, handler) -> argparse.ArgumentParser:
    c = sub.add_parser(name, help=help_, description=description)
    c.add_argument("run", type=Path, help="run directory or saved model")
    add_which(c)
    c.add_argument(
        "--labels",
        type=positive_int,
        default=100,
        help="labelled training examples, class-balanced, at least one per class (default 100)",
    )
    c.add_argument("--seeds", type=positive_int, default=3, help="repeats with seeds 0..N-1 (default 3)")
    c.add_argument(
        "--steps", type=positive_int, default=500, help="classifier training steps, batch 64 (default 500)"
    )
    add_run_data_options(c)
    c.add_argument("--json", type=OutputFile(".json"), default=None, help="also write the result as JSON")
    c.set_defaults(handler=handler)
    return c


def add_parsers(sub) -> None:
    _common(
        sub,
        "pretrain-eval",
        "few labels: fine-tuned pre-trained encoder vs scratch vs logistic regression on codes",
        "Unsupervised pre-training for few labels: a classifier head on the encoder of RUN (ae, dae, "
        "deep-ae, vae, beta-vae; a VAE's code is its posterior mean) fine-tuned on --labels "
        "class-balanced training labels, against the same network re-initialised and trained the "
        "same way, and a logistic regression on the frozen codes. Prints test accuracy.",
        cmd_pretrain_eval,
    )
    a = _common(
        sub,
        "augment",
        "few labels: a classifier on real data vs real + class-conditional samples",
        "Data augmentation with generated samples: a small classifier trained on --labels "
        "class-balanced real training examples alone, on them plus --per-class samples of each "
        "class from the class-conditional RUN (cvae, cgan, cddpm), and on the samples alone "
        "(how class-faithful they are). Prints test accuracy.",
        cmd_augment,
    )
    a.add_argument(
        "--per-class", type=positive_int, default=100, help="generated samples per class (default 100)"
    )
    g = add_sampler_options(
        a,
        ("guidance", "sampler"),
        "diffusion models (cddpm)",
        guidance="classifier-free guidance w (default: the model's)",
    )
    g.add_argument(
        "--sample-steps",
        type=positive_int,
        default=None,
        help="sampler network evaluations (default: the model's)",
    )


def _splits(args: argparse.Namespace, model: Any) -> tuple[Any, Any, str]:
    train, data = run_split(args, "train", whole=True)
    test, _ = run_split(args, "test", whole=True)
    return train, test, data.name


def _report(args: argparse.Namespace, title: str, result: dict[str, Any], rows: dict[str, str]) -> None:
    from genzoo.apps.pretrain import format_table

    print(title)
    print(format_table(result, rows))
    if args.json:
        io.atomic_write_json(args.json, result)
        print(f"wrote {args.json}")


def cmd_pretrain_eval(args: argparse.Namespace) -> None:
    import genzoo
    from genzoo.apps.pretrain import ROWS, check_pretrainable, pretrain_eval

    model = genzoo.load(args.run, which=args.which)
    check_pretrainable(model)
    train, test, name = _splits(args, model)
    result = pretrain_eval(model, train, test, args.labels, seeds=range(args.seeds), steps=args.steps)
    result["data"] = name
    title = (
        f"{result['model']} (code {result['code_dim']}) on {name}: {args.labels} labels, "
        f"{args.seeds} seeds, {args.steps} steps; test accuracy on {result['test_size']} images"
    )
    _report(args, title, result, ROWS)


def cmd_augment(args: argparse.Namespace) -> None:
    import genzoo
    from genzoo.apps.augment import ROWS, augment_eval

    if args.guidance is not None and not (math.isfinite(args.guidance) and args.guidance >= 0):
        raise ConfigError(
            f"--guidance must be a number >= 0 (0 unconditional, 1 conditional, > 1 guided), got {args.guidance}"
        )
    model = genzoo.load(args.run, which=args.which)
    train, test, name = _splits(args, model)  # --data and --data-root are checked before the model's kind
    options = {"guidance": args.guidance, "sampler": args.sampler, "steps": args.sample_steps}
    result = augment_eval(
        model,
        train,
        test,
        args.labels,
        per_class=args.per_class,
        seeds=range(args.seeds),
        steps=args.steps,
        sample_options=options,
    )
    result["data"] = name
    title = (
        f"{result['model']} on {name}: {args.labels} real labels + {args.per_class} generated per class, "
        f"{args.seeds} seeds, {args.steps} steps; test accuracy on {result['test_size']} images"
    )
    _report(args, title, result, ROWS)
