"""A small failure counter for sign-in attempts: per key, a window, and bounded memory. Pure.

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
