"""The process heap of a real-time server: the startup heap out of the collector's way.

Python's cyclic garbage collector stops the thread that triggers it, and with it the event
loop and every call's frames. A full (generation 2) collection scans every tracked object,
and almost all of them were made at start (modules, the app, the models' Python side): under
100 SIP calls, full collections of 46-50 ms delayed every call's frames by as much (added
latency p99 45-63 ms; bench/README.md, "Garbage collection pauses"). ``freeze_startup`` moves
what exists once the server is loaded into the permanent generation (``gc.freeze``), so a
full collection scans only what calls made since; it runs once, just before serving.

``GcPauses`` observes every collection's pause into ``callport_gc_pause_seconds`` in
``/metrics`` (a ``gc.callbacks`` hook: collections in any thread, each a stall of the loop
while the interpreter lock is held), and ``callport_gc_frozen_objects`` says how many
objects the freeze took out of the collector's sight.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from callport.metrics import Metrics

__all__ = ["GcPauses", "freeze_startup"]


def freeze_startup() -> int:
    """Collect once, then freeze every object left (never collected again): call it when
    the server is loaded, before it serves. Returns the number of objects frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


class GcPauses:
    """Observes each garbage collection's duration into ``metrics`` while installed."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._started = 0.0

    def __enter__(self) -> GcPauses:
        self._metrics.gc_frozen_objects.value = gc.get_freeze_count()
        gc.callbacks.append(self._on_gc)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self._started:
            self._metrics.gc_pause_seconds.observe(time.perf_counter() - self._started)
            self._started = 0.0
