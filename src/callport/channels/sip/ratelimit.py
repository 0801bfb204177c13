"""Per-source rate limits for SIP (pure: ``now`` in): a token bucket per source IP in a
bounded table.

``SourceLimiter.allow(ip, now)`` is asked once per message before it reaches the user agent;
False means drop it unanswered (an answer would be the amplification the limit is there to
stop). Each source gets ``burst`` messages at once and ``rate`` per second after that. The
table holds at most ``max_sources`` addresses: the least recently seen is forgotten first, so
a spoofed-source flood costs a bounded amount of memory (a forgotten source starts again
with a full bucket, which is as much as a new source gets anyway).
"""

from __future__ import annotations

from collections import OrderedDict


class SourceLimiter:
    def __init__(self, *, rate: float, burst: int, max_sources: int = 10_000) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.max_sources = max_sources
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # ip -> tokens, at
        self.dropped = 0

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def __len__(self) -> int:
        return len(self._buckets)

    def allow(self, ip: str, now: float) -> bool:
        if not self.enabled:
            return True
        tokens, at = self._buckets.pop(ip, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        ok = tokens >= 1.0
        if ok:
            tokens -= 1.0
        else:
            self.dropped += 1
        self._buckets[ip] = (tokens, now)  # most recent last
        while len(self._buckets) > self.max_sources:
            self._buckets.popitem(last=False)
        return ok
