"""What every benchmark prints beside its figures: a CPU yardstick and the machine."""

from __future__ import annotations

import os
import platform
import time


def cpu_reference_s() -> float:
    """Seconds for a fixed pure-Python loop: a yardstick to compare runs on VMs of varying speed."""
    t = time.perf_counter()
    total = 0
    for i in range(5_000_000):
        total += i
    assert total > 0
    return round(time.perf_counter() - t, 3)


def machine() -> str:
    return f"{platform.node()} {platform.machine()} {os.cpu_count()} cpu, Python {platform.python_version()}"
