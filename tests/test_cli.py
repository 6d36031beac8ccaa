"""The command line end to end on the embedded digits data."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

import genzoo
from genzoo.cli import build_parser, main

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
    assert "can:        decoder, encoder, sampler  (latent dim: 4)" in out


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


@pytest.mark.slow
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


# ---------------------------------------------------------------- issue 7: bad values, one line each


def assert_one_error_line(err: str) -> str:
    """stderr is 'genzoo: error: ...' on one line, or an option's error 'genzoo CMD: error: ...'
    and the pointer "see 'genzoo CMD --help'"; returns the error line."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines, "nothing on stderr"
    if len(lines) == 2:  # argparse: "genzoo CMD: error: ...", then "see 'genzoo CMD --help'"
        prog = lines[0].split(": error: ")[0]
        assert lines[0].startswith("genzoo") and lines[1] == f"see '{prog} --help'", err
    else:
        assert len(lines) == 1 and lines[0].startswith("genzoo: error:"), err
    return lines[0]


def run_main(argv: list[str]) -> int:
    """main(argv) in-process; argparse's exit (SystemExit) becomes the return code."""
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


@pytest.mark.parametrize("n", ["-5", "0", "abc"])
@pytest.mark.parametrize("command", ["sample", "reconstruct", "denoise"])
def test_image_counts_below_one_are_refused(ae_run, tmp_path, capsys, command, n):
    argv = [command, str(ae_run), "-n", n, "-o", str(tmp_path / "x.png")]
    assert run_main(argv) == 2
    assert "argument -n:" in assert_one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "x.png").exists()


def test_picture_outputs(ae_run, tmp_path, capsys):
    (tmp_path / "file").write_text("kept")
    for out, message in [
        (tmp_path, "is a directory"),
        (tmp_path / "s.jpg", "ending in .png"),
        (tmp_path / "s", "ending in .png"),
        (tmp_path / "file" / "s.png", "is a file, not a folder"),
    ]:
        assert run_main(["sample", str(ae_run), "-o", str(out)]) == 2
        assert message in assert_one_error_line(capsys.readouterr().err)
    assert (tmp_path / "file").read_text() == "kept" and tmp_path.is_dir()
    # missing folders are created, as by every other writer; any case of .png is fine
    assert main(["sample", str(ae_run), "-n", "4", "-o", str(tmp_path / "new" / "dir" / "s.PNG")]) == 0
    assert Image.open(tmp_path / "new" / "dir" / "s.PNG").format == "PNG"


def test_training_on_resized_images_records_the_size_and_reuses_it(tmp_path, capsys):
    run = tmp_path / "r16"
    args = ["train", "ae", "--data", "digits", "--data-image-size", "16", "--data-channels", "3"]
    assert main([*args, "--latent-dim", "4", "--channels", "8,16", "--out", str(run), *SMALL]) == 0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["shape"] == [3, 16, 16] and cfg["data"]["image_size"] == 16 and cfg["data"]["channels"] == 3
    assert genzoo.load(run).shape == (3, 16, 16)
    # reconstruct reads the run's data with the recorded settings: the same images as training
    assert main(["reconstruct", str(run), "-n", "3", "-o", str(tmp_path / "r.png")]) == 0
    assert Image.open(tmp_path / "r.png").mode == "RGB"
    capsys.readouterr()
    # points cannot be resized: a clear error naming the option
    moons = ["train", "ae", "--data", "moons", "--arch", "mlp", "--data-image-size", "32"]
    assert main([*moons, "--out", str(tmp_path / "m")]) == 2
    assert "--data-image-size" in assert_one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "m").exists()


def test_mixed_image_sizes_name_the_real_option(tmp_path, capsys):
    for name, size in (("a.png", (8, 8)), ("b.png", (12, 10))):
        Image.new("L", size, 100).save(tmp_path / name)
    argv = ["train", "ae", "--data", "folder", "--data-path", str(tmp_path), "--out", str(tmp_path / "r")]
    assert main([*argv, "--quiet"]) == 2
    line = assert_one_error_line(capsys.readouterr().err)
    assert "--data-image-size" in line and "different sizes" in line
    train_ae = next(p for prefix, p in _commands(build_parser()) if prefix == ("train", "ae"))
    assert "--data-image-size" in train_ae._option_string_actions  # the option named exists


def test_a_signal_stop_is_reported_with_its_exit_code(monkeypatch, capsys, tmp_path):
    import genzoo.cli.train as cli_train
    from genzoo.errors import TrainingStopped

    def stopped(*args, **kwargs):
        raise TrainingStopped("stopped by SIGTERM at step 7; checkpoint saved, resume with --resume", 143)

    monkeypatch.setattr(cli_train, "train", stopped)
    assert main(["train", "ae", "--out", str(tmp_path / "r"), "--quiet"]) == 143
    err = capsys.readouterr().err.strip()
    assert err == "genzoo: stopped by SIGTERM at step 7; checkpoint saved, resume with --resume"


def test_file_system_errors_are_one_line(monkeypatch, capsys, tmp_path):
    import genzoo.cli.train as cli_train

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / "r"))

    monkeypatch.setattr(cli_train, "train", denied)
    assert main(["train", "ae", "--out", str(tmp_path / "r"), "--quiet"]) == 2
    assert "Permission denied" in assert_one_error_line(capsys.readouterr().err)


# Every command of the parser, every option that takes a value, an invalid value: the walk is
# derived from build_parser(), so a command or option added later is covered without edits here.
# Invalid values are inferred from each option's type or choices; this table names them only
# where the type says nothing (plain strings) or where a value of the type is valid (any seed).
BAD = {
    "--class-names": ["a,b"],  # two names for the default 10 classes
    "--class": ["nope"],  # the walk's RUN is not conditional; unknown names are tested in test_vae
    "run": ["{missing}", "{corrupt}", "{file}"],
    "--resume": ["{missing}", "{corrupt}", "{file}"],
    "--config": ["{missing}", "{garbage}", "{bad_section}"],
    "--seed": ["abc"],  # every whole number is a seed
    "--data": ["nope"],
    "--data-root": ["{file}"],  # a missing root is fine: downloads create it
    "--data-path": ["{missing}"],
    "--noise": ["blur:2", "mask:2"],
    "--budget": ["abc", "0"],
    "--models": ["nope", "ae,nope"],
    "--device": ["nope"],
    "--inception-weights": ["{missing}", "{garbage}"],
    "--samples": ["{missing}", "{garbage}"],
    "--range": ["abc", "0", "-7", "inf"],  # traverse: a finite number > 0
    "--prompt": ["seven"],  # the walk's RUN is not conditional; unknown prompts are tested in test_diffusion
    "--mask": ["nope"],
    "--ood": ["nope"],
    "--from": ["nope", "{missing}.csv"],  # attributes --from (interpolate --from takes them too)
    "--expr": ["7 +", "2*"],
    "--attr": ["nope"],
    "--amount": ["abc", "2..x", "1..1"],
    "--corruptions": ["blur:3", ","],
    "--host": ["not a host"],  # explore
}
# Valid arguments per command (by prefix), so that an error comes from the option under test;
# positionals are {dest} placeholders. Commands not listed get their positionals and required
# options from the parser.
BASE = {
    ("train",): ["--data", "digits", "--steps", "0", "--threads", "1", "--quiet", "--out", "{tmp}/run"],
    ("eval",): ["{run}", "--n", "8"],
    ("bench",): ["--data", "digits", "--models", "ae", "--budget", "1s", "--evals", "1", "--n", "8"]
    + ["--work", "{tmp}/bench", "--out", "{tmp}/bench.md"],
    ("download",): ["{what}", "--data-root", "{tmp}/dl"],
    ("explore",): ["{runs}"],
}
# Known failures outside the CLI and data layers, as (command, option, value) -> a strict
# pytest.mark.xfail: fixing one makes its case fail until it is removed from here.
KNOWN: dict[tuple[str, str, str], pytest.MarkDecorator] = {}
BASE_FOR = {("eval", "--samples"): ["--data", "digits", "--n", "8"]}  # --samples replaces RUN
VALID = {"run": "{run}", "what": "mnist"}
# commands whose RUN in the walk is another model than the dae: those only a diffusion model or
# only a class-conditional model can run
RUN_OF = {"forward": "diffusion", "classify": "conditional"}


def _commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield prefix, parser
    for sub in subs:
        for name, child in sub.choices.items():
            yield from _commands(child, (*prefix, name))


def _takes_value(action: argparse.Action) -> bool:
    skip = (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)
    return action.nargs != 0 and not isinstance(action, skip)


def _bad_values(action: argparse.Action) -> list[str]:
    from genzoo.cli.options import OutputDir, OutputFile

    name = action.option_strings[-1] if action.option_strings else action.dest
    if name in BAD:
        return BAD[name]
    if action.choices is not None:
        return ["no-such-choice"]
    t = action.type
    if isinstance(t, OutputFile):
        suffix = t.suffixes[0] if t.suffixes else ""
        return (
            ([] if t.directory_ok else ["{dir}"])  # else a directory names the file inside it
            + ["{file}/x" + suffix]
            + (["{tmp}/x.bad"] if t.suffixes else [])
        )
    if isinstance(t, OutputDir):
        return ["{file}", "{file}/x"]
    if t is Path:
        return ["{missing}"]
    kinds = {
        "positive_int": ["abc", "0", "-7"],
        "image_count": ["abc", "2"],
        "int": ["abc", "-7"],
        "float": ["abc", "-7"],
        "non_negative_float": ["abc", "-7", "nan"],  # sample --eta, --churn
        "ints": ["a,b", "-7"],
        "floats": ["a,b", "-7"],
        "mirror_url": ["nope"],
        "step_list": ["abc", "-1", ","],  # progress --steps
        "port": ["abc", "-1", "70000"],
    }
    kind = getattr(t, "__name__", None)
    assert kind in kinds, f"no invalid value known for {name} (type {t!r}); add it to BAD"
    return kinds[kind]


def _cases():
    cases = []
    for prefix, parser in _commands(build_parser()):
        actions = [a for a in parser._actions if _takes_value(a)]
        base = next((BASE[p] for p in (prefix[:1], prefix) if p in BASE), None)
        if base is None:  # positionals and required options from the parser
            base = [f"{{{a.dest}}}" for a in actions if not a.option_strings]
            for a in actions:
                if a.option_strings and a.required:
                    suffix = a.type.suffixes[0] if getattr(a.type, "suffixes", ()) else ""
                    base += [a.option_strings[-1], f"{{tmp}}/out{suffix}"]
        for action in actions:
            name = action.option_strings[-1] if action.option_strings else action.dest
            for value in _bad_values(action):
                marks = [KNOWN[(prefix[0], name, value)]] if (prefix[0], name, value) in KNOWN else []
                case_id = f"{' '.join(prefix)} {name}={value}"
                cases.append(pytest.param(prefix, name, value, base, id=case_id, marks=marks))
    return cases


@pytest.fixture(scope="module")
def walk_paths(tmp_path_factory) -> dict[str, str]:
    """A tiny trained DAE run (valid RUN for every command) and the invalid paths."""
    from genzoo.train import train
    from tests.conftest import tiny_spec

    root = tmp_path_factory.mktemp("walk")
    spec = tiny_spec("dae", steps=2, ckpt_every=2, image_every=0, warmup_steps=0, log_every=1, threads=1)
    train(spec, root / "run", progress=False)
    dspec = tiny_spec("ddpm", steps=2, ckpt_every=2, image_every=0, warmup_steps=0, log_every=1, threads=1)
    train(dspec, root / "diffusion", progress=False)  # the RUN of the commands only diffusion models have
    cspec = tiny_spec("cvae", steps=2, ckpt_every=2, image_every=0, warmup_steps=0, log_every=1, threads=1)
    train(cspec, root / "conditional", progress=False)
    (root / "file").write_text("")
    (root / "garbage").write_bytes(b"\x00\x01not json, not a weights file, not an npz\xff")
    (root / "bad_section.json").write_text('{"model": 5}')
    (root / "corrupt").mkdir()
    (root / "corrupt" / "config.json").write_text("{not json")
    (root / "corrupt" / "model.safetensors").write_bytes(b"garbage")
    (root / "dir").mkdir()
    return {
        "run": str(root / "run"),
        "diffusion": str(root / "diffusion"),
        "conditional": str(root / "conditional"),
        "file": str(root / "file"),
        "garbage": str(root / "garbage"),
        "bad_section": str(root / "bad_section.json"),
        "corrupt": str(root / "corrupt"),
        "dir": str(root / "dir"),
        "missing": str(root / "missing"),
    }


@pytest.mark.parametrize("prefix, name, value, base", _cases())
def test_every_option_refuses_an_invalid_value_in_one_line(
    prefix, name, value, base, walk_paths, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("GENZOO_MIRROR", "http://127.0.0.1:9/")  # nothing leaves this machine
    monkeypatch.setenv("GENZOO_INCEPTION_WEIGHTS", walk_paths["missing"])
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    paths = walk_paths | {"tmp": str(tmp_path), "what": "mnist", "runs": walk_paths["run"]}
    if prefix[0] in RUN_OF:
        paths["run"] = paths[RUN_OF[prefix[0]]]
    base = BASE_FOR.get((prefix[0], name), base)
    bad = value.format(**paths)
    if name.startswith("-"):
        argv = [*base, name, bad]
    else:  # a positional: the invalid value takes its place
        assert f"{{{name}}}" in base, f"no base value for positional {name}"
        argv = [bad if a == f"{{{name}}}" else a for a in base]
    argv = [*prefix, *(a.format(**paths) for a in argv)]
    assert run_main(argv) == 2, argv
    line = assert_one_error_line(capsys.readouterr().err)
    # the error is about the option under test: it names the option, its field or the value
    field = name.lstrip("-").replace("-", "_")
    assert any(s in line for s in (name, field, bad)), (argv, line)


def test_the_walk_covers_every_command_and_model():
    from genzoo.registry import list_models

    found = {prefix for prefix, _ in _commands(build_parser())}
    assert {("train", m) for m in list_models()} <= found
    assert {("sample",), ("eval",), ("bench",), ("download",), ("info",), ("datasets",)} <= found


# ---------------------------------------------------------------- lazy command modules, short errors
def test_help_lists_every_command_without_importing_the_command_modules():
    code = (
        "import sys, contextlib, io\n"
        "from genzoo.cli import main, COMMANDS\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    try: main(['--help'])\n"
        "    except SystemExit: pass\n"
        "assert all(c in out.getvalue() for c in COMMANDS), out.getvalue()\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(('genzoo.apps', 'genzoo.models', 'torch')))\n"
        "assert not loaded, loaded\n"
        "assert not [m for m in COMMANDS.values() if 'genzoo.cli.' + m[0] in sys.modules]\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_import_genzoo_cli_does_not_import_the_applications():
    code = "import sys, genzoo.cli; print(sorted(m for m in sys.modules if m.startswith('genzoo.apps')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_command_table_matches_what_the_modules_add():
    from genzoo.cli import COMMANDS

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {a.dest: a.help for a in sub._choices_actions}
    assert list(helps) == list(COMMANDS)  # every command, in the table's (help) order
    assert helps == {name: help_ for name, (_, help_) in COMMANDS.items()}
    for name in COMMANDS:  # a lazily built parser knows the command given, with all its options
        lazy = build_parser(name, lazy=True)
        lazy_sub = next(a for a in lazy._actions if isinstance(a, argparse._SubParsersAction))
        assert lazy_sub.choices[name].format_help() == sub.choices[name].format_help()


def test_a_bad_option_value_is_one_line_and_a_pointer_to_help():
    r = subprocess.run(
        [sys.executable, "-m", "genzoo", "train", "dcgan", "--select-by", "nonsense"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.splitlines() == [
        "genzoo train dcgan: error: argument --select-by: invalid choice: 'nonsense' (choose from 'none', 'fid')",
        "see 'genzoo train dcgan --help'",
    ]
