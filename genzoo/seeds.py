"""Per-sample randomness: row i of a draw comes from seed i alone, so a sample never depends on the
batch it was drawn in (NVlabs/edm's StackedRandomGenerator). Shared by every family's ``sample``."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from genzoo.errors import ConfigError


class Noise:
    """Gaussian noise with one generator per sample: row i of every draw comes from seed i alone."""

    def __init__(self, seeds: Sequence[int], device: torch.device | str = "cpu") -> None:
        self.gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
        self.device = device

    def randn(self, *shape: int) -> torch.Tensor:
        """(B, *shape) standard normal, row i from generator i."""
        if not self.gens:
            return torch.empty(0, *shape, device=self.device)
        return torch.stack([torch.randn(shape, generator=g) for g in self.gens]).to(self.device)


def seeds_from(generator: torch.Generator | None, n: int) -> list[int]:
    """n per-sample seeds drawn from one generator (or from torch's global one)."""
    return torch.randint(0, 2**62, (n,), generator=generator).tolist()


def resolve_seeds(n: int, generator: torch.Generator | None, seeds: Sequence[int] | None) -> list[int]:
    """The n seeds of a sampling call: ``seeds`` as given (checked against n), else drawn from
    ``generator``; a ConfigError for a count that does not match."""
    if n < 0:
        raise ConfigError(f"the number of samples must be >= 0, got {n}")
    out = [int(s) for s in seeds] if seeds is not None else seeds_from(generator, n)
    if len(out) != n:
        raise ConfigError(f"{n} samples need {n} seeds, got {len(out)}")
    return out


def labels_from_seeds(seeds: Sequence[int], num_classes: int) -> torch.Tensor:
    """A class per sample, uniform over 0..K-1, drawn from a stream of its own seed kept apart from
    its noise (a hash of the seed), so a conditional model's sample with no label given still
    depends only on its seed: (n,) long."""
    return torch.tensor(
        [
            int(
                torch.randint(
                    num_classes, (1,), generator=torch.Generator().manual_seed((s * 2654435761 + 97) % 2**63)
                )
            )
            for s in seeds
        ],
        dtype=torch.long,
    )
