"""The process metrics, as the server serves them at ``/metrics``.

The definitions live on the ground floor in ``callport.metrics`` (the call core and the
channels count into them too); this module re-exports them for existing imports.
"""

from __future__ import annotations

from callport.metrics import (
    JITTER_BUCKETS,
    LATENCY_BUCKETS,
    LOSS_BUCKETS,
    RTT_BUCKETS,
    Counter,
    Gauge,
    Histogram,
    Metrics,
)

__all__ = [
    "JITTER_BUCKETS", "LATENCY_BUCKETS", "LOSS_BUCKETS", "RTT_BUCKETS", "Counter", "Gauge",
    "Histogram", "Metrics",
]
