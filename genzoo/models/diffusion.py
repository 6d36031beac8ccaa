"""Denoising diffusion probabilistic models: ``ddpm`` and the class-conditional ``cddpm``.

Training (Ho et al. 2020, Algorithm 1): x_0 from the data (images scaled to [-1, 1]), t ~ U{0..T-1},
eps ~ N(0, I), x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps (closed-form q(x_t | x_0)), and
    L_simple = E || target - net(x_t, t) ||^2,   target = eps (default), x_0 or v.
The forward process, the posterior and the samplers live in ``genzoo.sampling``; the networks in
``genzoo.nn.unet``. ``cddpm`` learns p(x | y) and, with labels dropped with probability
``label_dropout``, p(x) in the same network, for classifier-free guidance (Ho & Salimans 2021):
    eps_w(x_t, y) = eps(x_t) + w (eps(x_t, y) - eps(x_t)),  w = 0 unconditional, 1 conditional.

The variational bound L_vlb (Ho et al. Eq. 5), which ``log_likelihood`` reports as a lower bound on
log p(x) in nats, lives in ``genzoo.vlb``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F

from genzoo import progress, sampler_options, sampling, vlb
from genzoo.conditional import ClassConditional
from genzoo.errors import ConfigError, GenzooError
from genzoo.models.base import Batch, GenerativeModel, Output, device_of, evaluating
from genzoo.models.capabilities import Capability
from genzoo.nn.unet import MLPDenoiser, UNet
from genzoo.precision import resolve_precision
from genzoo.registry import register
from genzoo.sampling import Noise, Schedule, discretized_gaussian_log_prob  # noqa: F401 (re-exported)

# samples per network call when drawing many: the U-Net's evaluations per second peak at a batch of 100
# with one thread and with two (docs/diffusion.md "Threads and batch size"; 500 was 0.8x)
SAMPLE_BATCH = 100


# ddpm's network and optimiser settings until 2026-12-04 (U-Net 32 x (1, 2, 2) with attention, 1.11M
# weights, L_simple; batch 128, lr 1e-3): cddpm's defaults still, and what the benchmarks and
# figures dated before trained (benchmarks/bench_diffusion.py --unet-before)
UNET_BEFORE: dict[str, dict[str, Any]] = {
    "model": {"channels": 32, "attention": True, "loss_weighting": "uniform"},
    "train": {"batch_size": 128, "lr": 1e-3},
}


@dataclass(kw_only=True)
class DDPMConfig:
    # The U-Net, loss weighting and (DDPM.train_defaults) batch and lr are the ones that won the
    # FID-per-CPU-minute curves on MNIST (issue 22; docs/BENCHMARKS.md, "Which configuration where"):
    # 16 channels, no self-attention, min-SNR, batch 64, lr 2e-3 trains ~6x the steps of the U-Net
    # before (32 channels with attention, uniform, batch 128, lr 1e-3; 1.1M weights) and scored FID
    # 11.96 / 9.10 / 6.50 against its 27.68 / 19.77 / 8.60 after 20 / 30 / 60 minutes (2,000
    # samples), sampling 2.3x faster. Saved runs keep the values their config.json names.
    timesteps: int = 1000  # T
    noise_schedule: Literal["linear", "cosine"] = (
        "linear"  # linear: DDPM's 1e-4 -> 0.02; cosine: Nichol & Dhariwal
    )
    prediction: Literal["eps", "x0", "v"] = "eps"  # what the network predicts
    # the per-timestep weight of the loss: uniform (L_simple) or min-snr, the x_0 loss weighted by
    # min(SNR_t, gamma) (Hang et al. 2023; genzoo.schedules.loss_weight has the weights per prediction)
    loss_weighting: Literal["uniform", "min-snr"] = "min-snr"
    min_snr_gamma: float = 5.0
    arch: Literal["auto", "unet", "mlp"] = "auto"  # auto: unet for images, mlp for vectors
    channels: int = 16  # unet: width of the first level
    channel_mult: tuple[int, ...] = (1, 2, 2)  # unet: width multipliers per level (a 2x downsampling between)
    num_res_blocks: int = 1  # unet: residual blocks per level
    attention: bool = False  # unet: self-attention at the lowest resolution
    dropout: float = 0.0
    hidden: int = 128  # mlp: width
    blocks: int = 3  # mlp: residual blocks
    # the default of sample() and genzoo eval, and its steps (edm: 2 x steps - 1 network evaluations)
    # DPM-Solver++(2M) SDE, 25 steps on the Karras grid: on MNIST after 10 and 28 CPU-minutes of training it
    # scored FID 70.6 and 29.6 (2,000 samples) against 156.9 and 52.6 for dpm++ 20, the default before
    # (docs/BENCHMARKS.md, issue 22); saved runs keep the sampler their config.json names
    sampler: Literal["ddpm", "ddim", "dpm++", "dpm++sde", "edm"] = "dpm++sde"
    sample_steps: int = 25  # default steps of ddim / dpm++ / dpm++sde / edm
    eta: float = 0.0  # default DDIM eta
    sde_eta: float = 1.0  # default eta of dpm++sde (1: the reverse SDE; 0: its ODE, i.e. dpm++)
    # the step grid: auto = the sampler's own (ddim: time, dpm++: logsnr, dpm++sde and edm: karras)
    spacing: Literal["auto", "time", "logsnr", "karras"] = "auto"
    # edm's churn (Karras et al. 2022, Algorithm 2; defaults: their Table 5, CIFAR-10 VP): S_churn (0: the
    # deterministic Heun sampler), the noise levels sigma in [S_tmin, S_tmax] that get it, S_noise
    churn: float = 30.0
    churn_sigma_min: float = 0.01
    churn_sigma_max: float = 1.0
    churn_noise: float = 1.007
    clip_denoised: bool = True  # clip x0_hat to the data's range [-1, 1] while sampling (images)
    # autocast of the network while sampling: auto = bf16 where the CPU has native bf16, as in training
    sample_precision: Literal["auto", "fp32", "bf16"] = "auto"
    vlb_timesteps: int = 100  # L_{t-1} terms evaluated per example by log_likelihood (>= T - 1: all)


@dataclass(kw_only=True)
class CDDPMConfig(DDPMConfig):
    num_classes: int = 10
    class_names: tuple[str, ...] = ()  # () -> the data's class names, else "0", "1", ...
    label_dropout: float = 0.1  # p of training without the label (classifier-free guidance)
    # default w: 0 unconditional, 1 conditional, > 1 guided. Fashion-MNIST, one 60-minute run, FID of
    # 2,000 samples (docs/BENCHMARKS.md, "cddpm for an hour"): at 30 minutes w = 1 / 1.25 / 1.5 / 2
    # scored 16.1 / 11.8 / 11.4 / 15.3, at 60 minutes 9.1 / 6.8 / 8.0 / 14.1; 2 (the default before)
    # won at 9 minutes, so 1.5: best at 30, within 17% of the best at 60
    guidance: float = 1.5
    # cddpm keeps the U-Net before (and CDDPM.train_defaults its batch and lr): on Fashion-MNIST the
    # small one of ddpm scored FID 22.7 against 46.4 at 9 minutes, but 14.1 against 11.4 at 30 and 11.6
    # against 6.8 at 60 (best w of each, 2,000 samples; docs/BENCHMARKS.md, "cddpm with the small U-Net")
    channels: int = UNET_BEFORE["model"]["channels"]
    attention: bool = UNET_BEFORE["model"]["attention"]
    loss_weighting: Literal["uniform", "min-snr"] = UNET_BEFORE["model"]["loss_weighting"]


@register
class DDPM(GenerativeModel):
    """Denoising diffusion probabilistic model (Ho et al. 2020) with DDPM, DDIM, DPM-Solver++ (ODE and SDE)
    and EDM sampling."""

    model_type = "ddpm"
    config_class = DDPMConfig
    # channels_last off: with GroupNorm in every block the NHWC layout made a U-Net step slower
    # (measured, 1 thread, bf16, batch 128 on 28x28: 54 images/s NHWC vs 75 NCHW)
    # batch 64 and lr 2e-3 (see DDPMConfig); 8,000 steps: 27.5 minutes on MNIST on one AMD core, FID
    # 9.09 with 10,000 samples (docs/BENCHMARKS.md, "genzoo train ddpm --data mnist, nothing else")
    train_defaults = {
        "steps": 8_000,
        "lr": 2e-3,
        "ema_decay": 0.999,
        "batch_size": 64,
        "grad_clip": 1.0,
        "channels_last": False,
    }
    # 60 steps draw noise (FID 610-662, docs/training.md); 317 steps of the U-Net before already
    # drew digits (FID 70.6), and step 300 of the defaults' 8,000-step run strokes and digits (FID
    # 107, mid-schedule; docs/BENCHMARKS.md, issue 22)
    min_useful_steps = 300
    saved_before = {"loss_weighting": "uniform"}  # runs saved before 2026-12-03 trained L_simple
    capabilities = frozenset(
        {Capability.SAMPLER, Capability.ITERATIVE, Capability.INPAINTER, Capability.LIKELIHOOD}
    )
    sample_options = frozenset({"sampler", "steps", "eta", "spacing", "churn", "guidance", "callback"})
    samplers = sampling.SAMPLERS
    likelihood_k = None  # the bound's K timesteps come from the config (vlb_timesteps)
    likelihood_bins = None  # L_0 is a probability of the 256-level data itself
    likelihood_kind = "variational bound L_vlb: an upper bound on -log p(x) (fixed variances)"
    n_classes_in = 0

    def bf16_default(self) -> bool:  # bench_precision: U-Net 1.2-1.6x (8x8), 1.7-1.8x (28x28); mlp 0.77x
        return len(self.shape) == 3 and self.config.arch != "mlp"

    def __init__(self, config: DDPMConfig, shape: tuple[int, ...]) -> None:
        super().__init__(config, shape)
        c = config
        rules = [
            (c.timesteps >= 2, f"timesteps must be at least 2, got {c.timesteps}"),
            (c.channels >= 1 and all(m >= 1 for m in c.channel_mult) and c.channel_mult, f"channels and channel_mult must be positive, got {c.channels} and {','.join(map(str, c.channel_mult))}"),
            (c.num_res_blocks >= 1, f"num_res_blocks must be at least 1, got {c.num_res_blocks}"),
            (0 <= c.dropout < 1, f"dropout must be in [0, 1), got {c.dropout}"),
            (c.hidden >= 1 and c.blocks >= 1, "hidden and blocks must be at least 1"),
            (1 <= c.sample_steps <= c.timesteps, f"sample_steps must be in 1..timesteps, got {c.sample_steps}"),
            (c.eta >= 0, f"eta must be >= 0, got {c.eta}"),
            (c.sde_eta >= 0, f"sde_eta must be >= 0, got {c.sde_eta}"),
            (c.spacing in sampling.SPACINGS, f"spacing must be one of {', '.join(sampling.SPACINGS)}, got {c.spacing!r}"),
            (c.churn >= 0, f"churn must be >= 0, got {c.churn}"),
            (0 <= c.churn_sigma_min <= c.churn_sigma_max, f"churn_sigma_min and churn_sigma_max must satisfy 0 <= min <= max, got {c.churn_sigma_min} and {c.churn_sigma_max}"),
            (math.isfinite(c.churn_noise) and c.churn_noise > 0, f"churn_noise must be > 0, got {c.churn_noise}"),
            (c.vlb_timesteps >= 1, f"vlb_timesteps must be at least 1, got {c.vlb_timesteps}"),
            (c.prediction in ("eps", "x0", "v"), f"prediction must be eps, x0 or v, got {c.prediction!r}"),
            (c.loss_weighting in sampling.LOSS_WEIGHTINGS, f"loss_weighting must be one of {', '.join(sampling.LOSS_WEIGHTINGS)}, got {c.loss_weighting!r}"),
            (math.isfinite(c.min_snr_gamma) and c.min_snr_gamma > 0, f"min_snr_gamma must be > 0, got {c.min_snr_gamma}"),
            (c.arch in ("auto", "unet", "mlp"), f"arch must be auto, unet or mlp, got {c.arch!r}"),
            (c.sampler in sampling.SAMPLERS, f"sampler must be one of {', '.join(sampling.SAMPLERS)}, got {c.sampler!r}"),
            (c.sample_precision in ("auto", "fp32", "bf16"), f"sample_precision must be auto, fp32 or bf16, got {c.sample_precision!r}"),
        ]  # fmt: skip
        if bad := [msg for ok, msg in rules if not ok]:
            raise ConfigError("; ".join(bad))
        arch = c.arch if c.arch != "auto" else ("unet" if len(self.shape) == 3 else "mlp")
        if arch == "unet" and len(self.shape) != 3:
            raise ConfigError(
                f"arch 'unet' needs image data (C, H, W), got shape {self.shape}; use --arch mlp"
            )
        self.images = len(self.shape) == 3
        self.schedule = Schedule.make(c.noise_schedule, c.timesteps)
        k = self.n_classes_in
        if arch == "unet":
            self.net = UNet(
                self.shape, c.channels, c.channel_mult, c.num_res_blocks, c.attention, c.dropout, k
            )
        else:
            self.net = MLPDenoiser(math.prod(self.shape), c.hidden, c.blocks, k)

    # -- data range: images live in [-1, 1] inside the model -------------------------------------------
    def _to_model(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2 - 1 if self.images else x

    def _from_model(self, x: torch.Tensor) -> torch.Tensor:
        return ((x + 1) / 2).clamp(0, 1) if self.images else x

    def _net(self, xt: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if self.images:
            return self.net(xt, t, y)
        return self.net(xt.flatten(1), t, y).view_as(xt)

    def _sampling_net(self) -> sampling.Denoiser:
        """(x_t, t, y) -> the network's output in fp32, under bf16 autocast when sample_precision resolves
        to bf16 on a CPU model (decided once per call, not per step)."""
        bf16 = resolve_precision(self.config.sample_precision) == "bf16"
        bf16 = bf16 and next(self.parameters()).device.type == "cpu"

        def net(xt: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
            with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
                return self._net(xt, t, y).float()

        return net

    def declared_capabilities(self) -> frozenset[Capability]:
        """The variational bound is defined for 256-level images only."""
        return self.capabilities if self.images else self.capabilities - {Capability.LIKELIHOOD}

    # -- training ----------------------------------------------------------------------------------
    def _train_labels(self, batch: Batch) -> torch.Tensor | None:
        return None

    def loss(self, batch: Batch, player: str = "model") -> Output:
        """E_t w_t || target - net(sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, t) ||^2, t ~ U{0..T-1}: L_simple
        with w_t = 1 (``loss_weighting`` uniform), else the weights of ``sampling.loss_weight``."""
        c = self.config
        x0 = self._to_model(batch[0])
        b = x0.shape[0]
        t = torch.randint(0, c.timesteps, (b,), device=x0.device)
        noise = torch.randn_like(x0)
        xt = sampling.q_sample(self.schedule, x0, t, noise)
        out = self._net(xt, t, self._train_labels(batch))
        tgt = sampling.target(c.prediction, x0, noise, self.schedule, t)
        if c.loss_weighting == "uniform":
            return Output(F.mse_loss(out.float(), tgt))
        mse = (out.float() - tgt).pow(2).flatten(1).mean(1)  # (B,) per-example mean squared error
        w = sampling.loss_weight(self.schedule, c.prediction, t, c.loss_weighting, c.min_snr_gamma)
        return Output((w * mse).mean(), {"mse": mse.mean().detach()})

    # -- the denoiser the samplers call ----------------------------------------------------------------
    def _guidance(self, guidance: float | None) -> float | None:
        """The classifier-free guidance w a sampling call uses: none without classes (an error if given)."""
        if guidance is not None:
            raise GenzooError(
                f"--guidance needs a class-conditional model (cddpm); {self.model_type} has no classes"
            )
        return None

    def denoiser(self, y: torch.Tensor | None = None, guidance: float | None = None) -> sampling.Denoiser:
        """(x_t, t) -> (x0_hat, eps_hat) for the samplers; x0_hat clipped to [-1, 1] for images."""
        self._guidance(guidance)
        kind, clip = self.config.prediction, self.images and self.config.clip_denoised
        net = self._sampling_net()

        def denoise(xt: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            x0, eps = sampling.predictions(self.schedule, kind, net(xt, t, y), xt, t)
            return self._clip(x0, eps, xt, t) if clip else (x0, eps)

        return denoise

    def _clip(self, x0, eps, xt, t):
        """x0_hat clipped to [-1, 1] and eps_hat made consistent with it (as in improved-diffusion)."""
        x0 = x0.clamp(-1, 1)
        ab = sampling.at(self.schedule.abar, t, xt)
        return x0, (xt - ab.sqrt() * x0) / (1 - ab).sqrt()

    # -- sampling -----------------------------------------------------------------------------------------
    def sampler_settings(
        self,
        sampler: str | None = None,
        steps: int | None = None,
        eta: float | None = None,
        spacing: str | None = None,
        churn: float | None = None,
        guidance: float | None = None,
    ) -> dict[str, Any]:
        """What ``sample`` runs with these options, the config's defaults filled in and checked as
        ``sample`` checks them (a ConfigError otherwise), JSON-ready for a report: ``sampler``, ``steps``
        on its grid, ``network_evals`` per sample, and the options that sampler has: ``eta`` (ddim,
        dpm++sde), ``spacing`` (the grid, resolved from auto; not ddpm), ``churn`` (edm), ``guidance``
        (a class-conditional model)."""
        out = sampler_options.describe(
            sampler_options.resolve(self.config, sampler, steps, eta, spacing, churn)
        )
        w = self._guidance(guidance)
        if w is not None:
            out["guidance"] = w
        return out

    def _sample(
        self,
        seeds: list[int],
        y: torch.Tensor | None,
        *,
        sampler: str | None = None,
        steps: int | None = None,
        eta: float | None = None,
        spacing: str | None = None,
        churn: float | None = None,
        guidance: float | None = None,
        callback: sampling.Callback = None,
    ) -> torch.Tensor:
        """Samples (n, *shape) in the data's range, sample i from ``seeds[i]`` alone. ``sampler``:
        ddpm | ddim | dpm++ | dpm++sde | edm (default: the config's), ``steps`` on its grid (network
        evaluations; edm 2 x steps - 1), ``eta`` of ddim or dpm++sde, the grid's ``spacing`` (auto | time |
        logsnr | karras), edm's ``churn`` (S_churn), ``guidance`` w of a conditional model,
        ``callback(t, x_t, x0_hat)`` after every step, both (n, *shape) in the data's range (a trajectory,
        or the explorer's stream)."""
        kw = sampler_options.resolve(self.config, sampler, steps, eta, spacing, churn)
        sampler, steps = kw.pop("sampler"), kw.pop("steps")
        dev, n = device_of(self), len(seeds)
        out, chunks = [], -(-n // SAMPLE_BATCH)
        what = f"{sampler} sampling, {steps} steps for {n:,} samples"
        with progress.task(chunks * steps, "diffusion sampling", "steps", what=what) as bar:

            def step(t: int, x_t: torch.Tensor, x0_hat: torch.Tensor) -> None:  # after every step
                bar.update()
                if callback:
                    callback(t, self._from_model(x_t), self._from_model(x0_hat))

            for i, lo in enumerate(range(0, n, SAMPLE_BATCH)):
                hi = min(n, lo + SAMPLE_BATCH)
                noise = Noise(seeds[lo:hi], dev)
                yc = None if y is None else y[lo:hi].to(dev)
                denoise = self.denoiser(yc, guidance)
                x = sampling.sample(
                    denoise,
                    self.schedule,
                    noise.randn(*self.shape),
                    noise,
                    sampler,
                    steps,
                    callback=step,
                    **kw,
                )
                out.append(self._from_model(x))
                bar.update(max(0, (i + 1) * steps - bar.done))  # a sampler's last step may skip the callback
        return torch.cat(out) if out else torch.empty(0, *self.shape)

    def progress_rows(self, x: torch.Tensor, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        """Four rows of eight samples from the same seeds at every call (the default sampler)."""
        return list(self.sample(32, seeds=range(32)).split(8))

    @torch.no_grad()
    def trajectory(
        self, n: int, frames: int = 10, seeds: Sequence[int] | None = None, **kw
    ) -> list[torch.Tensor]:
        """The reverse path x_T -> x_0 of n samples: ``frames`` rows of x_t at evenly spaced steps of the
        sampler, the last row the samples; each row (n, *shape) in the data's range."""
        if not 1 <= n <= SAMPLE_BATCH or frames < 2:
            raise ConfigError(
                f"a trajectory shows 1..{SAMPLE_BATCH} samples in at least 2 frames, got {n} and {frames}"
            )
        seen: list[tuple[int, torch.Tensor]] = []
        final = self.sample(
            n,
            seeds=seeds if seeds is not None else range(n),
            callback=lambda t, x, x0: seen.append((t, x.clone())),
            **kw,
        )
        pick = torch.linspace(0, len(seen) - 1, frames - 1).round().long().unique().tolist()
        return [seen[i][1] for i in pick] + [final]

    @torch.no_grad()
    def forward_process(self, x: torch.Tensor, ts: Sequence[int], seed: int = 0) -> list[torch.Tensor]:
        """Real x (B, *shape) noised by the Markov chain q(x_t | x_{t-1}), one row per t in ``ts`` (0-based)."""
        bad = [t for t in ts if not 0 <= t < self.config.timesteps]
        if bad or not ts:
            raise ConfigError(f"forward steps must be in 0..{self.config.timesteps - 1}, got {bad}")
        noise = Noise([seed + i for i in range(x.shape[0])], x.device)
        xt, rows, want = self._to_model(x), [x], sorted(set(ts))
        for t in range(max(want) + 1):
            xt = sampling.q_step(self.schedule, xt, torch.full((x.shape[0],), t), noise.randn(*self.shape))
            if t in want:
                rows.append(self._from_model(xt))
        return rows

    @torch.no_grad()
    def inpaint(
        self,
        x: torch.Tensor,
        known: torch.Tensor,
        *,
        y=None,
        seeds: Sequence[int] | None = None,
        steps: int | None = None,
        jump_length: int = 10,
        resamples: int = 5,
        guidance: float | None = None,
        sampler: str | None = None,
    ) -> torch.Tensor:
        """Fill the pixels of x (B, *shape) where ``known`` (broadcastable, 1 = keep) is 0, by RePaint with
        ``resamples`` resamplings every ``jump_length`` steps on a grid of ``steps`` (default: 10 x sample_steps).
        RePaint runs the ancestral (ddpm) chain, so ``sampler`` may only be "ddpm" (None: the same).
        A class-conditional model without ``y`` fills from its unconditional prediction (guidance 0)."""
        if sampler not in (None, "ddpm"):
            raise ConfigError(
                f"inpainting uses RePaint on the ancestral (ddpm) chain, not the {sampler} sampler; "
                "give --sampler ddpm or leave it out"
            )
        if known.shape[-2:] != x.shape[-2:]:
            raise ConfigError(
                f"the mask is {tuple(known.shape[-2:])} but the images are {tuple(x.shape[-2:])}"
            )
        steps = steps if steps is not None else min(self.config.timesteps, 10 * self.config.sample_steps)
        n = x.shape[0]
        seeds = list(seeds) if seeds is not None else list(range(n))
        conditional = Capability.CONDITIONAL in self.capabilities
        if y is None and conditional:  # no class: the unconditional model fills
            if guidance not in (None, 0.0):
                raise ConfigError("--guidance needs a class (--class or --prompt) to guide the fill towards")
            guidance = 0.0
        y = self.sample_labels(seeds, y)  # (with guidance 0 a drawn label is not used)
        y = None if y is None else y.to(x.device)
        with evaluating(self):
            x0 = sampling.repaint_sample(
                self.denoiser(y, guidance),
                self.schedule,
                self._to_model(x),
                known.to(x.dtype),
                Noise(seeds, x.device),
                steps,
                jump_length,
                resamples,
            )
        return self._from_model(x0)

    # -- the variational bound (genzoo.vlb) ---------------------------------------------------------------
    @torch.no_grad()
    def vlb_terms(
        self,
        x: torch.Tensor,
        y: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        ts: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Terms of L_vlb in nats per example for x (B, *shape) in the data's range: ``prior`` L_T (B,),
        ``decoder`` L_0 (B,) and ``kl`` (B, len(ts)) = L_{t-1} at the 0-based steps ``ts`` (default: all
        of 1..T-1). Each term is estimated with one x_t ~ q(x_t | x_0)."""
        ts = torch.arange(1, self.schedule.T) if ts is None else ts
        denoise = self.denoiser(y, self._vlb_guidance())
        return vlb.vlb_terms(self.schedule, self._to_model(x), denoise, ts, generator)

    def _vlb_guidance(self) -> float | None:
        return None

    @torch.no_grad()
    def log_likelihood(
        self,
        x: torch.Tensor,
        *,
        y: torch.Tensor | None = None,
        k: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """-L_vlb in nats (B,): a lower bound on log p(x) of 256-level images. The T-1 KL terms are
        estimated from ``vlb_timesteps`` K stratified steps (one per stratum of 1..T-1, scaled by (T-1)/K;
        unbiased; K = T evaluates every term)."""
        if not self.images:
            raise ConfigError("the variational bound is defined for 256-level image data")
        if k is not None:
            raise ConfigError(f"{self.model_type}'s bound takes no importance samples (k); see vlb_timesteps")
        T = self.config.timesteps
        ts = vlb.stratified_steps(T, min(self.config.vlb_timesteps, T - 1), generator)
        with evaluating(self):
            terms = self.vlb_terms(x, y, generator, ts)
        return vlb.negative_vlb(terms, T)


@register
class CDDPM(ClassConditional, DDPM):
    """Class-conditional DDPM with classifier-free guidance: one network learns eps(x_t, y) and eps(x_t)."""

    model_type = "cddpm"
    config_class = CDDPMConfig
    capabilities = DDPM.capabilities | {Capability.CONDITIONAL}
    train_defaults = DDPM.train_defaults | UNET_BEFORE["train"] | {"steps": 2000}

    def __init__(self, config: CDDPMConfig, shape: tuple[int, ...]) -> None:
        self.check_class_config(config)
        if not 0 <= config.label_dropout < 1:
            raise ConfigError(f"label_dropout must be in [0, 1), got {config.label_dropout}")
        if config.guidance < 0:
            raise ConfigError(f"guidance must be >= 0, got {config.guidance}")
        super().__init__(config, shape)

    @property
    def n_classes_in(self) -> int:
        return self.config.num_classes

    def _train_labels(self, batch: Batch) -> torch.Tensor:
        """The labels, each replaced by the 'no label' index K with probability label_dropout."""
        y = self.batch_labels(batch).to(batch[0].device)
        drop = torch.rand(y.shape, device=y.device) < self.config.label_dropout
        return torch.where(drop, torch.full_like(y, self.num_classes), y)

    def denoiser(self, y: torch.Tensor | None = None, guidance: float | None = None) -> sampling.Denoiser:
        """Classifier-free guidance: eps_w = eps(x_t) + w (eps(x_t, y) - eps(x_t)), x0_hat from eps_w."""
        w = self._guidance(guidance)
        if y is None:
            raise ConfigError("cddpm needs class labels y to sample")
        null = torch.full_like(y, self.num_classes)
        clip = self.images and self.config.clip_denoised
        net = self._sampling_net()

        def eps_of(xt: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
            return sampling.predictions(self.schedule, self.config.prediction, net(xt, t, labels), xt, t)[1]

        def denoise(xt: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            if w == 1:
                eps = eps_of(xt, t, y)
            elif w == 0:
                eps = eps_of(xt, t, null)
            else:  # both predictions in one batch of 2B
                both = eps_of(torch.cat([xt, xt]), torch.cat([t, t]), torch.cat([y, null]))
                cond, uncond = both.chunk(2)
                eps = uncond + w * (cond - uncond)
            x0, eps = sampling.predictions(self.schedule, "eps", eps, xt, t)  # x0_hat from the guided eps
            return self._clip(x0, eps, xt, t) if clip else (x0, eps)

        return denoise

    def _guidance(self, guidance: float | None) -> float:
        """w of classifier-free guidance: the one given, else the config's."""
        w = self.config.guidance if guidance is None else guidance
        if w < 0:
            raise ConfigError(f"--guidance must be >= 0, got {w}")
        return w

    def _vlb_guidance(self) -> float:
        return 1.0  # the bound of p(x | y) when labels are given

    def vlb_terms(self, x, y=None, generator=None, ts=None):
        y = (
            self.num_classes * torch.ones(x.shape[0], dtype=torch.long, device=x.device)
            if y is None
            else self.check_labels(y, x.shape[0]).to(x.device)
        )
        return super().vlb_terms(x, y, generator, ts)

    def progress_rows(self, x: torch.Tensor, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        """One row per class (up to 10), the same eight seeds in every row."""
        return [self.sample(8, seeds=range(8), y=c) for c in range(min(10, self.num_classes))]
