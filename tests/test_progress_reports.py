"""genzoo.progress: long loops report on stderr (a bar on a terminal, else a plain line every
interval), silent unless switched on; the CLI switches them on, stdout is never touched."""

from __future__ import annotations

import io

import pytest
import torch

from genzoo import progress
from genzoo.cli import main


class FakeClock:
    """Seconds that advance only when a test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_plain_lines_every_interval_and_an_estimate_up_front():
    clock, err = FakeClock(), io.StringIO()
    with progress.enabled(interval=10, stream=err, clock=clock, tty=False):
        with progress.task(10_000, "eval likelihood", "images", hint="--n to use fewer") as p:
            for _ in range(10):  # ten chunks of 1,000 images, 4 s each
                clock.now += 4
                p.update(1_000)
    lines = err.getvalue().splitlines()
    assert lines[0] == "genzoo: eval likelihood on 10,000 images: about 40 s; --n to use fewer"
    # then a line once 10 s have passed since the last one (at 4 s): at 16 s and 28 s; none at the end
    assert lines[1:] == [
        "genzoo: eval likelihood 4,000/10,000 images, about 24 s left",
        "genzoo: eval likelihood 7,000/10,000 images, about 12 s left",
    ]


def test_a_short_loop_and_an_inner_loop_stay_quiet():
    clock, err = FakeClock(), io.StringIO()
    with progress.enabled(interval=10, stream=err, clock=clock, tty=False):
        for _ in progress.track(range(3), 3, "quick", "chunks"):  # 3 s in all: nothing to say
            clock.now += 1
        assert err.getvalue() == ""
        with progress.task(2, "outer", "jobs", what="two long jobs") as outer:
            for _ in range(2):
                for _ in progress.track(range(5), 5, "inner", "steps"):  # the outer loop speaks for it
                    clock.now += 10
                outer.update()
    assert err.getvalue() == "genzoo: two long jobs: about 2 min\n"


def test_silent_when_not_enabled_and_library_calls_are_silent_by_default(capsys):
    clock, err = FakeClock(), io.StringIO()
    with progress.enabled(False, interval=0, stream=err, clock=clock, tty=False):
        for _ in progress.track(range(5), 5, "off", "chunks"):
            clock.now += 100
    assert err.getvalue() == ""
    for _ in progress.track(range(5), 5, "default", "chunks"):  # Python users see nothing unless they ask
        pass
    assert capsys.readouterr() == ("", "")


def test_a_terminal_gets_a_bar_and_the_estimate_above_it():
    err = io.StringIO()
    clock = FakeClock()
    with progress.enabled(interval=10, stream=err, clock=clock, tty=True):
        for _ in progress.track(range(4), 4, "features", "chunks"):
            clock.now += 30
    text = err.getvalue()
    assert "genzoo: features on 4 chunks: about 2 min" in text and "features:" in text  # the bar


@pytest.mark.parametrize(
    "value, settings",
    [("off", {"on": False}), ("0.5", {"on": True, "interval": 0.5}), ("", {"on": True}), ("x", {"on": True})],
)
def test_the_environment_sets_the_command_line_reports(value, settings):
    assert progress.from_environment({"GENZOO_PROGRESS": value}) == settings


def test_eval_says_what_it_will_do_on_stderr_and_leaves_stdout_alone(tmp_path, monkeypatch, capsys):
    from genzoo.models.autoencoder import AEConfig, Autoencoder

    monkeypatch.setenv("GENZOO_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    model = Autoencoder(AEConfig(latent_dim=2, channels=(4,)), (1, 8, 8))
    model.prepare_for_sampling(torch.rand(20, 1, 8, 8))
    model.save(tmp_path / "m")
    args = ["eval", str(tmp_path / "m"), "--n", "2500", "--data", "digits"]  # samples drawn in 3 chunks
    monkeypatch.setenv("GENZOO_PROGRESS", "off")
    assert main(args) == 0
    quiet = capsys.readouterr()
    monkeypatch.setenv("GENZOO_PROGRESS", "1e-9")  # a line at every chunk
    assert main(args) == 0
    loud = capsys.readouterr()
    assert "genzoo:" not in quiet.err and "genzoo:" not in loud.out
    assert "genzoo: drawing samples on 2,500 images: about" in loud.err
    assert "genzoo: drawing samples 2,000/2,500 images, about" in loud.err
    assert loud.out == quiet.out
