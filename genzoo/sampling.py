"""The diffusion samplers, as pure functions (the schedules, the forward process and the step grids they
use are in ``genzoo.schedules``, whose names this module re-exports; its doc has the notation).

Samplers take the network as a function ``denoise(x_t, t) -> (x0_hat, eps_hat)`` (t: (B,) long) and
draw every random number from a ``Noise`` source with one generator per sample, so that an image
depends on its own seed only, never on the batch it was drawn in (edm's per-sample generators).
``callback(t, x_t, x0_hat)`` sees each step (for trajectories).

Step grids: ``schedules.timesteps``; ``auto`` is each sampler's own grid (``DEFAULT_SPACING``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from genzoo.errors import ConfigError
from genzoo.schedules import (  # noqa: F401  (re-exported: the samplers' public names in one module)
    KARRAS_RHO,
    KARRAS_SIGMA_MAX,
    LOSS_WEIGHTINGS,
    SPACINGS,
    Schedule,
    at,
    cosine_betas,
    karras_grid,
    linear_betas,
    logsnr_grid,
    loss_weight,
    nearest_t,
    predictions,
    q_posterior,
    q_sample,
    q_step,
    step_grid,
    target,
    timesteps,
)
from genzoo.seeds import Noise, seeds_from  # noqa: F401  (re-exported: the samplers take a Noise)

Denoiser = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
Callback = Callable[[int, torch.Tensor, torch.Tensor], None] | None
SAMPLERS = ("ddpm", "ddim", "dpm++", "dpm++sde", "edm")
# each sampler's own grid (spacing "auto"). dpm++sde: Karras's, chosen on MNIST (docs/BENCHMARKS.md, issue
# 22: FID 29.6 vs 30.0 at 25 steps, 38.7 vs 45.5 at 50 on a shorter run), though on Gaussian data with the
# exact denoiser the log-SNR grid is closer (tests/test_diffusion.py MEASURED)
DEFAULT_SPACING = {"ddim": "time", "dpm++": "logsnr", "dpm++sde": "karras", "edm": "karras"}
ETA_SAMPLERS = ("ddim", "dpm++sde")  # the samplers with an eta (the noise added per step)
# EDM's stochastic sampler (Karras et al. 2022, Table 5, CIFAR-10 VP): S_churn, [S_tmin, S_tmax], S_noise
EDM_CHURN, EDM_CHURN_SIGMAS, EDM_CHURN_NOISE = 30.0, (0.01, 1.0), 1.007


def network_evals(sampler: str, steps: int) -> int:
    """Network evaluations per sample: ``steps`` for every sampler but edm (Heun: 2 per step, 1 on the last)."""
    return 2 * steps - 1 if sampler == "edm" else steps


def _full(t: int, x: torch.Tensor) -> torch.Tensor:
    return torch.full((x.shape[0],), int(t), dtype=torch.long, device=x.device)


# -- samplers ---------------------------------------------------------------------------------------
@torch.no_grad()
def ddpm_sample(denoise: Denoiser, sched: Schedule, x: torch.Tensor, noise: Noise, callback: Callback = None):
    """Ancestral sampling over all T steps (Ho et al. 2020, Algorithm 2), with the posterior's mean
    from x0_hat and its variance btilde_t: x_{t-1} = mean(x0_hat, x_t) + sqrt(btilde_t) z, no z at t = 0."""
    for t in range(sched.T - 1, -1, -1):
        tt = _full(t, x)
        x0, _ = denoise(x, tt)
        mean, var = q_posterior(sched, x0, x, tt)
        if callback:
            callback(t, x, x0)
        x = mean + var.sqrt() * noise.randn(*x.shape[1:]) if t > 0 else mean
    return x


def ddim_step(
    x0: torch.Tensor, eps: torch.Tensor, a_t: float, a_s: float, eta: float, noise: Noise
) -> torch.Tensor:
    """One DDIM update from abar_t = a_t to abar_s = a_s (see ``ddim_sample``)."""
    sigma = eta * math.sqrt((1 - a_s) / (1 - a_t) * (1 - a_t / a_s))
    x = math.sqrt(a_s) * x0 + math.sqrt(max(1 - a_s - sigma**2, 0.0)) * eps
    return x + sigma * noise.randn(*x.shape[1:]) if sigma > 0 else x


@torch.no_grad()
def ddim_sample(
    denoise: Denoiser,
    sched: Schedule,
    x: torch.Tensor,
    noise: Noise,
    steps: int,
    eta: float = 0.0,
    callback: Callback = None,
    spacing: str = "time",
):
    """DDIM (Song et al. 2021, Eq. 12) on ``steps`` timesteps: from t to the next s < t,
        x_s = sqrt(abar_s) x0_hat + sqrt(1 - abar_s - sigma^2) eps_hat + sigma z,
        sigma = eta sqrt((1 - abar_s) / (1 - abar_t)) sqrt(1 - abar_t / abar_s);
    eta = 0 is deterministic; eta = 1 on the full grid is ancestral DDPM. The last step lands on x0_hat.
    One network evaluation per step; x (B, *shape), z (B, *shape) from ``noise`` when eta > 0."""
    grid = timesteps(sched, steps, spacing).tolist()
    abar = sched.abar
    for i, t in enumerate(grid):
        x0, eps = denoise(x, _full(t, x))
        if callback:
            callback(t, x, x0)
        if i == len(grid) - 1:
            return x0
        x = ddim_step(x0, eps, float(abar[t]), float(abar[grid[i + 1]]), eta, noise)
    return x


@torch.no_grad()
def dpmpp_2m_sample(
    denoise: Denoiser,
    sched: Schedule,
    x: torch.Tensor,
    steps: int,
    callback: Callback = None,
    spacing: str = "logsnr",
) -> torch.Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022), a second-order multistep solver of the probability-flow ODE
    in data prediction. With alpha_t = sqrt(abar_t), sigma_t = sqrt(1 - abar_t), lambda_t = log(alpha_t / sigma_t)
    and h = lambda_s - lambda_t from t to the next s:
        x_s = (sigma_s / sigma_t) x_t - alpha_s (e^{-h} - 1) D,
    D = x0_hat(t) on the first step, else (1 + 1/(2r)) x0_hat(t) - 1/(2r) x0_hat(t_prev), r = h_prev / h.
    One network evaluation per step on a grid even in lambda (``logsnr_grid``); the last lands on x0_hat."""
    return dpmpp_2m_sde_sample(denoise, sched, x, None, steps, 0.0, callback, spacing)


@torch.no_grad()
def dpmpp_2m_sde_sample(
    denoise: Denoiser,
    sched: Schedule,
    x: torch.Tensor,
    noise: Noise | None,
    steps: int,
    eta: float = 1.0,
    callback: Callback = None,
    spacing: str = "logsnr",
) -> torch.Tensor:
    """DPM-Solver++(2M) SDE (Lu et al. 2022, "SDE-DPM-Solver++(2M)"), the second-order multistep solver of
    the reverse SDE in data prediction. With alpha_t, sigma_t, lambda_t, h, r and D as in ``dpmpp_2m_sample``:
        x_s = (sigma_s / sigma_t) e^{-eta h} x_t + alpha_s (1 - e^{-(1 + eta) h}) D + sigma_s sqrt(1 - e^{-2 eta h}) z,
    z ~ N(0, I) (B, *shape) from ``noise``. eta = 1 is the paper's SDE (its first-order step is the exact
    solution of the reverse SDE's linear part), eta = 0 the probability-flow ODE, i.e. DPM-Solver++(2M).
    One network evaluation per step on the log-SNR grid by default; the last lands on x0_hat."""
    grid = timesteps(sched, steps, spacing).tolist()
    abar = sched.abar.tolist()

    def lam(t: int) -> float:
        return 0.5 * math.log(abar[t] / (1 - abar[t]))

    prev_x0, h_prev = None, None
    for i, t in enumerate(grid):
        x0, _ = denoise(x, _full(t, x))
        if callback:
            callback(t, x, x0)
        if i == len(grid) - 1:
            return x0
        s = grid[i + 1]
        h = lam(s) - lam(t)
        d = x0
        if prev_x0 is not None:
            r = h_prev / h
            d = (1 + 1 / (2 * r)) * x0 - (1 / (2 * r)) * prev_x0
        ratio = math.sqrt((1 - abar[s]) / (1 - abar[t]))  # sigma_s / sigma_t
        x = ratio * math.exp(-eta * h) * x - math.sqrt(abar[s]) * math.expm1(-(1 + eta) * h) * d
        if eta > 0:
            x = x + math.sqrt((1 - abar[s]) * -math.expm1(-2 * eta * h)) * noise.randn(*x.shape[1:])
        prev_x0, h_prev = x0, h
    return x


@torch.no_grad()
def edm_sample(
    denoise: Denoiser,
    sched: Schedule,
    x: torch.Tensor,
    noise: Noise,
    steps: int,
    churn: float = EDM_CHURN,
    churn_sigmas: tuple[float, float] = EDM_CHURN_SIGMAS,
    churn_noise: float = EDM_CHURN_NOISE,
    callback: Callback = None,
    spacing: str = "karras",
) -> torch.Tensor:
    """EDM's stochastic sampler (Karras et al. 2022, Algorithm 2): Heun's second-order method on the
    probability-flow ODE dx/dsigma = (x - D(x; sigma)) / sigma in EDM's variables x = x_t / sqrt(abar_t),
    sigma_t = sqrt((1 - abar_t) / abar_t), with "churn": at each noise level sigma_i in [S_tmin, S_tmax]
    (``churn_sigmas``), gamma = min(S_churn / N, sqrt(2) - 1) of noise is added first,
        sigma_hat = (1 + gamma) sigma_i,  x_hat = x_i + sqrt(sigma_hat^2 - sigma_i^2) S_noise z,
        d = (x_hat - D(x_hat; sigma_hat)) / sigma_hat,  x_{i+1} = x_hat + (sigma_{i+1} - sigma_hat) d,
        x_{i+1} = x_hat + (sigma_{i+1} - sigma_hat) (d + d') / 2,  d' = (x_{i+1} - D(x_{i+1}; sigma_{i+1})) / sigma_{i+1},
    with sigma_N = 0 after the grid's last level (an Euler step: x_N = D(x_hat; sigma_hat), x0_hat).
    D(x; sigma_t) = x0_hat of the VP network at step t for x_t = x / sqrt(1 + sigma_t^2): the network knows
    only the discrete t, so sigma_hat is rounded to the t nearest in log sigma and that t's sigma is used in
    the update (as edm does for discrete-time models, ``round_sigma``): the step and the network agree on
    the noise level. S_churn = 0 is the deterministic Heun sampler (Algorithm 1). Network evaluations:
    2 per step but the last, 2 * steps - 1. x (B, *shape) ~ N(0, I) at t = T-1; z (B, *shape) from ``noise``."""
    grid = timesteps(sched, steps, spacing).tolist()
    sig = sched.sigmas.tolist()
    gamma = min(churn / len(grid), math.sqrt(2) - 1)

    def D(x: torch.Tensor, t: int) -> torch.Tensor:  # x (B, *shape) in EDM's variables
        return denoise(x / math.sqrt(1 + sig[t] ** 2), _full(t, x))[0]

    x = x * math.sqrt(1 + sig[grid[0]] ** 2)  # x_T ~ N(0, I) -> x = x_T / sqrt(abar_T)
    for i, t in enumerate(grid):
        t_hat = t
        if gamma > 0 and churn_sigmas[0] <= sig[t] <= churn_sigmas[1]:
            t_hat = int(nearest_t(sched, torch.tensor((1 + gamma) * sig[t])))
        if t_hat != t:
            x = x + math.sqrt(sig[t_hat] ** 2 - sig[t] ** 2) * churn_noise * noise.randn(*x.shape[1:])
        x0 = D(x, t_hat)
        if callback:
            callback(t_hat, x / math.sqrt(1 + sig[t_hat] ** 2), x0)
        if i == len(grid) - 1:
            return x0
        s = grid[i + 1]
        d = (x - x0) / sig[t_hat]
        x_next = x + (sig[s] - sig[t_hat]) * d  # Euler
        d_next = (x_next - D(x_next, s)) / sig[s]
        x = x + (sig[s] - sig[t_hat]) * (d + d_next) / 2  # Heun's correction
    return x


def sample(
    denoise: Denoiser,
    sched: Schedule,
    x_T: torch.Tensor,
    noise: Noise,
    sampler: str,
    steps: int | None = None,
    eta: float | None = None,
    callback: Callback = None,
    *,
    spacing: str = "auto",
    churn: float = EDM_CHURN,
    churn_sigmas: tuple[float, float] = EDM_CHURN_SIGMAS,
    churn_noise: float = EDM_CHURN_NOISE,
) -> torch.Tensor:
    """Dispatch to a sampler by name: ddpm (all T steps), ddim (``steps``, ``eta``, default 0), dpm++
    (``steps``), dpm++sde (``steps``, ``eta``, default 1) or edm (``steps``, ``churn``, ``churn_sigmas``,
    ``churn_noise``); ``spacing`` picks the step grid (auto: the sampler's own, ``DEFAULT_SPACING``)."""
    if sampler not in SAMPLERS:
        raise ConfigError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
    if spacing not in SPACINGS:
        raise ConfigError(f"unknown spacing {spacing!r}; choose one of {', '.join(SPACINGS)}")
    if eta is not None and not (math.isfinite(eta) and eta >= 0):
        raise ConfigError(f"--eta must be a number >= 0, got {eta}")
    if sampler == "ddpm":
        check_ddpm(sched.T, steps, spacing)
        return ddpm_sample(denoise, sched, x_T, noise, callback)
    if steps is None:
        raise ConfigError(f"the {sampler} sampler needs a number of steps")
    grid = DEFAULT_SPACING[sampler] if spacing == "auto" else spacing
    if sampler == "ddim":
        return ddim_sample(denoise, sched, x_T, noise, steps, eta or 0.0, callback, grid)
    if sampler == "dpm++":
        return dpmpp_2m_sample(denoise, sched, x_T, steps, callback, grid)
    if sampler == "dpm++sde":
        return dpmpp_2m_sde_sample(
            denoise, sched, x_T, noise, steps, 1.0 if eta is None else eta, callback, grid
        )
    check_churn(churn, churn_sigmas, churn_noise)
    return edm_sample(denoise, sched, x_T, noise, steps, churn, churn_sigmas, churn_noise, callback, grid)


def check_ddpm(T: int, steps: int | None, spacing: str = "auto") -> None:
    """A ConfigError unless the ddpm sampler's options are its own: all T steps on no grid."""
    if steps not in (None, T):
        raise ConfigError(
            f"the ddpm sampler runs all {T} steps; for {steps} steps use --sampler ddim "
            "(--eta 1 is ancestral sampling on fewer steps) or dpm++"
        )
    if spacing != "auto":
        raise ConfigError("the ddpm sampler runs all T steps; --spacing applies to the other samplers")


def check_churn(churn: float, churn_sigmas: tuple[float, float], churn_noise: float) -> None:
    """A ConfigError for EDM churn settings that are not S_churn >= 0, 0 <= S_tmin <= S_tmax, S_noise > 0."""
    lo, hi = churn_sigmas
    if not (math.isfinite(churn) and churn >= 0):
        raise ConfigError(f"--churn must be a number >= 0, got {churn}")
    if not (math.isfinite(lo) and 0 <= lo <= hi):
        raise ConfigError(f"the churn's noise range must be 0 <= min <= max, got {lo} and {hi}")
    if not (math.isfinite(churn_noise) and churn_noise > 0):
        raise ConfigError(f"the churn's noise scale (S_noise) must be > 0, got {churn_noise}")


# -- inpainting ----------------------------------------------------------------------------------------
def repaint_path(n: int, jump_length: int, resamples: int) -> list[int]:
    """Indices into a step grid of n points as RePaint visits them (Lugmayr et al. 2022): down the
    grid, and every ``jump_length`` points go back up ``jump_length`` points, ``resamples - 1`` times."""
    path, i, jumped = [0], 0, {}
    while i < n - 1:
        i += 1
        path.append(i)
        if resamples > 1 and i % jump_length == 0 and i < n - 1 and jumped.get(i, 0) < resamples - 1:
            jumped[i] = jumped.get(i, 0) + 1
            for _ in range(min(jump_length, i)):
                i -= 1
                path.append(i)
    return path


@torch.no_grad()
def repaint_sample(
    denoise: Denoiser,
    sched: Schedule,
    x0_known: torch.Tensor,
    known: torch.Tensor,
    noise: Noise,
    steps: int,
    jump_length: int = 10,
    resamples: int = 1,
    callback: Callback = None,
) -> torch.Tensor:
    """Inpainting by RePaint: at each step the known pixels (``known`` = 1) are drawn from the forward
    process q(x_s | x_0 = x0_known) and the unknown ones from an ancestral (DDIM eta = 1) step of the model;
    a jump back up the grid re-noises x_s to x_t by q(x_t | x_s) = N(sqrt(abar_t / abar_s) x_s, (1 - abar_t / abar_s) I)."""
    if jump_length < 1 or resamples < 1:
        raise ConfigError(f"jump_length and resamples must be at least 1, got {jump_length} and {resamples}")
    grid = step_grid(sched.T, steps).tolist()
    abar = sched.abar.tolist()
    shape = x0_known.shape[1:]
    x = noise.randn(*shape)
    path = repaint_path(len(grid), jump_length, resamples)
    x0 = x0_known
    for cur, nxt in zip(path[:-1], path[1:], strict=True):
        t, s = grid[cur], grid[nxt]
        if nxt < cur:  # back up the grid: t_s > t_t; forward noising from t to s
            ratio = abar[s] / abar[t]
            x = math.sqrt(ratio) * x + math.sqrt(1 - ratio) * noise.randn(*shape)
            continue
        x0, eps = denoise(x, _full(t, x))
        if callback:
            callback(t, x, x0)
        unknown = ddim_step(x0, eps, abar[t], abar[s], 1.0, noise)  # ancestral: eta = 1
        known_s = math.sqrt(abar[s]) * x0_known + math.sqrt(1 - abar[s]) * noise.randn(*shape)
        x = known * known_s + (1 - known) * unknown
    x0, _ = denoise(x, _full(grid[-1], x))
    return known * x0_known + (1 - known) * x0


def discretized_gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, log_std: float) -> torch.Tensor:
    """log P(x) per pixel of x in [-1, 1] on 256 levels (bin width 2/255) under N(mean, std^2) integrated
    over each pixel's bin; the edge bins reach to -inf and +inf (Ho et al. 2020, Eq. 13).
    Computed in log space in float64 (log Phi by ``log_ndtr``), so a far-off mean costs its true
    -log P rather than a clamped one (a fp32 difference of CDFs floors near 1e-7)."""
    std = math.exp(log_std)
    half = 1 / 255
    xd, md = x.double(), torch.as_tensor(mean).double()
    z_hi, z_lo = (xd + half - md) / std, (xd - half - md) / std
    # log(Phi(b) - Phi(a)) = log Phi(b) + log(1 - Phi(a)/Phi(b)); in the right tail use the mirror image
    # log(Phi(-a) - Phi(-b)), where the subtraction is not of two numbers close to 1
    right = z_lo > 0
    a = torch.where(right, -z_hi, z_lo)
    b = torch.where(right, -z_lo, z_hi)
    la, lb = torch.special.log_ndtr(a), torch.special.log_ndtr(b)
    inner = lb + torch.log1p(-torch.exp(la - lb))
    lowest = torch.special.log_ndtr(z_hi)  # x = -1: the bin reaches to -inf
    highest = torch.special.log_ndtr(-z_lo)  # x = 1: the bin reaches to +inf
    out = torch.where(xd < -1 + 1e-3, lowest, torch.where(xd > 1 - 1e-3, highest, inner))
    return out.to(x.dtype)
