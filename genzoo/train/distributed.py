"""Process-group setup for ``torchrun`` (gloo on CPU); one process when not launched by it."""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def setup() -> DistInfo:
    """Join the process group that torchrun describes through WORLD_SIZE/RANK/MASTER_ADDR."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group("gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size())


def all_mean(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Mean of t over processes (t itself when not distributed)."""
    if info.enabled:
        t = t.clone()
        dist.all_reduce(t)
        t /= info.world
    return t


def all_gather(t: torch.Tensor, info: DistInfo) -> list[torch.Tensor]:
    if not info.enabled:
        return [t]
    out = [torch.empty_like(t) for _ in range(info.world)]
    dist.all_gather(out, t)
    return out


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def any_flags(flags: list[bool], info: DistInfo) -> list[bool]:
    """Element-wise OR of boolean flags over processes, in one collective (so that every process
    takes the same decision at the same step)."""
    if not info.enabled:
        return flags
    t = torch.tensor([float(f) for f in flags])
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [bool(v > 0) for v in t.tolist()]


def teardown(together: bool = False) -> None:
    """Leave the process group (on success and on error). Without it gloo's threads can still be
    running when the interpreter exits, and a process may die with SIGABRT ("terminate called
    without an active exception") after its work is done. When every process gets here together
    (success, or a stop they agreed on) each first waits for the others (a barrier), so none tears
    its connections down while a peer still uses them: 2 of 3 CI runs on a 2-core AMD machine
    (2026-12-04) lost a worker to that SIGABRT at the end of a successful run without it, and one
    later run after a SIGTERM stop. Not on error: a peer stuck elsewhere would keep it waiting."""
    if dist.is_available() and dist.is_initialized():
        # free what still holds the group (a dropped DDP wrapper's reducer, in reference cycles)
        # now, while the interpreter is whole, so destroy_process_group really ends gloo's threads
        gc.collect()
        if together:
            dist.barrier()
        dist.destroy_process_group()
        gc.collect()
