"""Call ownership acted on (``callport.server.ownership``) on a real Redis: a node claims the
calls it runs and releases them at the end; the records of a node whose heartbeat expired are
closed by exactly one survivor (cause ``node-lost``); a node restarting under its name closes
what its previous life left open (``crash``) and nothing of the other nodes'."""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from backend_servers import redis as redis_server
from starlette.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parents[1] / "call"))
sys.path.insert(0, str(Path(__file__).parents[1] / "server"))

from call_fakes import ToneTTS
from test_capacity import OWNER, make_runtime

from callport.call.memory import MemoryLeg
from callport.server.app import create_app
from callport.server.ownership import NODE_LOST, Ownership, lost_calls
from callport.store.calls import CallRecord, MemoryCallStore
from callport.store.live_redis import RedisCallOwners, connect
from callport.store.tasks import local_now
from callport.types import CallInfo

_n = itertools.count()


@pytest.fixture
async def owners() -> AsyncIterator[list[RedisCallOwners]]:
    """Four nodes' views (one Redis connection each) of one fresh key prefix."""
    url, prefix = redis_server(), f"own{next(_n)}:"
    clients = [connect(url) for _ in range(4)]
    yield [RedisCallOwners(c, prefix=prefix) for c in clients]
    for c in clients:
        await c.aclose()


async def open_record(calls: MemoryCallStore, call_id: str) -> None:
    await calls.create(CallRecord(call_id=call_id, channel="sip", direction="inbound",
                                  caller="+15550001", callee="+15550002",
                                  status="in-progress", started_at=local_now()))


def node(name: str, owners: RedisCallOwners, calls: MemoryCallStore, **kw: float
         ) -> Ownership:
    return Ownership(node=name, owners=owners, calls=calls, shared=True, ttl_s=3.0, **kw)


async def test_a_lost_nodes_calls_are_closed_once_by_the_survivors(
        owners: list[RedisCallOwners]) -> None:
    calls = MemoryCallStore()  # the shared database
    now = [time.time()]
    clock = lambda: now[0]  # noqa: E731
    lost = node("lost", owners[0], calls, clock=clock)
    survivors = [node(f"s{i}", owners[i], calls, clock=clock) for i in (1, 2, 3)]
    await lost.beat()
    for s in survivors:
        await s.beat()
    for i in range(6):
        await open_record(calls, f"lost-{i}")
        await lost.claim(f"lost-{i}")
    await open_record(calls, "live-1")
    await survivors[0].claim("live-1")
    assert await asyncio.gather(*(s.sweep() for s in survivors)) == [0, 0, 0]  # all alive
    now[0] += 2.0
    for s in survivors:  # the survivors beat on; the lost node does not
        await s.beat()
    now[0] += 2.0  # past the lost node's TTL, inside the survivors'
    closed = await asyncio.gather(*(s.sweep() for s in survivors))
    assert sum(closed) == 6  # each lost call closed exactly once, whoever won it
    for i in range(6):
        record = await calls.get(f"lost-{i}")
        assert record is not None and record.status == "ended"
        assert record.hangup_cause == NODE_LOST
        ended = [e for e in await calls.events(f"lost-{i}") if e.kind == "ended"]
        assert [e.detail for e in ended] == [NODE_LOST]
        assert await owners[1].owner(f"lost-{i}") is None
    assert await owners[0].calls_of("lost") == []
    live = await calls.get("live-1")  # a survivor's own call goes on untouched
    assert live is not None and live.status == "in-progress"
    assert await owners[2].owner("live-1") == "s1"
    assert await asyncio.gather(*(s.sweep() for s in survivors)) == [0, 0, 0]  # nothing twice
    await survivors[0].release("live-1")
    await calls.update_status("live-1", "ended", at=local_now())


async def test_a_restarted_node_closes_only_its_own_orphans(
        owners: list[RedisCallOwners]) -> None:
    calls = MemoryCallStore()
    first = node("a", owners[0], calls)
    other = node("b", owners[1], calls)
    await first.beat()
    await other.beat()
    await open_record(calls, "a-1")
    await first.claim("a-1")  # then node a dies (kill -9): nothing released
    await open_record(calls, "b-1")
    await other.claim("b-1")
    again = node("a", owners[2], calls)  # the same name, a fresh process
    await again.start()
    mine = await calls.get("a-1")
    assert mine is not None and mine.status == "ended" and mine.hangup_cause == "crash"
    assert await owners[0].calls_of("a") == []
    theirs = await calls.get("b-1")  # another node's live call: not ours to close
    assert theirs is not None and theirs.status == "in-progress"
    assert "a" in await owners[3].alive(now=time.time())  # rejoined
    await open_record(calls, "a-2")
    await again.claim("a-2")
    await again.stop()  # shutdown: only our calls, then we leave
    stopped = await calls.get("a-2")
    assert stopped is not None and stopped.hangup_cause == "shutdown"
    assert (await calls.get("b-1")).status == "in-progress"  # type: ignore[union-attr]
    assert "a" not in await owners[3].alive(now=time.time())
    await other.release("b-1")
    await calls.update_status("b-1", "ended", at=local_now())


async def test_the_runtime_claims_a_call_while_it_runs(owners: list[RedisCallOwners]) -> None:
    runtime = make_runtime(ToneTTS(), max_conversations=5)
    runtime.ownership = node("n1", owners[0], runtime.calls)  # type: ignore[arg-type]
    await runtime.ownership.beat()
    leg = MemoryLeg(call_id="c1", sample_rate=16000, codec="pcm")
    task = asyncio.create_task(runtime.run_call(
        leg, CallInfo(call_id="c1", channel="memory", user=OWNER)))
    for _ in range(500):
        if await owners[1].owner("c1") is not None:
            break
        await asyncio.sleep(0.01)
    assert await owners[1].owner("c1") == "n1" and await owners[1].calls_of("n1") == ["c1"]
    leg.caller_hangup()
    async with asyncio.timeout(10):
        await task
    assert await owners[1].owner("c1") is None and await owners[1].calls_of("n1") == []


def test_the_app_beats_and_scopes_its_start_and_stop_to_its_calls(
        owners: list[RedisCallOwners]) -> None:
    runtime = make_runtime(ToneTTS(), max_conversations=5)
    calls = runtime.calls
    assert isinstance(calls, MemoryCallStore)
    prefix = owners[0].prefix
    url = redis_server()

    async def setup() -> None:  # another node's live call, and one our previous life left
        theirs = node("other", RedisCallOwners(connect(url), prefix=prefix), calls)
        await theirs.beat()
        await open_record(calls, "theirs")
        await theirs.claim("theirs")
        await open_record(calls, "ours-old")
        await RedisCallOwners(connect(url), prefix=prefix).claim("ours-old", "me")

    asyncio.run(setup())
    app_owners = RedisCallOwners(connect(url), prefix=prefix)
    runtime.ownership = Ownership(node="me", owners=app_owners, calls=calls, shared=True,
                                  ttl_s=3.0)
    with TestClient(create_app(runtime, channels=[]), base_url="http://localhost"):
        time.sleep(0.1)
        old = asyncio.run(calls.get("ours-old"))
        assert old is not None and old.hangup_cause == "crash"
        assert asyncio.run(calls.get("theirs")).status == "in-progress"  # type: ignore[union-attr]
    assert asyncio.run(calls.get("theirs")).status == "in-progress"  # type: ignore[union-attr]
    asyncio.run(calls.update_status("theirs", "ended", at=local_now()))


def test_lost_calls_is_the_calls_of_nodes_not_alive_never_mine() -> None:
    owners = {"c1": "a", "c2": "b", "c3": "gone", "c4": "me", "c5": "gone"}
    assert lost_calls(owners, ["a", "b"], "me") == [("c3", "gone"), ("c5", "gone")]
    assert lost_calls(owners, ["a", "b", "gone", "me"], "me") == []
    assert lost_calls(owners, [], "me") == [("c1", "a"), ("c2", "b"), ("c3", "gone"),
                                            ("c5", "gone")]


async def test_a_sweep_remembers_the_calls_live_elsewhere(owners: list[RedisCallOwners]
                                                          ) -> None:
    from datetime import timedelta

    from callport.server.lifecycle import close_stale_calls

    calls = MemoryCallStore()
    me, other = node("me", owners[0], calls), node("other", owners[1], calls)
    await me.beat()
    await other.beat()
    await open_record(calls, "long-on-other")
    await other.claim("long-on-other")
    await me.sweep()
    assert me.elsewhere == {"long-on-other"}
    later = local_now() + timedelta(hours=5)  # past limits.stale_call_s: still live there
    assert await close_stale_calls(calls, live=me.elsewhere, older_than_s=4 * 3600,
                                   now=later) == 0
    record = await calls.get("long-on-other")
    assert record is not None and record.status == "in-progress"
    await other.release("long-on-other")
    await me.sweep()
    assert me.elsewhere == frozenset()
    assert await close_stale_calls(calls, live=me.elsewhere, older_than_s=4 * 3600,
                                   now=later) == 1
