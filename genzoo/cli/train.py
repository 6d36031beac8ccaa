"""``genzoo train MODEL``: one subcommand per registered model, its options generated from the
model's config, the training config and the data config."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from genzoo import config as cfgio
from genzoo import io
from genzoo.cli.options import SECTIONS, OutputDir, add_config_options, sections_from_args
from genzoo.data import DataConfig
from genzoo.errors import ConfigError
from genzoo.registry import get_model_class, list_models
from genzoo.train import RunSpec, TrainConfig, read_run_spec, train


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
        dest: dict[str, tuple[str, str]] = {}
        add_config_options(mp, "model", cls.config_class, dest)
        add_config_options(mp, "train", TrainConfig, dest, defaults=cls.train_defaults)
        add_config_options(mp, "data", DataConfig, dest)
        mp.set_defaults(handler=cmd_train)


def spec_from_args(args: argparse.Namespace) -> tuple[RunSpec, Path, bool]:
    """The run to train: a resumed run's config, then ``--config``, then the flags (last wins)."""
    flags = sections_from_args(args)
    file_cfg: dict[str, Any] = {}
    if args.config:
        file_cfg = io.read_json(args.config)
        if not isinstance(file_cfg, dict):
            raise ConfigError(f"{args.config} must hold a JSON object")
        if not any(s in file_cfg for s in SECTIONS):
            raise ConfigError(f"{args.config} has none of the sections {', '.join(SECTIONS)}")
        for s in SECTIONS:
            if not isinstance(file_cfg.get(s) or {}, dict):
                raise ConfigError(f"{args.config}: section {s!r} must be a JSON object")
        if file_cfg.get("model_type", args.model_type) != args.model_type:
            raise ConfigError(
                f"{args.config} is for model {file_cfg['model_type']!r}, not {args.model_type!r}"
            )
    cls = get_model_class(args.model_type)
    if args.resume:
        old = read_run_spec(args.resume)
        base = {
            "model": cfgio.to_dict(old.model),
            "train": cfgio.to_dict(old.train),
            "data": cfgio.to_dict(old.data),
        }
    else:  # the family's training defaults (a GAN's Adam settings) under the file and the flags
        base = {s: {} for s in SECTIONS} | {"train": dict(cls.train_defaults)}
    merged = {s: base[s] | (file_cfg.get(s) or {}) | flags[s] for s in SECTIONS}
    spec = RunSpec(
        args.model_type,
        cfgio.from_dict(cls.config_class, merged["model"], f"{args.model_type} config"),
        cfgio.from_dict(DataConfig, merged["data"], "data config"),
        cfgio.from_dict(TrainConfig, merged["train"], "train config"),
    )
    if args.resume and args.out and args.out.resolve() != args.resume.resolve():
        raise ConfigError("--out and --resume name different runs; a resume continues in place")
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


def cmd_train(args: argparse.Namespace) -> None:
    spec, out, resume = spec_from_args(args)
    path = train(spec, out, resume=resume, progress=not args.quiet, fit_batch=not batch_size_given(args))
    if os.environ.get("RANK", "0") == "0":
        print(f"trained {spec.model_type} to step {spec.train.steps}; run in {path}")
