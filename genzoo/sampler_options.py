"""A diffusion model's sampler options, resolved and checked: what ``sample``, ``genzoo eval``, the
explorer and the reports run when a user names a sampler, steps, eta, a grid or churn (or none: the
model config's defaults). Kept apart from the samplers themselves (``genzoo.sampling``, pure
functions of tensors) and from the model (``genzoo.models.diffusion``), which only calls these."""

from __future__ import annotations

import math
from typing import Any, Protocol

from genzoo import sampling
from genzoo.errors import ConfigError


class SamplerDefaults(Protocol):  # the fields of DDPMConfig these read
    sampler: str
    sample_steps: int
    timesteps: int
    eta: float
    sde_eta: float
    spacing: str
    churn: float
    churn_sigma_min: float
    churn_sigma_max: float
    churn_noise: float


def resolve(
    c: SamplerDefaults,
    sampler: str | None = None,
    steps: int | None = None,
    eta: float | None = None,
    spacing: str | None = None,
    churn: float | None = None,
) -> dict[str, Any]:
    """The keyword arguments of ``sampling.sample`` (with ``sampler`` and ``steps``) for these options,
    None meaning the config's default; a ConfigError for an option the sampler does not have or a bad
    value."""
    sampler = sampler or c.sampler
    if sampler not in sampling.SAMPLERS:
        raise ConfigError(f"unknown sampler {sampler!r}; choose one of {', '.join(sampling.SAMPLERS)}")
    if sampler == "ddpm":
        steps = c.timesteps if steps is None else steps
    steps = c.sample_steps if steps is None else steps
    if not 1 <= steps <= c.timesteps:
        raise ConfigError(f"--steps must be between 1 and the model's {c.timesteps} timesteps, got {steps}")
    if sampler == "ddpm":
        sampling.check_ddpm(c.timesteps, steps)
    if eta is not None and sampler not in sampling.ETA_SAMPLERS:
        raise ConfigError(f"--eta applies to the ddim and dpm++sde samplers; {sampler} has no eta")
    if eta is not None and not (math.isfinite(eta) and eta >= 0):
        raise ConfigError(f"--eta must be a number >= 0, got {eta}")
    if churn is not None and sampler != "edm":
        raise ConfigError(f"--churn applies to the edm sampler; {sampler} has no churn")
    if churn is not None and not (math.isfinite(churn) and churn >= 0):
        raise ConfigError(f"--churn must be a number >= 0 (0: deterministic), got {churn}")
    if spacing is not None and spacing not in sampling.SPACINGS:
        raise ConfigError(f"unknown spacing {spacing!r}; choose one of {', '.join(sampling.SPACINGS)}")
    if spacing not in (None, "auto") and sampler == "ddpm":
        raise ConfigError("--spacing applies to the samplers with a step grid; ddpm runs all T steps")
    if eta is None:
        eta = {"ddim": c.eta, "dpm++sde": c.sde_eta}.get(sampler)
    return {
        "sampler": sampler,
        "steps": steps,
        "eta": eta,
        "spacing": "auto" if sampler == "ddpm" else spacing or c.spacing,
        "churn": c.churn if churn is None else churn,
        "churn_sigmas": (c.churn_sigma_min, c.churn_sigma_max),
        "churn_noise": c.churn_noise,
    }


def describe(kw: dict[str, Any]) -> dict[str, Any]:
    """``resolve``'s answer as a report says it, JSON-ready: ``sampler``, ``steps``, ``network_evals``
    per sample, and only the options that sampler has: ``eta`` (ddim, dpm++sde), ``spacing`` (the grid,
    auto resolved; not ddpm), ``churn`` (edm, its sigma range and noise checked here)."""
    name, n = kw["sampler"], kw["steps"]
    if name == "edm":
        sampling.check_churn(kw["churn"], kw["churn_sigmas"], kw["churn_noise"])
    out: dict[str, Any] = {"sampler": name, "steps": n, "network_evals": sampling.network_evals(name, n)}
    if name in sampling.ETA_SAMPLERS:
        out["eta"] = kw["eta"]
    if name != "ddpm":
        out["spacing"] = sampling.DEFAULT_SPACING[name] if kw["spacing"] == "auto" else kw["spacing"]
    if name == "edm":
        out["churn"] = kw["churn"]
    return out


__all__ = ["SamplerDefaults", "describe", "resolve"]
