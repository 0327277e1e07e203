"""Peak memory of the current process, as every benchmark reports it.

`getrusage(RUSAGE_SELF).ru_maxrss` is not the process's own peak on Linux: the kernel carries the
high-water mark across `execve` (`signal_struct.maxrss`), so a benchmark started from a large process
(`python -m bench` after the classification run) reported its parent's peak. `VmHWM` in
`/proc/self/status` is the high-water mark of this process's own address space, which starts afresh at
`execve` (proc(5)). Where there is no /proc (macOS), ru_maxrss is the best there is.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

STATUS = Path("/proc/self/status")


def peak_rss_mb() -> float:
    """The highest resident memory this process has had, in MiB."""
    if STATUS.exists():
        for line in STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def current_rss_mb() -> float:
    """The process's resident memory now, in MiB (Linux)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20
