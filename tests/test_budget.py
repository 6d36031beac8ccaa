"""Training by time (``--budget``): the preset measured for a budget, the user's options over it,
steps from the calibration, the stop on time, and one-line errors. The calibration is replaced by
a fixed rate here, so nothing depends on this machine's speed."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

import genzoo
from genzoo.errors import ConfigError
from genzoo.registry import get_model_class
from genzoo.train import budget
from genzoo.train import trainer as trainer_module
from genzoo.train.schedule import TimeRefit
from tests.test_cli import assert_one_error_line, run_main


def _fixed(rate: float):
    calls = []

    def calibrate(spec):
        calls.append(spec)
        return rate

    return calibrate, calls


def test_the_vae_preset_applies_where_it_was_measured_and_your_options_win():
    calibrate, calls = _fixed(50.0)
    p = budget.plan("vae", 600, {"data": {"name": "mnist"}}, calibrate=calibrate)
    assert p.preset is budget.PRESETS["vae"][0]
    m = p.spec.model
    assert (m.arch, list(m.hidden), m.latent_dim) == ("mlp", [1024, 512], 32)
    assert (p.spec.train.lr, p.spec.train.batch_size) == (2e-3, 256)
    assert calls and calls[0].model.hidden == m.hidden  # the calibration timed the preset's network
    # steps: 50 steps/s over what is left of 600 s after the (instant) calibration
    assert p.spec.train.steps == budget.steps_for(50.0, p.seconds) and 29_900 <= p.spec.train.steps <= 30_000
    assert 599 < p.seconds <= 600
    # an option given wins over the preset; the preset's others stay
    mine = budget.plan(
        "vae", 600, {"data": {"name": "mnist"}, "model": {"latent_dim": 8}}, calibrate=calibrate
    )
    assert mine.spec.model.latent_dim == 8 and list(mine.spec.model.hidden) == [1024, 512]
    # not measured on this data, or too short a budget: the family's defaults
    for name, seconds in (("digits", 600), ("mnist", 60)):
        d = budget.plan("vae", seconds, {"data": {"name": name}}, calibrate=calibrate)
        assert d.preset is None and d.spec.model.arch == get_model_class("vae").config_class().arch
    assert budget.preset_for("dcgan", 600, "mnist") is None  # its defaults are what bench measured


def test_ddpm_budgets_train_its_defaults_which_are_the_measured_winner():
    # the 5-60 minute preset (16 channels, no attention, min-SNR, batch 64, lr 2e-3) became the
    # defaults: every budget and dataset trains them, with no preset, and the user's options win
    calibrate, _ = _fixed(2.0)
    for seconds, name in ((120, "mnist"), (600, "mnist"), (7200, "mnist"), (600, "fashion-mnist")):
        p = budget.plan("ddpm", seconds, {"data": {"name": name}}, calibrate=calibrate)
        assert p.preset is None and "ddpm" not in budget.PRESETS
        assert (p.spec.model.channels, p.spec.train.batch_size, p.spec.train.lr) == (16, 64, 2e-3)
        assert (p.spec.model.attention, p.spec.model.loss_weighting) == (False, "min-snr")
        assert p.spec.train.steps == budget.steps_for(2.0, p.seconds)  # not the default 8,000
    mine = budget.plan(
        "ddpm",
        600,
        {"data": {"name": "mnist"}, "train": {"batch_size": 128, "threads": 1, "image_every": 0}},
        calibrate=calibrate,
    )
    assert (mine.spec.model.channels, mine.spec.train.batch_size) == (16, 128)
    # the printed line says the defaults ran with your options (not how the run is kept or watched)
    assert "ddpm's defaults" in mine.describe(600) and "; with your --batch-size 128;" in mine.describe(600)
    assert "with your" not in p.describe(600)
    # a setting given at its default value is not a change; a bool says which way it went
    same = budget.plan("ddpm", 600, {"model": {"channels": 16, "attention": True}}, calibrate=calibrate)
    assert same.options == ("--attention",)
    # cddpm keeps the U-Net its guidance was measured with
    c = budget.plan("cddpm", 600, {"data": {"name": "fashion-mnist"}}, calibrate=calibrate)
    assert (c.spec.model.channels, c.spec.model.attention, c.spec.train.batch_size) == (32, True, 128)


def test_steps_given_are_kept_and_nothing_is_calibrated():
    calibrate, calls = _fixed(50.0)
    p = budget.plan("ae", 90, {"train": {"steps": 123}}, calibrate=calibrate)
    assert p.spec.train.steps == 123 and p.steps_per_s is None and p.seconds == 90 and not calls


def test_a_budget_the_calibration_eats_is_an_error():
    def slow(spec):
        import time

        time.sleep(0.05)
        return 10.0

    with pytest.raises(ConfigError, match="calibration alone took .* give a longer budget"):
        budget.plan("ae", 0.01, {}, calibrate=slow)
    with pytest.raises(ConfigError, match="more than 0 seconds"):
        budget.plan("ae", 0, {})


def test_cli_budget_trains_the_calibrated_steps_then_fits_them_to_the_time(monkeypatch, tmp_path, capsys):
    # a calibration far too slow (1 step/s) plans 2-3 steps; the run measures its own rate early
    # and trains until the time is up instead of stopping after 3 steps with most of the budget left
    monkeypatch.setattr(budget, "measure_steps_per_s", lambda spec, work, steps=30: 1.0)
    # the trainer's clock advances 10 ms per reading, so the steps done in the 3 s are the same on
    # an idle machine and a starved one (on the wall clock a starved core reached no refit at all)
    clock = iter(range(10**9))
    monkeypatch.setattr(trainer_module, "time", SimpleNamespace(perf_counter=lambda: next(clock) * 0.01))
    out = tmp_path / "run"
    argv = ["train", "ae", "--data", "digits", "--latent-dim", "4", "--channels", "8,16", "--threads", "1"]
    assert run_main([*argv, "--budget", "3s", "--out", str(out), "--quiet", "--image-every", "0"]) == 0
    said = capsys.readouterr()
    assert "calibrated 1 steps/s, so 2 steps" in said.out or "calibrated 1 steps/s, so 3 steps" in said.out
    assert "genzoo: budget: this run trains" in said.err and "(planned " in said.err
    cfg = json.loads((out / "config.json").read_text())
    run = genzoo.Run(out)
    state = json.loads((run.path / "checkpoints" / f"step-{run.latest:07d}" / "state.json").read_text())
    assert cfg["train"]["steps"] > 3 and state["lr_horizon"] == cfg["train"]["steps"]
    # stopped by its schedule or by the 3 s limit (with slack for a loaded machine), far past 3 steps
    assert 3 < run.latest <= cfg["train"]["steps"] and state["train_seconds"] < 6
    # the explicit --steps of a user is kept, and nothing is refitted
    out2 = tmp_path / "run2"
    assert run_main([*argv, "--budget", "1m", "--steps", "7", "--out", str(out2), "--quiet"]) == 0
    assert genzoo.Run(out2).latest == 7 and "this run trains" not in capsys.readouterr().err


def _refits(refit: TimeRefit, seconds_of_step) -> list[tuple[int, int]]:
    """(step, new total) at each answer of a TimeRefit fed a run whose step s ends at seconds_of_step(s)."""
    out = []
    for step in range(refit.step0 + 1, 10**6):
        t = seconds_of_step(step)
        if t > refit.limit_s:
            return out
        if (new := refit.observe(step, t)) is not None:
            out.append((step, new))
    return out


def test_time_refit_fills_the_time_at_the_measured_rate():
    # a calibration that said 1 step/s (100 planned in 100 s) for a run at 3 steps/s: measured from
    # 2 s (step 6) to 10 s (step 30), then 30 + 3 x 90 steps; the later checks agree
    r = TimeRefit(0, 100, 100.0)
    assert _refits(r, lambda s: s / 3) == [(30, 300), (90, 300), (150, 300), (210, 300)]
    assert r.rate == pytest.approx(3.0) and r.count == 4
    # a calibration that said 10 steps/s for a run at 1 step/s: the schedule shrinks to the time
    assert _refits(TimeRefit(0, 1000, 100.0), lambda s: s)[0] == (10, 100)
    # a run faster than planned reaches half its steps first: 5 planned in 100 s at 1 step/s
    assert _refits(TimeRefit(0, 5, 100.0), lambda s: s)[0] == (3, 100)
    # a run that speeds up from 2 to 4 steps/s at 40 s (80 steps by then: 320 fit in 100 s): the check
    # at 50% measures 30-50 s (3 steps/s), the one at 70% 50-70 s (4 steps/s) and gives the 320
    speed_up = lambda s: s / 2 if s <= 80 else 40 + (s - 80) / 4  # noqa: E731
    assert _refits(TimeRefit(0, 200, 100.0), speed_up) == [(20, 200), (60, 200), (120, 270), (200, 320)]
    # a resumed run counts from where it starts; no time left: one more step at each due check
    r = TimeRefit(50, 60, 10.0)
    assert [r.observe(s, t) for s, t in ((51, 0.3), (53, 9.0), (54, 9.5))] == [None, 54, 55]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--budget", "ten minutes"], "cannot read duration 'ten minutes'"),
        (["--budget", "0s"], "more than 0 seconds"),
        (["--budget", "1m", "--resume", "RUN"], "--budget plans a new run"),
    ],
)
def test_cli_budget_errors_are_one_line(extra, message, tmp_path, capsys):
    extra = [str(tmp_path) if a == "RUN" else a for a in extra]
    out = [] if "--resume" in extra else ["--out", str(tmp_path / "x")]
    assert run_main(["train", "ae", "--data", "digits", *out, *extra]) != 0
    assert message in assert_one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "x").exists()


def test_a_stop_on_time_keeps_a_checkpoint(tmp_path):
    """The time limit the budget sets: the loop stops after it, at a step with a checkpoint."""
    from tests.conftest import tiny_spec

    spec = tiny_spec("ae", steps=100_000, ckpt_every=100_000, image_every=0, threads=1)
    genzoo.train.train(spec, tmp_path / "r", progress=False, time_limit_s=0.5)
    run = genzoo.Run(tmp_path / "r")
    assert 0 < run.latest < 100_000 and run.checkpoints[-1] == run.latest
