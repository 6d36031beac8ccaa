"""The README's "Using it" block, run as written in a scratch folder, with small sizes appended
to each line (argparse: the last value of an option wins), so that it finishes in minutes."""

from __future__ import annotations

import os
import re
import shlex
import time
from pathlib import Path

import pytest

from genzoo.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"

# lines not run, and why
SKIP = {
    "source ": "a shell command (activates the venv), not genzoo",
    "genzoo download": "needs the network; the data come from GENZOO_DATA",
    "genzoo bench": "its budget is 10 minutes by design",
    "python -m genzoo": "a placeholder ('...'), not a command",
    "genzoo eval --samples": "needs samples made elsewhere (samples.npz, imgs/) and, for Inception, its weights",
}
# small sizes appended to each command's line (the values it states stay in the line, overridden)
QUICK = {
    "train": ["--steps", "12", "--batch-size", "32", "--image-every", "12", "--quiet"],
    "eval": ["--n", "100"],
    "sample": ["-n", "4"],
    "inpaint": ["-n", "2", "--steps", "5", "--resamples", "1"],
    "anomaly": ["-n", "200"],
    "retrieve": ["--n-db", "500"],
    "pretrain-eval": ["--steps", "20"],
    "augment": ["--steps", "20", "--per-class", "5"],
    "classify": ["-n", "100", "--steps", "20", "--k", "2"],
    "attributes": ["-n", "500"],
    "lab": ["--budget", "0.001", "--n", "40", "--iwae-k", "2"],  # 10 steps each
}
DIFFUSION_SAMPLE = ["--sampler", "ddim", "--steps", "4"]  # the DDPM sampler runs all T steps


def using_it() -> list[str]:
    text = README.read_text()
    block = re.search(r"## Using it\n.*?```bash\n(.*?)```", text, re.S)
    assert block, "README.md has no ```bash block under '## Using it'"
    commands = []
    for line in block.group(1).splitlines():
        line = line.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            commands += [c.strip() for c in line.split("&&")]
    return commands


def quick(argv: list[str]) -> list[str]:
    cmd, extra = argv[0], list(QUICK.get(argv[0], []))
    if cmd == "train" and "--resume" in argv:
        extra = ["--steps", "18", "--quiet"]  # the run's own batch size; 6 steps more
    if cmd == "train" and "--select-by" in argv:
        extra += ["--select-samples", "100"]
    if cmd == "eval" and "--iwae-k" in argv:
        extra += ["--iwae-k", "5"]
    if cmd == "sample" and any(r in argv for r in ("runs/ddpm", "runs/cddpm")):
        extra += DIFFUSION_SAMPLE
    return argv + extra


@pytest.mark.slow
def test_the_readme_using_it_block_runs_as_written(tmp_path, monkeypatch, capsys):
    if not Path(os.environ.get("GENZOO_DATA", ""), "mnist").is_dir():
        pytest.skip("needs MNIST and Fashion-MNIST under GENZOO_DATA")
    monkeypatch.chdir(tmp_path)
    ran, skipped, times = [], [], {}
    for line in using_it():
        reason = next((why for start, why in SKIP.items() if line.startswith(start)), None)
        if reason:
            skipped.append((line, reason))
            continue
        argv = shlex.split(line)
        assert argv[0] == "genzoo", f"not a genzoo command: {line}"
        t0 = time.perf_counter()
        rc = main(quick(argv[1:]))
        times[line] = round(time.perf_counter() - t0, 1)
        assert rc == 0, f"{line}\n{capsys.readouterr().err}"
        ran.append(line)
    with capsys.disabled():
        print(
            f"\nREADME: ran {len(ran)} lines in {sum(times.values()):.0f} s, slowest:",
            sorted(times.items(), key=lambda t: -t[1])[:5],
        )
    assert len(ran) >= 35 and {why for _, why in skipped} == set(SKIP.values())  # each reason used
    for png in (
        "recon.png",
        "denoise.png",
        "grid.png",
        "sneakers.png",
        "interp.png",
        "progress.png",
        "ddpm.png",
    ):
        assert (tmp_path / png).is_file(), png  # each picture has its own name
