"""genzoo.Run: a run directory as an object, and the same answers the CLI gives."""

from __future__ import annotations

import argparse
import shutil

import pytest
import torch

import genzoo
from genzoo import config as cfgio
from genzoo.cli.options import run_split
from genzoo.errors import CheckpointError, ConfigError, RunError, TrainingError
from genzoo.train import train
from genzoo.train.checkpoint import point
from tests.conftest import tiny_spec


def _spec(**train_changes):
    return tiny_spec("ae", steps=20, ckpt_every=10, image_every=10, log_every=5, threads=1, **train_changes)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("run") / "ae"
    train(_spec(keep_checkpoints=5), path, progress=False)
    return path


def _state(model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def _equal(a, b) -> bool:
    sa, sb = _state(a), _state(b)
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_config_round_trip(run_dir):
    run = genzoo.Run(run_dir)
    spec = _spec(keep_checkpoints=5)
    assert run.model_type == "ae" and run.shape == (1, 8, 8) and run.is_run
    assert cfgio.to_dict(run.spec.model) == cfgio.to_dict(spec.model)
    assert cfgio.to_dict(run.spec.train) == cfgio.to_dict(spec.train)
    assert run.spec.data.name == "digits"
    raw = run.config
    assert raw["model_type"] == "ae" and raw["train"] == cfgio.to_dict(run.spec.train)
    assert raw["data"] == cfgio.to_dict(run.spec.data)
    assert repr(run) == f"Run({str(run_dir)!r})"


def test_checkpoints_metrics_and_progress_pictures(run_dir):
    run = genzoo.Run(run_dir)
    assert run.checkpoints == [0, 10, 20] and run.latest == 20 and run.best is None
    assert [r["step"] for r in run.metrics()] == [5, 10, 15, 20]
    assert all("loss" in r for r in run.metrics())
    pics = run.progress_images()
    assert list(pics) == [10, 20] and all(p.is_file() for p in pics.values())
    assert run.state(10)["step"] == 10


def test_model_which_loads_the_weights_genzoo_load_does(run_dir):
    run = genzoo.Run(run_dir)
    assert _equal(run.model(), genzoo.load(run_dir))
    assert _equal(run.model(ema=False), genzoo.load(run_dir, ema=False))
    assert _equal(run.model(10), genzoo.load(run_dir / "checkpoints" / "step-0000010"))
    assert not _equal(run.model(10), run.model(20))
    assert _equal(run.model(20), run.model("latest"))


def test_best_is_the_checkpoint_the_pointer_names(tmp_path, run_dir):
    path = tmp_path / "copy"
    shutil.copytree(run_dir, path)
    run = genzoo.Run(path)
    with pytest.raises(CheckpointError, match="no best checkpoint"):
        run.model("best")
    point(path / "checkpoints", "best", "step-0000010")
    assert run.best == 10
    assert _equal(run.model("best"), genzoo.load(path, which="best"))
    assert _equal(run.model("best"), run.model(10))


def test_clear_errors(tmp_path, run_dir):
    with pytest.raises(RunError, match="does not exist"):
        genzoo.Run(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="neither a saved model"):
        genzoo.Run(tmp_path / "empty")
    run = genzoo.Run(run_dir)
    with pytest.raises(RunError, match=r"no checkpoint of step 7 \(checkpoints kept: 0, 10, 20\)"):
        run.model(7)
    with pytest.raises(CheckpointError, match="unknown checkpoint 'first'"):
        run.model("first")
    with pytest.raises(ConfigError, match="unknown setting 'nonsense'"):
        run.resume(nonsense=1)


def test_data_is_what_the_cli_uses(run_dir):
    run = genzoo.Run(run_dir)
    args = argparse.Namespace(run=run_dir, which="latest", data=None, data_root=None)
    for split in ("train", "test"):
        cli, cfg = run_split(args, split)
        mine = run.data(split)
        assert torch.equal(cli.x, mine.x) and torch.equal(cli.y, mine.y) and cfg == run.data_config()
    assert run.data("test").x.shape[1:] == (1, 8, 8)
    with pytest.raises(ConfigError, match="mnist has shape|the model expects"):
        run.data("test", name="moons")


def test_whole_split_ignores_the_classes_training_kept(tmp_path):
    spec = tiny_spec("ae", data={"classes": (1, 7), "limit": 50}, steps=2, ckpt_every=2, image_every=0,
                     log_every=1, warmup_steps=0, threads=1)  # fmt: skip
    train(spec, tmp_path / "r", progress=False)
    run = genzoo.Run(tmp_path / "r")
    kept = run.data("test")
    assert set(kept.y.tolist()) <= {1, 7} and len(kept) <= 50
    whole = run.data("test", whole=True)
    assert set(whole.y.tolist()) == set(range(10))
    assert run.data_config(whole=True).classes is None


def test_ood_data_has_the_runs_settings_at_the_models_size(run_dir):
    run = genzoo.Run(run_dir)
    other = run.ood_data("digits")
    assert other.x.shape[1:] == (1, 8, 8) and other.split == "test"
    with pytest.raises(ConfigError, match="applies to images"):
        run.ood_data("moons")


def test_resume_continues_the_step_count_exactly(tmp_path):
    spec = _spec()
    train(spec, tmp_path / "straight", progress=False)
    train(spec, tmp_path / "split", progress=False, stop_at=10)
    run = genzoo.Run(tmp_path / "split")
    assert run.latest == 10
    run.resume()
    assert run.latest == 20
    assert _equal(run.model(), genzoo.Run(tmp_path / "straight").model())
    straight = genzoo.Run(tmp_path / "straight").metrics()
    assert [(r["step"], r["loss"]) for r in run.metrics()] == [(r["step"], r["loss"]) for r in straight]
    # a change: more steps at another learning rate; the steps continue from 20
    run.resume(steps=30, lr=1e-4)
    assert run.latest == 30 and run.spec.train.steps == 30 and run.spec.train.lr == 1e-4
    assert [r["step"] for r in run.metrics()] == [5, 10, 15, 20, 25, 30]
    with pytest.raises(TrainingError, match="different model config"):
        run.resume(latent_dim=8)


def _layers(steps=20, **model):
    from tests.conftest import TINY

    return {
        "model": TINY["ae"] | model,
        "train": cfgio.to_dict(_spec().train) | {"steps": steps},
        "data": {"name": "digits"},
    }


def test_train_or_load_trains_once_then_reuses_resumes_or_refuses(tmp_path):
    out = tmp_path / "nb"
    run = genzoo.Run.train_or_load(out, "ae", _layers(), progress=False)
    assert run.latest == 20 and [r["step"] for r in run.metrics()] == [5, 10, 15, 20]
    # the same ask again: the saved run, not a second training (same weights, same records)
    weights = (out / "checkpoints" / "step-0000020" / "model.safetensors").read_bytes()
    again = genzoo.Run.train_or_load(out, "ae", _layers(), progress=False)
    assert again.latest == 20 and [r["step"] for r in again.metrics()] == [5, 10, 15, 20]
    assert (out / "checkpoints" / "step-0000020" / "model.safetensors").read_bytes() == weights
    # equal to a straight run of the same spec
    straight = tmp_path / "straight"
    train(_spec(), straight, progress=False)
    assert _equal(again.model(), genzoo.Run(straight).model())
    # more steps asked: the run goes on from 20
    more = genzoo.Run.train_or_load(out, "ae", _layers(steps=30), progress=False)
    assert more.latest == 30 and [r["step"] for r in more.metrics()] == [5, 10, 15, 20, 25, 30]
    # other settings: one line naming what differs, and the run untouched
    latent = _layers()["model"]["latent_dim"]
    with pytest.raises(RunError, match=rf"model.latent_dim: {latent} -> {latent + 1}.*delete it"):
        genzoo.Run.train_or_load(out, "ae", _layers(latent_dim=latent + 1), progress=False)
    with pytest.raises(RunError, match="holds a 'ae' run, not 'vae'"):
        genzoo.Run.train_or_load(out, "vae", {"data": {"name": "digits"}}, progress=False)
    assert genzoo.Run(out).latest == 30
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "notes.txt").write_text("mine")
    with pytest.raises(RunError, match="exists but holds no run"):
        genzoo.Run.train_or_load(junk, "ae", _layers(), progress=False)
    assert (junk / "notes.txt").read_text() == "mine"


def test_import_genzoo_does_not_import_the_run_module():
    import subprocess
    import sys

    code = "import sys, genzoo; assert 'genzoo.run' not in sys.modules; genzoo.Run; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"
