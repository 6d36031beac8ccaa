"""Recurrent (sequence-to-sequence) autoencoder ``seq-ae`` for time series.

The lecture's "special case of seq2seq models where encoder and decoder are replaced by RNNs such
as LSTMs". The data are series x (B, T, D + 1): D value channels and a mask channel m, 1 on the
first L_b steps of example b and 0 on its trailing padding (see ``genzoo.data.timeseries``).

- Encoder: an LSTM or GRU (``layers`` stacked, optionally bidirectional) reads v_0..v_{L-1}
  (packed, so padding is never read); the last layer's final hidden state(s) h (B, dirs * H) give
  the fixed-size code z = W_z h + b (B, d).
- Decoder: an LSTM/GRU started from h_0 = tanh(W_h z) (every layer) that unrolls T steps with input
  [z, u_{t-1}] and emits v_hat_t = W_o s_t (B, D). u_{t-1} is its own previous output v_hat_{t-1}
  (free-running; u_{-1} = 0), or, while training, the true v_{t-1} with probability p (teacher
  forcing). p starts at ``teacher_forcing`` and falls linearly to 0 over ``teacher_forcing_steps``
  training steps (scheduled sampling, Bengio et al. 2015); decode/reconstruct always run free.
- Loss: the masked mean squared error sum_{b, t < L_b, c} (v_hat - v)^2 / (D sum_b L_b): padded
  steps never enter the loss.

``reconstruct(x)`` returns (B, T, D + 1): the decoded values times the mask, then x's own mask
channel, so that ||reconstruct(x) - x||^2 counts only observed steps. An autoencoder has no prior:
``sample`` decodes z ~ N(mu, Sigma) fitted to the training codes (``prepare_for_sampling``), as
genzoo's ``ae`` does; sampled series have all T steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from genzoo.errors import ConfigError
from genzoo.models.base import Batch, FittedCodePrior, GenerativeModel, Output
from genzoo.registry import register


@dataclass(kw_only=True)
class SeqAEConfig:
    cell: Literal["lstm", "gru"] = "lstm"
    hidden: int = 64  # units H of each RNN layer (encoder and decoder)
    layers: int = 1  # stacked layers of each RNN
    bidirectional: bool = False  # the encoder also reads the series backwards (the decoder is causal)
    latent_dim: int = 16  # the code z (B, d)
    # scheduled sampling: probability p of feeding the true v_{t-1} instead of the decoder's own
    # v_hat_{t-1} while training; 1 = teacher forcing, 0 = free-running (the default)
    teacher_forcing: float = 0.0
    teacher_forcing_steps: int = 0  # p falls linearly to 0 over these training steps (0: p stays)


def step_mask(x: torch.Tensor) -> torch.Tensor:
    """The observed steps of series x (B, T, D + 1) as (B, T, 1) float: 1 for t < L_b, with
    L_b = the number of steps whose mask channel is > 0 (padding is trailing)."""
    length = (x[..., -1] > 0).sum(1)  # (B,)
    t = torch.arange(x.shape[1], device=x.device)
    return (t[None, :] < length[:, None]).to(x.dtype).unsqueeze(-1)


@register
class SeqAutoencoder(FittedCodePrior, GenerativeModel):
    model_type = "seq-ae"
    data_ranks = (2,)  # (T, D) series
    config_class = SeqAEConfig

    def bf16_default(self) -> bool:  # bench_precision: LSTM 0.83-1.14x on sines: no real gain, fp32
        return False

    def __init__(self, config: SeqAEConfig, shape: tuple[int, ...]) -> None:
        super().__init__(config, shape)
        for name in ("hidden", "layers", "latent_dim"):
            if getattr(config, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(config, name)}")
        p = config.teacher_forcing
        if not (math.isfinite(p) and 0.0 <= p <= 1.0):
            raise ConfigError(f"teacher_forcing must be a probability in [0, 1], got {p}")
        if config.teacher_forcing_steps < 0:
            raise ConfigError(
                f"teacher_forcing_steps must be >= 0 (0: constant), got {config.teacher_forcing_steps}"
            )
        if len(self.shape) != 2 or self.shape[0] < 2 or self.shape[1] < 2:
            raise ConfigError(
                f"seq-ae models series of shape (T, D + 1) (values and a mask channel), not data of shape "
                f"{self.shape}; train it on a series set, e.g. --data sines"
            )
        steps, channels = self.shape
        d, h, dirs = config.latent_dim, config.hidden, 2 if config.bidirectional else 1
        self.values = channels - 1  # D
        rnn = nn.LSTM if config.cell == "lstm" else nn.GRU
        self.encoder = rnn(
            self.values, h, config.layers, batch_first=True, bidirectional=config.bidirectional
        )
        self.to_code = nn.Linear(dirs * h, d)
        self.to_state = nn.Linear(d, config.layers * h)
        self.decoder = rnn(d + self.values, h, config.layers, batch_first=True)
        self.head = nn.Linear(h, self.values)
        self.init_code_prior(d)
        self.register_buffer("step", torch.zeros((), dtype=torch.long), persistent=False)

    # -- encoder and decoder ---------------------------------------------------------------------
    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def encode(
        self, x: torch.Tensor, y: torch.Tensor | None = None
    ) -> torch.Tensor:  # (B, T, D + 1) -> (B, d)
        self.no_labels(y)
        v = x[..., :-1]  # (B, T, D)
        length = step_mask(x)[..., 0].sum(1).long()  # (B,)
        if bool((length < x.shape[1]).any()):  # variable lengths: the RNN never reads padding
            v = pack_padded_sequence(v, length.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False)
        _, state = self.encoder(v)
        h = state[0] if self.config.cell == "lstm" else state  # (layers * dirs, B, H)
        dirs = 2 if self.config.bidirectional else 1
        return self.to_code(h[-dirs:].transpose(0, 1).flatten(1))  # last layer, both directions

    def teacher_forcing_prob(self) -> float:
        """p at the current training step: teacher_forcing * (1 - step / teacher_forcing_steps)_+."""
        p, n = self.config.teacher_forcing, self.config.teacher_forcing_steps
        return p if n == 0 else p * max(0.0, 1.0 - int(self.step) / n)

    def decode_values(
        self, z: torch.Tensor, target: torch.Tensor | None = None, p: float = 0.0
    ) -> torch.Tensor:
        """Unroll the decoder from z (B, d) for T steps: v_hat (B, T, D). With a target v (B, T, D),
        each step's input is v_{t-1} with probability p, else the decoder's own v_hat_{t-1}."""
        b, steps, layers, hid = z.shape[0], self.shape[0], self.config.layers, self.config.hidden
        h0 = torch.tanh(self.to_state(z)).view(b, layers, hid).transpose(0, 1).contiguous()  # (layers, B, H)
        state = (h0, torch.zeros_like(h0)) if self.config.cell == "lstm" else h0
        zin = z[:, None, :]  # (B, 1, d)
        start = z.new_zeros(b, 1, self.values)  # u_{-1} = 0
        if target is not None and p >= 1.0:  # teacher forcing: all T steps in one call
            prev = torch.cat([start, target[:, :-1]], 1)  # (B, T, D): v_{t-1}
            out, _ = self.decoder(torch.cat([zin.expand(-1, steps, -1), prev], -1), state)
            return self.head(out)
        use_true = None
        if target is not None and p > 0.0:
            use_true = torch.rand(steps, b, 1, 1, device=z.device) < p  # a coin per step and example
        prev, outs = start, []
        for t in range(steps):
            out, state = self.decoder(torch.cat([zin, prev], -1), state)  # (B, 1, H)
            v_hat = self.head(out)  # (B, 1, D)
            outs.append(v_hat)
            prev = v_hat if use_true is None else torch.where(use_true[t], target[:, t : t + 1], v_hat)
        return torch.cat(outs, 1)

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """(B, d) -> (B, T, D + 1), every step observed."""
        self.no_labels(y)
        v_hat = self.decode_values(z)
        return torch.cat([v_hat, torch.ones_like(v_hat[..., :1])], -1)

    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, D + 1): the free-running reconstruction on x's observed steps (0 on padding),
        then x's own mask channel."""
        v_hat = self.decode_values(self.encode(x, y))
        return torch.cat([v_hat * step_mask(x), x[..., -1:]], -1)

    # -- training --------------------------------------------------------------------------------
    def set_step(self, step: int) -> None:
        self.step.fill_(step)

    def loss(self, batch: Batch, player: str = "model") -> Output:
        """Masked MSE: sum over observed (b, t, c) of (v_hat - v)^2 / (D * sum_b L_b)."""
        x = batch[0]
        v, m = x[..., :-1], step_mask(x)  # (B, T, D), (B, T, 1)
        p = self.teacher_forcing_prob() if self.training else 0.0
        v_hat = self.decode_values(self.encode(x), v, p)
        mse = ((v_hat - v).pow(2) * m).sum() / (m.sum() * self.values).clamp(min=1.0)
        return Output(mse, {"mse": mse.detach(), "teacher_forcing": torch.tensor(p)})

    @torch.no_grad()
    def progress_rows(self, x, generator=None) -> list[torch.Tensor]:
        return [x, self.reconstruct(x)]
