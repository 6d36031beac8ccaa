"""``genzoo datasets | info``: what data there are, and what a run holds."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from genzoo import __version__, io
from genzoo.cli.options import SECTIONS
from genzoo.data import list_datasets
from genzoo.models import capabilities
from genzoo.train.checkpoint import pointed


def add_parsers(sub) -> None:
    d = sub.add_parser("datasets", help="list datasets and whether they are present locally")
    d.add_argument("--data-root", default=None, help="data root (default: $GENZOO_DATA or the user cache)")
    d.set_defaults(handler=cmd_datasets)

    i = sub.add_parser("info", help="config, steps, losses, data and version of a run")
    i.add_argument("run", type=Path)
    i.set_defaults(handler=cmd_info)


def cmd_datasets(args: argparse.Namespace) -> None:
    rows = list_datasets(args.data_root)
    print(f"{'name':<16} {'shape':<12} {'classes':<8} {'present':<8} description")
    for r in rows:
        shape = "x".join(str(s) for s in r["shape"]) if r.get("shape") else "-"
        print(
            f"{r['name']:<16} {shape:<12} {str(r['classes'] or '-'):<8} {str(r['present']):<8} {r['description']}"
        )


def precision_reason(records: list[dict]) -> str | None:
    """What precision the run's latest training trained in, and why (its metrics.jsonl records,
    ``genzoo.Run.metrics``); a run logged before the reason was recorded gives just the precision."""
    why = [r["precision_reason"] for r in records if "precision_reason" in r]
    if why:
        return str(why[-1])
    last = [r["precision"] for r in records if "precision" in r]
    return f"{last[-1]} (the log does not say why)" if last else None


def cmd_info(args: argparse.Namespace) -> None:
    import genzoo

    run = args.run
    mdir = io.resolve_model_dir(run)
    cfg = io.read_config(mdir)
    model = genzoo.load(run)
    print(f"run:        {run}")
    print(f"model:      {cfg['model_type']}  ({sum(p.numel() for p in model.parameters()):,} parameters)")
    print(f"version:    saved by genzoo {cfg.get('genzoo_version')}, this is {__version__}")
    can = capabilities.describe(model)
    extra = [
        f"{k.replace('_', ' ')}: {', '.join(map(str, v)) if isinstance(v, list) else v}"
        for k, v in can.items()
        if k not in ("model_type", "capabilities", "likelihood_kind") and v not in ([], None)
    ]
    print(f"can:        {', '.join(can['capabilities'])}" + (f"  ({'; '.join(extra)})" if extra else ""))
    if (mdir / "state.json").is_file():
        state = io.read_json(mdir / "state.json")
        step = state.get("step") if isinstance(state, dict) else None
        print(
            f"step:       {step if isinstance(step, int) else 'unknown (state.json has no step)'} (checkpoint {mdir.name})"
        )
    if best := pointed(Path(run) / "checkpoints", "best"):
        state = io.read_json(Path(run) / "checkpoints" / best / "state.json")
        sel = state.get("select") if isinstance(state, dict) else None
        shown = (
            f" ({sel['by']} {sel['score']:.2f} of {sel['samples']} samples)" if isinstance(sel, dict) else ""
        )
        print(f"best:       checkpoint {best}{shown}")
    if "data" in cfg:
        print(f"data:       {cfg['data']['name']}  shape {tuple(cfg['shape'])}")
    metrics = run / "metrics.jsonl"
    if metrics.is_file() and metrics.read_text().strip():
        lines = metrics.read_text().strip().splitlines()
        if why := precision_reason(genzoo.Run(run).metrics()):
            print(f"precision:  {why}")
        print("last log:   " + lines[-1])
    for s in SECTIONS:
        if s in cfg:  # the model as loaded: keys a run saved before they existed, filled as it trained
            shown = model.config_dict()["model"] if s == "model" else cfg[s]
            print(f"{s + ':':<11} {json.dumps(shown)}")
