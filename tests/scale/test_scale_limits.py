"""The sign-in throttle and the anonymous per-address rate limit shared by two nodes on a real
Redis (``server.redis``): failures and a burst split over node A and node B count as one; each
node alone keeps its own in memory; a Redis that fails closes sign-in (503) and lets anonymous
requests through (counted, logged)."""

from __future__ import annotations

import itertools
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
from backend_servers import redis as redis_server

from callport.config import ServerSettings, Settings
from callport.config_limits import LimitSettings
from callport.edgelog import EDGE
from callport.server.app import create_app
from callport.server.bus_wiring import wire_redis
from callport.server.runtime import Runtime
from callport.store import live as live_state
from callport.store.calls import MemoryCallStore
from callport.store.memory_users import MemoryTokenStore, MemoryUserStore
from callport.store.tasks import MemoryTaskLists

_n = itertools.count()
BASE = "http://localhost:8080"  # a default allowed Host
JSON_ORIGIN = {"origin": BASE}
RIGHT, WRONG = "correct horse", "battery staple"


def node(name: str, url: str | None, prefix: str, users: MemoryUserStore,
         tokens: MemoryTokenStore, limits: LimitSettings) -> Runtime:
    """One node; the user and token stores are shared, as one database would be."""
    settings = Settings(server=ServerSettings(db=":memory:", node_id=name, redis=url or ""),
                        limits=limits)
    runtime = Runtime(settings=settings, calls=MemoryCallStore(), users=users, tokens=tokens,
                      tasks=MemoryTaskLists())
    if url is not None:
        wire_redis(runtime, url, prefix=prefix)
    return runtime


def client(runtime: Runtime, address: str = "203.0.113.7") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(runtime, channels=[]),
                                    client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url=BASE)


async def nodes(url: str | None, limits: LimitSettings | None = None
                ) -> tuple[Runtime, Runtime]:
    limits = limits or LimitSettings()
    users = MemoryUserStore()
    tokens = MemoryTokenStore(users=users)
    await users.add("alice", password=RIGHT, roles=("user",))
    prefix = f"limits{next(_n)}:"
    return (node("node-a", url, prefix, users, tokens, limits),
            node("node-b", url, prefix, users, tokens, limits))


async def sign_in(c: httpx.AsyncClient, password: str) -> int:
    r = await c.post("/login", json={"name": "alice", "password": password},
                     headers=JSON_ORIGIN)
    return r.status_code


async def close(*runtimes: Runtime) -> None:
    for runtime in runtimes:
        if runtime.bus is not None:
            await runtime.bus.client.aclose()


@pytest.fixture
async def shared() -> AsyncIterator[tuple[Runtime, Runtime]]:
    a, b = await nodes(redis_server())
    yield a, b
    await close(a, b)


async def test_failed_sign_ins_split_over_two_nodes_block_both(
        shared: tuple[Runtime, Runtime]) -> None:
    a, b = shared
    async with client(a) as on_a, client(b) as on_b:
        for i in range(5):  # 3 on A, 2 on B: five in the window
            assert await sign_in(on_a if i % 2 == 0 else on_b, WRONG) == 401
        assert await sign_in(on_b, RIGHT) == 429  # even the right password waits
        assert await sign_in(on_a, RIGHT) == 429
    async with client(a, "198.51.100.9") as elsewhere:  # the name is blocked too
        assert await sign_in(elsewhere, RIGHT) == 429
    await b.login_throttle.reset("name:alice")
    await b.login_throttle.reset("ip:203.0.113.7")
    async with client(a) as on_a:  # reset on B is seen by A
        assert await sign_in(on_a, RIGHT) == 200


async def test_without_redis_each_node_counts_alone() -> None:
    a, b = await nodes(None)
    async with client(a) as on_a, client(b) as on_b:
        for i in range(5):
            assert await sign_in(on_a if i % 2 == 0 else on_b, WRONG) == 401
        assert await sign_in(on_b, RIGHT) == 200  # B saw only 2 failures


async def test_a_burst_split_over_two_nodes_is_limited_as_one() -> None:
    a, b = await nodes(redis_server(), LimitSettings(rate_per_s=0.05, rate_burst=4))
    async with client(a) as on_a, client(b) as on_b, client(b, "198.51.100.9") as other:
        codes = [(await (on_a if i % 2 == 0 else on_b).get("/login")).status_code
                 for i in range(6)]
        assert codes[:4] == [200] * 4 and codes[4:] == [429, 429]  # burst 4, across both
        refused = await on_a.get("/login")
        assert refused.status_code == 429 and refused.headers["retry-after"] == "20"
        assert (await other.get("/login")).status_code == 200  # another address: its own
    await close(a, b)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_redis_that_fails_closes_sign_in_and_opens_the_rate_limit() -> None:
    a, _b = await nodes(f"redis://127.0.0.1:{_closed_port()}/0")
    before_open = EDGE.counts[("http", "rate-limit-unavailable")]
    before_closed = EDGE.counts[("http", "throttle-unavailable")]
    try:
        async with client(a) as on_a:
            page = await on_a.get("/login")  # anonymous, limiter unreachable: let through
            assert page.status_code == 200
            r = await on_a.post("/login", json={"name": "alice", "password": RIGHT},
                                headers=JSON_ORIGIN)
            assert r.status_code == 503 and "unavailable" in r.json()["error"]
            assert "set-cookie" not in r.headers  # not even the right password signs in
        assert EDGE.counts[("http", "rate-limit-unavailable")] >= before_open + 2
        assert EDGE.counts[("http", "throttle-unavailable")] == before_closed + 1
    finally:
        await close(a)


async def test_a_redis_that_hangs_is_as_good_as_down(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_state, "ANSWER_WITHIN_S", 0.3)
    with socket.socket() as silent:  # accepts (the backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        a, _b = await nodes(f"redis://127.0.0.1:{silent.getsockname()[1]}/0")
        try:
            async with client(a) as on_a:
                assert (await on_a.get("/login")).status_code == 200
                assert await sign_in(on_a, RIGHT) == 503
        finally:
            await close(a)
