"""Command-line interface. Training options are generated from the config dataclasses.

Model fields are flat (``--latent-dim 16``), training fields too (``--steps``), and data fields
are prefixed (``--data mnist --data-root DIR``). A run's ``config.json`` (or any JSON with
``model``/``train``/``data`` sections) can be passed with ``--config``; flags override it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import torch

from genzoo import __version__, io, viz
from genzoo import config as cfgio
from genzoo.data import DataConfig, list_datasets, load_dataset
from genzoo.data.base import IDX_NAMES, data_root
from genzoo.errors import ConfigError, GenzooError
from genzoo.registry import get_model_class, list_models
from genzoo.train import RunSpec, TrainConfig, read_run_spec, train

SECTIONS = ("model", "train", "data")


def _flag(section: str, name: str) -> str:
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
        flag = _flag(section, name)
        key = f"{section}__{name}"
        if key in dest or any(f == flag for f in (_flag(s, n) for s, n in dest.values())):
            raise RuntimeError(f"option {flag} defined twice")  # a programming error
        dest[key] = (section, name)
        default = next(f.default for f in dataclasses.fields(cls) if f.name == name)
        _, inner = cfgio.split_optional(tp)
        help_ = f"default: {default}"
        if inner is bool:
            group.add_argument(
                flag, dest=key, action=argparse.BooleanOptionalAction, default=None, help=help_
            )
        elif get_origin(inner) is Literal:
            group.add_argument(flag, dest=key, choices=get_args(inner), default=None, help=help_)
        else:
            if get_origin(inner) is tuple:
                help_ += " (comma-separated)"
            group.add_argument(
                flag, dest=key, type=_parser_type(tp), default=None, help=help_, metavar=name.upper()
            )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="genzoo",
        allow_abbrev=False,
        description="Classic deep generative models: train, sample, reconstruct, evaluate.",
    )
    p.add_argument("--version", action="version", version=f"genzoo {__version__}")
    p.add_argument("--debug", action="store_true", help="show full tracebacks")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    d = sub.add_parser("datasets", help="list datasets and whether they are present locally")
    d.add_argument("--data-root", default=None, help="data root (default: $GENZOO_DATA or the user cache)")

    t = sub.add_parser("train", help="train a model (see: genzoo train MODEL --help)")
    tsub = t.add_subparsers(dest="model_type", required=True, metavar="MODEL")
    for name in list_models():
        cls = get_model_class(name)
        mp = tsub.add_parser(
            name, allow_abbrev=False, help=(cls.__doc__ or "").strip().split("\n")[0] or None
        )
        mp.add_argument("--out", type=Path, help="run directory to create")
        mp.add_argument(
            "--resume", type=Path, metavar="RUN", help="continue this run from its latest checkpoint"
        )
        mp.add_argument(
            "--config", type=Path, help="JSON with model/train/data sections (e.g. a run's config.json)"
        )
        mp.add_argument("--quiet", action="store_true", help="no progress bar")
        dest: dict[str, tuple[str, str]] = {}
        add_config_options(mp, "model", cls.config_class, dest)
        add_config_options(mp, "train", TrainConfig, dest)
        add_config_options(mp, "data", DataConfig, dest)

    def run_cmd(name: str, help_: str) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=help_)
        c.add_argument("run", type=Path, help="run directory or saved model")
        c.add_argument("-o", "--output", type=Path, required=True, help="PNG file to write")
        c.add_argument("--seed", type=int, default=0)
        return c

    s = run_cmd("sample", "draw new examples from a model")
    s.add_argument("-n", type=int, default=64)
    for name, help_ in (
        ("reconstruct", "originals above, reconstructions below"),
        ("denoise", "clean / corrupted / restored rows"),
    ):
        c = run_cmd(name, help_)
        c.add_argument("-n", type=int, default=8, help="images per row")
        c.add_argument("--data", default=None, help="dataset (default: the one the model was trained on)")
        c.add_argument("--data-root", default=None)
        c.add_argument("--split", choices=("train", "test"), default="test")
        if name == "denoise":
            c.add_argument(
                "--noise", default=None, help="corruption (default: the model's own), e.g. mask:0.5"
            )
    i = sub.add_parser("info", help="config, steps, losses, data and version of a run")
    i.add_argument("run", type=Path)

    e = sub.add_parser(
        "eval", help="score a run (FID/KID/precision/recall, reconstruction) or a .npz of images"
    )
    e.add_argument("run", type=Path, nargs="?", help="run directory or saved model (writes RUN/eval.json)")
    e.add_argument(
        "--samples", type=Path, help="score these images instead (.npz, (N,28,28) uint8 or [0,1] floats)"
    )
    e.add_argument(
        "--data", default=None, help="dataset to compare with (needed with --samples or a model without data)"
    )
    e.add_argument("--n", type=_image_count, default=10_000, help="number of samples (default 10000)")
    add_data_options(e)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--json", type=Path, help="also write the result to this JSON file")
    add_feature_options(e)

    b = sub.add_parser(
        "bench", help="train models for the same time budget, score them, write a table and a plot"
    )
    b.add_argument("--data", default="mnist")
    add_data_options(b)
    b.add_argument("--budget", default="10m", help="wall-clock training time per model, e.g. 90s, 10m")
    b.add_argument("--models", default=None, help="comma-separated (default: every registered model)")
    b.add_argument(
        "--out", type=Path, default=Path("bench.md"), help="markdown report (plot and JSON beside it)"
    )
    b.add_argument("--work", type=Path, default=Path("runs/genzoo-bench"), help="where the runs are written")
    b.add_argument("--evals", type=int, default=4, help="checkpoints scored per model (quality vs time)")
    b.add_argument("--n", type=_image_count, default=10_000, help="samples per score")
    add_feature_options(b)

    dl = sub.add_parser("download", help="fetch a dataset or the FID Inception weights (checksums checked)")
    dl.add_argument("what", choices=("inception", *IDX_NAMES), help="inception, or a dataset")
    dl.add_argument(
        "--mirror",
        action="append",
        default=None,
        help="base URL to fetch from, as {URL}/{name}/{file} (repeatable; default: $GENZOO_MIRROR, else the official source)",
    )
    dl.add_argument(
        "--data-root",
        default=None,
        help="datasets: where to put them (default: $GENZOO_DATA or the user cache)",
    )
    dl.add_argument(
        "--out",
        type=Path,
        default=None,
        help="inception: file to write (default: $GENZOO_INCEPTION_WEIGHTS or the user cache)",
    )
    return p


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


def _image_count(s: str) -> int:
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


def cmd_eval(args: argparse.Namespace) -> None:
    from genzoo.eval.evaluate import evaluate_images, evaluate_run, format_result, load_samples

    if (args.run is None) == (args.samples is None):
        raise ConfigError("give either a RUN or --samples FILE.npz (with --data)")
    from genzoo.eval.features import check_device

    check_device(args.device)  # before any sampling
    features = {"features": args.features, "inception_weights": args.inception_weights, "device": args.device}
    if args.samples is not None:
        if args.data is None:
            raise ConfigError("--samples needs --data, the dataset to compare with (e.g. --data mnist)")
        data = data_from_args(args)
        x = load_samples(args.samples)[: args.n]
        result = {"dataset": args.data, "model_type": str(args.samples)} | evaluate_images(
            x, data, **features
        )
    else:
        changes = {"path": args.data_path, "image_size": args.data_image_size, "channels": args.data_channels}
        result = evaluate_run(
            args.run,
            n=args.n,
            data_root=args.data_root,
            seed=args.seed,
            data_name=args.data,
            data_changes=changes,
            **features,
        )
    if args.json:
        io.atomic_write_json(args.json, result)
    print(format_result(result))


def cmd_bench(args: argparse.Namespace) -> None:
    from genzoo.bench import parse_duration, run_bench

    models = args.models.split(",") if args.models else list_models()
    for m in models:
        get_model_class(m)  # unknown names fail before any training
    data = data_from_args(args)
    command = "genzoo " + " ".join(sys.argv[1:])
    run_bench(
        data,
        parse_duration(args.budget),
        models,
        args.out,
        args.work,
        args.evals,
        args.n,
        command=command,
        features=args.features,
        inception_weights=args.inception_weights,
        device=args.device,
    )
    print(f"wrote {args.out}")


def cmd_download(args: argparse.Namespace) -> None:
    if args.what == "inception":
        from genzoo.eval.features import download_inception

        print(f"Inception weights: {download_inception(args.out, args.mirror)}")
        return
    for split in ("train", "test"):
        load_dataset(DataConfig(name=args.what, root=args.data_root), split, mirrors=args.mirror)
    print(f"{args.what}: present and checked under {data_root(args.data_root) / args.what}")


def _sections_from_args(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {s: {} for s in SECTIONS}
    for key, value in vars(args).items():
        if "__" in key and value is not None:
            section, name = key.split("__", 1)
            out[section][name] = value
    return out


def spec_from_args(args: argparse.Namespace) -> tuple[RunSpec, Path, bool]:
    flags = _sections_from_args(args)
    file_cfg: dict[str, Any] = {}
    if args.config:
        file_cfg = io.read_json(args.config)
        if not isinstance(file_cfg, dict):
            raise ConfigError(f"{args.config} must hold a JSON object")
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
    else:
        base = {s: {} for s in SECTIONS}
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


def _eval_data(args: argparse.Namespace, shape: tuple[int, ...]) -> torch.Tensor:
    """The first n examples of the run's dataset (or --data), for reconstruct/denoise."""
    from genzoo.eval.evaluate import run_data_config

    cfg = io.read_json(io.resolve_model_dir(args.run) / io.CONFIG)
    data = run_data_config(cfg, args.data, args.data_root)
    x = load_dataset(data, args.split).x[: args.n]
    if tuple(x.shape[1:]) != tuple(shape):
        raise ConfigError(f"{data.name} has shape {tuple(x.shape[1:])}; the model expects {tuple(shape)}")
    return x


def cmd_images(args: argparse.Namespace) -> None:
    """sample / reconstruct / denoise: load a model and write a PNG grid."""
    import genzoo
    from genzoo.data import apply_noise

    model = genzoo.load(args.run)
    if len(model.shape) != 3:
        raise GenzooError(f"{args.command} writes images; this model's data have shape {model.shape}")
    if args.command != "sample" and not hasattr(model, "reconstruct"):
        raise GenzooError(f"{model.model_type} cannot reconstruct; try genzoo sample")
    if args.command == "denoise" and not hasattr(model, "corrupt") and args.noise is None:
        raise GenzooError(
            f"{model.model_type} is not a denoising model; pass --noise to corrupt inputs anyway"
        )
    g = torch.Generator().manual_seed(args.seed)
    with torch.no_grad():
        if args.command == "sample":
            rows = viz.chunk_rows(model.sample(args.n, generator=g), max(1, math.ceil(math.sqrt(args.n))))
        elif args.command == "reconstruct":
            x = _eval_data(args, model.shape)
            rows = [x, model.reconstruct(x)]
        else:
            x = _eval_data(args, model.shape)
            noisy = apply_noise(x, args.noise, g) if args.noise else model.corrupt(x, g)
            rows = [x, noisy, model.reconstruct(noisy)]
    viz.save_grid(rows, args.output)
    print(f"wrote {args.output}")


def cmd_info(run: Path) -> None:
    import genzoo

    mdir = io.resolve_model_dir(run)
    cfg = io.read_json(mdir / io.CONFIG)
    model = genzoo.load(run)
    print(f"run:        {run}")
    print(f"model:      {cfg['model_type']}  ({sum(p.numel() for p in model.parameters()):,} parameters)")
    print(f"version:    saved by genzoo {cfg.get('genzoo_version')}, this is {__version__}")
    if (mdir / "state.json").is_file():
        print(f"step:       {io.read_json(mdir / 'state.json')['step']} (checkpoint {mdir.name})")
    if "data" in cfg:
        print(f"data:       {cfg['data']['name']}  shape {tuple(cfg['shape'])}")
    metrics = run / "metrics.jsonl"
    if metrics.is_file() and metrics.read_text().strip():
        print("last log:   " + metrics.read_text().strip().splitlines()[-1])
    for s in SECTIONS:
        if s in cfg:
            print(f"{s + ':':<11} {json.dumps(cfg[s])}")


def run(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "datasets":
        rows = list_datasets(args.data_root)
        print(f"{'name':<16} {'shape':<12} {'classes':<8} {'present':<8} description")
        for r in rows:
            shape = "x".join(str(s) for s in r["shape"]) if r.get("shape") else "-"
            print(
                f"{r['name']:<16} {shape:<12} {str(r['classes'] or '-'):<8} {str(r['present']):<8} {r['description']}"
            )
    elif args.command == "train":
        spec, out, resume = spec_from_args(args)
        path = train(spec, out, resume=resume, progress=not args.quiet)
        if os.environ.get("RANK", "0") == "0":
            print(f"trained {spec.model_type} to step {spec.train.steps}; run in {path}")
    elif args.command == "info":
        cmd_info(args.run)
    elif args.command == "eval":
        cmd_eval(args)
    elif args.command == "download":
        cmd_download(args)
    elif args.command == "bench":
        cmd_bench(args)
    else:
        cmd_images(args)
    return 0


def main(argv: list[str] | None = None) -> int:
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        return run(argv)
    except GenzooError as e:
        if debug:
            raise
        print(f"genzoo: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("genzoo: interrupted; the last checkpoint is kept", file=sys.stderr)
        return 130
