"""genzoo lab (make demo): four models on digits, one static report with every picture and score."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from genzoo.apps.lab import LAB_MODELS, lab_steps
from genzoo.cli import main
from genzoo.errors import ConfigError


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.images.append(a["src"])
        if tag in ("a", "link", "script") and (a.get("href") or a.get("src")):
            self.links.append(a.get("href") or a.get("src"))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The CLI on the smallest budget (10 steps each): its output and the report folder."""
    import contextlib
    import io

    out = tmp_path_factory.mktemp("lab") / "lab"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["lab", "--out", str(out), "--budget", "0.001", "--n", "40", "--iwae-k", "2"])
    assert rc == 0
    return out, buf.getvalue()


def test_the_report_shows_every_model_with_its_pictures_scores_and_commands(lab):
    out, _ = lab
    page = (out / "index.html").read_text()
    parser = _Links()
    parser.feed(page)
    # every picture is a PNG beside the page, linked relatively, and exists
    assert parser.images and all(
        not Path(src).is_absolute() and src.endswith(".png") for src in parser.images
    )
    assert all((out / src).is_file() for src in parser.images)
    assert not [u for u in parser.links if u.startswith(("http:", "https:", "//"))]  # no server, no CDN
    for name in LAB_MODELS:
        # the strip: samples at 70%, 90% and 100% of the 10 steps
        assert [s for s in parser.images if s.startswith(f"{name}/samples-step-")] == [
            f"{name}/samples-step-{s}.png" for s in (7, 9, 10)
        ]
        assert f"genzoo sample {out / name}/checkpoints/step-0000007 -n 36" in page
        assert f"genzoo eval {out / name} --n 40" in page
    assert "ae/reconstructions.png" in parser.images and "vae/reconstructions.png" in parser.images
    assert "dae/denoise.png" in parser.images and f"genzoo denoise {out / 'dae'} -n 10" in page
    assert not [
        s for s in parser.images if s.startswith("dcgan/") and "samples" not in s
    ]  # a GAN: samples only
    # scores: FID for each (one number per summary row), -log p(x) for the VAE
    rows = re.findall(r"<tr><td><a href='#(\w+)'>.*?</tr>", page)
    assert rows == list(LAB_MODELS)
    assert page.count(">FID<") == len(LAB_MODELS) + 1  # the summary's column and each model's table
    assert ">-log p(x)<" in page and "IWAE bound, k=2" in page


def test_the_command_prints_the_report_and_the_explore_command(lab):
    out, printed = lab
    assert f"report: {out / 'index.html'}" in printed
    assert f"genzoo explore {out / 'ae'} {out / 'dae'} {out / 'vae'} {out / 'dcgan'}" in printed
    assert re.search(r"ae \d+\.\d \+ \d+\.\d s \(CPU \d+\.\d s\), dae", printed)  # the split per model


def test_a_picture_of_the_report_is_what_its_printed_command_draws(lab, tmp_path, capsys):
    out, _ = lab
    again = tmp_path / "again.png"
    assert main(["reconstruct", str(out / "vae"), "-n", "10", "-o", str(again)]) == 0
    assert again.read_bytes() == (out / "vae" / "reconstructions.png").read_bytes()
    again = tmp_path / "strip.png"
    assert main(["sample", str(out / "dcgan/checkpoints/step-0000007"), "-n", "36", "-o", str(again)]) == 0
    assert again.read_bytes() == (out / "dcgan" / "samples-step-7.png").read_bytes()


def test_budget_scales_the_steps_in_tens():
    assert lab_steps(1) == {"ae": 600, "dae": 600, "vae": 800, "dcgan": 1000}
    assert lab_steps(0.5)["dcgan"] == 500 and lab_steps(1e-6)["ae"] == 10
    with pytest.raises(ConfigError, match="budget"):
        lab_steps(0)


def test_an_unknown_model_is_one_line_before_any_training(tmp_path, capsys):
    assert main(["lab", "--out", str(tmp_path / "lab"), "--models", "ae,gan"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("genzoo: error: models ae,gan: unknown gan; the lab trains ae, dae, vae, dcgan")
    assert "\n" not in err
    assert not (tmp_path / "lab").exists()


def test_a_folder_in_the_way_is_one_line_and_kept(tmp_path, capsys):
    (tmp_path / "lab" / "vae").mkdir(parents=True)
    (tmp_path / "lab" / "vae" / "notes.txt").write_text("mine")
    assert main(["lab", "--out", str(tmp_path / "lab"), "--budget", "0.001"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"genzoo: error: {tmp_path / 'lab' / 'vae'} exists and is not a run; the lab writes its vae run there"
    )
    assert (tmp_path / "lab" / "vae" / "notes.txt").read_text() == "mine"
    assert not (tmp_path / "lab" / "ae").exists()  # checked before any training
