"""The one training loop: learning, exact resume, NaN guard, crash safety, two players, DDP."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

import genzoo
from genzoo import io, registry
from genzoo.errors import TrainingError
from genzoo.models.autoencoder import Autoencoder
from genzoo.models.base import GenerativeModel, Output
from genzoo.train import TrainConfig, train
from genzoo.train.distributed import DistInfo
from genzoo.train.ema import EMA, power_beta, power_gamma
from genzoo.train.schedule import BatchSchedule, lr_at
from tests.conftest import tiny_spec


def tensors(path: Path, name: str) -> dict[str, torch.Tensor]:
    return io.load_tensors(io.resolve_model_dir(path) / name)


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_training_improves_the_objective_and_writes_a_complete_run(tmp_path):
    run = train(tiny_spec("ae", steps=60, log_every=10, lr=3e-3), tmp_path / "r", progress=False)
    m = metrics(run)
    assert [r["step"] for r in m] == [10, 20, 30, 40, 50, 60]
    assert m[-1]["loss"] < 0.8 * m[0]["loss"]
    assert sorted(p.name for p in (run / "progress").iterdir())[:2] == [
        "step-0000010.png",
        "step-0000020.png",
    ]
    assert (run / "checkpoints" / "latest").read_text().strip() == "step-0000060"
    assert len(list((run / "checkpoints").glob("step-*"))) == 1  # keep_checkpoints=1
    model = genzoo.load(run)
    assert model.model_type == "ae" and bool(model.prior_fitted)


@pytest.mark.parametrize("model_type", ["dae", "deep-ae"])
def test_resume_is_bit_identical(tmp_path, model_type):
    # dae draws noise from the global RNG; deep-ae runs greedy stages then fine-tuning.
    extra = {"ema_decay": 0.9}  # the power EMA (ema_std 0.05, the default): its resume is exact too
    spec = tiny_spec(model_type, steps=20, **extra)
    if model_type == "deep-ae":
        spec.model.pretrain_steps = 5
    train(spec, tmp_path / "straight", progress=False)
    train(spec, tmp_path / "split", progress=False, stop_at=10)
    assert (tmp_path / "split/checkpoints/latest").read_text().strip() == "step-0000010"
    train(spec, tmp_path / "split", resume=True, progress=False)
    # the EMA's time: the 5 lr warm-up steps count their lr factor (1+2+3+4+5)/5, the 15 after 1 each
    state = json.loads((tmp_path / "straight/checkpoints/step-0000020/state.json").read_text())
    assert state["ema_time"] == pytest.approx(3 + 15, rel=1e-12)
    for name in (io.WEIGHTS, io.EMA_WEIGHTS, "optimizer.safetensors"):
        a, b = tensors(tmp_path / "straight", name), tensors(tmp_path / "split", name)
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), f"{name}:{k} differs after resume"
    logged = [[(r["step"], r["loss"]) for r in metrics(tmp_path / run)] for run in ("straight", "split")]
    assert logged[0] == logged[1]  # the resumed run logs the same losses at the same steps


def test_greedy_pretraining_trains_one_layer_pair_per_stage(tmp_path):
    spec = tiny_spec("deep-ae", steps=30, warmup_steps=1)
    spec.model.pretrain_steps = 5  # stage k: steps [5k, 5k + 5); three pairs, then end to end
    torch.manual_seed(spec.train.seed)
    init = genzoo.registry.get_model_class("deep-ae")(spec.model, (1, 8, 8)).state_dict()
    snaps = [init]
    for stop in (5, 10, 15, 30):
        train(spec, tmp_path / "r", resume=stop > 5, progress=False, stop_at=stop)
        snaps.append(tensors(tmp_path / "r", io.WEIGHTS))
    layers = ["enc.0", "enc.1", "enc.2", "dec.0", "dec.1", "dec.2"]
    for stage in range(3):
        before, after = snaps[stage], snaps[stage + 1]
        changed = {
            name for name in layers if not torch.equal(before[name + ".weight"], after[name + ".weight"])
        }
        assert changed == {f"enc.{stage}", f"dec.{stage}"}, (stage, changed)
    assert all(not torch.equal(snaps[3][n + ".weight"], snaps[4][n + ".weight"]) for n in layers)


def test_resume_refuses_a_different_model_config(tmp_path):
    spec = tiny_spec("ae", steps=10)
    train(spec, tmp_path / "r", progress=False)
    spec.model.latent_dim = 5
    with pytest.raises(TrainingError, match="latent_dim"):
        train(spec, tmp_path / "r", resume=True, progress=False)
    with pytest.raises(TrainingError, match="already holds a run"):
        train(tiny_spec("ae"), tmp_path / "r", progress=False)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    real_loss = Autoencoder.loss

    def flaky(self, batch, player="model"):
        out = real_loss(self, batch, player)
        if self.training and flaky.calls >= 15:
            out.loss = out.loss * float("nan")
        flaky.calls += 1
        return out

    flaky.calls = 0
    monkeypatch.setattr(Autoencoder, "loss", flaky)
    with pytest.raises(TrainingError, match=r"became nan .* at step 15.*step-0000010"):
        train(tiny_spec("ae", steps=20), tmp_path / "r", progress=False)
    assert (tmp_path / "r/checkpoints/latest").read_text().strip() == "step-0000010"
    model = genzoo.load(tmp_path / "r")
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_a_nan_gradient_with_a_finite_loss_also_stops_before_the_step(tmp_path, monkeypatch):
    real_loss = Autoencoder.loss

    def bad_grad(self, batch, player="model"):
        out = real_loss(self, batch, player)
        bad_grad.calls += 1
        if self.training and bad_grad.calls > 3:  # sqrt at 0: value 0, gradient 0 * inf = nan
            out.loss = out.loss + torch.sqrt(0 * next(self.parameters()).sum())
        return out

    bad_grad.calls = 0
    monkeypatch.setattr(Autoencoder, "loss", bad_grad)
    with pytest.raises(TrainingError, match=r"gradient norm nan\) at step 3.*step-0000000"):
        train(tiny_spec("ae", steps=20), tmp_path / "r", progress=False)
    monkeypatch.setattr(Autoencoder, "loss", real_loss)
    model = genzoo.load(tmp_path / "r")  # stopped before its first periodic checkpoint: still loadable
    assert all(torch.isfinite(p).all() for p in model.parameters())
    train(tiny_spec("ae", steps=20), tmp_path / "r", resume=True, progress=False)
    assert (tmp_path / "r/checkpoints/latest").read_text().strip() == "step-0000020"


@pytest.mark.parametrize("crash_at", range(8))
def test_a_crash_at_any_write_of_a_checkpoint_leaves_a_usable_run(tmp_path, monkeypatch, crash_at):
    spec = tiny_spec("ae", steps=20, ema_decay=0.9)
    train(spec, tmp_path / "r", progress=False, stop_at=10)
    real_replace = os.replace
    calls = []

    def crash(src, dst):  # every file and directory of a checkpoint lands through os.replace
        calls.append(dst)
        if len(calls) == crash_at + 1:
            raise KeyboardInterrupt(f"simulated kill while writing {dst}")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        train(spec, tmp_path / "r", resume=True, progress=False)
    monkeypatch.setattr(os, "replace", real_replace)
    latest = (tmp_path / "r/checkpoints/latest").read_text().strip()
    assert latest in ("step-0000010", "step-0000020")
    genzoo.load(tmp_path / "r")
    train(spec, tmp_path / "r", resume=True, progress=False)  # and the run can continue
    assert (tmp_path / "r/checkpoints/latest").read_text().strip() == "step-0000020"
    assert not list((tmp_path / "r/checkpoints").glob(".tmp-*"))  # partial checkpoints are cleaned up
    train(spec, tmp_path / "straight", progress=False)
    a, b = tensors(tmp_path / "straight", io.WEIGHTS), tensors(tmp_path / "r", io.WEIGHTS)
    assert all(torch.equal(a[k], b[k]) for k in a)  # and the result is the uninterrupted one


def test_resume_can_turn_on_ema_and_extend_steps(tmp_path, capsys):
    spec = tiny_spec("ae", steps=20, log_every=10, min_lr_ratio=0.1)
    torch.manual_seed(spec.train.seed)
    init = Autoencoder(spec.model, (1, 8, 8)).state_dict()
    train(spec, tmp_path / "r", progress=False)
    spec.train.ema_decay, spec.train.steps = 0.99, 30
    train(spec, tmp_path / "r", resume=True, progress=False)
    assert "cosine schedule keeps its length" in capsys.readouterr().err
    m = metrics(tmp_path / "r")
    assert m[-1]["step"] == 30 and m[-1]["lr"] == pytest.approx(0.1 * spec.train.lr)  # continues at the floor
    ema, final = tensors(tmp_path / "r", io.EMA_WEIGHTS), tensors(tmp_path / "r", io.WEIGHTS)
    key = "encoder.head.weight"
    assert (ema[key] - final[key]).norm() < 0.5 * (init[key] - final[key]).norm()  # averages trained weights


def test_invalid_training_settings_are_refused_before_anything_is_written(tmp_path):
    from genzoo.errors import ConfigError

    for bad in ({"batch_size": 0}, {"log_every": 0}, {"ckpt_every": 0}, {"lr": -1.0}, {"betas": (0.9,)}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            train(tiny_spec("ae", **bad), tmp_path / "r", progress=False)
        assert not (tmp_path / "r").exists()


def _assert_resume_matches_uninterrupted(run: Path, tmp_path: Path, stop: int, extra: int = 5) -> None:
    """Resume ``run`` (stopped at ``stop``) for ``extra`` steps and compare it, bit for bit, with
    a run of the same config that was never interrupted, stopped at the same step. The resumed
    run keeps its original cosine horizon, as the straight one does."""
    spec, straight = genzoo.train.read_run_spec(run), genzoo.train.read_run_spec(run)
    spec.train.steps = stop + extra
    train(spec, run, resume=True, progress=False)
    assert metrics(run)[-1]["step"] == stop + extra
    train(straight, tmp_path / "straight", progress=False, stop_at=stop + extra)
    for name in (io.WEIGHTS, "optimizer.safetensors"):
        a, b = tensors(tmp_path / "straight", name), tensors(run, name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name


@pytest.mark.slow
def test_a_killed_process_leaves_a_run_that_resumes_bit_identically(tmp_path):
    """SIGKILL after step 7 (GENZOO_CRASH_AT): the checkpoint of step 6 is what is left."""
    run = tmp_path / "r"
    cmd = [sys.executable, "-m", "genzoo", "train", *TINY_CLI, "--out", str(run), "--steps", "100000", "--ckpt-every", "3", "--log-every", "1", "--quiet"]  # fmt: skip
    env = os.environ | {"GENZOO_CRASH_AT": "step:7"}
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
    assert proc.returncode == -signal.SIGKILL
    assert genzoo.load(run).model_type == "ae"
    stop = int((run / "checkpoints/latest").read_text().strip().split("-")[1])
    assert stop == 6 and metrics(run)[-1]["step"] == 7  # logged (every step), not checkpointed
    _assert_resume_matches_uninterrupted(run, tmp_path, stop, extra=3)


def test_lr_schedule_and_ema_follow_their_formulas():
    cfg = TrainConfig(steps=110, lr=1.0, warmup_steps=10, min_lr_ratio=0.0)
    assert lr_at(0, cfg) == pytest.approx(0.1) and lr_at(9, cfg) == pytest.approx(1.0)
    assert lr_at(60, cfg) == pytest.approx(0.5)  # half-way through the cosine
    assert lr_at(110, cfg) == pytest.approx(0.0, abs=1e-12)
    lin = nn.Linear(1, 1, bias=False)
    nn.init.constant_(lin.weight, 0.0)
    ema = EMA(lin, decay=0.5)
    nn.init.constant_(lin.weight, 1.0)
    ema.update(lin, step=100)  # d = min(0.5, 101/110) = 0.5
    assert ema.shadow["weight"].item() == pytest.approx(0.5)


def test_ema_decay_warms_up_with_the_step():
    """d_t = min(d, (1 + t) / (10 + t)): 0.1 at t=0, 0.5 at t=8, d once (1 + t)/(10 + t) exceeds it."""
    lin = nn.Linear(1, 1, bias=False)
    for step, d in ((0, 0.1), (8, 0.5), (60, 61 / 70), (100_000, 0.999)):
        nn.init.constant_(lin.weight, 0.0)
        ema = EMA(lin, decay=0.999)
        nn.init.constant_(lin.weight, 1.0)
        ema.update(lin, step=step)
        assert ema.shadow["weight"].item() == pytest.approx(1 - d)


def test_power_ema_beta_and_gamma_follow_edm2():
    """gamma from sigma_rel^2 = (gamma+1)/((gamma+2)^2 (gamma+3)) (EDM2 Eq. 2: 0.05 -> 16.97,
    0.10 -> 6.94); beta_t = (T_{t-1}/T_t)^(gamma+1), T the learning-rate time (EDM2 Eq. 3 at T = t)."""
    assert power_gamma(0.05) == pytest.approx(16.97, abs=0.005)
    assert power_gamma(0.10) == pytest.approx(6.94, abs=0.005)
    g = power_gamma(0.2)
    assert ((g + 1) / ((g + 2) ** 2 * (g + 3))) ** 0.5 == pytest.approx(0.2, rel=1e-12)
    lin = nn.Linear(1, 1, bias=False)
    nn.init.constant_(lin.weight, 0.0)
    ema = EMA(lin, decay=0.999, std=0.10)
    nn.init.constant_(lin.weight, 1.0)
    ema.update(lin, step=1, dt=0.1)  # beta_1 = 0: the weights after step 1, never the initial ones
    assert ema.shadow["weight"].item() == 1.0 and ema.time == pytest.approx(0.1)
    nn.init.constant_(lin.weight, 3.0)
    ema.update(lin, step=2, dt=0.2)  # by hand: beta = (0.1/0.3)^7.937 = 1.633e-4
    assert ema.shadow["weight"].item() == pytest.approx(1.633e-4 * 1 + (1 - 1.633e-4) * 3, abs=1e-6)
    assert power_beta(1, 2, g := power_gamma(0.10)) == pytest.approx(0.00408, abs=1e-6)  # (1/2)^7.937
    assert power_beta(59, 60, g) == pytest.approx(0.8751, abs=1e-4)  # (59/60)^7.937, a constant rate


def test_power_ema_is_the_weighted_average_of_the_trajectory():
    """Unrolled, beta_t = (T_{t-1}/T_t)^(gamma+1) gives theta_ema(t) = sum_tau w_tau theta_tau with
    w_tau = (T_tau^(gamma+1) - T_{tau-1}^(gamma+1)) / T_t^(gamma+1): the weights sum to 1 and grow
    like lr_tau T_tau^gamma, so the average spans the fraction sigma_rel of the run at every t."""
    torch.manual_seed(0)
    traj = torch.randn(40, 3, dtype=torch.float64).cumsum(0)  # theta_1..theta_40, a random walk
    lr = torch.cat([torch.arange(1, 11) / 10, torch.linspace(1, 0.05, 30)]).double()  # warm-up, decay
    lin = nn.Linear(3, 1, bias=False).double()
    ema = EMA(lin, decay=0.999, std=0.05)
    g, T = ema.gamma, torch.cat([torch.zeros(1, dtype=torch.float64), lr.cumsum(0)])
    for t in range(1, len(traj) + 1):
        lin.weight.data[0] = traj[t - 1]
        ema.update(lin, step=t, dt=lr[t - 1].item())
        w = (T[1 : t + 1] ** (g + 1) - T[:t] ** (g + 1)) / T[t] ** (g + 1)
        assert w.sum().item() == pytest.approx(1.0, rel=1e-12)
        assert torch.allclose(ema.shadow["weight"][0], (w[:, None] * traj[:t]).sum(0), rtol=1e-10, atol=1e-10)


def test_early_ema_weights_track_the_model(tmp_path):
    """With decay 0.999 and no warm-up, 30 steps would leave the average ~97% initial weights;
    the warm-up keeps it near the trained ones."""
    run = train(
        tiny_spec("ae", steps=30, ema_decay=0.999, ema_std=0.0, keep_checkpoints=5),
        tmp_path / "r",
        progress=False,
    )
    start = io.load_tensors(run / "checkpoints" / "step-0000000" / io.WEIGHTS)
    ema, final = tensors(run, io.EMA_WEIGHTS), tensors(run, io.WEIGHTS)
    key = next(k for k in final if k.endswith("weight") and final[k].dim() > 1)
    moved, off = (final[key] - start[key]).norm(), (ema[key] - final[key]).norm()
    assert off < 0.3 * moved  # the average sits near the trained weights, not the initial ones


def test_a_run_saved_before_the_power_ema_resumes_its_warm_up_exactly(tmp_path):
    """A config.json without ema_std (written before it existed) loads as the warm-up profile it
    trained with, not the power profile of new runs, and the resumed average continues it from the
    saved step bit for bit (the power profile's resume: test_resume_is_bit_identical)."""
    spec = tiny_spec("ae", steps=20, ema_decay=0.999, ema_std=0.0)
    train(spec, tmp_path / "straight", progress=False)
    train(spec, tmp_path / "split", progress=False, stop_at=7)
    for path in (tmp_path / "split").rglob("config.json"):  # as an older genzoo wrote them
        cfg = json.loads(path.read_text())
        del cfg["train"]["ema_std"]
        path.write_text(json.dumps(cfg))
    old = genzoo.train.read_run_spec(tmp_path / "split")
    assert old.train.ema_std == 0.0 and TrainConfig().ema_std == 0.05
    train(old, tmp_path / "split", resume=True, progress=False)
    a, b = tensors(tmp_path / "straight", io.EMA_WEIGHTS), tensors(tmp_path / "split", io.EMA_WEIGHTS)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_config_files_from_older_runs_keep_their_ema_profile(tmp_path):
    """--config old-run/config.json (genzoo wrote it: genzoo_version) trains with the warm-up EMA it
    had; a hand-written file without ema_std gets the new default."""
    from genzoo.train.run import read_config_file, run_spec

    old = {
        "model_type": "ae",
        "genzoo_version": "0.1.0",
        "shape": [1, 8, 8],
        "model": {},
        "train": {"ema_decay": 0.999},
    }
    mine = {"train": {"ema_decay": 0.999}}
    for name, cfg, std in (("old.json", old, 0.0), ("mine.json", mine, TrainConfig().ema_std)):
        (tmp_path / name).write_text(json.dumps(cfg))
        assert run_spec("ae", read_config_file(tmp_path / name, "ae")).train.ema_std == std


def test_batch_schedule_covers_each_epoch_once_and_splits_across_ranks():
    n, gb = 100, 20
    one = BatchSchedule(n, gb, seed=1, info=DistInfo(0, 1))
    seen = torch.cat([one.indices(s) for s in range(5)])
    assert sorted(seen.tolist()) == list(range(n))
    halves = [BatchSchedule(n, gb, seed=1, info=DistInfo(r, 2)).indices(7) for r in (0, 1)]
    assert torch.equal(torch.cat(halves), one.indices(7))


# -- a two-player model: the trainer must alternate players with one optimiser each ---------------
@dataclass(kw_only=True)
class TinyGANConfig:
    latent_dim: int = 2


class TinyGAN(GenerativeModel):
    """Minimax game min_G max_D E[log D(x)] + E[log(1 - D(G(z)))] on 2-D points."""

    model_type = "test-tiny-gan"
    config_class = TinyGANConfig
    players = ("disc", "gen")
    ddp_find_unused = True

    def __init__(self, config, shape):
        super().__init__(config, shape)
        self.gen = nn.Sequential(nn.Linear(config.latent_dim, 16), nn.SiLU(), nn.Linear(16, 2))
        self.disc = nn.Sequential(nn.Linear(2, 16), nn.SiLU(), nn.Linear(16, 1))

    def player_parameters(self, player):
        return list((self.disc if player == "disc" else self.gen).parameters())

    def optimizer_overrides(self, player):
        return {"lr": 1e-3, "betas": (0.5, 0.999)} if player == "disc" else {}

    def loss(self, batch, player="gen"):
        x = batch[0]
        fake = self.gen(torch.randn(x.shape[0], self.config.latent_dim))
        bce = nn.functional.binary_cross_entropy_with_logits
        if player == "disc":
            real_l, fake_l = self.disc(x), self.disc(fake.detach())
            loss = bce(real_l, torch.ones_like(real_l)) + bce(fake_l, torch.zeros_like(fake_l))
            return Output(loss, {"d_real": torch.sigmoid(real_l).mean().detach()})
        fake_l = self.disc(fake)
        return Output(bce(fake_l, torch.ones_like(fake_l)))  # non-saturating generator loss

    def sample(self, n, generator=None):
        return self.gen(torch.randn(n, self.config.latent_dim, generator=generator))


@pytest.fixture
def tiny_gan():
    registry.register(TinyGAN)
    yield TinyGAN
    registry._MODELS.pop(TinyGAN.model_type)


def test_two_players_alternate_with_their_own_optimisers(tmp_path, tiny_gan):
    spec = tiny_spec(
        "test-tiny-gan", data={"name": "moons", "n_points": 256}, steps=20, batch_size=64, lr=5e-3
    )
    run = train(spec, tmp_path / "gan", progress=False, stop_at=10)
    train(spec, run, resume=True, progress=False)
    m = metrics(run)
    assert {"disc_loss", "disc_d_real", "gen_loss"} <= set(m[-1])
    opt = tensors(run, "optimizer.safetensors")
    assert {k.split("/")[0] for k in opt} == {"disc", "gen"}
    n_disc = len(list(TinyGAN(TinyGANConfig(), (2,)).disc.parameters()))
    assert len({k.split("/")[1] for k in opt if k.startswith("disc/")}) == n_disc
    straight = train(spec, tmp_path / "straight", progress=False)
    a, b = tensors(straight, io.WEIGHTS), tensors(run, io.WEIGHTS)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["gen.0.weight"], TinyGAN(TinyGANConfig(), (2,)).gen[0].weight)


DDP_MODELS = {
    "ae": ["ae", "--arch", "mlp", "--hidden", "32", "--latent-dim", "4"],
    # greedy stages leave layers without gradients: DDP must not step them either
    "deep-ae": ["deep-ae", "--hidden", "32,16", "--latent-dim", "4", "--pretrain-steps", "4"],
}


def _torchrun(*args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "genzoo", *args]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("model", DDP_MODELS)
def test_two_process_ddp_matches_one_process_with_the_same_global_batch(tmp_path, model):
    common = ["train", *DDP_MODELS[model], "--steps", "12", "--batch-size", "32", "--ckpt-every", "6", "--image-every", "0", "--quiet"]  # fmt: skip
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    one = subprocess.run(
        [sys.executable, "-m", "genzoo", *common, "--out", str(tmp_path / "one")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert one.returncode == 0, one.stderr
    two = subprocess.run(
        _torchrun(*common, "--out", str(tmp_path / "two")),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert two.returncode == 0, two.stderr[-3000:]
    a, b = tensors(tmp_path / "one", io.WEIGHTS), tensors(tmp_path / "two", io.WEIGHTS)
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-5), k
    rng = tensors(tmp_path / "two", "rng.safetensors")
    assert set(rng) == {"rank0", "rank1"}
    spec = genzoo.train.read_run_spec(tmp_path / "two")
    spec.train.steps = 20
    with pytest.raises(TrainingError, match="saved by 2 process"):
        train(spec, tmp_path / "two", resume=True, progress=False)
    assert math.isfinite(metrics(tmp_path / "two")[-1]["loss"])


@pytest.mark.slow
def test_two_process_ddp_trains_a_gan(tmp_path):
    """Two players under DDP: D's step leaves G without gradients and G's step D (found unused),
    G(z) made in D's step is reused by G's, G plays every 2nd step; both processes stay in step."""
    args = [
        "train",
        "dcgan",
        "--channels",
        "8",
        "--g-channels",
        "16,8",
        "--latent-dim",
        "4",
        "--d-steps",
        "2",
    ]
    args += ["--steps", "6", "--batch-size", "16", "--log-every", "2", "--image-every", "0", "--quiet"]
    two = subprocess.run(
        _torchrun(*args, "--out", str(tmp_path / "two")),
        env=os.environ | {"OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert two.returncode == 0, two.stderr[-3000:]
    opt = tensors(tmp_path / "two", "optimizer.safetensors")
    assert {k.split("/")[0]: int(v) for k, v in opt.items() if k.endswith("/step")} == {"disc": 6, "gen": 3}
    last = metrics(tmp_path / "two")[-1]
    assert all(math.isfinite(last[k]) for k in ("disc_loss", "gen_loss", "disc_D_x", "gen_D_G_z"))


# -- graceful stops: a real signal to a real training process -------------------------------------
TINY_CLI = ["ae", "--arch", "mlp", "--hidden", "16", "--latent-dim", "2", "--threads", "1", "--precision", "fp32"]  # fmt: skip


def _wait_for_metrics(run: Path, proc: subprocess.Popen, lines: int = 2, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        m = run / "metrics.jsonl"
        if m.exists() and len(m.read_text().splitlines()) >= lines:
            return
        time.sleep(0.05)
    raise AssertionError(f"training did not log {lines} lines in time (exit code {proc.poll()})")


@pytest.mark.slow
@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_after_the_step_with_a_checkpoint_and_resume_matches(tmp_path, sig, code):
    run, steps = tmp_path / "r", 200_000
    cmd = [sys.executable, "-m", "genzoo", "train", *TINY_CLI, "--out", str(run), "--steps", str(steps), "--ckpt-every", "100000", "--log-every", "7", "--image-every", "0", "--quiet"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_metrics(run, proc)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == code, err
    assert "Traceback" not in err
    stop = int((run / "checkpoints/latest").read_text().strip().split("-")[1])
    assert stop > 0 and f"at step {stop}" in err and f"--resume {run}" in err
    assert metrics(run)[-1]["step"] == stop  # the stopping step is logged, nothing after it
    _assert_resume_matches_uninterrupted(run, tmp_path, stop)


@pytest.mark.slow
def test_sigterm_stops_every_process_of_a_distributed_run_at_the_same_step(tmp_path):
    run = tmp_path / "r"
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    args = ["train", *TINY_CLI, "--out", str(run), "--steps", "200000", "--batch-size", "32", "--ckpt-every", "100000", "--log-every", "5", "--image-every", "0", "--quiet"]  # fmt: skip
    # Each worker's stderr goes to its own file (torchrun --redirects), so the assertions read
    # what genzoo's processes printed. The launcher's own stderr is not asserted on: under load
    # torchrun's elastic agent can itself abort in C++ ("terminate called without an active
    # exception") while tearing down after a SIGTERM, after its workers have exited; that is
    # torch's launcher, not genzoo, and asserting on it made this test fail about 1 run in 10.
    logs = tmp_path / "logs"
    launch = [*_torchrun(*args)]
    at = launch.index("--standalone")
    launch[at:at] = ["--log-dir", str(logs), "--redirects", "2"]
    proc = subprocess.Popen(launch, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_metrics(run, proc)
        proc.send_signal(signal.SIGTERM)  # as a scheduler does: torchrun forwards it to its workers
        proc.communicate(timeout=120)
    finally:
        proc.kill()
    worker_logs = sorted(logs.rglob("stderr.log"))
    assert len(worker_logs) == 2, worker_logs
    errs = [f.read_text() for f in worker_logs]
    err = "".join(errs)
    for e in errs:
        assert "terminate called" not in e and "Traceback" not in e, e[-2000:]
    # rank 0 announces and reports the stop for all; rank 1 stops at the same step in silence
    assert "SIGTERM received" in errs[0] and errs[1].strip() == "", errs
    assert err.count("stopped by SIGTERM at step") == 1, err[-2000:]
    ck = io.resolve_model_dir(run)
    stop = io.read_json(ck / "state.json")["step"]
    assert set(tensors(run, "rng.safetensors")) == {"rank0", "rank1"}  # both ranks saved that step
    assert f"at step {stop};" in err
    resume = _torchrun("train", "ae", "--resume", str(run), "--steps", str(stop + 4), "--quiet")
    at = resume.index("--standalone")
    resume[at:at] = ["--log-dir", str(tmp_path / "logs2"), "--redirects", "2"]
    two = subprocess.run(resume, env=env, capture_output=True, text=True, timeout=300)
    # once in a CI run (2026-12-04) rank 1 of this resume died of SIGABRT; the workers' own stderr is
    # kept so that a recurrence says why (the launcher's shows only the signal)
    said = "".join(f.read_text()[-1500:] for f in sorted((tmp_path / "logs2").rglob("stderr.log")))
    assert two.returncode == 0, (two.stderr[-1500:], said)
    assert metrics(run)[-1]["step"] == stop + 4


@pytest.mark.slow
def test_an_error_in_a_distributed_run_exits_cleanly_in_every_process(tmp_path):
    """The process group is left on error too: each rank prints the error and exits with 2."""
    run = tmp_path / "r"
    train(tiny_spec("ae", steps=2), run, progress=False)
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    res = subprocess.run(
        _torchrun("train", "ae", "--out", str(run), "--steps", "4", "--quiet"),
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode != 0
    assert res.stderr.count("already holds a run") == 2, res.stderr[-2000:]
    assert "terminate called" not in res.stderr and "SIGABRT" not in res.stderr


# -- precision and memory layout -----------------------------------------------------------------
@pytest.mark.parametrize(
    "extra",
    [
        {"precision": "bf16", "channels_last": False},
        {"precision": "bf16", "channels_last": True},
        {"precision": "fp32", "channels_last": True},
    ],
)
def test_bf16_and_channels_last_learn_and_resume_exactly(tmp_path, extra):
    spec = tiny_spec("ae", steps=40, log_every=10, lr=3e-3, **extra)
    run = train(spec, tmp_path / "straight", progress=False)
    m = metrics(run)
    assert {r["precision"] for r in m} == {extra["precision"]}
    assert m[-1]["loss"] < 0.8 * m[0]["loss"]
    train(spec, tmp_path / "split", progress=False, stop_at=20)
    train(spec, tmp_path / "split", resume=True, progress=False)
    a, b = tensors(run, io.WEIGHTS), tensors(tmp_path / "split", io.WEIGHTS)
    assert all(torch.equal(a[k], b[k]) and a[k].dtype == torch.float32 for k in a)  # fp32 master weights
    model = genzoo.load(run)  # saved contiguous, loads into a default-layout model
    x = torch.rand(4, 1, 8, 8)
    assert model.reconstruct(x).shape == x.shape


def test_bf16_autocast_is_used_for_the_forward_pass_only(tmp_path, monkeypatch):
    seen = []
    real = Autoencoder.loss

    def spy(self, batch, player="model"):
        out = real(self, batch, player)
        seen.append((torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")))
        return out

    monkeypatch.setattr(Autoencoder, "loss", spy)
    train(tiny_spec("ae", steps=2, precision="bf16"), tmp_path / "a", progress=False)
    assert seen and all(on and dt == torch.bfloat16 for on, dt in seen)
    seen.clear()
    train(tiny_spec("ae", steps=2, precision="fp32"), tmp_path / "b", progress=False)
    assert seen and not any(on for on, _ in seen)
    opt = tensors(tmp_path / "a", "optimizer.safetensors")
    assert {v.dtype for v in opt.values() if v.is_floating_point()} == {torch.float32}


def test_auto_precision_follows_the_cpu(monkeypatch):
    from genzoo import precision
    from genzoo.train import config as tcfg

    monkeypatch.setattr(precision, "native_bf16", lambda: True)
    assert tcfg.resolve_precision("auto") == "bf16"
    monkeypatch.setattr(precision, "native_bf16", lambda: False)
    assert tcfg.resolve_precision("auto") == "fp32" and tcfg.resolve_precision("bf16") == "bf16"


def test_tensorboard_gets_numbers_only(tmp_path, monkeypatch):
    from genzoo.train import trainer as trainer_mod

    class FakeWriter:
        scalars: list = []

        def add_scalar(self, tag, value, step):
            FakeWriter.scalars.append((tag, float(value), step))  # what SummaryWriter does with it

        def flush(self):
            pass

    monkeypatch.setattr(trainer_mod, "tensorboard_writer", lambda run: FakeWriter())
    train(tiny_spec("ae", steps=10, log_every=5), tmp_path / "r", progress=False)
    tags = {t for t, _, _ in FakeWriter.scalars}
    assert {"loss", "lr", "examples_per_s", "threads"} <= tags and "precision" not in tags


def test_compile_wraps_the_loss_and_keeps_the_weights_names(tmp_path, monkeypatch):
    compiled = []

    def fake_compile(module, **kw):  # torch.compile itself takes minutes of C++ builds on CI
        compiled.append(module)
        return module

    monkeypatch.setattr(torch, "compile", fake_compile)
    run = train(tiny_spec("ae", steps=4, compile=True), tmp_path / "r", progress=False)
    assert len(compiled) == 1 and isinstance(compiled[0], Autoencoder)
    assert set(tensors(run, io.WEIGHTS)) == set(Autoencoder(tiny_spec("ae").model, (1, 8, 8)).state_dict())


def test_resume_of_something_that_is_not_a_run_is_one_clear_error(tmp_path):
    from genzoo.errors import CheckpointError

    run = train(tiny_spec("ae", steps=2), tmp_path / "r", progress=False)
    genzoo.load(run).save(tmp_path / "saved")
    with pytest.raises(TrainingError, match="saved model, not a training run"):
        genzoo.train.read_run_spec(tmp_path / "saved")
    (tmp_path / "r" / "config.json").write_text('{"model_type": "ae", "shape": "x", "model": {}}')
    with pytest.raises(CheckpointError, match="'shape' must be a list"):
        genzoo.train.read_run_spec(run)
