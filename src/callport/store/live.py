"""Shared live state: spent one-time tokens, failure throttles, rate limits and which node
owns which call, behind small Protocols with an in-memory (one node) implementation here and a
Redis one (many nodes, ``server.redis``) in :mod:`callport.store.live_redis`.

Time is an argument (``now``, unix seconds from the caller's clock): TTLs, windows and node
liveness are computed from it, so the contract suite (tests/scale/test_scale_live.py) runs both
implementations in simulated time. Across nodes that means their clocks must agree (NTP), as
with any TTL-based liveness.

- ``SpentTokens.spend(nonce, expires=...)``: True the first time a token's nonce is spent,
  False ever after (until the token has expired, when it could not be replayed anyway).
- ``SharedThrottle``: after ``limit`` failures of a key within ``window_s``, it is blocked.
- ``SharedRateLimiter``: a token bucket per key (``rate_per_s`` refill, ``burst`` deep).
- ``CallOwners``: nodes ``heartbeat`` with a TTL; a call is ``claim``-ed by one node;
  ``orphaned`` lists the calls whose owner stopped beating (what the survivors close).
"""

from __future__ import annotations

import builtins
from collections import OrderedDict, deque
from typing import Protocol

ANSWER_WITHIN_S = 1.0
"""How long a request waits for the shared throttle or rate limiter before it counts them
unreachable (a Redis that accepts but hangs must not hang sign-in or the webhooks)."""


class SpentTokens(Protocol):
    async def spend(self, nonce: str, *, expires: float, now: float) -> bool:
        """Mark ``nonce`` spent until ``expires``; False when it already was."""
        ...


class SharedThrottle(Protocol):
    limit: int
    window_s: float

    async def blocked(self, key: str, *, now: float) -> bool: ...

    async def failed(self, key: str, *, now: float) -> None: ...

    async def reset(self, key: str) -> None: ...


class SharedRateLimiter(Protocol):
    rate_per_s: float
    burst: int

    async def allow(self, key: str, *, now: float) -> bool:
        """Take one token for ``key``; False (nothing taken) when its bucket is empty."""
        ...


class CallOwners(Protocol):
    async def heartbeat(self, node: str, *, ttl_s: float, now: float) -> None:
        """``node`` is alive until ``now + ttl_s`` (beat again before then)."""
        ...

    async def leave(self, node: str) -> None:
        """``node`` stops (drained): no longer alive; its calls are orphans at once."""
        ...

    async def alive(self, *, now: float) -> builtins.list[str]:
        """The live nodes, by name."""
        ...

    async def claim(self, call_id: str, node: str) -> bool:
        """Make ``node`` the owner of ``call_id``; False when another node owns it."""
        ...

    async def owner(self, call_id: str) -> str | None: ...

    async def release(self, call_id: str, node: str) -> bool:
        """The call ended on ``node``: forget it (False when ``node`` did not own it)."""
        ...

    async def calls_of(self, node: str) -> builtins.list[str]: ...

    async def orphaned(self, *, now: float) -> builtins.list[str]:
        """Calls whose owner is no longer alive, by id."""
        ...

    async def owners(self) -> dict[str, str]:
        """Every claimed call and its owner (one read: what a sweep decides from)."""
        ...


class MemorySpentTokens:
    """One node's spent nonces, each kept until its token expires; at most ``max_size``."""

    def __init__(self, *, max_size: int = 10_000) -> None:
        self.max_size = max_size
        self._spent: dict[str, float] = {}

    async def spend(self, nonce: str, *, expires: float, now: float) -> bool:
        exp = self._spent.get(nonce)
        if exp is not None and exp > now:
            return False
        if len(self._spent) >= self.max_size:
            self._spent = {n: e for n, e in self._spent.items() if e > now}
            if len(self._spent) >= self.max_size:
                return False  # refuse rather than forget a nonce that could then be replayed
        self._spent[nonce] = float(expires)
        return True


class MemoryThrottle:
    def __init__(self, *, limit: int = 5, window_s: float = 300.0, max_keys: int = 10_000) -> None:
        self.limit, self.window_s, self.max_keys = limit, window_s, max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _live(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key) or deque(maxlen=self.limit)
        while times and now - times[0] >= self.window_s:
            times.popleft()
        return times

    async def blocked(self, key: str, *, now: float) -> bool:
        return len(self._live(key, now)) >= self.limit

    async def failed(self, key: str, *, now: float) -> None:
        times = self._live(key, now)
        times.append(now)
        self._failures[key] = times
        self._failures.move_to_end(key)
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)

    async def reset(self, key: str) -> None:
        self._failures.pop(key, None)

    def __len__(self) -> int:
        return len(self._failures)


class MemoryRateLimiter:
    """A token bucket per key; the least recently used of more than ``max_keys`` is forgotten
    (it starts again full). ``rate_per_s`` 0 allows everything."""

    def __init__(self, *, rate_per_s: float, burst: int, max_keys: int = 10_000) -> None:
        self.rate_per_s, self.burst, self.max_keys = rate_per_s, burst, max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at

    async def allow(self, key: str, *, now: float) -> bool:
        if self.rate_per_s <= 0:
            return True
        tokens, at = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + max(0.0, now - at) * self.rate_per_s)
        allowed = tokens >= 1.0
        self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return allowed

    def __len__(self) -> int:
        return len(self._buckets)


class MemoryCallOwners:
    """Call ownership on one node (every call is this node's; useful as the default and as
    the reference the Redis implementation is tested against)."""

    def __init__(self) -> None:
        self._nodes: dict[str, float] = {}  # node -> alive until
        self._owners: dict[str, str] = {}  # call -> node

    async def heartbeat(self, node: str, *, ttl_s: float, now: float) -> None:
        self._nodes[node] = now + ttl_s

    async def leave(self, node: str) -> None:
        self._nodes.pop(node, None)

    async def alive(self, *, now: float) -> builtins.list[str]:
        return sorted(n for n, until in self._nodes.items() if until > now)

    async def claim(self, call_id: str, node: str) -> bool:
        return self._owners.setdefault(call_id, node) == node

    async def owner(self, call_id: str) -> str | None:
        return self._owners.get(call_id)

    async def release(self, call_id: str, node: str) -> bool:
        if self._owners.get(call_id) != node:
            return False
        del self._owners[call_id]
        return True

    async def calls_of(self, node: str) -> builtins.list[str]:
        return sorted(c for c, n in self._owners.items() if n == node)

    async def orphaned(self, *, now: float) -> builtins.list[str]:
        live = set(await self.alive(now=now))
        return sorted(c for c, n in self._owners.items() if n not in live)

    async def owners(self) -> dict[str, str]:
        return dict(self._owners)
