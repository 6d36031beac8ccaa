"""``genzoo train MODEL``: one subcommand per registered model, its options generated from the
model's config, the training config and the data config."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from genzoo import io
from genzoo.cli.options import OutputDir, add_config_options, sections_from_args
from genzoo.data import DataConfig
from genzoo.errors import ConfigError
from genzoo.registry import canonical_name, get_model_class, list_models
from genzoo.run import Run
from genzoo.train import RunSpec, TrainConfig, train
from genzoo.train.run import read_config_file, run_spec


def add_parsers(sub) -> None:
    t = sub.add_parser("train", help="train a model (see: genzoo train MODEL --help)")
    tsub = t.add_subparsers(dest="model_type", required=True, metavar="MODEL")
    for name in list_models():
        cls = get_model_class(name)
        mp = tsub.add_parser(
            name, allow_abbrev=False, help=(cls.__doc__ or "").strip().split("\n")[0] or None
        )
        mp.add_argument("--out", type=OutputDir(), help="run directory to create")
        mp.add_argument(
            "--resume", type=Path, metavar="RUN", help="continue this run from its latest checkpoint"
        )
        mp.add_argument(
            "--config", type=Path, help="JSON with model/train/data sections (e.g. a run's config.json)"
        )
        mp.add_argument("--quiet", action="store_true", help="no progress bar")
        mp.add_argument(
            "--budget",
            metavar="TIME",
            help="train for this long (90s, 10m, 1h): the configuration measured best for the budget, "
            "steps calibrated on this machine, a stop on time with a checkpoint; your options win",
        )
        dest: dict[str, tuple[str, str]] = {}
        add_config_options(mp, "model", cls.config_class, dest)
        add_config_options(mp, "train", TrainConfig, dest, defaults=cls.train_defaults)
        add_config_options(mp, "data", DataConfig, dest)
        mp.set_defaults(handler=cmd_train)


def canonical_model(argv: list[str]) -> list[str]:
    """``argv`` of ``genzoo train MODEL ...`` with MODEL under its registered name (``VAE``,
    ``beta_vae``); an unknown one is one ConfigError line offering the close names (``vea``: vae)
    instead of argparse's list of choices."""
    for j in range(argv.index("train") + 1, len(argv)):
        if not argv[j].startswith("-"):
            return [*argv[:j], canonical_name(argv[j]), *argv[j + 1 :]]
    return argv


def spec_from_args(args: argparse.Namespace) -> tuple[RunSpec, Path, bool]:
    """The run to train: a resumed run's config, then ``--config``, then the flags (last wins),
    merged by ``genzoo.train.run_spec``."""
    if args.resume and args.out and args.out.resolve() != args.resume.resolve():
        raise ConfigError("--out and --resume name different runs; a resume continues in place")
    file_cfg = read_config_file(args.config, args.model_type) if args.config else {}
    spec = run_spec(args.model_type, file_cfg, sections_from_args(args), resume=args.resume)
    out = args.resume or args.out
    if out is None:
        raise ConfigError("say where to write the run: --out DIR (or --resume RUN)")
    return spec, out, bool(args.resume)


def batch_size_given(args: argparse.Namespace) -> bool:
    """Whether the user chose the batch size (--batch-size or the --config file): then a batch
    larger than the training set is an error, not fitted to the set as a default batch is."""
    if sections_from_args(args)["train"].get("batch_size") is not None:
        return True
    file_cfg = io.read_json(args.config) if args.config else {}
    return isinstance(file_cfg, dict) and "batch_size" in (file_cfg.get("train") or {})


def budget_plan(args: argparse.Namespace) -> tuple[RunSpec, Path, float, bool]:
    """``--budget``: the run (preset, your options, calibrated steps), where, its time limit, and
    whether its steps came from the calibration (then the run fits them to the time it measures)."""
    from genzoo.bench import parse_duration
    from genzoo.train.budget import plan

    if args.resume:
        raise ConfigError("--budget plans a new run; to go on with one, use --resume RUN --steps N")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError("--budget calibrates in one process; under torchrun give --steps instead")
    if args.out is None:
        raise ConfigError("say where to write the run: --out DIR")
    budget_s = parse_duration(args.budget)
    file_cfg = read_config_file(args.config, args.model_type) if args.config else {}
    p = plan(args.model_type, budget_s, file_cfg, sections_from_args(args))
    print(f"genzoo train {p.spec.model_type}: {p.describe(budget_s)}")
    return p.spec, args.out, p.seconds, p.steps_per_s is not None


def cmd_train(args: argparse.Namespace) -> None:
    limit, fit_to_time = None, False
    if args.budget is not None:
        spec, out, limit, fit_to_time = budget_plan(args)
        resume = False
    else:
        spec, out, resume = spec_from_args(args)
    path = train(
        spec,
        out,
        resume=resume,
        progress=not args.quiet,
        fit_batch=not batch_size_given(args),
        time_limit_s=limit,
        fit_to_time=fit_to_time,
    )
    if os.environ.get("RANK", "0") == "0":
        print(Run(path).summary())
