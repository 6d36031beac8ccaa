"""Attribute vectors, latent arithmetic and sliders (genzoo.apps.attributes, attribute_file,
pixel_statistics, attribute_table, arithmetic; the CLI)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

import genzoo
from genzoo import latent
from genzoo.apps import arithmetic as arith
from genzoo.apps import attribute_file, attribute_table
from genzoo.apps import attributes as attr
from genzoo.apps.pixel_statistics import PIXEL_ATTRIBUTES, pixel_statistics
from genzoo.cli import main as cli_main
from genzoo.data import DataConfig, load_dataset
from genzoo.data.folder import image_names
from genzoo.errors import CheckpointError, ConfigError, DataError, GenzooError
from genzoo.train import train
from tests.conftest import Stub, tiny_spec


def bar(h: int, w: int, top: int, left: int, height: int, width: int, shear: float = 0.0) -> torch.Tensor:
    """A (1, 1, h, w) image with a white bar; row i shifted right by shear * (bottom - i)."""
    x = torch.zeros(1, 1, h, w)
    bottom = top + height - 1
    for i in range(top, top + height):
        s = left + round(shear * (bottom - i))
        x[0, 0, i, s : s + width] = 1.0
    return x


# ------------------------------------------------------------------------------ pixel statistics
def test_pixel_statistics_of_hand_made_bars():
    thin, thick = bar(16, 16, 3, 5, 10, 2), bar(16, 16, 3, 5, 10, 4)
    s = pixel_statistics(torch.cat([thin, thick]))
    # thickness = 2 area / perimeter = 2 w L / (2 w + 2 L)
    assert s["thickness"].tolist() == pytest.approx([2 * 20 / 24, 2 * 40 / 28])
    assert s["width"].tolist() == pytest.approx([2, 4])
    assert s["height"].tolist() == pytest.approx([10, 10])
    assert s["brightness"].tolist() == pytest.approx([20 / 256, 40 / 256])
    assert s["slant"].abs().max() < 1e-6  # upright


def test_slant_sign_follows_the_lean():
    right, left, upright = (
        bar(16, 16, 2, 3, 12, 2, 0.5),
        bar(16, 16, 2, 10, 12, 2, -0.5),
        bar(16, 16, 2, 7, 12, 2),
    )
    slant = pixel_statistics(torch.cat([right, left, upright]))["slant"]
    assert slant[0] > 0.3 and slant[1] < -0.3 and abs(float(slant[2])) < 1e-6
    assert float(slant[0]) == pytest.approx(-float(slant[1]))  # mirror images
    assert float(slant[0]) == pytest.approx(0.5, abs=0.1)  # the shear that drew it


def test_empty_images_give_zero_statistics():
    s = pixel_statistics(torch.zeros(2, 3, 8, 8))
    assert all(v.abs().max() == 0 for v in s.values())


# ---------------------------------------------------------------------------- centroids, vectors
def test_centroids_and_vectors_match_a_hand_computation():
    z = torch.randn(8, 3, generator=torch.Generator().manual_seed(0))
    stat = torch.arange(8.0)  # quartiles 1.75 and 5.25: high = {6, 7}, low = {0, 1}
    y = torch.tensor([0, 0, 0, 1, 1, 1, 1, 1])
    smiling = torch.tensor([1, 0, 1, 0, 1, 0, 0, 0], dtype=torch.bool)
    a = attr.attributes_from_codes(
        z, statistics={"thickness": stat}, table={"Smiling": smiling}, labels=y, class_names=("zero", "one")
    )
    assert a.names == ("thick", "thin", "Smiling", "not-Smiling", "zero", "one")
    torch.testing.assert_close(a.centroid("thick"), z[6:].mean(0))
    torch.testing.assert_close(a.centroid("THIN"), z[:2].mean(0))  # case-insensitive
    torch.testing.assert_close(a.vector("thickness"), z[6:].mean(0) - z[:2].mean(0))
    torch.testing.assert_close(a.vector("thick"), a.vector("thickness"))
    torch.testing.assert_close(a.vector("thin"), -a.vector("thickness"))
    torch.testing.assert_close(a.vector("Smiling"), z[smiling].mean(0) - z[~smiling].mean(0))
    torch.testing.assert_close(a.vector("zero"), z[:3].mean(0) - z[3:].mean(0))  # class vs the rest
    assert a.counts.tolist() == [2, 2, 3, 5, 3, 5]
    with pytest.raises(GenzooError, match="unknown attribute 'bold'"):
        a.vector("bold")


def test_a_constant_statistic_or_attribute_is_refused():
    z = torch.randn(6, 2)
    with pytest.raises(GenzooError, match="same for every image"):
        attr.attributes_from_codes(z, statistics={"thickness": torch.ones(6)})
    with pytest.raises(DataError, match="'Bald' is 1 for no image"):
        attr.attributes_from_codes(z, table={"Bald": torch.zeros(6, dtype=torch.bool)})


# ----------------------------------------------------------------------------------- expressions
@pytest.mark.parametrize(
    "text, terms",
    [
        ("7 + thick - thin", [(1, "7"), (1, "thick"), (-1, "thin")]),
        ("7 + 2*thick - 0.5 * thin", [(1, "7"), (2, "thick"), (-0.5, "thin")]),
        ("-thin + not-Smiling", [(-1, "thin"), (1, "not-Smiling")]),
        ("'ankle boot' - 3", [(1, "ankle boot"), (-1, "3")]),
        ("3*7", [(3, "7")]),
    ],
)
def test_expressions_parse(text, terms):
    assert arith.parse_expression(text) == terms


@pytest.mark.parametrize(
    "text, why",
    [
        ("", "empty"),
        ("7 +", "ends with an operator"),
        ("7 thick", "expected \\+ or - between '7' and 'thick'"),
        ("2*", "expected a name after 2\\*"),
        ("x*thick", "'x' before '\\*' is not a number"),
        ("+ - 7", "expected a name, got '-'"),
        ("'ankle boot + 7", "unclosed quote"),
        ("inf*thick", "not finite"),
    ],
)
def test_malformed_expressions_say_what_is_wrong(text, why):
    with pytest.raises(ConfigError, match=why):
        arith.parse_expression(text)


def test_expression_code_is_the_weighted_sum_of_centroids():
    z = torch.randn(8, 3, generator=torch.Generator().manual_seed(1))
    a = attr.attributes_from_codes(z, statistics={"thickness": torch.arange(8.0)}, labels=torch.arange(8) % 2)
    got = arith.expression_code(a, arith.parse_expression("1 + 2*thick - 2*thin"))
    torch.testing.assert_close(got, a.centroid("1") + 2 * a.centroid("thick") - 2 * a.centroid("thin"))
    torch.testing.assert_close(
        arith.expression_code(a, [(1.0, "0"), (1.0, "thickness")]), a.centroid("0") + a.vector("thickness")
    )
    with pytest.raises(GenzooError, match="unknown name '7' in the expression"):
        arith.expression_code(a, [(1.0, "7")])


def test_edit_codes_and_spearman():
    z, v = torch.zeros(2, 3), torch.tensor([1.0, 0.0, -1.0])
    codes = arith.edit_codes(z, v, torch.tensor([-1.0, 0.0, 2.0]))
    assert codes.shape == (2, 3, 3) and codes[0, 2].tolist() == [2.0, 0.0, -2.0]
    s = torch.tensor([[1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0], [1.0, 1.0, 2.0, 2.0]])
    rho = arith.spearman(s, torch.arange(4.0))
    assert rho[0] == pytest.approx(1.0) and rho[1] == pytest.approx(-1.0) and 0.8 < rho[2] < 1.0


# ------------------------------------------------------------------------------ attribute tables
def write(path, text: str):
    path.write_text(text)
    return path


def test_attribute_table_reads_the_celeba_layout(tmp_path):
    t = attribute_table.read_attribute_table(
        write(tmp_path / "a.txt", "3\nSmiling Male\n001.png  1 -1\n002.png -1  1\n003.png  1  1\n")
    )
    assert t.files == ["001.png", "002.png", "003.png"] and t.names == ["Smiling", "Male"]
    assert t.high.tolist() == [[True, False], [False, True], [True, True]]
    zero_one = attribute_table.read_attribute_table(
        write(tmp_path / "b.csv", "2\nimage_id,Smiling\n1.png,0\n2.png,1\n")
    )
    assert zero_one.names == ["Smiling"] and zero_one.high[:, 0].tolist() == [False, True]


@pytest.mark.parametrize(
    "text, why",
    [
        ("2\nSmiling Male\n1.png 1 -1\n2.png 1\n", "line 4: 1 values for 2 attributes"),
        ("2\nSmiling\n1.png 1\n2.png 2\n", "line 4: value '2'"),
        ("Smiling\n1.png 1\n2.png -1\n", "line 1: expected the number of images"),
        ("3\nSmiling\n1.png 1\n2.png -1\n", "line 1 says 3 images but 2 lines follow"),
        ("2\nSmiling\n1.png 1\n1.png -1\n", "'1.png' is listed twice"),
        ("3\nSmiling\n1.png 1\n2.png -1\n3.png 0\n", "mix -1 and 0"),
    ],
)
def test_bad_attribute_tables_name_the_line(tmp_path, text, why):
    with pytest.raises(DataError, match=why):
        attribute_table.read_attribute_table(write(tmp_path / "t.txt", text))


def test_table_matching_by_file_name(tmp_path):
    t = attribute_table.read_attribute_table(
        write(tmp_path / "t.txt", "3\nSmiling\na.png 1\nb.png -1\nzz.png 1\n")
    )
    everything = ["faces/a.png", "faces/b.png", "faces/c.png"]
    with pytest.raises(DataError, match="names 1 image\\(s\\) not in the folder \\(zz.png\\)"):
        attribute_table.match_table(t, everything, everything)
    idx, high = attribute_table.match_table(
        t, ["faces/c.png", "faces/b.png", "faces/a.png"], everything, ignore_missing=True
    )
    assert idx.tolist() == [1, 2] and high[:, 0].tolist() == [False, True]


# ---------------------------------------------------------------------------- a tiny trained model
@pytest.fixture(scope="module")
def ae_run(tmp_path_factory):
    """An ae (latent 16) on the embedded 8x8 digits, 200 seeded steps (about 6 s on one thread)."""
    root = tmp_path_factory.mktemp("attributes")
    spec = tiny_spec("ae", steps=200, threads=1, image_every=0, ckpt_every=200, log_every=200)
    spec = dataclasses.replace(spec, model=dataclasses.replace(spec.model, latent_dim=16))
    train(spec, root / "ae", progress=False)
    return root / "ae"


def test_an_edit_moves_its_statistic_in_the_right_direction(ae_run):
    model = genzoo.load(ae_run)
    train_x = load_dataset(DataConfig(name="digits"), "train")
    test = load_dataset(DataConfig(name="digits"), "test")
    a = attr.compute_attributes(model, train_x.x, train_x.y, class_names=train_x.info.class_names)
    assert set(a.pairs) == set(PIXEL_ATTRIBUTES) and a.classes == tuple(str(i) for i in range(10))
    z = latent.latent_codes(model, test.x[:100])
    amounts = arith.amounts(-2, 2, 5)
    for name, stat in (("thick", "thickness"), ("right-slanted", "slant"), ("bright", "brightness")):
        report = arith.slider_report(arith.edit(model, a, name, z, amounts), amounts, stat)
        means = report["mean_statistic"]
        assert all(b > c for b, c in zip(means[1:], means[:-1], strict=True)), (name, means)
        assert report["spearman"] > 0.5 and report["monotone"] > 0.5, (name, report)
    down = arith.slider_report(arith.edit(model, a, "thin", z, amounts), amounts, "thickness", direction=-1)
    assert down["mean_statistic"][-1] < down["mean_statistic"][0] and down["spearman"] > 0.5


def test_attributes_file_round_trip_and_model_check(ae_run, tmp_path):
    model = genzoo.load(ae_run)
    x = load_dataset(DataConfig(name="digits"), "test")
    a = attr.compute_attributes(model, x.x, x.y, class_names=x.info.class_names, n=200)
    path = attribute_file.save_attributes(a, tmp_path / "a.safetensors")
    b = attribute_file.load_attributes(path, model)
    assert b.names == a.names and b.pairs == a.pairs and b.classes == a.classes
    assert torch.equal(b.centroids, a.centroids) and torch.equal(b.counts, a.counts)
    assert b.meta["source"] == "pixels" and b.meta["model_type"] == "ae" and b.meta["images"] == "200"
    other = genzoo.load(ae_run)
    with torch.no_grad():
        next(other.parameters()).add_(1.0)
    with pytest.raises(CheckpointError, match="other weights of this ae"):
        attribute_file.load_attributes(path, other)
    small = attr.Attributes(a.names, a.centroids[:, :4], a.counts, a.pairs, a.classes, a.meta)
    attribute_file.save_attributes(small, tmp_path / "small.safetensors")
    with pytest.raises(
        CheckpointError, match="computed for a ae with latent size 4, not this ae with latent size 16"
    ):
        attribute_file.load_attributes(tmp_path / "small.safetensors", model)
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        attribute_file.load_attributes(tmp_path / "junk.safetensors")


# ---------------------------------------------------------------------------------------- the CLI
def main(argv: list[str]) -> int:
    """genzoo's main in-process; argparse's exit (SystemExit) becomes the return code."""
    try:
        return cli_main(argv)
    except SystemExit as e:
        return e.code


def one_error_line(capsys) -> str:
    """stderr is one 'genzoo: error: ...' line, or argparse's error line and a pointer to --help."""
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert err and "Traceback" not in "\n".join(err), err
    if len(err) == 2:  # argparse: "genzoo CMD: error: ...", then "see 'genzoo CMD --help'"
        assert ": error: " in err[0] and err[1].startswith("see 'genzoo"), err
    else:
        assert len(err) == 1 and err[0].startswith("genzoo: error:"), err
    return err[0]


@pytest.fixture(scope="module")
def cli_run(ae_run, tmp_path_factory):
    """The ae run with its attributes file, written by the CLI."""
    assert main(["attributes", str(ae_run), "-n", "1000"]) == 0
    return ae_run


def test_cli_writes_attributes_arithmetic_and_edit_pictures(cli_run, tmp_path, capsys):
    assert (cli_run / attribute_file.FILE_NAME).is_file()
    assert (
        main(["arithmetic", str(cli_run), "--expr", "7 + 2*thick - 2*thin", "-o", str(tmp_path / "a.png")])
        == 0
    )
    assert "terms: 1*7 + 2*thick - 2*thin" in capsys.readouterr().out
    w, h = Image.open(tmp_path / "a.png").size
    assert w > 3 * h  # three terms and the result in one row
    argv = ["edit", str(cli_run), "--attr", "thick", "--image", "3", "--amount", "-2..2", "--steps", "5"]
    assert main([*argv, "-o", str(tmp_path / "e.png")]) == 0
    out = capsys.readouterr().out
    assert "thickness" in out and "-2.00" in out
    row = np.asarray(Image.open(tmp_path / "e.png"))
    assert row.shape[1] > 5 * row.shape[0]  # the original and five edits
    assert main(["edit", str(cli_run), "--attr", "7", "-o", str(tmp_path / "c.png")]) == 0  # a class vector


@pytest.mark.parametrize(
    "argv, message",
    [
        (["edit", "{run}", "--attr", "bold"], "unknown attribute 'bold'"),
        (["arithmetic", "{run}", "--expr", "seven + thick"], "unknown name 'seven'"),
        (["arithmetic", "{run}", "--expr", "7 + + thick"], "argument --expr: malformed expression"),
        (["arithmetic", "{run}"], "arithmetic needs --expr"),
        (["edit", "{run}", "--attr", "thick", "--amount", "2..x"], "argument --amount: expected a range"),
        (["edit", "{run}", "--attr", "thick", "--image", "9999"], "--image 9999 is out of range"),
        (["edit", "{run}", "--attr", "thick", "--steps", "1"], "--steps must be at least 2"),
        (["edit", "{run}", "--attr", "thick", "--attributes", "{tmp}/none.safetensors"], "not found"),
        (["attributes", "{run}", "--from", "nope", "-o", "{tmp}/a.safetensors"], "argument --from"),
        (["attributes", "{run}", "--from", "{table}", "-o", "{tmp}/a.safetensors"], "needs a folder dataset"),
    ],
)
def test_cli_bad_input_is_one_line(cli_run, tmp_path, capsys, argv, message):
    table = write(tmp_path / "t.txt", "1\nSmiling\n1.png 1\n")
    argv = [a.format(run=cli_run, tmp=tmp_path, table=table) for a in argv]
    assert main([*argv, "-o", str(tmp_path / "x.png")] if argv[0] != "attributes" else argv) == 2
    assert message in one_error_line(capsys)


def test_cli_needs_an_attributes_file_of_this_model(ae_run, tmp_path, capsys):
    spec = tiny_spec("ae", steps=2, threads=1, image_every=0, ckpt_every=2, warmup_steps=0, log_every=1)
    train(spec, tmp_path / "other", progress=False)
    assert main(["edit", str(tmp_path / "other"), "--attr", "thick", "-o", str(tmp_path / "e.png")]) == 2
    assert "has no attribute vectors" in one_error_line(capsys)
    assert main(["attributes", str(ae_run), "-n", "100", "-o", str(tmp_path / "a16.safetensors")]) == 0
    capsys.readouterr()
    argv = [
        "edit",
        str(tmp_path / "other"),
        "--attr",
        "thick",
        "--attributes",
        str(tmp_path / "a16.safetensors"),
    ]
    assert main([*argv, "-o", str(tmp_path / "e.png")]) == 2
    assert "latent size 16, not this ae with latent size 4" in one_error_line(capsys)


def test_a_table_matched_to_a_folder_dataset(tmp_path, capsys):
    faces = tmp_path / "faces"
    faces.mkdir()
    g = np.random.default_rng(0)
    lines = []
    for i in range(12):
        img = (g.random((8, 8)) * 255).astype(np.uint8)
        Image.fromarray(img).save(faces / f"{i:03d}.png")
        lines.append(f"{i:03d}.png {1 if i % 3 == 0 else -1}")
    table = write(tmp_path / "list_attr.txt", "12\nSmiling\n" + "\n".join(lines) + "\n")
    folder = {"name": "folder", "path": str(faces)}
    spec = tiny_spec("ae", folder, steps=2, batch_size=8, threads=1, image_every=0, ckpt_every=2, log_every=1)
    train(spec, tmp_path / "run", progress=False)
    assert main(["attributes", str(tmp_path / "run"), "--from", str(table)]) == 0
    a = attribute_file.load_attributes(tmp_path / "run" / attribute_file.FILE_NAME)
    assert a.pairs == {"Smiling": ("Smiling", "not-Smiling")} and a.meta["source"] == "table"
    train_names = image_names(str(faces), "train")
    assert int(a.counts[0]) == sum(int(n[:3]) % 3 == 0 for n in train_names)
    capsys.readouterr()
    bad = write(tmp_path / "bad.txt", "2\nSmiling\n000.png 1\nstranger.png -1\n")
    assert main(["attributes", str(tmp_path / "run"), "--from", str(bad)]) == 2
    assert "not in the folder (stranger.png)" in one_error_line(capsys)
    assert main(["attributes", str(tmp_path / "run"), "--from", str(bad), "--ignore-missing"]) == 2
    assert "need at least 4 images, got 1" in one_error_line(capsys)  # only 000.png is left


def test_a_gan_uses_sampled_latents(tmp_path, capsys):
    spec = tiny_spec("gan", steps=2, threads=1, image_every=0, ckpt_every=2, warmup_steps=0, log_every=1)
    train(spec, tmp_path / "gan", progress=False)
    model = genzoo.load(tmp_path / "gan")
    z = model.sample_latent(3, torch.Generator().manual_seed(0))
    assert z.shape == (3, 4) and model.decode(z).shape == (3, 1, 8, 8)
    torch.testing.assert_close(model.decode(z), model.sample(3, torch.Generator().manual_seed(0)))
    assert not latent.can_encode(model) and attr.can_sample_latent(model)
    assert main(["attributes", str(tmp_path / "gan"), "-n", "200"]) == 0
    a = attribute_file.load_attributes(tmp_path / "gan" / attribute_file.FILE_NAME, model)
    assert a.meta["codes"] == "sampled latents" and len(a.classes) > 0  # labels from the shipped classifier
    assert main(["edit", str(tmp_path / "gan"), "--attr", "thick", "-o", str(tmp_path / "g.png")]) == 0
    capsys.readouterr()
    assert (
        main(
            ["edit", str(tmp_path / "gan"), "--attr", "thick", "--image", "0", "-o", str(tmp_path / "g.png")]
        )
        == 2
    )
    assert "--image does not apply" in one_error_line(capsys)


def test_models_without_codes_are_refused():
    class NoLatent(Stub):
        model_type = "ddpm"

    with pytest.raises(GenzooError, match="ddpm has no latent code"):
        attr.check_latent(NoLatent((1, 4, 4)))


def test_saving_attributes_never_overwrites_another_file(tmp_path):
    from genzoo.apps.attribute_file import save_attributes
    from genzoo.apps.attributes import Attributes

    attrs = Attributes(
        centroids=torch.zeros(2, 3),
        counts=torch.ones(2, dtype=torch.long),
        names=("thick", "thin"),
        pairs={"thickness": ("thick", "thin")},
        classes=(),
        meta={"source": "pixels"},
    )
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"not ours")
    with pytest.raises(GenzooError, match="is not a genzoo attributes file"):
        save_attributes(attrs, weights)
    assert weights.read_bytes() == b"not ours"
    out = save_attributes(attrs, tmp_path / "a.safetensors")
    save_attributes(attrs, out)  # its own file may be rewritten
