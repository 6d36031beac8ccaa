"""The one training loop, for every model family.

Per step: set the learning rate (linear warm-up, then cosine), draw the global batch from a
per-epoch permutation that depends only on (seed, epoch) (so a resume needs no sampler state
and each process takes its own slice, as a distributed sampler would), then for each player of
the model: zero grads, loss, backward, clip, step. Runs unchanged under
``torchrun --nproc_per_node N`` (DistributedDataParallel over gloo, rank 0 writes).
"""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from genzoo import __version__, io, viz
from genzoo import config as cfgio
from genzoo.data import DataConfig, TensorData, load_dataset
from genzoo.errors import ConfigError, TrainingError
from genzoo.models.base import GenerativeModel
from genzoo.registry import get_model_class
from genzoo.train import checkpoint as ckpt
from genzoo.train import distributed as dd
from genzoo.train.config import TrainConfig
from genzoo.train.ema import EMA


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up to lr over warmup_steps, then cosine decay to min_lr_ratio * lr."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant":
        return cfg.lr
    t = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    floor = cfg.min_lr_ratio
    return cfg.lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


class BatchSchedule:
    """Global batch for step s: slice s mod E of the permutation for epoch s div E."""

    def __init__(self, n: int, global_batch: int, seed: int, info: dd.DistInfo) -> None:
        if global_batch % info.world:
            raise ConfigError(f"batch_size {global_batch} is not divisible by {info.world} processes")
        if global_batch > n:
            raise ConfigError(f"batch_size {global_batch} is larger than the {n} training examples")
        self.n, self.gb, self.seed, self.info = n, global_batch, seed, info
        self.per_epoch = n // global_batch
        self._epoch, self._perm = -1, torch.empty(0)

    def indices(self, step: int) -> torch.Tensor:
        epoch, pos = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._epoch, self._perm = epoch, torch.randperm(self.n, generator=g)
        block = self._perm[pos * self.gb : (pos + 1) * self.gb]
        local = self.gb // self.info.world
        return block[self.info.rank * local : (self.info.rank + 1) * local]


def tensorboard_writer(run: Path):
    """A TensorBoard writer into run/tb when the tensorboard package is installed, else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(run / "tb"))


@dataclass
class RunSpec:
    model_type: str
    model: Any  # the model's config dataclass
    data: DataConfig
    train: TrainConfig

    def to_dict(self, shape: tuple[int, ...]) -> dict[str, Any]:
        return {
            "model_type": self.model_type,
            "genzoo_version": __version__,
            "shape": list(shape),
            "model": cfgio.to_dict(self.model),
            "train": cfgio.to_dict(self.train),
            "data": cfgio.to_dict(self.data),
        }


def read_run_spec(run: Path) -> RunSpec:
    """The model/data/train configs of an existing run (strictly checked)."""
    cfg = io.read_json(run / io.CONFIG)
    cls = get_model_class(cfg.get("model_type", "?"))
    return RunSpec(
        cfg["model_type"],
        cfgio.from_dict(cls.config_class, cfg.get("model"), f"{cls.model_type} config"),
        cfgio.from_dict(DataConfig, cfg.get("data"), "data config"),
        cfgio.from_dict(TrainConfig, cfg.get("train"), "train config"),
    )


def check_resume(run: Path, spec: RunSpec) -> None:
    """A resume may change training settings, not the model or the data."""
    old = read_run_spec(run)
    if old.model_type != spec.model_type:
        raise TrainingError(f"{run} holds a {old.model_type!r} run; cannot resume it as {spec.model_type!r}")
    for what, a, b in (("model", old.model, spec.model), ("data", old.data, spec.data)):
        changed = {k: v for k, v in cfgio.diff(a, b).items() if k != "root"}
        if changed:
            desc = ", ".join(f"{k}: {x!r} -> {y!r}" for k, (x, y) in changed.items())
            raise TrainingError(f"cannot resume {run} with a different {what} config ({desc})")


class Trainer:
    def __init__(
        self, spec: RunSpec, out: str | Path, *, resume: bool = False, progress: bool = True
    ) -> None:
        self.spec, self.run, self.progress = spec, Path(out), progress
        self.info = dd.setup()
        if resume:
            check_resume(self.run, spec)
        elif (self.run / "checkpoints").exists() or (self.run / io.CONFIG).exists():
            raise TrainingError(
                f"{self.run} already holds a run; pass --resume to continue it or choose another --out"
            )
        tc = spec.train
        if tc.threads > 0:
            torch.set_num_threads(tc.threads)
        self.data: TensorData = load_dataset(spec.data, "train")
        torch.manual_seed(tc.seed)  # the same initial weights in every process
        self.model: GenerativeModel = get_model_class(spec.model_type)(spec.model, self.data.info.shape)
        self.opts = {
            p: torch.optim.AdamW(
                self.model.player_parameters(p),
                **(
                    {"lr": tc.lr, "betas": tuple(tc.betas), "weight_decay": tc.weight_decay}
                    | self.model.optimizer_overrides(p)
                ),
            )
            for p in self.model.players
        }
        self.base_lr = {p: o.param_groups[0]["lr"] for p, o in self.opts.items()}
        self.ema = EMA(self.model, tc.ema_decay) if tc.ema_decay > 0 else None
        self.step = 0
        torch.manual_seed(tc.seed + 1 + self.info.rank)  # per-process noise (corruptions, eps)
        if resume:
            self._restore()
        self.wrapped = (
            DistributedDataParallel(self.model, find_unused_parameters=self.model.ddp_find_unused)
            if self.info.enabled
            else self.model
        )
        self.batches = BatchSchedule(len(self.data), tc.batch_size, tc.seed, self.info)
        self.fixed_x = None  # inputs of the progress grids: 8 test examples
        if tc.image_every > 0 and self.data.info.is_image():
            self.fixed_x = load_dataset(spec.data, "test").x[:8].clone()
        self.tb = tensorboard_writer(self.run) if self.info.is_main else None

    def _restore(self) -> None:
        ck, step, otensors, oextras, rng = ckpt.load_training_state(self.run)
        self.model.load_weights(io.load_tensors(ck / io.WEIGHTS), str(ck / io.WEIGHTS))
        ckpt.restore_optimizers(self.opts, otensors, oextras)
        if self.ema is not None and (ck / io.EMA_WEIGHTS).is_file():
            self.ema.shadow = io.load_tensors(ck / io.EMA_WEIGHTS)
        key = f"rank{self.info.rank}"
        if key not in rng:
            raise TrainingError(f"{ck} was saved by {len(rng)} process(es); resume with the same number")
        torch.set_rng_state(rng[key])
        self.step = step

    # ---------------------------------------------------------------------------------------
    def save(self) -> None:
        rng = dd.all_gather(torch.get_rng_state(), self.info)
        if not self.info.is_main:
            return
        n_fit = min(len(self.data), 10_000)
        self.model.prepare_for_sampling(self.data.x[:n_fit])
        ema_state = None
        if self.ema is not None:
            shadow = copy.deepcopy(self.model)
            shadow.load_state_dict(self.ema.shadow)
            shadow.prepare_for_sampling(self.data.x[:n_fit])
            ema_state = shadow.state_dict()
        ckpt.save_checkpoint(
            self.run,
            self.model,
            step=self.step,
            run_config=self.spec.to_dict(self.data.info.shape),
            opts=self.opts,
            rng_states=rng,
            ema_state=ema_state,
            keep=self.spec.train.keep_checkpoints,
        )

    def _images(self) -> None:
        if self.fixed_x is None:
            return
        self.model.eval()
        rows = self.model.progress_rows(self.fixed_x, generator=torch.Generator().manual_seed(0))
        self.model.train()
        viz.save_grid(rows, self.run / "progress" / f"step-{self.step:07d}.png")

    def _check_finite(self, loss: torch.Tensor, player: str) -> None:
        bad = torch.tensor(0.0 if torch.isfinite(loss) else 1.0)
        if float(dd.all_mean(bad, self.info)) > 0:
            last = self.run / "checkpoints" / "latest"
            kept = (
                f"the last good checkpoint ({last.read_text().strip()}) is kept"
                if last.exists()
                else "no checkpoint had been written yet"
            )
            raise TrainingError(
                f"loss of {player!r} became {float(loss)} at step {self.step}; training stopped and "
                f"{kept} in {self.run}. Try a lower --lr or --grad-clip, then --resume."
            )

    def _out_of_time(self, t_start: float, limit: float | None) -> bool:
        if limit is None:
            return False
        late = torch.tensor(float(time.perf_counter() - t_start > limit))
        return float(dd.all_mean(late, self.info)) > 0  # every process stops at the same step

    def fit(self, stop_at: int | None = None, time_limit_s: float | None = None) -> Path:
        """Train to ``train.steps``; stop early at step ``stop_at`` or after ``time_limit_s``
        seconds of this call, checkpointing where it stops."""
        tc, main = self.spec.train, self.info.is_main
        end = tc.steps if stop_at is None else min(stop_at, tc.steps)
        if main:
            io.atomic_write_json(self.run / io.CONFIG, self.spec.to_dict(self.data.info.shape))
            ckpt.truncate_metrics(self.run / "metrics.jsonl", self.step)
        self.model.train()
        sums: dict[str, torch.Tensor] = {}
        count, t0, t_start = 0, time.perf_counter(), time.perf_counter()
        bar = tqdm(
            total=end,
            initial=self.step,
            disable=None if (main and self.progress) else True,
            desc=self.spec.model_type,
        )
        while self.step < end:
            idx = self.batches.indices(self.step)
            batch = (self.data.x[idx], None if self.data.y is None else self.data.y[idx])
            self.model.set_step(self.step)
            for p, opt in self.opts.items():
                for g in opt.param_groups:
                    g["lr"] = lr_at(self.step, tc) * self.base_lr[p] / tc.lr
                opt.zero_grad(set_to_none=True)
                out = self.wrapped(batch, p)
                self._check_finite(out.loss.detach(), p)
                out.loss.backward()
                if tc.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(self.model.player_parameters(p), tc.grad_clip)
                opt.step()
                prefix = "" if len(self.opts) == 1 else f"{p}_"
                for k, v in {"loss": out.loss.detach(), **out.terms}.items():
                    sums[prefix + k] = sums.get(prefix + k, 0.0) + v.detach().float()
            count += 1
            self.step += 1
            if self.ema is not None:
                self.ema.update(self.model, self.step)
            if self._out_of_time(t_start, time_limit_s):
                end = self.step
            if self.step % tc.log_every == 0 or self.step == end:
                self._log(sums, count, t0, t_start, bar)
                sums, count, t0 = {}, 0, time.perf_counter()
            if main and tc.image_every and (self.step % tc.image_every == 0 or self.step == end):
                self._images()
            if self.step % tc.ckpt_every == 0 or self.step == end:
                self.save()
            bar.update(1)
        bar.close()
        if self.tb is not None:
            self.tb.flush()
        dd.barrier(self.info)
        return self.run

    def _log(self, sums: dict, count: int, t0: float, t_start: float, bar: tqdm) -> None:
        if not count:
            return
        names = sorted(sums)
        means = dd.all_mean(torch.stack([torch.as_tensor(sums[k]) for k in names]) / count, self.info)
        dt = time.perf_counter() - t0
        rec: dict[str, Any] = {"step": self.step} | {
            k: round(float(v), 6) for k, v in zip(names, means, strict=True)
        }
        rec |= {
            "lr": lr_at(self.step - 1, self.spec.train),
            "steps_per_s": round(count / dt, 3),
            "examples_per_s": round(count * self.spec.train.batch_size / dt, 1),
            "elapsed_s": round(time.perf_counter() - t_start, 2),
            "threads": torch.get_num_threads(),
        }
        if self.info.is_main:
            with open(self.run / "metrics.jsonl", "a") as f:
                f.write(json.dumps(rec) + "\n")
            if self.tb is not None:
                for k, v in rec.items():
                    if k != "step":
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
) -> Path:
    """Train (or resume) a run; returns the run directory."""
    return Trainer(spec, out, resume=resume, progress=progress).fit(
        stop_at=stop_at, time_limit_s=time_limit_s
    )
