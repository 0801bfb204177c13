"""The shared live state of :mod:`callport.store.live` on Redis (``server.redis``,
``CALLPORT_REDIS=redis://...``; the optional ``redis`` extra: redis-py's asyncio client).

Keys (``prefix`` first, ``callport:`` by default, so nodes of one deployment share them):

- ``spent:{nonce}``: a spent one-time token, ``SET NX`` with a TTL to the token's expiry;
- ``throttle:{key}``: a sorted set of failure times (trimmed to the window, expiring with it);
- ``rate:{key}``: a token bucket (hash ``tokens``, ``at``), updated by one Lua script;
- ``nodes``: sorted set node -> alive-until; ``calls``: hash call -> owner node;
  ``node:{node}:calls``: that node's calls. ``claim`` and ``release`` are Lua scripts, so two
  nodes can never both own a call.

Every operation is one round trip (a script or a MULTI pipeline).
"""

from __future__ import annotations

import builtins
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis.asyncio import Redis

DEFAULT_PREFIX = "callport:"

_BUCKET = """
local burst = tonumber(ARGV[1]); local rate = tonumber(ARGV[2]); local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local allowed = 0
if tokens >= 1 then tokens = tokens - 1; allowed = 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return allowed
"""

_CLAIM = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('SADD', KEYS[2], ARGV[1]); return 1
end
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return 1 end
return 0
"""

_RELEASE = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1]); redis.call('SREM', KEYS[2], ARGV[1]); return 1
end
return 0
"""


def connect(url: str) -> Redis:
    """An asyncio Redis client for ``url`` (connections open on first use)."""
    try:
        from redis.asyncio import Redis
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError("server.redis is set but redis-py is not installed: "
                           "pip install 'callport[redis]'") from exc
    return Redis.from_url(url, decode_responses=True)


class RedisSpentTokens:
    def __init__(self, client: Redis, *, prefix: str = DEFAULT_PREFIX) -> None:
        self.client, self.prefix = client, prefix

    async def spend(self, nonce: str, *, expires: float, now: float) -> bool:
        ttl_ms = int((expires - now) * 1000)
        if ttl_ms <= 0:  # an expired token is refused by its signer; nothing to remember
            return True
        done = await self.client.set(f"{self.prefix}spent:{nonce}", "1", nx=True, px=ttl_ms)
        return bool(done)


class RedisThrottle:
    def __init__(self, client: Redis, *, limit: int = 5, window_s: float = 300.0,
                 prefix: str = DEFAULT_PREFIX) -> None:
        self.client, self.prefix = client, prefix
        self.limit, self.window_s = limit, window_s

    def _key(self, key: str) -> str:
        return f"{self.prefix}throttle:{key}"

    async def blocked(self, key: str, *, now: float) -> bool:
        count = await self.client.zcount(self._key(key), f"({now - self.window_s}", "+inf")
        return int(count) >= self.limit

    async def failed(self, key: str, *, now: float) -> None:
        name = self._key(key)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.zadd(name, {f"{now}:{uuid.uuid4().hex[:8]}": now})
            pipe.zremrangebyscore(name, "-inf", now - self.window_s)
            pipe.pexpire(name, int(self.window_s * 1000) + 1000)
            await pipe.execute()

    async def reset(self, key: str) -> None:
        await self.client.delete(self._key(key))


class RedisRateLimiter:
    def __init__(self, client: Redis, *, rate_per_s: float, burst: int,
                 prefix: str = DEFAULT_PREFIX) -> None:
        self.client, self.prefix = client, prefix
        self.rate_per_s, self.burst = rate_per_s, burst
        self._script = client.register_script(_BUCKET)

    async def allow(self, key: str, *, now: float) -> bool:
        if self.rate_per_s <= 0:
            return True
        got = await self._script(keys=[f"{self.prefix}rate:{key}"],
                                 args=[self.burst, self.rate_per_s, repr(now)])
        return int(got) == 1


class RedisCallOwners:
    def __init__(self, client: Redis, *, prefix: str = DEFAULT_PREFIX) -> None:
        self.client, self.prefix = client, prefix
        self._nodes, self._calls = f"{prefix}nodes", f"{prefix}calls"
        self._claim = client.register_script(_CLAIM)
        self._release = client.register_script(_RELEASE)

    def _of(self, node: str) -> str:
        return f"{self.prefix}node:{node}:calls"

    async def heartbeat(self, node: str, *, ttl_s: float, now: float) -> None:
        await self.client.zadd(self._nodes, {node: now + ttl_s})

    async def leave(self, node: str) -> None:
        await self.client.zrem(self._nodes, node)

    async def alive(self, *, now: float) -> builtins.list[str]:
        nodes = await self.client.zrangebyscore(self._nodes, f"({now}", "+inf")
        return sorted(str(n) for n in nodes)

    async def claim(self, call_id: str, node: str) -> bool:
        got = await self._claim(keys=[self._calls, self._of(node)], args=[call_id, node])
        return int(got) == 1

    async def owner(self, call_id: str) -> str | None:
        found = await self.client.hget(self._calls, call_id)
        return str(found) if found is not None else None

    async def release(self, call_id: str, node: str) -> bool:
        got = await self._release(keys=[self._calls, self._of(node)], args=[call_id, node])
        return int(got) == 1

    async def calls_of(self, node: str) -> builtins.list[str]:
        return sorted(str(c) for c in await self.client.smembers(self._of(node)))

    async def orphaned(self, *, now: float) -> builtins.list[str]:
        owners = await self.owners()
        live = set(await self.alive(now=now))
        return sorted(c for c, n in owners.items() if n not in live)

    async def owners(self) -> dict[str, str]:
        found: dict[Any, Any] = await self.client.hgetall(self._calls)
        return {str(c): str(n) for c, n in found.items()}


@dataclass(frozen=True, slots=True)
class RedisLive:
    """All the shared live state on one Redis client."""

    client: Redis
    spent: RedisSpentTokens
    owners: RedisCallOwners

    def throttle(self, *, limit: int, window_s: float, name: str = "login") -> RedisThrottle:
        return RedisThrottle(self.client, limit=limit, window_s=window_s,
                             prefix=f"{self.spent.prefix}{name}:")

    def rate_limiter(self, *, rate_per_s: float, burst: int,
                     name: str = "http") -> RedisRateLimiter:
        return RedisRateLimiter(self.client, rate_per_s=rate_per_s, burst=burst,
                                prefix=f"{self.spent.prefix}{name}:")

    async def close(self) -> None:
        await self.client.aclose()


def redis_live(url: str, *, prefix: str = DEFAULT_PREFIX) -> RedisLive:
    client = connect(url)
    return RedisLive(client, RedisSpentTokens(client, prefix=prefix),
                     RedisCallOwners(client, prefix=prefix))


def check_redis(url: str, *, timeout_s: float = 5.0) -> tuple[bool, str]:
    """``(ok, detail)`` for ``callport doctor``: does the server answer, which version?"""
    where = f"Redis {_redact(url)}"
    try:
        import redis
    except ImportError:
        return False, f"{where}: redis-py is not installed (pip install 'callport[redis]')"
    try:
        client = redis.Redis.from_url(url, socket_timeout=timeout_s,
                                      socket_connect_timeout=timeout_s)
        try:
            info: dict[str, Any] = client.info("server")
        finally:
            client.close()
    except redis.RedisError as exc:
        return False, f"{where}: {exc}"
    return True, f"{where} (server {info.get('redis_version', '?')})"


def _redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    auth, at, host = rest.rpartition("@")
    return f"{scheme}://***@{host}" if sep and at and auth else url
