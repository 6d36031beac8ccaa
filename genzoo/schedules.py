"""Diffusion schedules, the forward process and the samplers' step grids, as pure functions.

Notation (Ho et al. 2020), with 0-based step indices t = 0 .. T-1 standing for the paper's 1 .. T:
    beta_t                noise schedule;  alpha_t = 1 - beta_t;  abar_t = prod_{s <= t} alpha_s
    q(x_t | x_{t-1}) = N(sqrt(alpha_t) x_{t-1}, beta_t I)                 the Markov chain (``q_step``)
    q(x_t | x_0)     = N(sqrt(abar_t) x_0, (1 - abar_t) I)               closed form (``q_sample``)
    q(x_{t-1} | x_t, x_0) = N(c0_t x_0 + ct_t x_t, btilde_t I)            the posterior (``q_posterior``)
        c0_t = beta_t sqrt(abar_{t-1}) / (1 - abar_t),  ct_t = sqrt(alpha_t) (1 - abar_{t-1}) / (1 - abar_t),
        btilde_t = beta_t (1 - abar_{t-1}) / (1 - abar_t),  with abar_{-1} = 1.

Step grids (``timesteps``): ``steps`` distinct t from T-1 down to 0, spaced evenly in t (``time``), in
lambda_t = log(sqrt(abar_t) / sqrt(1 - abar_t)) (``logsnr``), or in sigma_t^(1/rho) (``karras``, Karras et al.
2022 Eq. 5, rho = 7), where sigma_t = sqrt((1 - abar_t) / abar_t) is the noise level of the VP model seen as
EDM's x / sqrt(abar_t) = x_0 + sigma_t eps. The samplers that walk these grids are in ``genzoo.sampling``,
which re-exports every name here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import torch

from genzoo.errors import ConfigError

SPACINGS = ("auto", "time", "logsnr", "karras")
KARRAS_RHO, KARRAS_SIGMA_MAX = 7.0, 80.0  # EDM's rho and sigma_max (Karras et al. 2022, Table 1)


# -- schedules -----------------------------------------------------------------------------------
def linear_betas(T: int, start: float = 1e-4, end: float = 0.02) -> torch.Tensor:
    """DDPM's linear schedule, 1e-4 -> 0.02 over T = 1000 (end points scaled by 1000 / T for other T,
    so that abar_T stays about the same)."""
    scale = 1000 / T
    return torch.linspace(start * scale, min(end * scale, 0.999), T, dtype=torch.float64)


def cosine_betas(T: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Nichol & Dhariwal (2021): abar(t) = cos^2(((t/T + s) / (1 + s)) pi/2), beta_t = 1 - abar_t / abar_{t-1}."""
    f = torch.cos(((torch.arange(T + 1, dtype=torch.float64) / T + s) / (1 + s)) * math.pi / 2) ** 2
    return (1 - f[1:] / f[:-1]).clamp(max=max_beta)


@dataclass(frozen=True)
class Schedule:
    """A noise schedule and the coefficients derived from it, all (T,) float64 (each computed once)."""

    betas: torch.Tensor

    @classmethod
    def make(cls, kind: str, T: int) -> Schedule:
        if T < 2:
            raise ConfigError(f"timesteps must be at least 2, got {T}")
        if kind not in ("linear", "cosine"):
            raise ConfigError(f"unknown noise schedule {kind!r}; choose linear or cosine")
        return cls(linear_betas(T) if kind == "linear" else cosine_betas(T))

    @property
    def T(self) -> int:
        return len(self.betas)

    @cached_property
    def alphas(self) -> torch.Tensor:
        return 1 - self.betas

    @cached_property
    def abar(self) -> torch.Tensor:
        return torch.cumprod(self.alphas, 0)

    @cached_property
    def abar_prev(self) -> torch.Tensor:
        return torch.cat([torch.ones(1, dtype=torch.float64), self.abar[:-1]])

    @cached_property
    def sigmas(self) -> torch.Tensor:
        """sigma_t = sqrt((1 - abar_t) / abar_t): x_t / sqrt(abar_t) = x_0 + sigma_t eps, EDM's noise level
        (Karras et al. 2022, Table 1, VP); increasing in t."""
        return ((1 - self.abar) / self.abar).sqrt()

    @cached_property
    def posterior_var(self) -> torch.Tensor:
        """btilde_t = beta_t (1 - abar_{t-1}) / (1 - abar_t); 0 at t = 0."""
        return self.betas * (1 - self.abar_prev) / (1 - self.abar)


def at(values: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """values[t] (t: (B,) long) shaped (B, 1, ..., 1) to broadcast against ``like`` (B, ...)."""
    v = values.to(like.device)[t.to(like.device)].to(like.dtype)
    return v.view(-1, *([1] * (like.dim() - 1)))


# -- the forward process ---------------------------------------------------------------------------
def q_sample(sched: Schedule, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """x_t ~ q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I): sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps."""
    ab = at(sched.abar, t, x0)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * noise


def q_step(sched: Schedule, x_prev: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """One step of the Markov chain q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I)."""
    b = at(sched.betas, t, x_prev)
    return (1 - b).sqrt() * x_prev + b.sqrt() * noise


def q_posterior(
    sched: Schedule, x0: torch.Tensor, xt: torch.Tensor, t: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance of q(x_{t-1} | x_t, x_0): (c0_t x_0 + ct_t x_t, btilde_t) (see the module doc)."""
    ab, ab_prev, b = at(sched.abar, t, xt), at(sched.abar_prev, t, xt), at(sched.betas, t, xt)
    mean = (b * ab_prev.sqrt() / (1 - ab)) * x0 + ((1 - b).sqrt() * (1 - ab_prev) / (1 - ab)) * xt
    return mean, at(sched.posterior_var, t, xt).expand_as(xt)


def predictions(
    sched: Schedule, kind: str, out: torch.Tensor, xt: torch.Tensor, t: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(x0_hat, eps_hat) from a network output that predicts ``kind``: eps, x0 or
    v = sqrt(abar) eps - sqrt(1 - abar) x_0 (Salimans & Ho 2022), using x_t = sqrt(abar) x_0 + sqrt(1 - abar) eps."""
    ab = at(sched.abar, t, xt)
    a, s = ab.sqrt(), (1 - ab).sqrt()
    if kind == "eps":
        return (xt - s * out) / a, out
    if kind == "x0":
        return out, (xt - a * out) / s
    if kind == "v":
        return a * xt - s * out, s * xt + a * out
    raise ConfigError(f"unknown prediction {kind!r}; choose eps, x0 or v")


def target(
    kind: str, x0: torch.Tensor, noise: torch.Tensor, sched: Schedule, t: torch.Tensor
) -> torch.Tensor:
    """The regression target of L_simple for a network that predicts ``kind``."""
    if kind == "eps":
        return noise
    if kind == "x0":
        return x0
    if kind != "v":
        raise ConfigError(f"unknown prediction {kind!r}; choose eps, x0 or v")
    ab = at(sched.abar, t, x0)
    return ab.sqrt() * noise - (1 - ab).sqrt() * x0  # v


LOSS_WEIGHTINGS = ("uniform", "min-snr")


def loss_weight(
    sched: Schedule, kind: str, t: torch.Tensor, weighting: str, gamma: float = 5.0
) -> torch.Tensor:
    """(B,) float32 weights w_t of the per-example regression loss ||target - out||^2 at timesteps t.

    uniform: w_t = 1 (L_simple). min-snr (Hang et al. 2023, "Efficient Diffusion Training via Min-SNR
    Weighting Strategy"): the loss in x_0 weighted by min(SNR_t, gamma), SNR_t = abar_t / (1 - abar_t).
    An error e in x_0 is an error sqrt(SNR_t) e in eps and sqrt(SNR_t + 1) e in v, so for the three targets
        eps: min(SNR_t, gamma) / SNR_t,   x0: min(SNR_t, gamma),   v: min(SNR_t, gamma) / (SNR_t + 1),
    the same objective whatever the network predicts. L_simple with an eps network weights the x_0 error
    by SNR_t itself (up to ~1e4 at t = 0 on the linear schedule); min-snr caps that at gamma.
    """
    if weighting == "uniform":
        return torch.ones(t.shape, dtype=torch.float32, device=t.device)
    if weighting != "min-snr":
        raise ConfigError(f"unknown loss weighting {weighting!r}; choose {' or '.join(LOSS_WEIGHTINGS)}")
    ab = sched.abar.to(t.device)[t]
    snr = ab / (1 - ab)
    clipped = snr.clamp(max=gamma)
    per_kind = {"eps": clipped / snr, "x0": clipped, "v": clipped / (snr + 1)}
    if kind not in per_kind:
        raise ConfigError(f"unknown prediction {kind!r}; choose eps, x0 or v")
    return per_kind[kind].float()


# -- step grids ------------------------------------------------------------------------------------
def step_grid(T: int, steps: int) -> torch.Tensor:
    """``steps`` timesteps from T-1 down to 0, evenly spaced (all of them when steps == T)."""
    if not 1 <= steps <= T:
        raise ConfigError(f"--steps must be between 1 and the model's {T} timesteps, got {steps}")
    return torch.linspace(T - 1, 0, steps, dtype=torch.float64).round().long()


def logsnr_grid(sched: Schedule, steps: int) -> torch.Tensor:
    """``steps`` distinct timesteps from T-1 down to 0 evenly spaced in lambda_t = log(alpha_t / sigma_t)
    (half the log signal-to-noise ratio), as DPM-Solver steps: a time-uniform grid takes huge lambda steps
    near t = 0, where a second-order multistep update overshoots (measured on Gaussian data: 20 steps gave
    1.22x the data's standard deviation on the time grid, 1.000x on this one)."""
    if step_grid(sched.T, steps).numel() == 1:  # (the range check) one step: x0_hat from pure noise
        return torch.tensor([sched.T - 1])
    lam = 0.5 * torch.log(sched.abar / (1 - sched.abar))  # (T,), decreasing in t
    want = torch.linspace(float(lam[-1]), float(lam[0]), steps, dtype=torch.float64)
    return _distinct(torch.searchsorted(-lam, -want).tolist(), sched.T)


def karras_grid(
    sched: Schedule, steps: int, rho: float = KARRAS_RHO, sigma_max: float = KARRAS_SIGMA_MAX
) -> torch.Tensor:
    """``steps`` distinct timesteps from T-1 down to 0 at EDM's noise levels (Karras et al. 2022, Eq. 5):
        sigma_i = (s_max^(1/rho) + i / (N - 1) (s_min^(1/rho) - s_max^(1/rho)))^rho,  i = 0 .. N-1,
    s_min = sigma_0, s_max = min(sigma_{T-1}, ``sigma_max``), each mapped to the t nearest in log sigma, and
    the first step always T-1 (where x_T ~ N(0, I) is drawn). The log-SNR grid is the limit rho -> infinity;
    rho = 7 takes shorter steps in log sigma at high noise and longer ones at low noise than it (linear
    schedule, 20 steps: 7 levels below sigma = 1, against 10 on the log-SNR grid). The cap is EDM's
    sigma_max = 80: sigma_{T-1} is 157 for the linear schedule at T = 1000 (1.3e5 at T = 20) and 2e4 for the
    cosine one, where the uncapped grid spent 6 of 10 steps above sigma = 100, on noise that hides the
    image entirely (x = x_0 + sigma eps)."""
    if step_grid(sched.T, steps).numel() == 1:
        return torch.tensor([sched.T - 1])
    sig = sched.sigmas  # (T,)
    lo, hi = float(sig[0]) ** (1 / rho), min(float(sig[-1]), sigma_max) ** (1 / rho)
    want = (hi + torch.linspace(0, 1, steps, dtype=torch.float64) * (lo - hi)) ** rho  # (steps,) decreasing
    return _distinct(nearest_t(sched, want).tolist(), sched.T)


def _distinct(nearest: list[int], T: int) -> torch.Tensor:
    """A grid from T-1 down to 0 as close to ``nearest`` (wanted t, non-increasing) as distinct steps allow."""
    steps, grid = len(nearest), []
    for i, t in enumerate(nearest):  # strictly decreasing, leaving room for the steps still to come
        t = T - 1 if i == 0 else min(t, grid[-1] - 1)
        grid.append(max(t, steps - 1 - i))
    grid[-1] = 0
    return torch.tensor(grid)


def nearest_t(sched: Schedule, sigma: torch.Tensor) -> torch.Tensor:
    """The discrete t (long, sigma's shape) whose sigma_t is nearest to each ``sigma`` in log sigma."""
    d = (sched.sigmas.log()[None, :] - torch.as_tensor(sigma, dtype=torch.float64).log().reshape(-1, 1)).abs()
    return d.argmin(1).reshape(torch.as_tensor(sigma).shape)


def timesteps(sched: Schedule, steps: int, spacing: str) -> torch.Tensor:
    """The grid of ``steps`` timesteps, T-1 first and 0 last, strictly decreasing, by ``spacing``
    (time | logsnr | karras; see the module doc)."""
    if spacing == "time":
        return step_grid(sched.T, steps)
    if spacing == "logsnr":
        return logsnr_grid(sched, steps)
    if spacing == "karras":
        return karras_grid(sched, steps)
    raise ConfigError(f"unknown spacing {spacing!r}; choose one of {', '.join(SPACINGS[1:])}")
