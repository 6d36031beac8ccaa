"""What the benchmark reports say about the machine they ran on."""

from __future__ import annotations

import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or platform.processor())."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def stamp(threads: int, started: float) -> dict:
    """Where and when a benchmark row ran: threads, CPU, date, torch version, wall seconds since ``started``."""
    import datetime
    import time

    import torch

    return {
        "threads": threads,
        "machine": cpu_model(),
        "date": datetime.date.today().isoformat(),
        "torch": torch.__version__,
        "wall_seconds": round(time.time() - started, 1),
    }
