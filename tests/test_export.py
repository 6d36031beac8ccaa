"""genzoo export: every family's exportable parts round-trip through ONNX within 1e-4 of PyTorch."""

from __future__ import annotations

import pytest
import torch

from genzoo import config as cfgio
from genzoo.cli import main
from genzoo.registry import get_model_class, list_models
from tests.conftest import DATA_SHAPES, SHAPE, TINY

pytest.importorskip(
    "onnxruntime", reason="genzoo export needs the export extra: pip install 'genzoo[export]'"
)
pytest.importorskip("onnx", reason="genzoo export needs the export extra: pip install 'genzoo[export]'")

from genzoo.export import TOLERANCE, ExportError, export_model, parts_of  # noqa: E402


def _model(name: str):
    """A tiny model of ``name`` with every weight moved off its initial value (a zero-initialised
    output layer would make any export look exact)."""
    cls = get_model_class(name)
    torch.manual_seed(0)
    model = cls(cfgio.from_dict(cls.config_class, TINY[name]), DATA_SHAPES.get(name, (SHAPE,))[0])
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model.eval()


CASES = [(name, part) for name in list_models() for part in parts_of(_model(name))]


def test_every_family_has_a_part_to_export():
    assert {name for name, _ in CASES} == set(list_models())


# parts whose ONNX graph does not match PyTorch, so export refuses them (one line, nothing written):
# the seq-ae encoder packs a batch of padded series (pack_padded_sequence) only when lengths differ,
# a branch the exporter's trace fixes to the example batch
CANNOT = {("seq-ae", "encoder")}


@pytest.mark.parametrize("name, part", CASES, ids=[f"{n}-{p}" for n, p in CASES])
def test_round_trip(name, part, tmp_path):
    model = _model(name)
    if (name, part) in CANNOT:
        with pytest.raises(ExportError, match=f"^{name} {part}: onnxruntime differs from PyTorch"):
            export_model(model, tmp_path / "m.onnx", part)
        assert not list(tmp_path.iterdir())
        return
    result = export_model(model, tmp_path / "m.onnx", part)
    assert result.max_abs_diff <= TOLERANCE and (tmp_path / "m.onnx").is_file()
    assert not model.training  # exporting leaves the model as it was
    assert not list(tmp_path.glob("*.part"))


def test_the_command_exports_the_default_part_and_says_the_difference(tmp_path, capsys):
    _model("vae").save(tmp_path / "vae")
    assert main(["export", str(tmp_path / "vae"), "-o", str(tmp_path / "vae.onnx")]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"wrote {tmp_path / 'vae.onnx'} (vae decoder, inputs z, opset 17)")
    assert "max abs difference" in out


def test_a_part_a_model_lacks_is_one_line_naming_model_and_part(tmp_path, capsys):
    _model("dcgan").save(tmp_path / "gan")
    assert main(["export", str(tmp_path / "gan"), "-o", str(tmp_path / "g.onnx"), "--part", "encoder"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "genzoo: error: dcgan has no encoder to export; its parts: generator"
    assert not (tmp_path / "g.onnx").exists()


def test_an_export_that_differs_from_pytorch_is_refused(tmp_path, monkeypatch):
    import genzoo.export as ex

    monkeypatch.setattr(ex, "TOLERANCE", -1.0)  # no difference passes
    with pytest.raises(ExportError, match="ae decoder: onnxruntime differs from PyTorch"):
        export_model(_model("ae"), tmp_path / "m.onnx")
    assert not list(tmp_path.iterdir())
