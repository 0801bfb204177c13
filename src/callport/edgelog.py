"""Bad input at the edges: counted always, logged a few times, never one line per frame. Pure.

A peer sending junk frames must not be able to write our log for us: ``EdgeLog.report``
counts every event under a ``(channel, kind)`` key and says whether this one may be logged:
the first ``per_key`` of each key within ``window_s``, then nothing until the window turns
(the next allowed line says how many were suppressed). Keys are bounded (``max_keys``, the
oldest forgotten first). ``EDGE`` is the process's instance; ``/metrics`` renders its counts
as ``callport_edge_events_total{channel,kind}``.
"""

from __future__ import annotations

from collections import Counter, OrderedDict

__all__ = ["EDGE", "EdgeLog"]


class EdgeLog:
    def __init__(self, *, per_key: int = 5, window_s: float = 60.0, max_keys: int = 256) -> None:
        self.per_key = per_key
        self.window_s = window_s
        self.max_keys = max_keys
        self.counts: Counter[tuple[str, str]] = Counter()
        self._windows: OrderedDict[tuple[str, str], tuple[float, int, int]] = OrderedDict()

    def report(self, channel: str, kind: str, *, now: float) -> tuple[bool, int]:
        """Count one event; (may it be logged, how many were suppressed before it)."""
        key = (channel[:32], kind[:32])
        if key not in self.counts and len(self.counts) >= self.max_keys:
            key = (key[0], "other")
        self.counts[key] += 1
        start, logged, suppressed = self._windows.pop(key, (now, 0, 0))
        if now - start >= self.window_s:
            start, logged = now, 0
        allowed = logged < self.per_key
        told = suppressed if allowed else 0
        self._windows[key] = (start, logged + allowed, 0 if allowed else suppressed + 1)
        while len(self._windows) > self.max_keys:
            self._windows.popitem(last=False)
        return allowed, told

    def render(self, name: str = "callport_edge_events_total") -> list[str]:
        lines = [f"# HELP {name} Refused or malformed peer input at the HTTP/WebSocket edge.",
                 f"# TYPE {name} counter"]
        for (channel, kind), n in sorted(self.counts.items()):
            lines.append(f'{name}{{channel="{_label(channel)}",kind="{_label(kind)}"}} {n}')
        return lines


def _label(value: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in value)


EDGE = EdgeLog()
