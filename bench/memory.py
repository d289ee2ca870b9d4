"""A process's peak memory, as the benchmarks compare it."""

from __future__ import annotations

from pathlib import Path


def high_water_kib() -> int:
    """This process's resident high-water mark (VmHWM), in KiB. Not ``ru_maxrss``: Linux
    keeps that across fork and exec, so a child started by a large process reports its
    parent's figure (bench/scale.py's seeding parent made every export look flat)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")
