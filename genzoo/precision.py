"""Which number format the CPU runs fast: shared by training (autocast) and sampling."""

from __future__ import annotations


def native_bf16() -> bool:
    """True where bf16 matrix maths is native on this CPU (AVX-512-BF16 or AMX tiles)."""
    import torch

    cpu = torch.cpu
    return bool(
        getattr(cpu, "_is_avx512_bf16_supported", lambda: False)()
        or getattr(cpu, "_is_amx_tile_supported", lambda: False)()
    )


def resolve_precision(precision: str) -> str:
    """'fp32' or 'bf16' for a precision setting ('auto' decided by the CPU)."""
    if precision == "auto":
        return "bf16" if native_bf16() else "fp32"
    return precision
