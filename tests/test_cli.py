"""The command line end to end on the embedded digits data."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from PIL import Image

import genzoo
from genzoo.cli import main

SMALL = ["--steps", "30", "--batch-size", "64", "--ckpt-every", "15", "--image-every", "15", "--quiet"]


@pytest.fixture(scope="module")
def ae_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("cli") / "ae"
    assert (
        main(
            [
                "train",
                "ae",
                "--data",
                "digits",
                "--latent-dim",
                "4",
                "--channels",
                "8,16",
                "--out",
                str(run),
                *SMALL,
            ]
        )
        == 0
    )
    return run


def test_train_writes_a_run_and_info_describes_it(ae_run, capsys):
    cfg = json.loads((ae_run / "config.json").read_text())
    assert (
        cfg["model_type"] == "ae" and cfg["model"]["latent_dim"] == 4 and cfg["model"]["channels"] == [8, 16]
    )
    assert cfg["train"]["steps"] == 30 and cfg["data"]["name"] == "digits" and cfg["shape"] == [1, 8, 8]
    assert main(["info", str(ae_run)]) == 0
    out = capsys.readouterr().out
    assert "ae" in out and "step:       30" in out and "digits" in out and genzoo.__version__ in out


def test_sample_and_reconstruct_write_images(ae_run, tmp_path):
    assert main(["sample", str(ae_run), "-n", "16", "-o", str(tmp_path / "s.png")]) == 0
    assert main(["reconstruct", str(ae_run), "-n", "5", "-o", str(tmp_path / "r.png")]) == 0
    s, r = Image.open(tmp_path / "s.png"), Image.open(tmp_path / "r.png")
    assert s.size[0] == s.size[1]  # a 4 x 4 grid
    assert r.size[1] < r.size[0]  # two rows of five


def test_resume_continues_to_more_steps(ae_run, tmp_path):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(ae_run, run)
    assert main(["train", "ae", "--resume", str(run), "--steps", "45", "--quiet"]) == 0
    assert (run / "checkpoints/latest").read_text().strip() == "step-0000045"
    assert json.loads((run / "config.json").read_text())["train"]["steps"] == 45


def test_config_file_and_flags(ae_run, tmp_path):
    run = tmp_path / "from-config"
    args = [
        "train",
        "ae",
        "--config",
        str(ae_run / "config.json"),
        "--steps",
        "5",
        "--out",
        str(run),
        "--quiet",
    ]
    assert main(args) == 0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["model"]["latent_dim"] == 4 and cfg["train"]["steps"] == 5


def test_denoise_with_a_dae(tmp_path):
    run = tmp_path / "dae"
    assert (
        main(
            [
                "train",
                "dae",
                "--noise",
                "mask:0.4",
                "--arch",
                "mlp",
                "--hidden",
                "32",
                "--out",
                str(run),
                *SMALL,
            ]
        )
        == 0
    )
    assert main(["denoise", str(run), "-o", str(tmp_path / "d.png")]) == 0
    assert Image.open(tmp_path / "d.png").size[0] > 0


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "ae", "--out", "x", "--noise", "gaussian:0.5"], None),  # argparse: not an ae option
        (["train", "dae", "--noise", "blur:2", "--out", "{tmp}/x"], "blur"),
        (["train", "ae", "--data", "nope", "--out", "{tmp}/x"], "unknown dataset"),
        (["train", "ae", "--arch", "conv", "--data", "moons", "--out", "{tmp}/x"], "needs image data"),
        (["train", "ae", "--steps", "5"], "--out"),
        (["sample", "{tmp}/missing", "-o", "{tmp}/a.png"], "does not exist"),
        (["train", "ae", "--batch-size", "100000", "--out", "{tmp}/x"], "larger than"),
    ],
)
def test_bad_input_is_one_readable_line(argv, message, tmp_path, capsys):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if message is None:
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2
        return
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("genzoo: error:") and message in err and "Traceback" not in err
    assert len(err.splitlines()) == 1


def test_loading_a_run_of_another_type_as_this_type_fails(ae_run, tmp_path, capsys):
    from genzoo.errors import CheckpointError
    from genzoo.models.autoencoder import DenoisingAutoencoder

    with pytest.raises(CheckpointError, match="holds a 'ae' model"):
        DenoisingAutoencoder.load(ae_run)
    assert main(["train", "dae", "--resume", str(ae_run), "--quiet"]) == 2
    assert "cannot resume it as 'dae'" in capsys.readouterr().err


def test_python_dash_m_and_help():
    out = subprocess.run(
        [sys.executable, "-m", "genzoo", "train", "dae", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0
    for flag in ("--latent-dim", "--noise", "--steps", "--data-root", "--resume", "--ema-decay"):
        assert flag in out.stdout


def test_datasets_lists_presence(capsys, tmp_path):
    assert main(["datasets", "--data-root", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    digits = next(line for line in lines if line.startswith("digits"))
    mnist = next(line for line in lines if line.startswith("mnist"))
    assert "True" in digits and "False" in mnist


def test_reconstruct_a_saved_model_needs_to_be_told_its_data(ae_run, tmp_path, capsys):
    genzoo.load(ae_run).save(tmp_path / "saved")
    assert main(["reconstruct", str(tmp_path / "saved"), "-o", str(tmp_path / "r.png")]) == 2
    assert "pass --data NAME" in capsys.readouterr().err
    assert (
        main(["reconstruct", str(tmp_path / "saved"), "--data", "digits", "-o", str(tmp_path / "r.png")]) == 0
    )
    assert (
        main(["reconstruct", str(tmp_path / "saved"), "--data", "moons", "-o", str(tmp_path / "r.png")]) == 2
    )
    assert "the model expects (1, 8, 8)" in capsys.readouterr().err
