"""``genzoo export``: the part of a model a deployment needs, as an ONNX file, checked against PyTorch.

Parts, asked by capability (``genzoo.models.capabilities``), so a new family exports what it qualifies for:

- ``decoder`` / ``encoder``: a model that encodes (AE, DAE, VAE, ...): z (B, d) -> x (B, *shape) in
  the data's range, x -> z (a VAE's posterior mean);
- ``generator``: a model that decodes but does not encode (a GAN): z (B, d) -> x;
- ``inverse`` / ``encoder``: a flow (an exact likelihood and an encoder): the inverse f^-1, z (B, D)
  -> x (B, *shape) in [0, 1] before rounding to the 256 levels (``decode`` rounds with
  floor(256 x) / 255), and f, x -> z;
- ``denoiser``: an iterative sampler (diffusion): one network evaluation (x_t (B, *shape) in the
  model's [-1, 1], t (B,) int64) -> its prediction (eps, x0 or v, as the config's ``prediction``);
  the sampler loop stays in Python (``genzoo.sampling``).

A class-conditional model takes labels y (B,) int64 as a further input (a diffusion model's
``num_classes`` is "no label", for classifier-free guidance). The batch axis is dynamic. The file is
checked with onnxruntime on random inputs of another batch size: outputs equal PyTorch's within
``TOLERANCE`` or it is an error. Needs the ``export`` extra (onnx, onnxruntime).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from genzoo.errors import GenzooError
from genzoo.models import capabilities as caps
from genzoo.models.capabilities import Capability

OPSET = 17
TOLERANCE = 1e-4
PARTS = ("decoder", "encoder", "generator", "inverse", "denoiser")


class ExportError(GenzooError):
    """A model or part that cannot be exported, or an export that does not match PyTorch."""


def _is_flow(model: object) -> bool:
    have = caps.capabilities(model)
    return {Capability.ENCODER, Capability.LIKELIHOOD} <= have and Capability.VARIATIONAL not in have


def parts_of(model: object) -> list[str]:
    """The parts ``model`` can export, its default first."""
    have = caps.capabilities(model)
    if Capability.ITERATIVE in have:
        return ["denoiser"]
    if _is_flow(model):
        return ["inverse", "encoder"]
    if Capability.ENCODER in have:
        return ["decoder", "encoder"]
    if Capability.DECODER in have:
        return ["generator"]
    return []


def _conditional(model: Any) -> bool:
    return caps.has(model, Capability.CONDITIONAL)


class _Part(nn.Module):
    """One part of ``model`` as a module: forward(*inputs) -> output (for the exporter)."""

    def __init__(self, model: Any, fn: Callable[..., torch.Tensor]) -> None:
        super().__init__()
        self.model, self.fn = model, fn

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.fn(*inputs)


def _flow_inverse(model: Any, z: torch.Tensor) -> torch.Tensor:
    y = model.from_latent(z)
    return model._from_logit(y) if model.images else y  # [0, 1] before rounding to 256 levels


def _data(b: int, shape: tuple[int, ...], g: torch.Generator) -> torch.Tensor:
    """Random inputs of an encoder: images in [0, 1]; series (T, D + 1) of random lengths 1..T,
    their last channel the mask of the observed steps (so padded batches are checked too)."""
    if len(shape) != 2:
        return torch.rand(b, *shape, generator=g)
    t = shape[0]
    length = torch.randint(1, t + 1, (b,), generator=g)
    length[0] = t  # one full-length series in every batch
    mask = (torch.arange(t)[None, :] < length[:, None]).float()[..., None]  # (B, T, 1)
    return torch.cat([torch.randn(b, t, shape[1] - 1, generator=g) * mask, mask], dim=-1)


def part_module(
    model: Any, part: str
) -> tuple[nn.Module, Callable[[int, torch.Generator], list[torch.Tensor]], list[str]]:
    """(the module to export, inputs(batch, generator) -> example inputs, the input names)."""
    cond = _conditional(model)
    shape = tuple(model.shape)
    k = getattr(model, "num_classes", 0)

    def labels(b: int, g: torch.Generator, n: int) -> list[torch.Tensor]:
        return [torch.randint(0, n, (b,), generator=g)] if cond else []

    def y_of(rest: tuple[torch.Tensor, ...]) -> torch.Tensor | None:
        return rest[0] if rest else None

    if part in ("decoder", "generator", "inverse"):
        d = int(model.latent_dim)
        fn = (
            (lambda z: _flow_inverse(model, z))
            if part == "inverse"
            else (lambda z, *r: model.decode(z, y_of(r)))
        )
        return (
            _Part(model, fn),
            lambda b, g: [torch.randn(b, d, generator=g), *labels(b, g, k)],
            ["z"] + (["y"] * cond),
        )
    if part == "encoder":
        return (
            _Part(model, lambda x, *r: model.encode(x, y_of(r))),
            lambda b, g: [_data(b, shape, g), *labels(b, g, k)],
            ["x"] + (["y"] * cond),
        )
    if part == "denoiser":
        steps = model.config.timesteps
        return (
            _Part(model, lambda xt, t, *r: model._net(xt, t, y_of(r))),
            lambda b, g: [
                torch.randn(b, *shape, generator=g),
                torch.randint(0, steps, (b,), generator=g),
                *labels(b, g, k + 1),  # num_classes: the null label of classifier-free guidance
            ],
            ["x_t", "t"] + (["y"] * cond),
        )
    raise ExportError(f"unknown part {part!r}; choose from {', '.join(PARTS)}")


@contextlib.contextmanager
def _constant_inverses(model: nn.Module) -> Iterator[None]:
    """Glow's 1x1 convolutions invert their weight with torch.linalg.inv, which ONNX has no op for;
    while exporting, each inverse is computed once and traced as a constant."""
    from genzoo.nn.flows import InvConv1x1

    convs = [m for m in model.modules() if isinstance(m, InvConv1x1)]
    saved = [m.inverse for m in convs]
    for m in convs:
        w_inv = torch.linalg.inv(m.weight.detach().double()).float()
        m.inverse = lambda y, w=w_inv: torch.nn.functional.conv2d(y, w.to(y.dtype)[:, :, None, None])
    try:
        yield
    finally:
        for m, inv in zip(convs, saved, strict=True):
            m.inverse = inv


def _onnx_modules() -> tuple[Any, Any]:
    try:
        import onnx
        import onnxruntime
    except ImportError:
        raise GenzooError("genzoo export needs onnx and onnxruntime: pip install 'genzoo[export]'") from None
    return onnx, onnxruntime


@dataclass
class ExportResult:
    path: Path
    model_type: str
    part: str
    inputs: list[str]
    max_abs_diff: float
    opset: int = OPSET

    def line(self) -> str:
        return (
            f"wrote {self.path} ({self.model_type} {self.part}, inputs {', '.join(self.inputs)}, opset {self.opset}); "
            f"onnxruntime vs PyTorch on random inputs: max abs difference {self.max_abs_diff:.2e} (tolerance {TOLERANCE:g})"
        )


def check_part(model: Any, part: str | None) -> str:
    """The part to export (``None``: the model's default), or one clear ExportError naming the
    model and the part."""
    have = parts_of(model)
    if part is None:
        if not have:
            raise ExportError(f"{caps.kind(model)} has no part to export (it neither decodes nor denoises)")
        return have[0]
    if part not in PARTS:
        raise ExportError(f"unknown part {part!r}; choose from {', '.join(PARTS)}")
    if part not in have:
        raise ExportError(
            f"{caps.kind(model)} has no {part} to export; its parts: {', '.join(have) or 'none'}"
        )
    return part


@torch.no_grad()
def export_model(model: Any, output: str | Path, part: str | None = None, *, seed: int = 0) -> ExportResult:
    """Write ``part`` of ``model`` (default: the first of ``parts_of``) to ``output`` as ONNX
    (opset ``OPSET``, dynamic batch) and check it with onnxruntime against PyTorch on random inputs."""
    _, ort = _onnx_modules()
    part = check_part(model, part)
    model = model.float().eval()
    module, inputs_of, names = part_module(model, part)
    module.eval()  # the exporter restores the wrapper's mode afterwards, and with it the model's
    g = torch.Generator().manual_seed(seed)
    example = inputs_of(2, g)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".part")
    try:
        # the exporter's tracer warnings are not for the user: the check below is what tells
        with _constant_inverses(model), contextlib.redirect_stdout(None), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module,
                tuple(example),
                str(tmp),
                input_names=names,
                output_names=["out"],
                dynamic_axes={n: {0: "batch"} for n in [*names, "out"]},
                opset_version=OPSET,
                dynamo=False,
            )
    except Exception as e:  # the exporter's many error types: one line naming what failed
        tmp.unlink(missing_ok=True)
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ExportError(
            f"cannot export {caps.kind(model)} {part} to ONNX (opset {OPSET}): {first}"
        ) from None
    check = inputs_of(3, g)  # another batch size: the batch axis is dynamic
    want = module(*check).float().numpy()
    sess = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
    feed = {i.name: t.numpy() for i, t in zip(sess.get_inputs(), check, strict=True)}
    got = sess.run(None, feed)[0]
    diff = float(abs(got - want).max()) if want.size else 0.0
    if not diff <= TOLERANCE:
        tmp.unlink(missing_ok=True)
        raise ExportError(
            f"{caps.kind(model)} {part}: onnxruntime differs from PyTorch by {diff:.3g} (> {TOLERANCE:g}); not written"
        )
    tmp.replace(output)
    return ExportResult(output, caps.kind(model), part, names, diff)


def export_run(
    run: str | Path, output: str | Path, part: str | None = None, which: str = "latest"
) -> ExportResult:
    """``genzoo export RUN -o model.onnx [--part P] [--which best]``."""
    import genzoo

    _onnx_modules()  # the missing extra is said before the model is loaded
    return export_model(genzoo.load(run, which=which), output, part)


__all__ = [
    "OPSET",
    "PARTS",
    "TOLERANCE",
    "ExportError",
    "ExportResult",
    "export_model",
    "export_run",
    "parts_of",
]
