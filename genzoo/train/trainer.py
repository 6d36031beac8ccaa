"""The one training loop, for every model family.

Per step: set the learning rate (linear warm-up, then cosine), draw the global batch from a
per-epoch permutation that depends only on (seed, epoch) (so a resume needs no sampler state
and each process takes its own slice, as a distributed sampler would), then for each player of
the model: zero grads, loss, backward, check loss and gradient norm are finite, clip, step.
Runs unchanged under ``torchrun --nproc_per_node N`` (DistributedDataParallel over gloo; rank 0
writes files).
"""

from __future__ import annotations

import copy
import json
import math
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from genzoo import config as cfgio
from genzoo import io, viz
from genzoo.data import TensorData, load_dataset
from genzoo.data.base import dynamic_binarize_generator
from genzoo.errors import TrainingError, TrainingStopped
from genzoo.models.base import GenerativeModel
from genzoo.precision import choose_precision
from genzoo.progress import enabled as loop_reports
from genzoo.registry import get_model_class
from genzoo.train import checkpoint as ckpt
from genzoo.train import distributed as dd
from genzoo.train.config import check_train_config
from genzoo.train.ema import EMA
from genzoo.train.run import RunSpec, check_resume, fit_batch_to_data, with_data_classes
from genzoo.train.schedule import BatchSchedule, TimeRefit, lr_at
from genzoo.train.signals import StopRequest


def tensorboard_writer(run: Path):
    """A TensorBoard writer into run/tb when the tensorboard package is installed, else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(run / "tb"))


def crash_step() -> int | None:
    """The step after which a test asks training to die at once (``GENZOO_CRASH_AT=step:N``: a
    SIGKILL after step N and its checkpoint, if any): a crash at a named moment, not after a sleep."""
    at = os.environ.get("GENZOO_CRASH_AT", "")
    return int(at.removeprefix("step:")) if at.startswith("step:") else None


class Trainer:
    def __init__(
        self,
        spec: RunSpec,
        out: str | Path,
        *,
        resume: bool = False,
        progress: bool = True,
        fit_batch: bool = True,
    ) -> None:
        """``fit_batch``: a batch larger than the training set becomes the whole set (with a note)
        instead of an error; the CLI turns it off when --batch-size was given."""
        self.spec, self.run, self.progress = spec, Path(out), progress
        tc = spec.train
        check_train_config(tc)
        self.info = dd.setup()
        has_ckpt = (self.run / "checkpoints" / "latest").is_file()
        if resume:
            if not has_ckpt:
                raise TrainingError(
                    f"{self.run} has no checkpoint to resume from; start it again without --resume"
                )
            check_resume(self.run, spec)
        elif has_ckpt:
            raise TrainingError(
                f"{self.run} already holds a run; pass --resume to continue it or choose another --out"
            )
        if tc.threads > 0:
            torch.set_num_threads(tc.threads)
        self.data: TensorData = load_dataset(spec.data, "train")
        self.spec = spec = with_data_classes(spec, self.data.info)
        if fit_batch:  # config.json records the batch trained with, so a resume keeps it
            self.spec = spec = fit_batch_to_data(spec, len(self.data), self.info)
            tc = spec.train
        torch.manual_seed(tc.seed)  # the same initial weights in every process
        self.model: GenerativeModel = get_model_class(spec.model_type)(spec.model, self.data.info.shape)
        self.params = {p: self.model.player_parameters(p) for p in self.model.players}
        self.opts = {
            p: torch.optim.AdamW(
                self.params[p],
                **(
                    {"lr": tc.lr, "betas": tuple(tc.betas), "weight_decay": tc.weight_decay}
                    | self.model.optimizer_overrides(p)
                ),
            )
            for p in self.model.players
        }
        self.base_lr = {p: o.param_groups[0]["lr"] for p, o in self.opts.items()}
        self.step, self.horizon, self.seconds_before = 0, tc.steps, 0.0
        self._ema_time: float | None = None  # the power EMA's time T (restored on resume)
        torch.manual_seed(tc.seed + 1 + self.info.rank)  # per-process noise (corruptions, eps)
        if resume:
            self._restore()  # before any collective call: every process checks the same files
        self.ema = self._ema_from_checkpoint(resume) if tc.ema_decay > 0 else None
        # auto: bf16 only where the CPU has native bf16 and the model declares it (one line why,
        # on the first metrics.jsonl record of each fit: a resume on another CPU may choose anew)
        choice = choose_precision(tc.precision, self.model.bf16_default(), self.model.precision_name())
        self.precision, self.precision_reason = choice.precision, choice.reason
        self.crash_at = crash_step()
        self.channels_last = tc.channels_last
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)  # 4-D weights only; the rest unchanged
        self.wrapped = (
            DistributedDataParallel(self.model, find_unused_parameters=self.model.ddp_find_unused)
            if self.info.enabled
            else self.model
        )
        # forward(batch, player) -> Output: the model's loss, compiled by torch.compile if asked
        self.forward = torch.compile(self.wrapped) if tc.compile else self.wrapped
        self.batches = BatchSchedule(len(self.data), tc.batch_size, tc.seed, self.info)
        g = torch.Generator().manual_seed(tc.seed)
        self.fit_idx = torch.randperm(len(self.data), generator=g)[:10_000]  # for prepare_for_sampling
        self.fixed_x = None  # inputs of the progress pictures: 8 test images, or 2,000 test points
        if tc.image_every > 0 and (self.data.info.is_image() or self.data.info.shape == (2,)):
            n = 8 if self.data.info.is_image() else 2000
            self.fixed_x = load_dataset(spec.data, "test").x[:n].clone()
        self.selector, self.best = None, math.inf  # --select-by: the scorer and the best score so far
        if tc.select_by != "none":
            from genzoo.eval.select import SELECTORS  # feature networks: loaded only when asked

            self.selector = SELECTORS[tc.select_by](spec.data, self.data.info.shape, tc.select_samples)
        if resume and (best := ckpt.pointed(self.run / "checkpoints", "best")):
            state = io.read_json(self.run / "checkpoints" / best / ckpt.STATE)
            self.best = float(state.get("select", {}).get("score", math.inf))
        self.tb = tensorboard_writer(self.run) if self.info.is_main else None

    def _train_x(self, idx: torch.Tensor, step: int | None) -> torch.Tensor:
        """Training examples ``idx``; with ``binarize='dynamic'`` a Bernoulli draw that depends only
        on (seed, step, rank) (step None: the fixed draw of the examples fitted for sampling)."""
        x = self.data.x[idx]
        if self.spec.data.binarize == "dynamic":
            seed, rank = self.spec.train.seed, self.info.rank
            x = torch.bernoulli(
                x, generator=dynamic_binarize_generator(seed, -1 if step is None else step, rank)
            )
        return x

    def _restore(self) -> None:
        ck, state, otensors, rng = ckpt.load_training_state(self.run)
        if len(rng) != self.info.world:
            raise TrainingError(
                f"{ck} was saved by {len(rng)} process(es); resume it with the same number (now {self.info.world})"
            )
        self.model.load_weights(io.load_tensors(ck / io.WEIGHTS), str(ck / io.WEIGHTS))
        ckpt.restore_optimizers(self.opts, otensors, state.get("optimizer_extras", {}))
        torch.set_rng_state(rng[f"rank{self.info.rank}"])
        self.step = int(state["step"])
        self._ema_time = state.get("ema_time")
        self.horizon = int(state.get("lr_horizon", self.spec.train.steps))
        self.seconds_before = float(state.get("train_seconds", 0.0))
        self._restored_from = ck
        if (
            self.spec.train.steps > self.horizon
            and self.info.is_main
            and self.spec.train.schedule == "cosine"
        ):
            print(
                f"genzoo: note: --steps grew from {self.horizon} to {self.spec.train.steps}; the cosine schedule keeps "
                "its length, so the extra steps run at the final learning rate (min_lr_ratio x lr)",
                file=sys.stderr,
            )

    def _ema_from_checkpoint(self, resume: bool) -> EMA:
        """EMA of the current weights; on resume, the saved average when there is one, and its
        time T (without one, e.g. an EMA turned on at this resume: the schedule's so far)."""
        tc = self.spec.train
        lr_time = self._ema_time
        if lr_time is None:
            lr_time = math.fsum(self._ema_dt(s) for s in range(self.step))
        ema = EMA(self.model, tc.ema_decay, tc.ema_std, time=lr_time)
        if resume and (self._restored_from / io.EMA_WEIGHTS).is_file():
            ema.shadow = io.load_tensors(self._restored_from / io.EMA_WEIGHTS)
        return ema

    def _ema_dt(self, s: int) -> float:
        """Step s's length in the power EMA's time: its lr factor during the lr warm-up, then 1."""
        tc = self.spec.train
        return lr_at(s, tc, self.horizon) / tc.lr if s < tc.warmup_steps else 1.0

    # ---------------------------------------------------------------------------------------
    def save(self, seconds: float) -> None:
        rng = dd.all_gather(torch.get_rng_state(), self.info)
        if not self.info.is_main:
            return
        fit_x = self._train_x(self.fit_idx, None)
        self.model.prepare_for_sampling(fit_x)
        ema_state, sampler = None, self.model
        if self.ema is not None:
            sampler = copy.deepcopy(self.model)
            sampler.load_state_dict(self.ema.shadow)
            sampler.prepare_for_sampling(fit_x)
            ema_state = sampler.state_dict()
        state = {"step": self.step, "lr_horizon": self.horizon, "train_seconds": round(seconds, 3)}
        if self.ema is not None:  # a float's JSON repr reads back bit for bit
            state["ema_time"] = self.ema.time
        score = self._select_score(sampler) if self.selector is not None else None
        if score is not None:  # the checkpoint carries its own score
            state["select"] = {
                "by": self.selector.name,
                "score": score,
                "samples": self.spec.train.select_samples,
            }
        final = ckpt.save_checkpoint(
            self.run, self.model, state=state, sections=self.spec.sections(), opts=self.opts,
            rng_states=rng, ema_state=ema_state, keep=self.spec.train.keep_checkpoints,
        )  # fmt: skip
        if score is not None and score < self.best:
            self.best = score
            ckpt.point(self.run / "checkpoints", "best", final.name)
            ckpt.prune(self.run / "checkpoints", self.spec.train.keep_checkpoints)

    def _select_score(self, model: GenerativeModel) -> float:
        """The --select-by score of the weights used for sampling, also logged to metrics.jsonl."""
        was = model.training
        model.eval()
        t0 = time.perf_counter()
        score = float(self.selector(model))
        model.train(was)
        rec = {
            "step": self.step,
            f"select_{self.selector.name}": round(score, 4),
            "select_samples": self.spec.train.select_samples,
            "select_seconds": round(time.perf_counter() - t0, 2),
        }
        with open(self.run / "metrics.jsonl", "a") as f:
            f.write(json.dumps(rec) + "\n")
        if self.tb is not None:
            self.tb.add_scalar(f"select_{self.selector.name}", score, self.step)
        return score

    def _images(self) -> None:
        if self.fixed_x is None:
            return
        path, g = self.run / "progress" / f"step-{self.step:07d}.png", torch.Generator().manual_seed(0)
        self.model.eval()
        try:
            if self.fixed_x.dim() == 2:  # 2-D points: real (gray) and generated (red) on one plot
                viz.save_scatter(self.fixed_x, self.model.sample(len(self.fixed_x), generator=g), path)
            else:
                viz.save_grid(self.model.progress_rows(self.fixed_x, generator=g), path)
        except NotImplementedError:  # a model that cannot sample points (an autoencoder)
            pass
        finally:
            self.model.train()

    def _health(self, bad: torch.Tensor, first: torch.Tensor, player: str) -> None:
        """Raise (before anything is saved) if any process saw a non-finite loss or gradient.

        The check is read here, at log and checkpoint steps, not after every step: per step the
        flags are updated on the device without a host synchronisation. A bad step may have
        been applied to the weights in memory, but never reaches a checkpoint.
        """
        flags = dd.any_flags([bool(bad)], self.info)
        if not flags[0]:
            return
        last = self.run / "checkpoints" / "latest"
        kept = f"the last good checkpoint ({last.read_text().strip()})" if last.exists() else "nothing"
        step, loss, norm, who = (first[0], first[1], first[2], first[3]) if bool(bad) else (-1, 0, 0, -1)
        what = self.model.players[int(who)] if int(who) >= 0 else player
        where = f"at step {int(step)}" if int(step) >= 0 else "in another process"
        raise TrainingError(
            f"loss of {what!r} became {float(loss)} (gradient norm {float(norm)}) {where}; "
            f"training stopped and kept {kept} in {self.run}. Try a lower --lr or --grad-clip, then --resume."
        )

    def _stop_now(self, stop: StopRequest, t_start: float, limit: float | None) -> tuple[bool, bool]:
        """(signal, time limit): whether to stop after this step, agreed by every process."""
        late = limit is not None and time.perf_counter() - t_start > limit
        if not self.info.enabled:
            return stop.requested, late
        sig, late = dd.any_flags([stop.requested, late], self.info)
        return sig, late

    def release_ddp(self) -> None:
        """Let go of the DDP wrapper: it holds the process group (its reducer) in reference cycles,
        freed only by the garbage collector, possibly at interpreter exit, where gloo's threads then
        die with SIGABRT; dropped here, ``distributed.teardown`` collects it before the group ends."""
        self.wrapped = self.forward = self.model

    def fit(
        self, stop_at: int | None = None, time_limit_s: float | None = None, fit_to_time: bool = False
    ) -> Path:
        """Train to ``train.steps``; stop early at step ``stop_at`` or after ``time_limit_s``
        seconds of this call, checkpointing where it stops. SIGINT/SIGTERM stop it the same way
        (after the current step, with a checkpoint) and raise ``TrainingStopped``. ``fit_to_time``
        (a ``--budget`` run, whose steps came from a calibration): early, and again at 30%, 50% and 70%
        of the time, the steps/s measured in this run set ``train.steps`` anew so that the schedule
        ends with the time limit (``TimeRefit``)."""
        tc, main = self.spec.train, self.info.is_main
        end = tc.steps if stop_at is None else min(stop_at, tc.steps)
        t_start = time.perf_counter()
        refit = None  # one process only: under torchrun each would measure its own rate
        if fit_to_time and time_limit_s and stop_at is None and not self.info.enabled:
            refit = TimeRefit(self.step, end, time_limit_s)
        elapsed = lambda: self.seconds_before + time.perf_counter() - t_start  # noqa: E731
        if main:
            self._write_config()
            ckpt.truncate_metrics(self.run / "metrics.jsonl", self.step)
            ckpt.remove_partial_checkpoints(self.run)
        if self.step == 0:
            self.save(0.0)  # from now on the run can always be loaded and resumed
        self.model.train()
        sums: dict[str, torch.Tensor] = {}
        counts: dict[str, int] = {}
        n_steps, t0 = 0, time.perf_counter()
        # non-finite guard, kept on the device: any bad step so far, and the first one's
        # (step, loss, gradient norm, player index)
        bad = torch.zeros((), dtype=torch.bool)
        first = torch.full((4,), -1.0, dtype=torch.float64)
        bar = tqdm(
            total=end,
            initial=self.step,
            disable=None if (main and self.progress) else True,
            desc=self.spec.model_type,
        )
        signalled = False
        with StopRequest(announce=main) as stop:
            while self.step < end:
                idx = self.batches.indices(self.step)
                x = self._train_x(idx, self.step)
                if self.channels_last and x.dim() == 4:
                    x = x.contiguous(memory_format=torch.channels_last)
                batch = (x, None if self.data.y is None else self.data.y[idx])
                self.model.set_step(self.step)
                for p in self.model.players_at(self.step):
                    i, opt = self.model.players.index(p), self.opts[p]
                    for g in opt.param_groups:
                        g["lr"] = lr_at(self.step, tc, self.horizon) * self.base_lr[p] / tc.lr
                    opt.zero_grad(set_to_none=True)
                    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16"):
                        out = self.forward(batch, p)
                    loss = out.loss.float()
                    loss.backward()
                    norm = torch.nn.utils.clip_grad_norm_(
                        self.params[p], tc.grad_clip if tc.grad_clip > 0 else math.inf
                    )
                    now_bad = ~(torch.isfinite(loss.detach()) & torch.isfinite(norm))
                    record = torch.stack([torch.tensor(float(self.step)), loss.detach().double(), norm.double(), torch.tensor(float(i))])  # fmt: skip
                    first = torch.where(now_bad & ~bad, record.to(first.dtype), first)
                    bad = bad | now_bad
                    opt.step()
                    prefix = "" if len(self.opts) == 1 else f"{p}_"
                    for k, v in {"loss": loss.detach(), **out.terms}.items():
                        sums[prefix + k] = sums.get(prefix + k, 0.0) + v.detach().float()
                        counts[prefix + k] = counts.get(prefix + k, 0) + 1
                n_steps += 1
                self.step += 1
                if self.ema is not None:  # the step just taken, and its length in the EMA's time
                    self.ema.update(self.model, self.step, self._ema_dt(self.step - 1))
                signalled, late = self._stop_now(stop, t_start, time_limit_s)
                if late or signalled:
                    end = self.step
                elif refit is not None:
                    steps = refit.observe(self.step, time.perf_counter() - t_start)
                    if steps is not None:
                        self._set_steps(steps, refit)
                        end, bar.total = steps, steps
                log_now = self.step % tc.log_every == 0 or self.step == end
                save_now = self.step % tc.ckpt_every == 0 or self.step == end
                if log_now or save_now:
                    self._health(bad, first, p)  # one read of the guard, before anything is written
                if log_now:
                    self._log(sums, counts, n_steps, time.perf_counter() - t0, elapsed(), bar)
                    sums, counts, n_steps, t0 = {}, {}, 0, time.perf_counter()
                if main and tc.image_every and (self.step % tc.image_every == 0 or self.step == end):
                    self._images()
                if save_now:
                    self.save(elapsed())
                if self.step == self.crash_at:
                    os.kill(os.getpid(), signal.SIGKILL)
                bar.update(1)
            bar.close()
        if self.tb is not None:
            self.tb.flush()
        dd.barrier(self.info)
        if signalled:
            where = self.run / "checkpoints" / f"step-{self.step:07d}"
            raise TrainingStopped(
                f"stopped by {stop.name} at step {self.step}; checkpoint in {where}. Continue with: "
                f"genzoo train {self.spec.model_type} --resume {self.run}"
                if main
                else "",
                stop.exit_code,
            )
        return self.run

    def _set_steps(self, steps: int, refit: TimeRefit) -> None:
        """A budget run's new length: the config (and config.json) says ``steps``, and the cosine
        schedule ends there. The first refit says so in one line; the later ones only update."""
        old = self.spec.train.steps
        self.spec = RunSpec(
            self.spec.model_type, self.spec.model, self.spec.data, cfgio.replace(self.spec.train, steps=steps)
        )
        self.horizon = steps
        if self.info.is_main:
            self._write_config()
            if refit.count == 1:
                print(
                    f"genzoo: budget: this run trains {refit.rate:.3g} steps/s (steps {refit.from_step}-"
                    f"{refit.at_step}), so its schedule now ends at step {steps:,} (planned {old:,}) with the "
                    "time limit; measured again at 30%, 50% and 70% of the time",
                    file=sys.stderr,
                )

    def _write_config(self) -> None:
        io.atomic_write_json(self.run / io.CONFIG, self.model.config_dict() | self.spec.sections())

    def _log(self, sums: dict, counts: dict, n_steps: int, dt: float, elapsed: float, bar: tqdm) -> None:
        """Means of each term over the steps where it was logged, and over processes."""
        if not n_steps:
            return
        names = sorted(sums)
        means = dd.all_mean(torch.stack([torch.as_tensor(sums[k]) / counts[k] for k in names]), self.info)
        rec: dict[str, Any] = {"step": self.step} | {
            k: round(float(v), 6) for k, v in zip(names, means, strict=True)
        }
        rec |= {
            "lr": lr_at(self.step - 1, self.spec.train, self.horizon),
            "steps_per_s": round(n_steps / dt, 3),
            "examples_per_s": round(n_steps * self.spec.train.batch_size / dt, 1),
            "elapsed_s": round(elapsed, 2),
            "threads": torch.get_num_threads(),
            "precision": self.precision,
        }
        if self.precision_reason:  # the first record of this fit says why
            rec["precision_reason"], self.precision_reason = self.precision_reason, ""
        if self.info.is_main:
            with open(self.run / "metrics.jsonl", "a") as f:
                f.write(json.dumps(rec) + "\n")
            if self.tb is not None:
                for k, v in rec.items():
                    if k != "step" and isinstance(v, int | float):  # not the precision's name or why
                        self.tb.add_scalar(k, v, self.step)
            bar.set_postfix({k: f"{rec[k]:.4g}" for k in names[:3]})


def train(
    spec: RunSpec,
    out: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
    stop_at: int | None = None,
    time_limit_s: float | None = None,
    fit_batch: bool = True,
    fit_to_time: bool = False,
) -> Path:
    """Train (or resume) a run; returns the run directory. A distributed run leaves its process
    group when this returns or raises. ``fit_batch``: a batch larger than the training set
    becomes the whole set, with a one-line note (False: that is a ConfigError). ``fit_to_time``:
    the steps came from a calibration, so the run measures its own steps/s early and three times
    more, and fits its length to ``time_limit_s`` (``Trainer.fit``)."""
    together = False  # every process reaches the teardown (so it may wait for the others there)
    trainer = None
    try:
        with loop_reports(False):  # its own bar speaks; sampling for its pictures stays quiet
            trainer = Trainer(spec, out, resume=resume, progress=progress, fit_batch=fit_batch)
            path = trainer.fit(stop_at=stop_at, time_limit_s=time_limit_s, fit_to_time=fit_to_time)
        together = True
        return path
    except TrainingStopped:
        # a signal stop is agreed by every process at the same step (a collective), so all of them
        # raise it: without the barrier a rank died of SIGABRT after such a stop (CI, 2026-12-04)
        together = True
        raise
    finally:
        if trainer is not None:
            trainer.release_ddp()
        dd.teardown(together)


__all__ = ["BatchSchedule", "RunSpec", "Trainer", "fit_batch_to_data", "lr_at", "train"]
