"""Exponential moving average of weights: theta_ema <- d theta_ema + (1 - d) theta."""

from __future__ import annotations

import torch
from torch import nn


class EMA:
    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        """Warm-up d_t = min(d, (1 + t) / (10 + t)) so early averages are not dominated by init."""
        d = min(self.decay, (1 + step) / (10 + step))
        for k, v in model.state_dict().items():
            s = self.shadow[k]
            if s.is_floating_point():
                s.lerp_(v, 1.0 - d)
            else:
                s.copy_(v)
