"""Which number format the CPU runs fast: shared by training (autocast) and sampling.

``precision="auto"`` decides per model: bf16 autocast where the CPU does bf16 natively *and* the
model declares it (``GenerativeModel.bf16_default``, set per family from the measurement of
``benchmarks/bench_precision.py``), fp32 otherwise. ``choose_precision`` also says why.
"""

from __future__ import annotations

from dataclasses import dataclass


def native_bf16_kind() -> str | None:
    """'AMX' or 'AVX-512-BF16' where bf16 matrix maths is native on this CPU, else None."""
    import torch

    cpu = torch.cpu
    if getattr(cpu, "_is_amx_tile_supported", lambda: False)():
        return "AMX"
    if getattr(cpu, "_is_avx512_bf16_supported", lambda: False)():
        return "AVX-512-BF16"
    return None


def native_bf16() -> bool:
    """True where bf16 matrix maths is native on this CPU (AVX-512-BF16 or AMX tiles)."""
    return native_bf16_kind() is not None


def resolve_precision(precision: str) -> str:
    """'fp32' or 'bf16' for a precision setting ('auto' decided by the CPU alone; training asks
    ``choose_precision``, which also asks the model)."""
    if precision == "auto":
        return "bf16" if native_bf16() else "fp32"
    return precision


@dataclass(frozen=True)
class PrecisionChoice:
    precision: str  # "fp32" | "bf16"
    reason: str  # one line: what was chosen and why


def choose_precision(setting: str, model_declares_bf16: bool, model_name: str) -> PrecisionChoice:
    """The training precision for ``setting`` ('auto' | 'fp32' | 'bf16'): 'auto' is bf16 only where
    the CPU has native bf16 and the model (``model_name``, e.g. 'gan mlp') declares it."""
    if setting != "auto":
        return PrecisionChoice(setting, f"{setting}: set by precision={setting}")
    kind = native_bf16_kind()
    if not model_declares_bf16:
        return PrecisionChoice(
            "fp32", f"fp32: {model_name} gains nothing from bf16 (benchmarks/bench_precision.py)"
        )
    if kind is None:
        return PrecisionChoice("fp32", f"fp32: {model_name} declares bf16 but this CPU has no native bf16")
    return PrecisionChoice("bf16", f"bf16: native bf16 ({kind}) and {model_name} declares it")
