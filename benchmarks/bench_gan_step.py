"""Where a DCGAN training step spends its time: the TF tutorial's step beside genzoo's, alone.

One training step on a batch of 256 MNIST-sized images with the tutorial's networks: the
baseline's simultaneous update (benchmarks/baselines/tf_tutorial_dcgan.py) and genzoo ``dcgan``
with the same networks (bench_gan.TUTORIAL_ARCH) doing D's then G's step as the trainer does
(G(z) made once, in D's step). ``--rounds`` alternating rounds of ``--steps`` steps each, one
thread, fp32; then the operators that take the time (torch.profiler, 2 steps of each).

    python benchmarks/bench_gan_step.py --rounds 3 --steps 4
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from machine import cpu_model
from torch.profiler import profile

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baselines.tf_tutorial_dcgan import TutorialDiscriminator, TutorialGenerator, train_step  # noqa: E402
from bench_gan import TUTORIAL_ARCH  # noqa: E402

from genzoo import config as cfgio  # noqa: E402
from genzoo.registry import get_model_class  # noqa: E402

B = 256


def tutorial_step_fn():
    gen, disc = TutorialGenerator(), TutorialDiscriminator()
    g_opt, d_opt = torch.optim.Adam(gen.parameters(), lr=1e-4), torch.optim.Adam(disc.parameters(), lr=1e-4)
    x = torch.rand(B, 1, 28, 28) * 2 - 1

    def step() -> None:  # the baseline's own train_step
        train_step(gen, disc, g_opt, d_opt, x)

    return step


def genzoo_step_fn():
    cls = get_model_class("dcgan")
    model = cls(cfgio.from_dict(cls.config_class, TUTORIAL_ARCH), (1, 28, 28))
    opts = {p: torch.optim.AdamW(model.player_parameters(p), lr=1e-4) for p in model.players}
    x = torch.rand(B, 1, 28, 28)
    model.set_step(0)

    def step() -> None:  # the trainer's inner loop over the players, without logging
        for p in model.players_at(0):
            opts[p].zero_grad(set_to_none=True)
            model.loss((x, None), p).loss.backward()
            opts[p].step()

    return step


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=4)
    args = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    fns = {"tutorial": tutorial_step_fn(), "genzoo": genzoo_step_fn()}
    for f in fns.values():
        f()  # warm-up
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(args.rounds):
        for name, f in fns.items():
            t0 = time.perf_counter()
            for _ in range(args.steps):
                f()
            times[name].append((time.perf_counter() - t0) / args.steps)
    print(f"{cpu_model()}, 1 thread, fp32, batch {B}, {args.rounds} rounds x {args.steps} steps")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(
            f"{name:<9} {med:.3f} s/step  {B / med:.1f} images/s  (rounds: {', '.join(f'{t:.3f}' for t in ts)})"
        )
    ratio = statistics.median(times["tutorial"]) / statistics.median(times["genzoo"])
    print(f"genzoo / tutorial images/s: {ratio:.2f}x")
    for name, f in fns.items():
        with profile() as prof:
            for _ in range(2):
                f()
        print(f"\n{name}: top operators by self CPU time (2 steps)")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=6))


if __name__ == "__main__":
    main()
