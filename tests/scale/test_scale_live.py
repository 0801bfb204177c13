"""Contract suite for the shared live state (callport.store.live): spent tokens, throttles,
rate limits and call ownership, on the in-memory implementation and on a real Redis
(tests/scale/backend_servers.py), in simulated time (``now`` is an argument)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from backend_servers import redis as redis_server

from callport.store.live import (
    CallOwners,
    MemoryCallOwners,
    MemoryRateLimiter,
    MemorySpentTokens,
    MemoryThrottle,
    SharedRateLimiter,
    SharedThrottle,
    SpentTokens,
)
from callport.store.live_redis import (
    RedisCallOwners,
    RedisRateLimiter,
    RedisSpentTokens,
    RedisThrottle,
    check_redis,
    connect,
    redis_live,
)

T0 = 1_750_000_000.0
_n = itertools.count()


@dataclass
class Live:
    spent: SpentTokens
    owners: CallOwners
    throttle: SharedThrottle
    limiter: SharedRateLimiter
    nodes: list[CallOwners]  # the same state seen from other nodes (other clients)


@pytest.fixture(params=["memory", "redis"])
async def live(request: pytest.FixtureRequest) -> AsyncIterator[Live]:
    if request.param == "memory":
        owners = MemoryCallOwners()
        yield Live(MemorySpentTokens(), owners, MemoryThrottle(limit=3, window_s=60),
                   MemoryRateLimiter(rate_per_s=2, burst=4), [owners, owners])
        return
    url, prefix = redis_server(), f"t{next(_n)}:"
    clients = [connect(url) for _ in range(3)]  # three nodes, three connections
    a = clients[0]
    yield Live(RedisSpentTokens(a, prefix=prefix), RedisCallOwners(a, prefix=prefix),
               RedisThrottle(a, limit=3, window_s=60, prefix=prefix),
               RedisRateLimiter(a, rate_per_s=2, burst=4, prefix=prefix),
               [RedisCallOwners(c, prefix=prefix) for c in clients[1:]])
    for c in clients:
        await c.aclose()


async def test_a_token_is_spent_once(live: Live) -> None:
    assert await live.spent.spend("n1", expires=T0 + 30, now=T0)
    assert not await live.spent.spend("n1", expires=T0 + 30, now=T0 + 1)
    assert await live.spent.spend("n2", expires=T0 + 30, now=T0 + 1)


async def test_concurrent_spends_of_one_token_let_one_through(live: Live) -> None:
    got = await asyncio.gather(*(live.spent.spend("same", expires=T0 + 30, now=T0)
                                 for _ in range(20)))
    assert got.count(True) == 1


async def test_throttle_blocks_after_limit_failures_within_the_window(live: Live) -> None:
    t = live.throttle
    for i in range(2):
        await t.failed("alice", now=T0 + i)
    assert not await t.blocked("alice", now=T0 + 2)
    await t.failed("alice", now=T0 + 2)
    assert await t.blocked("alice", now=T0 + 3)
    assert not await t.blocked("bob", now=T0 + 3)
    assert not await t.blocked("alice", now=T0 + 60.5)  # the first failure left the window
    await t.reset("alice")
    assert not await t.blocked("alice", now=T0 + 3)


async def test_rate_limiter_is_a_token_bucket(live: Live) -> None:
    lim = live.limiter
    assert [await lim.allow("1.2.3.4", now=T0) for _ in range(5)] == [True] * 4 + [False]
    assert await lim.allow("5.6.7.8", now=T0)  # another key has its own bucket
    assert await lim.allow("1.2.3.4", now=T0 + 0.5)  # 2 per second: one token back
    assert not await lim.allow("1.2.3.4", now=T0 + 0.5)
    assert [await lim.allow("1.2.3.4", now=T0 + 100) for _ in range(5)] == [True] * 4 + [False]


async def test_one_node_owns_a_call(live: Live) -> None:
    a, b = live.owners, live.nodes[0]
    assert await a.claim("c1", "node-a")
    assert await a.claim("c1", "node-a")  # claiming again is fine
    assert not await b.claim("c1", "node-b")
    assert await b.owner("c1") == "node-a"
    assert await b.claim("c2", "node-b")
    assert await a.calls_of("node-a") == ["c1"] and await a.calls_of("node-b") == ["c2"]
    assert not await b.release("c1", "node-b")  # not its call
    assert await a.release("c1", "node-a")
    assert await b.owner("c1") is None and await a.calls_of("node-a") == []


async def test_concurrent_claims_give_a_call_one_owner(live: Live) -> None:
    nodes = [live.owners, *live.nodes]
    got = await asyncio.gather(*(n.claim("race", f"node-{i}") for i, n in enumerate(nodes)))
    assert got.count(True) == 1
    assert await live.owners.owner("race") == f"node-{got.index(True)}"


async def test_a_node_that_stops_beating_orphans_its_calls(live: Live) -> None:
    a, b = live.owners, live.nodes[0]
    await a.heartbeat("node-a", ttl_s=10, now=T0)
    await b.heartbeat("node-b", ttl_s=10, now=T0)
    await a.claim("ca", "node-a")
    await b.claim("cb", "node-b")
    assert await a.alive(now=T0 + 5) == ["node-a", "node-b"]
    assert await b.orphaned(now=T0 + 5) == []
    await b.heartbeat("node-b", ttl_s=10, now=T0 + 8)  # node-a is killed: no more beats
    assert await b.alive(now=T0 + 12) == ["node-b"]
    assert await b.orphaned(now=T0 + 12) == ["ca"]  # what node-b closes for node-a
    assert await a.owners() == await b.owners() == {"ca": "node-a", "cb": "node-b"}
    await b.leave("node-b")  # drained
    assert await a.orphaned(now=T0 + 12) == ["ca", "cb"]


async def test_redis_live_bundle_and_doctor_check() -> None:
    url = redis_server()
    ok, detail = check_redis(url)
    assert ok and detail.startswith("Redis redis://127.0.0.1:") and "(server " in detail
    assert not check_redis("redis://127.0.0.1:1/0", timeout_s=1)[0]
    live = redis_live(url, prefix=f"b{next(_n)}:")
    assert await live.spent.spend("x", expires=T0 + 5, now=T0)
    login = live.throttle(limit=1, window_s=60)
    await login.failed("alice", now=T0)
    assert await login.blocked("alice", now=T0)
    assert await live.rate_limiter(rate_per_s=1, burst=1).allow("ip", now=T0)
    await live.close()


def test_nodes_on_one_redis_refuse_a_call_token_spent_on_another(tmp_path: Path) -> None:
    from callport.channels.browser.tokens import TokenError, TokenSigner, spend_once
    from callport.config import load_settings
    from callport.server.runtime import build_runtime

    env = {"CALLPORT_REDIS": redis_server(), "CALLPORT_TURN_VAD": "webrtc"}
    a, b = (build_runtime(load_settings(None, env={**env, "CALLPORT_DB": str(tmp_path / n)}))
            for n in ("a.db", "b.db"))  # fmt: skip
    signer = TokenSigner(secret=b"k" * 32, ttl_s=30)
    token = signer.verify(signer.issue(session="s1", user="alice", origin="http://x", now=T0),
                          origin="http://x", now=T0)

    async def run() -> None:
        await spend_once(a.spent_tokens, token, now=T0 + 1)  # node a admits the call
        with pytest.raises(TokenError, match="already used"):
            await spend_once(b.spent_tokens, token, now=T0 + 2)  # the replay on node b
        assert await a.call_owners.claim("c1", "node-a")
        assert await b.call_owners.owner("c1") == "node-a"

    asyncio.run(run())
    from callport.channels.browser.channel import BrowserChannel

    assert BrowserChannel(runtime=a)._spent is a.spent_tokens  # what /browser/ws spends in
