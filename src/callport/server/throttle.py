"""A small failure counter for sign-in attempts (``Throttle``) and a per-address request
rate limiter (``RateLimiter``): per key, bounded memory. Pure.

After ``limit`` failures within ``window_s`` a key (a client address, a user name) is blocked
until the oldest of those failures leaves the window. At most ``max_keys`` keys are kept; the
least recently failed are forgotten first, so a flood of names cannot exhaust memory.
"""

from __future__ import annotations

from collections import OrderedDict, deque


class Throttle:
    def __init__(self, *, limit: int = 5, window_s: float = 300.0, max_keys: int = 10_000) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_keys = max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _live(self, key: str, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and now - times[0] >= self.window_s:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def blocked(self, key: str, *, now: float) -> bool:
        times = self._live(key, now)
        return times is not None and len(times) >= self.limit

    def failed(self, key: str, *, now: float) -> None:
        times = self._live(key, now)
        if times is None:
            times = self._failures[key] = deque(maxlen=self.limit)
        times.append(now)
        self._failures.move_to_end(key)
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)

    def reset(self, key: str) -> None:
        self._failures.pop(key, None)

    def __len__(self) -> int:
        return len(self._failures)


class RateLimiter:
    """A token bucket per key (a client address): ``rate_per_s`` refill, ``burst`` deep. Pure.

    At most ``max_keys`` buckets are kept; the least recently used is forgotten first (a
    forgotten key starts again with a full bucket, so a flood of addresses costs memory only
    up to the bound). ``rate_per_s`` 0 allows everything.
    """

    def __init__(self, *, rate_per_s: float, burst: int, max_keys: int = 10_000) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at

    def allow(self, key: str, *, now: float) -> bool:
        """Take one token for ``key``; False (and nothing taken) when its bucket is empty."""
        if self.rate_per_s <= 0:
            return True
        tokens, at = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + max(0.0, now - at) * self.rate_per_s)
        allowed = tokens >= 1.0
        self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return allowed

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` has a token again."""
        tokens, _ = self._buckets.get(key, (float(self.burst), 0.0))
        return max(0.0, (1.0 - tokens) / self.rate_per_s) if self.rate_per_s > 0 else 0.0

    def __len__(self) -> int:
        return len(self._buckets)
