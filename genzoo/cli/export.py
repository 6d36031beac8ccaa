"""``genzoo export``: a model's part (decoder, encoder, generator, a flow's inverse, a diffusion
model's denoiser) as ONNX, checked with onnxruntime against PyTorch (``genzoo.export``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from genzoo.cli.options import OutputFile, add_which


def add_parsers(sub) -> None:
    from genzoo.export import OPSET, PARTS, TOLERANCE

    p = sub.add_parser(
        "export",
        help="a model's decoder, encoder, generator, flow inverse or denoiser as ONNX (checked with onnxruntime)",
        description=f"Writes one part of a model as ONNX (opset {OPSET}, dynamic batch) and checks it with "
        f"onnxruntime on random inputs: outputs equal PyTorch's within {TOLERANCE:g}. Default part: a diffusion "
        "model's denoiser (one network step; the sampler stays in Python), a flow's inverse, an autoencoder's or "
        "VAE's decoder, a GAN's generator. Needs: pip install 'genzoo[export]'.",
    )
    p.add_argument("run", type=Path, help="run directory or saved model")
    add_which(p)
    p.add_argument("-o", "--output", type=OutputFile(".onnx"), required=True, help="ONNX file to write")
    p.add_argument(
        "--part", choices=PARTS, default=None, help="the part to export (default: the model's main one)"
    )
    p.set_defaults(handler=cmd_export)


def cmd_export(args: argparse.Namespace) -> None:
    from genzoo.export import export_run

    print(export_run(args.run, args.output, args.part, which=args.which).line())
