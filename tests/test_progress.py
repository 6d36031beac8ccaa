"""genzoo progress: a run's progress pictures as a labelled strip or an animated GIF (any family)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genzoo import viz
from genzoo.cli import main
from genzoo.errors import GenzooError
from genzoo.train import train
from tests.conftest import tiny_spec


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("progress") / "ae"
    return train(tiny_spec("ae", steps=20, image_every=5, ckpt_every=20), out, progress=False)


def test_the_trainer_pictures_are_found_by_step(run):
    frames = viz.progress_frames(run)
    assert list(frames) == [5, 10, 15, 20]
    (run / "progress" / "notes.txt").write_text("not a frame")  # other files are ignored
    assert list(viz.progress_frames(run)) == [5, 10, 15, 20]


def test_evenly_spaced_steps_keep_the_first_and_the_last():
    frames = {s: Path(f"step-{s}.png") for s in range(100, 2100, 100)}  # 20 pictures
    picked = viz.pick_steps(frames, None, most=8)
    assert len(picked) == 8 and picked[0] == 100 and picked[-1] == 2000 and picked == sorted(picked)
    assert viz.pick_steps(frames, [300, 1200]) == [300, 1200]
    with pytest.raises(GenzooError, match="no progress picture at step 150; the run has 100, 200"):
        viz.pick_steps(frames, [150])


def test_strip_puts_the_asked_steps_side_by_side_with_labels(run, tmp_path, capsys):
    one = Image.open(viz.progress_frames(run)[5])
    assert main(["progress", str(run), "-o", str(tmp_path / "s.png"), "--steps", "5,20"]) == 0
    assert "steps 5, 20" in capsys.readouterr().out
    strip = Image.open(tmp_path / "s.png")
    assert strip.size == (2 * one.width + 6, one.height + 14)  # two tiles, a 6-pixel gap, a label band
    # the right tile is the step-20 picture itself, below its label band
    right = strip.crop((one.width + 6, 14, 2 * one.width + 6, 14 + one.height)).convert("RGB")
    assert np.array_equal(
        np.asarray(right), np.asarray(Image.open(viz.progress_frames(run)[20]).convert("RGB"))
    )


def test_gif_has_a_frame_per_picture_and_loops(run, tmp_path):
    assert main(["progress", str(run), "-o", str(tmp_path / "t.gif"), "--ms", "250"]) == 0
    gif = Image.open(tmp_path / "t.gif")
    assert gif.n_frames == 4 and gif.info.get("loop") == 0 and gif.info.get("duration") == 250


@pytest.mark.parametrize(
    "args, message",
    [
        (["--steps", "7"], "no progress picture at step 7; the run has 5, 10, 15, 20"),
        ([], "is not a run directory"),  # RUN replaced below by a missing folder
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(run, tmp_path, capsys, args, message):
    target = run if args else tmp_path / "missing"
    assert main(["progress", str(target), "-o", str(tmp_path / "x.png"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and not (tmp_path / "x.png").exists()


def test_a_run_without_pictures_says_how_to_get_them(tmp_path, capsys):
    bare = train(tiny_spec("ae", steps=2, image_every=0), tmp_path / "bare", progress=False)
    assert main(["progress", str(bare), "-o", str(tmp_path / "x.gif")]) == 2
    err = capsys.readouterr().err
    assert "no progress pictures" in err and "--image-every N" in err
    assert not (tmp_path / "x.gif").exists()
