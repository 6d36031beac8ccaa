"""Moving averages of the weights: theta_ema <- beta_t theta_ema + (1 - beta_t) theta_t.

Two profiles of beta_t (``TrainConfig.ema_std``, docs/training.md "EMA"):

* power (``ema_std`` = sigma_rel > 0, the default of new runs): EDM2's power-function EMA
  (Karras et al. 2024, "Analyzing and Improving the Training Dynamics of Diffusion Models",
  Eq. 3, beta_t = (1 - 1/t)^(gamma + 1)) in a time T_t = sum_{s<=t} dt_s where a step of the lr
  warm-up counts its lr factor, dt_s = lr_s / lr, and every later step 1 (T_t = t without a warm-up):

      beta_t = (T_{t-1} / T_t)^(gamma + 1).

  Unrolled, theta_ema(t) = sum_{tau<=t} w_tau theta_tau with
  w_tau = (T_tau^(gamma+1) - T_{tau-1}^(gamma+1)) / T_t^(gamma+1): weights ~ dt_tau T_tau^gamma
  that sum to 1, the average spanning the fraction sigma_rel of the run so far at every length
  (60 steps or 100k). The warm-up's steps move the weights little and count little: in steps,
  the profile lagged a 60-step ddpm run's raw weights; counted by lr throughout, the cosine
  decay's small steps stretched it over the last quarter of a 1,000-step run (measured, both
  worse than the raw weights; docs/training.md). gamma from sigma_rel by sigma_rel^2 =
  (gamma+1) / ((gamma+2)^2 (gamma+3)) (EDM2 Eq. 2): sigma_rel 0.05 -> gamma 16.97, 0.10 -> 6.94.
* warm-up (``ema_std`` = 0, runs saved before the power profile): an exponential decay that grows
  with the step, beta_t = min(d, (1 + t) / (10 + t)) (diffusers' ``EMAModel``), d = ``ema_decay``.

beta_t depends only on the step and T (``time``, kept in the checkpoint), so a resume that restores
them and the average continues it exactly.
"""

from __future__ import annotations

import torch
from torch import nn


def power_gamma(sigma_rel: float) -> float:
    """gamma of the power-function profile whose relative std is ``sigma_rel`` (EDM2 Eq. 2)."""
    if not 0 < sigma_rel < 3**-0.5:  # gamma -> -1 gives sigma_rel -> 1/sqrt(3) (a uniform average)
        raise ValueError(f"sigma_rel must be in (0, {3**-0.5:.4f}), got {sigma_rel}")

    def sigma(g: float) -> float:  # strictly decreasing on (-1, inf)
        return ((g + 1) / ((g + 2) ** 2 * (g + 3))) ** 0.5

    lo, hi = -1.0, 1.0
    while sigma(hi) > sigma_rel:
        hi *= 2
    for _ in range(200):  # bisection to float precision
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if sigma(mid) > sigma_rel else (lo, mid)
    return (lo + hi) / 2


def power_beta(before: float, now: float, gamma: float) -> float:
    """beta_t = (T_{t-1} / T_t)^(gamma + 1); at a constant rate (T_t = t) EDM2's (1 - 1/t)^(gamma + 1),
    0 at the first step (the average starts at theta_1, never at the initial weights)."""
    return (before / now) ** (gamma + 1.0) if now > 0 else 0.0


def warmup_beta(step: int, decay: float) -> float:
    """beta_t = min(d, (1 + t) / (10 + t)) (diffusers' EMAModel)."""
    return min(decay, (1 + step) / (10 + step))


class EMA:
    """The average of a model's weights (``shadow``, a state dict); ``std`` > 0: the power profile of
    that sigma_rel (``time`` = T_t), else the warm-up profile of ``decay``."""

    def __init__(self, model: nn.Module, decay: float, std: float = 0.0, time: float = 0.0) -> None:
        self.decay, self.std, self.time = decay, std, time
        self.gamma = power_gamma(std) if std > 0 else None
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module, step: int, dt: float = 1.0) -> None:
        """Fold in the weights after optimiser step ``step`` (1, 2, ...), whose length in T is
        ``dt`` (the trainer's: lr_s / lr during the lr warm-up, then 1)."""
        if self.gamma is None:
            b = warmup_beta(step, self.decay)
        else:
            before, self.time = self.time, self.time + dt
            b = power_beta(before, self.time, self.gamma)
        for k, v in model.state_dict().items():
            s = self.shadow[k]
            if s.is_floating_point():
                s.lerp_(v, 1.0 - b)
            else:
                s.copy_(v)
