"""``genzoo eval | bench | download``: scores, timed comparisons, and the files they need."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from genzoo import io, names
from genzoo.cli.options import (
    UNCONDITIONED,
    OutputDir,
    OutputFile,
    add_data_options,
    add_feature_options,
    add_sampler_options,
    add_which,
    data_from_args,
    dataset_name,
    given_sampler_options,
    image_count,
    mirror_url,
    positive_int,
    whole_number,
)
from genzoo.data import DataConfig, load_dataset
from genzoo.data.base import data_root
from genzoo.data.idx import CHECKSUMS as IDX_SETS
from genzoo.errors import ConfigError
from genzoo.registry import get_model_class


def add_parsers(sub) -> None:
    e = sub.add_parser(
        "eval", help="score a run (FID/KID/precision/recall, reconstruction) or a .npz of images"
    )
    e.add_argument("run", type=Path, nargs="?", help="run directory or saved model (writes RUN/eval.json)")
    e.add_argument(
        "--samples",
        type=Path,
        nargs="+",
        metavar="FILE",
        help="score these images instead (.npz, (N,28,28) uint8 or [0,1] floats; several files are "
        "scored as one set, in the order given, e.g. the parts of genzoo sample runs over disjoint --seed ranges)",
    )
    e.add_argument(
        "--data",
        type=dataset_name,
        default=None,
        help="dataset to compare with (needed with --samples or a model without data)",
    )
    add_which(e)
    e.add_argument("--n", type=image_count, default=10_000, help="number of samples (default 10000)")
    add_data_options(e)
    e.add_argument("--seed", type=whole_number, default=0)
    e.add_argument(
        "--iwae-k",
        type=positive_int,
        default=None,
        help="VAEs: importance samples of the -log p(x) bound (default 1000; the IWAE bound, k=1 is the ELBO)",
    )
    e.add_argument("--json", type=OutputFile(), help="also write the result to this JSON file")
    add_feature_options(e)
    add_sampler_options(
        e, UNCONDITIONED, "iterative samplers (diffusion models): how the scored samples are drawn"
    )
    e.set_defaults(handler=cmd_eval)

    b = sub.add_parser(
        "bench", help="train models for the same time budget, score them, write a table and a plot"
    )
    b.add_argument("--data", type=dataset_name, default="mnist")
    add_data_options(b)
    b.add_argument("--budget", default="10m", help="wall-clock training time per model, e.g. 90s, 10m")
    b.add_argument("--models", default=None, help="comma-separated (default: every registered model)")
    b.add_argument(
        "--out",
        type=OutputFile(".md"),
        default=Path("bench.md"),
        help="markdown report (.md; plot and JSON beside it)",
    )
    b.add_argument(
        "--work", type=OutputDir(), default=Path("runs/genzoo-bench"), help="where the runs are written"
    )
    b.add_argument(
        "--evals", type=positive_int, default=4, help="checkpoints scored per model (quality vs time)"
    )
    b.add_argument("--n", type=image_count, default=10_000, help="samples per score")
    add_feature_options(b)
    add_sampler_options(
        b,
        UNCONDITIONED,
        "iterative samplers: how the diffusion models' scored samples are drawn (others: unchanged)",
    )
    b.set_defaults(handler=cmd_bench)

    dl = sub.add_parser("download", help="fetch a dataset or the FID Inception weights (checksums checked)")
    what = ("inception", *IDX_SETS)
    dl.add_argument(
        "what", type=lambda s: names.match(s, what) or s, choices=what, help="inception, or a dataset"
    )
    dl.add_argument(
        "--mirror",
        action="append",
        type=mirror_url,
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
        type=OutputFile(directory_ok=True),
        default=None,
        help="inception: file to write, or a directory for pytorch-fid's file name in it "
        "(default: $GENZOO_INCEPTION_WEIGHTS or the user cache)",
    )
    dl.set_defaults(handler=cmd_download)


def cmd_eval(args: argparse.Namespace) -> None:
    from genzoo.eval.evaluate import class_names_of, evaluate_images, evaluate_run, format_result
    from genzoo.eval.samples_file import load_sample_files

    if (args.run is None) == (args.samples is None):
        raise ConfigError("give either a RUN or --samples FILE.npz (with --data)")
    if args.samples is not None and args.iwae_k is not None:
        raise ConfigError("--iwae-k applies to a RUN with a likelihood, not to --samples")
    sampler = given_sampler_options(args, UNCONDITIONED)  # checked against the model by evaluate_run
    if args.samples is not None and sampler:
        flags = ", ".join(f"--{k}" for k in sampler)
        raise ConfigError(f"{flags} choose how a RUN's samples are drawn, not --samples' images")
    from genzoo.eval.features import check_device

    check_device(args.device)  # before any sampling
    features = {"features": args.features, "inception_weights": args.inception_weights, "device": args.device}
    if args.samples is not None:
        if args.data is None:
            raise ConfigError("--samples needs --data, the dataset to compare with (e.g. --data mnist)")
        data = data_from_args(args)
        x = load_sample_files(args.samples)[: args.n]
        names = " + ".join(map(str, args.samples))
        result = {"dataset": args.data, "model_type": names} | evaluate_images(x, data, **features)
    else:
        changes = {"path": args.data_path, "image_size": args.data_image_size, "channels": args.data_channels}
        result = evaluate_run(
            args.run,
            n=args.n,
            data_root=args.data_root,
            seed=args.seed,
            data_name=args.data,
            data_changes=changes,
            iwae_k=args.iwae_k,
            which=args.which,
            sample_options=sampler,
            **features,
        )
    if args.json:
        io.atomic_write_json(args.json, result)
    class_names = None
    if "class_shares" in result.get("samples", {}):  # name the shares by the dataset's classes
        data = data_from_args(args) if args.samples is not None else result["dataset"]
        class_names = class_names_of(data, args.data_root)
    print(format_result(result, class_names))


def cmd_bench(args: argparse.Namespace) -> None:
    from genzoo.bench import parse_duration, run_bench
    from genzoo.data import check_data_config
    from genzoo.eval.features import check_device

    # every setting is checked before the first (long) training run
    models = args.models.split(",") if args.models else None  # None: every family that fits the data
    try:
        models = models and [get_model_class(m).model_type for m in models]  # VAE: vae
    except ConfigError as e:
        raise ConfigError(f"--models: {e}") from None
    budget = parse_duration(args.budget)
    if budget <= 0:
        raise ConfigError(f"--budget must be a positive duration, got {args.budget!r}")
    check_device(args.device)
    data = data_from_args(args)
    check_data_config(data)
    command = "genzoo " + " ".join(sys.argv[1:])
    run_bench(
        data,
        budget,
        models,
        args.out,
        args.work,
        args.evals,
        args.n,
        command=command,
        features=args.features,
        inception_weights=args.inception_weights,
        device=args.device,
        sample_options=given_sampler_options(args, UNCONDITIONED),
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
