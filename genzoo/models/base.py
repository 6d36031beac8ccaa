"""The model contract shared by every family, and saving/loading of a model directory.

A model is built from ``(config, shape)``: its typed config dataclass and the per-example data
shape, e.g. (C, H, W). It provides ``loss(batch, player) -> Output``; a model with several
players (a GAN) lists them in ``players`` and ``player_parameters`` tells which weights each
player's optimiser steps. The one trainer alternates the players; there is no second loop.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from genzoo import config as cfgio
from genzoo import io
from genzoo.errors import CheckpointError, GenzooError
from genzoo.models.capabilities import Capability, checked_options, families_with
from genzoo.seeds import Noise, labels_from_seeds, resolve_seeds

Batch = tuple[torch.Tensor, torch.Tensor | None]  # (x: (B, *shape), y: (B,) or None)


@dataclass
class Output:
    """A loss to minimise plus named terms to log (all scalar tensors)."""

    loss: torch.Tensor
    terms: dict[str, torch.Tensor] = field(default_factory=dict)


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """The model in eval mode inside the block (dropout off, batch norm on its running statistics,
    a near-binary code without its training noise), its previous mode restored after, also on error."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def device_of(model: nn.Module) -> torch.device:
    """The device of the model's weights (the CPU for a model without any)."""
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


class GenerativeModel(nn.Module):
    model_type: ClassVar[str]
    config_class: ClassVar[type]
    # what the family can do (genzoo.models.capabilities); refined per instance by declared_capabilities
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.SAMPLER})
    # options sample() takes beyond n, generator, seeds and y (e.g. a flow's temperature)
    sample_options: ClassVar[frozenset[str]] = frozenset()
    # an encoder's threshold that makes its codes bits (z > t) for a near-binary code, else None
    code_threshold: ClassVar[float | None] = None
    players: ClassVar[tuple[str, ...]] = ("model",)
    ddp_find_unused: ClassVar[bool] = False  # True if a step leaves some weights without gradient
    # training settings this family defaults to (TrainConfig field -> value), e.g. a GAN's Adam
    train_defaults: ClassVar[dict[str, Any]] = {}
    # fewer training steps than this and samples are likely noise: `genzoo sample` says so (Run.short_note)
    min_useful_steps: ClassVar[int] = 0
    # config fields added after runs were saved whose default has changed since: the value a saved
    # model section without the key was trained with (it predates the field, so it had that one)
    saved_before: ClassVar[dict[str, Any]] = {}
    # ranks of the per-example data shapes the family models: (C, H, W) images and (D,) points;
    # a sequence model takes (T, D) series. `genzoo bench` runs, by default, every family that fits.
    data_ranks: ClassVar[tuple[int, ...]] = (1, 3)

    def __init__(self, config: Any, shape: tuple[int, ...]) -> None:
        super().__init__()
        if not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} needs a {self.config_class.__name__}")
        self.config = config
        self.shape = tuple(int(s) for s in shape)

    # -- training contract -------------------------------------------------------------------
    def forward(self, batch: Batch, player: str = "model") -> Output:
        return self.loss(batch, player)

    def loss(self, batch: Batch, player: str = "model") -> Output:
        raise NotImplementedError

    def bf16_default(self) -> bool:
        """Whether ``precision="auto"`` trains this model under bf16 autocast on a CPU with native
        bf16 (AMX, AVX-512-BF16). A family says True, for the architectures where
        ``benchmarks/bench_precision.py`` measured a real speedup (docs/training.md); default fp32."""
        return False

    def precision_name(self) -> str:
        """This model in a precision message: 'gan mlp on 2-D points', 'ddpm on 1x28x28 images'."""
        arch = getattr(self.config, "arch", "auto")
        size = "x".join(map(str, self.shape))
        data = {1: f"{size}-D points", 2: f"{size} series"}.get(len(self.shape), f"{size} images")
        return f"{self.model_type}{'' if arch == 'auto' else ' ' + arch} on {data}"

    def players_at(self, step: int) -> tuple[str, ...]:
        """The players that step at training step ``step``, in order (e.g. a GAN's D every step
        and G every k-th); default: all of them."""
        return self.players

    def player_parameters(self, player: str) -> list[nn.Parameter]:
        """Weights stepped by ``player``'s optimiser (all of them for a single-player model)."""
        return list(self.parameters())

    def optimizer_overrides(self, player: str) -> dict[str, Any]:
        """Per-player optimiser settings (e.g. a GAN's lr/betas) that replace the train config's."""
        return {}

    def set_step(self, step: int) -> None:
        """Told the global step before each training step (for staged training); default: ignore."""

    def prepare_for_sampling(self, x: torch.Tensor) -> None:
        """Fit whatever sampling needs from training data (called before each checkpoint)."""

    # -- using a model: the Sampler contract (genzoo.models.capabilities) ---------------------------
    def declared_capabilities(self) -> frozenset[Capability]:
        """What this model can do; the family's ``capabilities`` unless an instance has fewer."""
        return self.capabilities

    @torch.no_grad()
    def sample(
        self,
        n: int,
        generator: torch.Generator | None = None,
        *,
        seeds: Sequence[int] | None = None,
        y: torch.Tensor | int | None = None,
        **options: Any,
    ) -> torch.Tensor:
        """n new examples (n, *shape) in the data's own range, in eval mode. Sample i depends only on
        ``seeds[i]`` (drawn from ``generator`` when not given), never on the batch. ``y``: labels of a
        conditional model (drawn from the seeds when omitted); ``options``: the family's
        ``sample_options`` (None values mean the default)."""
        seeds = resolve_seeds(n, generator, seeds)
        opts = checked_options(self, options)
        labels = self.sample_labels(seeds, y)
        with evaluating(self):
            return self._sample(seeds, labels, **opts)

    def sample_labels(self, seeds: Sequence[int], y: torch.Tensor | int | None) -> torch.Tensor | None:
        """Labels (n,) long for a conditional model (from the seeds when y is None), None otherwise;
        labels given to a model that takes none are an error naming the families that do."""
        if Capability.CONDITIONAL not in self.declared_capabilities():
            self.no_labels(y)
            return None
        if y is None:
            return labels_from_seeds(seeds, self.num_classes)  # type: ignore[attr-defined]
        return self.check_labels(y, len(seeds))  # type: ignore[attr-defined]

    def no_labels(self, y: object) -> None:
        """A GenzooError when class labels reach a model that is not class-conditional."""
        if y is not None:
            raise GenzooError(
                f"{self.model_type} is not class-conditional; a class needs a conditional model "
                f"({', '.join(families_with(Capability.CONDITIONAL))})"
            )

    def _sample(self, seeds: list[int], y: torch.Tensor | None, **options: Any) -> torch.Tensor:
        """The family's sampling from checked seeds and labels; a decoder's default: decode(z ~ prior)."""
        if Capability.DECODER not in self.capabilities:
            raise NotImplementedError(f"{self.model_type} must implement _sample")
        return self.decode(self.sample_latent(len(seeds), seeds=seeds), y)  # type: ignore[attr-defined]

    def sample_latent(
        self, n: int, generator: torch.Generator | None = None, *, seeds: Sequence[int] | None = None
    ) -> torch.Tensor:
        """Codes z (n, latent_dim) from the model's prior, z_i from seed i alone (Decoder contract):
        ``prior(eps)`` of eps ~ N(0, I); the prior is N(0, I) unless a family says otherwise."""
        seeds = resolve_seeds(n, generator, seeds)
        eps = Noise(seeds, device_of(self)).randn(self.latent_dim)  # type: ignore[attr-defined]
        return self.prior(eps)

    def prior(self, eps: torch.Tensor) -> torch.Tensor:
        """Standard normal eps (n, d) -> codes of the model's prior (n, d); N(0, I): eps itself."""
        return eps

    def progress_rows(self, x: torch.Tensor, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        """Rows of images showing learning on fixed inputs x (B, *shape); default: samples."""
        return [self.sample(x.shape[0], generator=generator)]

    # -- persistence ---------------------------------------------------------------------------
    def config_dict(self) -> dict[str, Any]:
        from genzoo import __version__

        return {
            "model_type": self.model_type,
            "genzoo_version": __version__,
            "shape": list(self.shape),
            "model": cfgio.to_dict(self.config),
        }

    def save(self, path: str | Path, ema_state: dict[str, torch.Tensor] | None = None, **extra: Any) -> Path:
        """Write ``config.json`` + ``model.safetensors`` (+ ``ema.safetensors``) into ``path``."""
        path = Path(path)
        meta = {"model_type": self.model_type}
        io.save_tensors(path / io.WEIGHTS, self.state_dict(), meta)
        if ema_state is not None:
            io.save_tensors(path / io.EMA_WEIGHTS, ema_state, meta)
        else:
            (path / io.EMA_WEIGHTS).unlink(missing_ok=True)  # never leave a stale average behind
        io.atomic_write_json(path / io.CONFIG, self.config_dict() | extra)
        return path

    @classmethod
    def from_config_dict(cls, cfg: dict[str, Any]) -> GenerativeModel:
        if cfg.get("model_type") != cls.model_type:
            raise CheckpointError(
                f"checkpoint holds a {cfg.get('model_type')!r} model, not {cls.model_type!r}"
            )
        return cls(cls.saved_config(cfg.get("model")), tuple(cfg["shape"]))

    @classmethod
    def saved_section(cls, section: Any) -> Any:
        """A saved model section with its missing later fields filled as the run had them
        (``saved_before``), not with today's defaults; anything but a dict as it is (for the error)."""
        return cls.saved_before | section if isinstance(section, dict) else section

    @classmethod
    def saved_config(cls, section: dict[str, Any] | None) -> Any:
        """The config of a saved model section (``saved_section``)."""
        return cfgio.from_dict(cls.config_class, cls.saved_section(section), f"{cls.model_type} config")

    def load_weights(self, tensors: dict[str, torch.Tensor], source: str) -> None:
        """Load a state dict, turning any key or shape mismatch into a CheckpointError."""
        own = self.state_dict()
        missing = sorted(set(own) - set(tensors))
        unexpected = sorted(set(tensors) - set(own))
        shapes = [
            f"{k}: {tuple(tensors[k].shape)} vs {tuple(v.shape)}"
            for k, v in own.items()
            if k in tensors and tensors[k].shape != v.shape
        ]
        if missing or unexpected or shapes:
            parts = [
                f"missing {missing[:5]}" if missing else "",
                f"unexpected {unexpected[:5]}" if unexpected else "",
            ]
            parts.append(f"shape mismatch {shapes[:5]}" if shapes else "")
            raise CheckpointError(
                f"{source} does not match a {self.model_type} model with this config: "
                + "; ".join(p for p in parts if p)
            )
        self.load_state_dict(tensors)

    @classmethod
    def load(cls, path: str | Path, ema: bool | None = None) -> GenerativeModel:
        """Load a saved model or a run's latest checkpoint; EMA weights by default when present."""
        mdir = io.resolve_model_dir(path)
        model = cls.from_config_dict(io.read_config(mdir))
        use_ema = (mdir / io.EMA_WEIGHTS).is_file() if ema is None else ema
        wfile = mdir / (io.EMA_WEIGHTS if use_ema else io.WEIGHTS)
        model.load_weights(io.load_tensors(wfile), str(wfile))
        return model.eval()


class FittedCodePrior:
    """A Gaussian N(mu, Sigma) fitted to the codes of the training data, for the autoencoders
    (``ae``, ``deep-ae``, ``seq-ae``), which have no prior of their own: ``sample`` decodes
    z = mu + L eps, eps ~ N(0, I), L the Cholesky factor of Sigma. Mixed into a GenerativeModel
    with ``encode`` and ``decode``; the buffers travel in ``model.safetensors``."""

    capabilities = frozenset({Capability.SAMPLER, Capability.DECODER, Capability.ENCODER})

    def init_code_prior(self, d: int) -> None:
        self.register_buffer("prior_mean", torch.zeros(d))  # (d,)
        self.register_buffer("prior_tril", torch.eye(d))  # (d, d) Cholesky factor of Sigma
        self.register_buffer("prior_fitted", torch.zeros(()))

    @torch.no_grad()
    def prepare_for_sampling(self, x: torch.Tensor) -> None:
        """Fit N(mu, Sigma) to the codes of x (N, *shape); Sigma gets 1e-5 I for stability."""
        with evaluating(self):
            z = torch.cat([self.encode(c) for c in x.split(1024)]).float()  # (N, d)
        mu = z.mean(0)
        zc = z - mu
        cov = zc.T @ zc / max(len(z) - 1, 1) + 1e-5 * torch.eye(z.shape[1], device=z.device)
        self.prior_mean.copy_(mu)
        self.prior_tril.copy_(torch.linalg.cholesky(cov))
        self.prior_fitted.fill_(1.0)

    def prior(self, eps: torch.Tensor) -> torch.Tensor:
        """z = mu + L eps, (n, d); an error before the fit."""
        if not bool(self.prior_fitted):
            raise GenzooError(
                f"this {self.model_type} has no fitted code distribution yet; it is fitted at each "
                "training checkpoint (or call model.prepare_for_sampling(train_x))"
            )
        return self.prior_mean + eps.to(self.prior_mean) @ self.prior_tril.T
