"""What a newcomer meets: the line a training ends with, the hint that a run is too short to
sample from."""

from __future__ import annotations

import re

import genzoo
from genzoo.cli import main
from genzoo.models.base import GenerativeModel
from genzoo.registry import model_classes
from genzoo.train import train
from tests.conftest import tiny_spec


def test_training_ends_with_a_summary_line(tmp_path, capsys):
    run = tmp_path / "ae"
    argv = ["train", "ae", "--data", "digits", "--steps", "20", "--batch-size", "32", "--image-every", "10"]
    assert main([*argv, "--arch", "mlp", "--precision", "fp32", "--quiet", "--out", str(run)]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert re.fullmatch(
        rf"trained ae to step 20 in [\d.]+ s \([\d.e+]+ steps/s\); final loss [\d.e-]+, .+; "
        rf"pictures in {re.escape(str(run / 'progress'))} \(step-\*\.png, latest step 20\); run in {re.escape(str(run))}",
        line,
    ), line


def test_sample_says_when_a_run_is_too_short_for_its_family(tmp_path, capsys):
    assert GenerativeModel.min_useful_steps == 0
    short = {n for n, c in model_classes().items() if c.min_useful_steps}
    assert {"ddpm", "cddpm", "dcgan", "gan"} <= short and "ae" not in short
    run = train(tiny_spec("ddpm", steps=2), tmp_path / "ddpm", progress=False)
    assert genzoo.Run(run).short_note() == (
        f"{run} trained 2 steps; its samples are likely noise (ddpm runs need at least ~300 steps)"
    )
    assert (
        main(
            [
                "sample",
                str(run),
                "-n",
                "2",
                "--sampler",
                "ddim",
                "--steps",
                "2",
                "-o",
                str(tmp_path / "s.png"),
            ]
        )
        == 0
    )
    assert "its samples are likely noise" in capsys.readouterr().err
    ae = train(tiny_spec("ae", steps=2), tmp_path / "ae", progress=False)
    assert genzoo.Run(ae).short_note() is None  # an autoencoder's 2-step samples are blurry, not noise
