"""``genzoo anomaly | classify``: anomaly detection and the generative classifier.

The logic lives in ``genzoo.apps.anomaly`` and ``genzoo.apps.classify``; this module reads options
and data and prints the tables.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from genzoo import io, viz
from genzoo.apps import anomaly, classify
from genzoo.cli.latent import ints
from genzoo.cli.options import (
    OutputFile,
    add_run_data_options,
    add_which,
    dataset_name,
    positive_int,
    run_split,
    whole_number,
)
from genzoo.errors import ConfigError, GenzooError


def add_parsers(sub) -> None:
    a = sub.add_parser(
        "anomaly",
        help="score test images as anomalies: AUROC/AUPRC per class, or against another dataset",
        description="Scores each test image (reconstruction error, -ELBO, or -log p(x)); larger = more "
        "anomalous. One-class setting: the run was trained on --data-classes (or give --normal) and "
        "the other classes are the anomalies. --ood DATASET: that dataset's test images are the "
        "anomalies. Prints AUROC and AUPRC; -o draws the most and the least anomalous test images.",
    )
    a.add_argument("run", type=Path, help="run directory or saved model")
    add_which(a)
    a.add_argument("-o", "--output", type=OutputFile(".png"), default=None, help="picture of the extremes")
    a.add_argument(
        "--normal", type=ints, default=None, help="normal class indices (default: the run's classes)"
    )
    a.add_argument(
        "--ood",
        type=dataset_name,
        default=None,
        metavar="DATASET",
        help="score this dataset's test split as anomalies",
    )
    a.add_argument(
        "--score", choices=anomaly.SCORES, default="auto", help="auto: -log p(x) if the model has it"
    )
    a.add_argument(
        "--k", type=positive_int, default=None, help="--score likelihood of a VAE: IWAE samples (default 10)"
    )
    a.add_argument("-n", type=positive_int, default=None, help="score only the first n test images")
    a.add_argument("--show", type=positive_int, default=10, help="images per row of the picture (default 10)")
    a.add_argument("--seed", type=whole_number, default=0)
    a.add_argument("--json", type=OutputFile(".json"), default=None, help="write the report here")
    add_run_data_options(a)
    a.set_defaults(handler=cmd_anomaly)
    c = sub.add_parser(
        "classify",
        help="the generative classifier p(y|x) by Bayes' rule, beside a discriminative one",
        description="With a class-conditional model (cvae): p(y|x) = p(x|y) p(y) / p(x), log p(x|y) "
        "from the IWAE bound (or the ELBO) of each class, p(y) the training class frequencies. A "
        "small CNN trained on the run's own training images and labels is scored beside it, on "
        "clean and corrupted test images.",
    )
    c.add_argument("run", type=Path, help="run directory or saved model of a class-conditional model")
    add_which(c)
    c.add_argument("--bound", choices=("iwae", "elbo"), default="iwae", help="log p(x|y) estimate")
    c.add_argument(
        "--k", type=positive_int, default=None, help="--bound iwae: importance samples (default 10)"
    )
    c.add_argument("-n", type=positive_int, default=None, help="score only the first n test images")
    c.add_argument(
        "--corruptions",
        type=_spec_list,
        default=list(classify.CORRUPTIONS),
        help="comma-separated: clean, gaussian:S, saltpepper:P, mask:P, occlude:center|left "
        f"(default {','.join(classify.CORRUPTIONS)})",
    )
    c.add_argument(
        "--steps", type=positive_int, default=2000, help="training steps of the discriminative CNN"
    )
    c.add_argument("--seed", type=whole_number, default=0)
    c.add_argument("--json", type=OutputFile(".json"), default=None, help="write the report here")
    add_run_data_options(c)
    c.set_defaults(handler=cmd_classify)


def _spec_list(s: str) -> list[str]:
    """argparse type: comma-separated corruption names, at least one."""
    kinds = [v.strip() for v in s.split(",") if v.strip()]
    if not kinds:
        raise argparse.ArgumentTypeError(f"expected comma-separated corruptions, got {s!r}")
    return kinds


def _write_json(path: Path | None, report: dict[str, Any]) -> None:
    if path is not None:
        io.atomic_write_json(path, report)
        print(f"wrote {path}")


def _run_classes(run: Path) -> tuple[int, ...] | None:
    """The classes the run was trained on (--data-classes), None if all or unknown."""
    from genzoo.run import Run

    try:
        return Run(run).data_config().classes
    except GenzooError:
        return None


def cmd_anomaly(args: argparse.Namespace) -> None:
    import genzoo

    model = genzoo.load(args.run, which=args.which)
    score = anomaly.resolve_score(model, args.score)
    test, data = run_split(args, "test", whole=True)
    if args.k is not None and score != "likelihood":
        raise ConfigError(f"--k sets the IWAE samples of --score likelihood; the score here is {score}")
    if args.normal is not None and args.ood is not None:
        raise ConfigError(
            "--normal names the normal classes of a one-class test; with --ood the other dataset is the anomaly"
        )
    k = 10 if args.k is None else args.k
    normal = args.normal if args.normal is not None else _run_classes(args.run)
    if args.ood is None and normal is None:
        raise ConfigError(
            "give --normal CLASSES (this run was trained on every class) or --ood DATASET to score "
            "another dataset's images as the anomalies"
        )
    names = test.info.class_names
    if normal is not None and args.ood is None:
        k = len(names) if names else None
        bad = [c for c in normal if c < 0 or (k is not None and c >= k)]
        if bad:
            raise ConfigError(
                f"--normal {','.join(map(str, bad))}: {data.name} has classes 0..{(k or 1) - 1}"
            )
        if test.y is None:
            raise GenzooError(f"--normal needs labels; the {data.name} test split has none")
    x = test.x[: args.n] if args.n else test.x
    if args.ood is not None:
        from genzoo.run import Run

        try:  # the run's own data settings (binarized or not, ...) on the other dataset, at the model's size
            other = Run(args.run).ood_data(args.ood, which=args.which, root=args.data_root)
        except GenzooError as e:
            raise type(e)(f"--ood {args.ood}: {e}") from None
        xo = other.x[: args.n] if args.n else other.x
        s_in = anomaly.anomaly_scores(model, x, score, k=k, seed=args.seed)
        s_out = anomaly.anomaly_scores(model, xo, score, k=k, seed=args.seed)
        report = {"score": score, "in": data.name, "ood": args.ood} | anomaly.ood_report(s_in, s_out)
        print(
            f"{model.model_type} trained on {data.name}; anomalies: {args.ood} test images; score {score}\n"
            f"AUROC {report['auroc']:.4f}  AUPRC {report['auprc']:.4f}  (n {len(x)} + {len(xo)})  {AUC_MEANING}\n"
            f"mean score: {data.name} {report['mean_in']:.4g}, {args.ood} {report['mean_out']:.4g}; "
            f"{100 * report['out_below_median_in']:.1f}% of {args.ood} scored less anomalous than the "
            f"median {data.name} image"
        )
        if report["auroc"] < 0.5:
            print(f"note: AUROC < 0.5 -- the model rates {args.ood} as more typical than its own data")
        pool, scores = torch.cat([x, xo]), torch.cat([s_in, s_out])
    else:
        y = test.y[: len(x)]
        scores = anomaly.anomaly_scores(model, x, score, k=k, seed=args.seed)
        report = {"score": score, "data": data.name} | anomaly.one_class_report(scores, y, normal, names)
        print(
            f"{model.model_type} on {data.name}; normal: {', '.join(report['normal'])}; score {score}\n"
            f"AUROC {report['auroc']:.4f}  AUPRC {report['auprc']:.4f}  "
            f"(n {report['n_normal']} normal + {report['n_anomalous']} anomalous)  {AUC_MEANING}"
        )
        for name, r in report["per_class"].items():
            print(f"  class {name:>12}: AUROC {r['auroc']:.4f}  AUPRC {r['auprc']:.4f}  (n {r['n']})")
        pool = x
    _write_json(args.json, report)
    if args.output is not None:
        if len(model.shape) != 3:
            raise GenzooError(f"-o draws images; this model's data have shape {model.shape}")
        most, least = anomaly.extremes(scores, args.show)
        viz.save_grid([pool[most], pool[least]], args.output)
        print(f"wrote {args.output} (top row: most anomalous first; bottom row: least anomalous)")


# what AUROC and AUPRC say, printed beside them
AUC_MEANING = (
    "(0 to 1, higher is better; AUROC: the chance an anomaly scores above a normal image, 0.5 = guessing; "
    "AUPRC: precision averaged over recall, guessing = the share of anomalies)"
)


def cmd_classify(args: argparse.Namespace) -> None:
    import genzoo

    classify.check_corruptions(args.corruptions)
    if args.k is not None and args.bound != "iwae":
        raise ConfigError(f"--k sets the importance samples of --bound iwae, not --bound {args.bound}")
    k = 10 if args.k is None else args.k
    model = genzoo.load(args.run, which=args.which)
    classify.check_classifiable(model)
    train, data = run_split(args, "train")  # the images and labels the model saw
    test, _ = run_split(args, "test", whole=True)
    if train.y is None or test.y is None:
        raise GenzooError(f"classify needs labels; {data.name} has none")
    x, y = (test.x[: args.n], test.y[: args.n]) if args.n else (test.x, test.y)
    print(
        f"{model.model_type} on {data.name}: {len(train)} training images, {len(x)} test images; "
        f"log p(x|y) by the {args.bound} bound" + (f" (k = {k})" if args.bound == "iwae" else "")
    )
    report = classify.compare_classifiers(
        model,
        train.x,
        train.y,
        x,
        y,
        corruptions=args.corruptions,
        bound=args.bound,
        k=k,
        steps=args.steps,
        seed=args.seed,
        log=print,
    )
    _write_json(args.json, {"data": data.name, "model_type": model.model_type} | report)
