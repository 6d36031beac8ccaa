"""``genzoo retrieve``: nearest neighbours and semantic hashing in code space (the logic lives in
``genzoo.apps.retrieval``; this module reads options and data)."""

from __future__ import annotations

import argparse

from genzoo import latent, viz
from genzoo.apps import retrieval
from genzoo.cli.latent import ints
from genzoo.cli.options import add_run_and_png, add_run_data_options, positive_int, run_split
from genzoo.errors import ConfigError, GenzooError


def add_parsers(sub) -> None:
    c = sub.add_parser(
        "retrieve",
        help="nearest neighbours of test images in a model's code space",
        description="Nearest neighbours of test images in the code space of a model that can encode "
        "(an autoencoder's code, a VAE's posterior mean): one row per query, the query then its k "
        "neighbours from the database (the training split, or the test split without the queries), "
        "and each query's precision@k (neighbours with its label). --metric hamming compares bits: "
        "codes > 0.5 for a model trained for binary codes (ae --code sigmoid-noise|straight-through), "
        "else codes above the database's per-dimension median. Class-conditional models are refused.",
    )
    add_run_and_png(c, "run directory or saved model (one that can encode)")
    c.add_argument(
        "--query", type=ints, default=(0,), metavar="I", help="test image(s), e.g. 0 or 0,5,9 (default 0)"
    )
    c.add_argument(
        "-k",
        "--neighbours",
        dest="k",
        type=positive_int,
        default=10,
        help="neighbours per query (default 10)",
    )
    c.add_argument("--metric", choices=retrieval.METRICS, default="cosine", help="distance (default cosine)")
    c.add_argument(
        "--database",
        choices=("train", "test"),
        default="train",
        help="search the training split, or the test split without the queries (default train)",
    )
    c.add_argument(
        "--n-db", type=positive_int, default=None, metavar="N", help="search only the first N database images"
    )
    add_run_data_options(c)
    c.set_defaults(handler=cmd_retrieve)


def cmd_retrieve(args: argparse.Namespace) -> None:
    import genzoo

    model = genzoo.load(args.run, which=args.which)
    retrieval.check_can_retrieve(model)
    latent.check_images(model, "retrieve")
    test, data = run_split(args, "test", whole=True)
    bad = [i for i in args.query if not 0 <= i < len(test)]
    if bad:
        raise ConfigError(
            f"--query {','.join(map(str, bad))} out of range: the {data.name} test split has "
            f"{len(test)} images (0..{len(test) - 1})"
        )
    query = list(dict.fromkeys(args.query))  # each query once, in the order given
    if args.database == "train":
        db, _ = run_split(args, "train", whole=True)
        keep = retrieval.database_indices(len(db), limit=args.n_db)
    else:
        db = test
        keep = retrieval.database_indices(len(test), exclude=query, limit=args.n_db)
    if len(keep) == 0:
        raise GenzooError(f"the {data.name} {args.database} database is empty")
    if args.k > len(keep):
        raise ConfigError(f"-k {args.k} is more than the {len(keep)} images of the database")
    db_x = db.x[keep]
    qx = test.x[query]
    res = retrieval.retrieve(model, db_x, qx, args.k, args.metric)
    viz.save_grid(retrieval.neighbour_rows(qx, db_x, res.indices), args.output)
    if test.y is not None and db.y is not None:
        q_labels = test.y[query]
        prec = retrieval.precision_at_k(res.indices, db.y[keep], q_labels)
        for i, label, p in zip(query, q_labels.tolist(), prec.tolist(), strict=True):
            print(f"query {i} (label {label}): precision@{args.k} = {p:.2f}")
        print(
            f"  (precision@{args.k}: share of the {args.k} nearest images with the query's label, "
            "0 to 1, higher is better)"
        )
    print(
        f"wrote {args.output} ({len(query)} queries x {args.k} neighbours, {args.metric}, {len(keep)} images)"
    )
