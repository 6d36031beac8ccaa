"""What a model can do, declared: the usage contract of every family in one place.

Each family declares the capabilities it has (``GenerativeModel.capabilities``, refined per
instance by ``declared_capabilities``, e.g. a diffusion model's bound exists only for images), and
each capability is a typed protocol below: the methods and attributes a model that declares it
provides, with one signature for every family. ``capabilities(model)`` answers "what can this
model do"; the apps, eval, the CLI and the explorer ask it (or ``require``) instead of probing for
attribute names, so a new family gets every command it qualifies for without edits elsewhere, and
``tests/test_conformance.py`` checks each declared capability's contract on every registered model.

A message about a missing capability names the registered families that have it, from the
registry, so it never goes stale.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import torch

from genzoo.errors import GenzooError

if TYPE_CHECKING:
    from genzoo.models.base import GenerativeModel


class Capability(StrEnum):
    SAMPLER = "sampler"
    DECODER = "decoder"
    ENCODER = "encoder"
    LIKELIHOOD = "likelihood"
    VARIATIONAL = "variational"
    ITERATIVE = "iterative"
    CONDITIONAL = "conditional"
    INPAINTER = "inpainter"
    DENOISER = "denoiser"


# (what a model without the capability is, what a command needs), for messages:
# "<kind> <lacks>; <what> needs <needs> (<the registered families that have it>)"
DESCRIPTION: dict[Capability, tuple[str, str]] = {
    Capability.SAMPLER: ("cannot sample", "a model that samples"),
    Capability.DECODER: ("has no latent code to decode", "a model that decodes latent codes"),
    Capability.ENCODER: ("has no encoder and decoder", "a model that can encode and decode"),
    Capability.LIKELIHOOD: ("has no likelihood", "a model with a likelihood log p(x)"),
    Capability.VARIATIONAL: ("has no evidence lower bound", "a model with an ELBO"),
    Capability.ITERATIVE: ("samples in one pass", "an iterative sampler"),
    Capability.CONDITIONAL: ("is not class-conditional", "a class-conditional model"),
    Capability.INPAINTER: ("has no inpainting of its own", "a model that inpaints"),
    Capability.DENOISER: ("is not trained to undo a corruption", "a denoising autoencoder"),
}


# ------------------------------------------------------------------------------------ protocols
class Sampler(Protocol):
    """Every family. Sample i depends only on ``seeds[i]`` (drawn from ``generator`` when not given),
    never on the batch; ``y`` (an int or n labels) only for a conditional model, labels drawn from
    the seeds when omitted; ``options`` are the family's ``sample_options`` (e.g. ``temperature``,
    ``sampler``/``steps``); output (n, *shape) in the data's own range."""

    shape: tuple[int, ...]
    model_type: ClassVar[str]
    sample_options: ClassVar[frozenset[str]]

    def sample(
        self,
        n: int,
        generator: torch.Generator | None = None,
        *,
        seeds: Sequence[int] | None = None,
        y: torch.Tensor | int | None = None,
        **options: Any,
    ) -> torch.Tensor: ...


class Decoder(Sampler, Protocol):
    """A latent space that can be decoded: ``sample_latent`` draws codes (n, latent_dim) from the
    model's prior (per-sample seeds), ``decode`` maps them to data; ``sample`` is decode(sample_latent).
    A GAN's generator is its decoder."""

    latent_dim: int

    def sample_latent(
        self, n: int, generator: torch.Generator | None = None, *, seeds: Sequence[int] | None = None
    ) -> torch.Tensor: ...

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor: ...


class Encoder(Decoder, Protocol):
    """Encodes data to codes (B, latent_dim) and reconstructs: decode(encode(x, y), y).
    ``code_threshold``: t for a near-binary code (its bits are z > t), None for a real one. A
    conditional encoder also infers the labels of unlabelled data (``infer_labels``)."""

    code_threshold: float | None

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor: ...

    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor: ...


class Likelihood(Protocol):
    """log p(x) (B,) in nats; ``likelihood_kind`` says whether it is exact or a bound and on which
    side; ``likelihood_k`` is the default number of importance samples of a bound that takes them
    (None: ``k`` must not be given); ``likelihood_bins`` the levels of a density on [0, 1] for
    bits/dim (None when log p(x) is already a probability of discrete data)."""

    likelihood_kind: str
    likelihood_k: int | None
    likelihood_bins: int | None

    def log_likelihood(
        self,
        x: torch.Tensor,
        *,
        y: torch.Tensor | None = None,
        k: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor: ...


class Variational(Protocol):
    """A latent-variable model with an ELBO: per example -log p(x|z) and KL(q(z|x) || p(z)), the
    posterior mean, the decoder's logits and the pixel NLL they give (for MAP inpainting)."""

    def elbo_terms(
        self, x: torch.Tensor, y: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]: ...

    def decode_logits(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor: ...

    def pixel_nll(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor: ...


class IterativeSampler(Sampler, Protocol):
    """Sampling by many network evaluations: ``samplers`` names the samplers ``sample(sampler=...,
    steps=...)`` takes (the options in ``ITERATIVE_OPTIONS``); ``sampler_settings`` says what a call
    with those options runs (defaults filled in, checked); ``trajectory`` returns ``frames`` rows of
    x_t on the way to the samples; ``forward_process`` the rows of real x noised by the chain
    q(x_t | x_{t-1}) at the steps ``ts``."""

    samplers: tuple[str, ...]

    def sampler_settings(self, **options: Any) -> dict[str, Any]: ...

    def trajectory(
        self, n: int, frames: int = 10, seeds: Sequence[int] | None = None, **options: Any
    ) -> list[torch.Tensor]: ...

    def forward_process(self, x: torch.Tensor, ts: Sequence[int], seed: int = 0) -> list[torch.Tensor]: ...


class Conditional(Protocol):
    """Class-conditional: ``num_classes`` classes named ``class_names``; labels y (B,) long are taken
    by sample / encode / decode / reconstruct / log_likelihood."""

    num_classes: int
    class_names: tuple[str, ...]


class Inpainter(Protocol):
    """Fills the pixels of x (B, *shape) where ``known`` is 0 (by its own method, e.g. RePaint)."""

    def inpaint(
        self,
        x: torch.Tensor,
        known: torch.Tensor,
        *,
        y: torch.Tensor | None = None,
        seeds: Sequence[int] | None = None,
        **options: Any,
    ) -> torch.Tensor: ...


class Denoiser(Encoder, Protocol):
    """An autoencoder trained to undo ``corrupt`` (a denoising autoencoder)."""

    def corrupt(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor: ...


PROTOCOLS: dict[Capability, type] = {
    Capability.SAMPLER: Sampler,
    Capability.DECODER: Decoder,
    Capability.ENCODER: Encoder,
    Capability.LIKELIHOOD: Likelihood,
    Capability.VARIATIONAL: Variational,
    Capability.ITERATIVE: IterativeSampler,
    Capability.CONDITIONAL: Conditional,
    Capability.INPAINTER: Inpainter,
    Capability.DENOISER: Denoiser,
}


# ------------------------------------------------------------------------------------ questions
def capabilities(model: object) -> frozenset[Capability]:
    """What ``model`` can do: its declared capabilities (none for an object that is not a model)."""
    from genzoo.models.base import GenerativeModel

    return model.declared_capabilities() if isinstance(model, GenerativeModel) else frozenset()


def has(model: object, capability: Capability | str) -> bool:
    return Capability(capability) in capabilities(model)


def kind(model: object) -> str:
    """A model's name for messages: its ``model_type`` (e.g. "vae"), else its class name."""
    from genzoo.models.base import GenerativeModel

    return model.model_type if isinstance(model, GenerativeModel) else type(model).__name__


def families_with(*capabilities: Capability | str, without: Capability | str | None = None) -> list[str]:
    """The registered families that declare every one of ``capabilities`` (at class level) and not
    ``without``, sorted."""
    from genzoo.registry import model_classes

    need = {Capability(c) for c in capabilities}
    skip = {Capability(without)} if without is not None else set()
    return [
        name
        for name, cls in model_classes().items()
        if need <= cls.capabilities and not skip & cls.capabilities
    ]


def require(model: object, capability: Capability | str, what: str) -> None:
    """A GenzooError unless ``model`` has ``capability``: '<kind> <lacks it>; <what> needs <a model
    that has it> (<the registered families that do>)'."""
    cap = Capability(capability)
    if cap not in capabilities(model):
        lacks, needs = DESCRIPTION[cap]
        raise GenzooError(f"{kind(model)} {lacks}; {what} needs {needs} ({', '.join(families_with(cap))})")


def sample_options(model: object) -> frozenset[str]:
    """The options the model's ``sample`` takes beyond n, generator, seeds and y."""
    return model.sample_options if has(model, Capability.SAMPLER) else frozenset()  # type: ignore[attr-defined]


# the options every iterative sampler takes (``sample(**options)``), one CLI flag each (--sampler, ...)
ITERATIVE_OPTIONS = ("sampler", "steps", "eta", "spacing", "churn", "guidance")


def iterative_options(model: object, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` of an iterative sampler (``ITERATIVE_OPTIONS``) with None values dropped, checked
    before any sampling: a GenzooError naming their flags when the model samples in one pass, the
    model's ConfigError for a value its sampler cannot take (``sampler_settings``)."""
    given = {k: v for k, v in options.items() if v is not None}
    if unknown := sorted(set(given) - set(ITERATIVE_OPTIONS)):
        raise GenzooError(f"{', '.join(unknown)} are not options of an iterative sampler")
    if given and not has(model, Capability.ITERATIVE):
        flags = ", ".join(f"--{k}" for k in given)
        raise GenzooError(
            f"{flags} apply to models with an iterative sampler "
            f"({', '.join(families_with(Capability.ITERATIVE))}), not {kind(model)}"
        )
    if given:
        model.sampler_settings(**given)  # type: ignore[attr-defined]
    return given


def describe(model: object) -> dict[str, Any]:
    """What the model can do, as JSON-ready data (for ``genzoo info`` and the explorer)."""
    caps = capabilities(model)
    out: dict[str, Any] = {"model_type": kind(model), "capabilities": sorted(caps)}
    if Capability.SAMPLER in caps:
        out["sample_options"] = sorted(sample_options(model))
    if Capability.DECODER in caps:
        out["latent_dim"] = int(model.latent_dim)  # type: ignore[attr-defined]
    if Capability.CONDITIONAL in caps:
        out["class_names"] = list(model.class_names)  # type: ignore[attr-defined]
    if Capability.ITERATIVE in caps:
        out["samplers"] = list(model.samplers)  # type: ignore[attr-defined]
        out["default_sampler"] = model.sampler_settings()  # type: ignore[attr-defined]  # what sample() runs
    if Capability.LIKELIHOOD in caps:
        out["likelihood_kind"] = model.likelihood_kind  # type: ignore[attr-defined]
    return out


def checked_options(model: GenerativeModel, options: dict[str, Any], what: str = "sample") -> dict[str, Any]:
    """``options`` with None values dropped; a GenzooError naming the options this family takes for
    any other (e.g. --temperature on a GAN)."""
    given = {k: v for k, v in options.items() if v is not None}
    bad = sorted(set(given) - set(model.sample_options))
    if bad:
        takes = ", ".join(sorted(model.sample_options)) or "none"
        raise GenzooError(
            f"{kind(model)} does not take {', '.join(bad)} when it samples (its {what} options: {takes})"
        )
    return given


__all__ = [
    "Capability",
    "Conditional",
    "Decoder",
    "Denoiser",
    "Encoder",
    "Inpainter",
    "ITERATIVE_OPTIONS",
    "IterativeSampler",
    "Likelihood",
    "Sampler",
    "Variational",
    "capabilities",
    "checked_options",
    "describe",
    "families_with",
    "has",
    "iterative_options",
    "kind",
    "require",
    "sample_options",
]
