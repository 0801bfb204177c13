"""What the process holds, as ``/metrics`` gauges: resident memory, open file descriptors,
sockets, asyncio tasks and live calls, plus the edge's refusal counts (``callport.edgelog``).

A soak run (``bench/bench_soak.py``) reads these every minute: flat is the target. Linux
``/proc`` is read when present; elsewhere the memory and descriptor gauges are left out.
"""

from __future__ import annotations

import asyncio
import os
import resource
from pathlib import Path

from callport.edgelog import EDGE

__all__ = ["process_lines"]

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _gauge(name: str, help_text: str, value: float) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {value:g}"]


def _rss_bytes() -> int | None:
    try:
        fields = Path("/proc/self/statm").read_text().split()
    except OSError:
        return None
    return int(fields[1]) * _PAGE


def _descriptors() -> tuple[int, int] | None:
    """(open descriptors, of which sockets)."""
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return None
    sockets = 0
    for name in names:
        try:
            if os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                sockets += 1
        except OSError:  # closed while we looked (the listing's own descriptor)
            continue
    return len(names), sockets


def process_lines(*, active_calls: int) -> list[str]:
    """The gauges and edge counters, Prometheus text lines (no trailing newline)."""
    lines: list[str] = []
    rss = _rss_bytes()
    if rss is not None:
        lines += _gauge("callport_process_resident_bytes", "Resident memory.", rss)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    lines += _gauge("callport_process_peak_resident_bytes", "Peak resident memory.", peak)
    fds = _descriptors()
    if fds is not None:
        lines += _gauge("callport_process_open_fds", "Open file descriptors.", fds[0])
        lines += _gauge("callport_process_sockets", "Open sockets.", fds[1])
    try:
        tasks = len(asyncio.all_tasks())
    except RuntimeError:  # no running loop
        tasks = 0
    lines += _gauge("callport_asyncio_tasks", "Live asyncio tasks.", tasks)
    lines += _gauge("callport_live_calls", "Calls the runtime is running now.", active_calls)
    lines += EDGE.render()
    return lines
