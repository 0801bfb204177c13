"""Contract suite for the queue state that spans nodes (callport.queues.shared): waiting
callers with their node, agent states with theirs, the atomic claim and answer, losing a node;
on the in-memory implementation and on a real Redis (tests/scale/backend_servers.py), in
simulated time. On Redis each "node" is its own client connection."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import pytest
from backend_servers import redis as redis_server

from callport.queues.shared import (
    Claim,
    MemoryQueueState,
    QueueState,
    SharedStatus,
    WaitingCaller,
)
from callport.queues.shared_redis import RedisQueueState
from callport.store.live_redis import connect

T0 = 1_750_000_000.0
TTL = 10.0
_n = itertools.count()


@pytest.fixture(params=["memory", "redis"])
async def nodes(request: pytest.FixtureRequest) -> AsyncIterator[list[QueueState]]:
    """Three views of one shared state (nodes a, b, c)."""
    if request.param == "memory":
        state = MemoryQueueState()
        yield [state, state, state]
        return
    url, prefix = redis_server(), f"tq{next(_n)}:"
    clients = [connect(url) for _ in range(3)]
    yield [RedisQueueState(c, prefix=prefix) for c in clients]
    for c in clients:
        await c.aclose()


async def _up(state: QueueState, *names: str, now: float = T0) -> None:
    for name in names:
        await state.heartbeat(name, url=f"http://{name}.internal:8000", ttl_s=TTL, now=now)


def _caller(call_id: str, node: str, joined: float, *, priority: int = 0,
            queue: str = "support") -> WaitingCaller:
    return WaitingCaller(call_id=call_id, queue=queue, node=node, priority=priority,
                         joined_at=joined, caller=f"+1555{call_id}")


async def test_callers_on_every_node_are_in_one_order(nodes: list[QueueState]) -> None:
    a, b, _ = nodes
    await _up(a, "a", "b")
    await a.join(_caller("c1", "a", T0 + 1))
    await b.join(_caller("c2", "b", T0 + 2))
    await b.join(_caller("c3", "b", T0 + 3, priority=5))  # priority goes first
    await a.join(_caller("c4", "a", T0 + 4, queue="sales"))
    got = await b.callers("support", now=T0 + 5)
    assert [(c.call_id, c.node, c.priority, c.caller) for c in got] == [
        ("c3", "b", 5, "+1555c3"), ("c1", "a", 0, "+1555c1"), ("c2", "b", 0, "+1555c2")]
    assert got[1].joined_at == T0 + 1
    assert [await a.position(c, now=T0 + 5) for c in ("c3", "c1", "c2", "c4")] == [1, 2, 3, 1]
    await b.leave("c1")
    assert await a.position("c2", now=T0 + 5) == 2
    assert await a.position("c1", now=T0 + 5) is None
    assert await a.node_url("b", now=T0 + 5) == "http://b.internal:8000"
    assert await a.node_url("nobody", now=T0 + 5) is None


async def test_agent_states_and_presence(nodes: list[QueueState]) -> None:
    a, b, _ = nodes
    await _up(a, "a", "b")
    await b.agent_seen("alice", "b", away=False, ttl_s=TTL, now=T0)
    await b.agent_seen("bob", "b", away=True, ttl_s=TTL, now=T0)
    got = {x.name: (x.status, x.node) for x in await a.agents(now=T0 + 1)}
    assert got == {"alice": (SharedStatus.AVAILABLE, "b"), "bob": (SharedStatus.AWAY, "b")}
    # not seen again within the TTL: offline; the page closed: offline at once
    assert {x.name: x.status for x in await a.agents(now=T0 + TTL + 1)}["alice"] \
        is SharedStatus.OFFLINE
    await b.agent_unseen("bob", "a")  # another node's word does not count
    assert {x.name: x.status for x in await a.agents(now=T0 + 1)}["bob"] is SharedStatus.AWAY
    await b.agent_unseen("bob", "b")
    assert {x.name: x.status for x in await a.agents(now=T0 + 1)}["bob"] is SharedStatus.OFFLINE


async def test_claim_answer_and_wrap_up(nodes: list[QueueState]) -> None:
    a, b, _ = nodes
    await _up(a, "a", "b")
    await b.agent_seen("alice", "b", away=False, ttl_s=TTL, now=T0)
    await a.join(_caller("c1", "a", T0))
    await a.join(_caller("c2", "a", T0 + 1))
    assert await a.claim("nope", "alice", "a", now=T0 + 1) is Claim.GONE
    assert await a.claim("c1", "carol", "a", now=T0 + 1) is Claim.OFFLINE
    assert await a.claim("c1", "alice", "a", now=T0 + 1) is Claim.OK
    agent = (await b.agents(now=T0 + 1))[0]
    assert (agent.status, agent.call_id, agent.by) == (SharedStatus.RINGING, "c1", "a")
    assert (await b.callers("support", now=T0 + 1))[0].ringing == ("alice",)
    assert await a.claim("c2", "alice", "a", now=T0 + 1) is Claim.BUSY  # one ring at a time
    assert await a.answer("c1", "alice", "a", now=T0 + 2)
    assert not await a.answer("c1", "alice", "a", now=T0 + 2)  # only once
    assert [c.call_id for c in await b.callers("support", now=T0 + 2)] == ["c2"]
    agent = (await b.agents(now=T0 + 2))[0]
    assert (agent.status, agent.call_id) == (SharedStatus.BUSY, "c1")
    await a.ended("alice", wrap_up_s=5, now=T0 + 30)
    await _up(a, "a", "b", now=T0 + 30)
    await b.agent_seen("alice", "b", away=False, ttl_s=TTL, now=T0 + 30)
    assert (await b.agents(now=T0 + 31))[0].status is SharedStatus.WRAP_UP
    assert await a.claim("c2", "alice", "a", now=T0 + 31) is Claim.BUSY
    assert (await b.agents(now=T0 + 35.5))[0].status is SharedStatus.AVAILABLE
    await b.agent_seen("alice", "b", away=True, ttl_s=TTL, now=T0 + 35.5)
    assert await a.claim("c2", "alice", "a", now=T0 + 36) is Claim.AWAY


async def test_release_and_leave_free_the_agent(nodes: list[QueueState]) -> None:
    a, b, _ = nodes
    await _up(a, "a", "b")
    await b.agent_seen("alice", "b", away=False, ttl_s=TTL, now=T0)
    await b.agent_seen("bob", "b", away=False, ttl_s=TTL, now=T0)
    await a.join(_caller("c1", "a", T0))
    assert await a.claim("c1", "alice", "a", now=T0) is Claim.OK
    await a.release("c1", "alice")  # rang out
    assert (await b.agents(now=T0 + 1))[0].status is SharedStatus.AVAILABLE
    assert (await b.callers("support", now=T0 + 1))[0].ringing == ()
    assert await a.claim("c1", "alice", "a", now=T0 + 1) is Claim.OK
    assert await a.claim("c1", "bob", "a", now=T0 + 1) is Claim.OK  # ring-all: both ring
    await a.leave("c1")  # the caller hung up
    assert {x.status for x in await b.agents(now=T0 + 2)} == {SharedStatus.AVAILABLE}
    assert not await a.answer("c1", "alice", "a", now=T0 + 2)  # a late answer loses


async def test_ring_all_first_answer_wins_the_others_are_released(
        nodes: list[QueueState]) -> None:
    a, b, c = nodes
    await _up(a, "a", "b", "c")
    await b.agent_seen("alice", "b", away=False, ttl_s=TTL, now=T0)
    await c.agent_seen("bob", "c", away=False, ttl_s=TTL, now=T0)
    await a.join(_caller("c1", "a", T0))
    assert await a.claim("c1", "alice", "a", now=T0) is Claim.OK
    assert await a.claim("c1", "bob", "a", now=T0) is Claim.OK
    got = await asyncio.gather(a.answer("c1", "alice", "a", now=T0 + 1),
                               b.answer("c1", "bob", "a", now=T0 + 1))
    assert sorted(got) == [False, True]
    states = {x.name: x.status for x in await c.agents(now=T0 + 1)}
    assert sorted(states.values(), key=lambda s: s.value) == [
        SharedStatus.AVAILABLE, SharedStatus.BUSY]


async def test_two_nodes_claiming_one_agent_at_once_get_one_ring(
        nodes: list[QueueState]) -> None:
    a, b, c = nodes
    await _up(a, "a", "b", "c")
    await b.agent_seen("alice", "b", away=False, ttl_s=TTL, now=T0)
    await a.join(_caller("ca", "a", T0))
    await c.join(_caller("cc", "c", T0, queue="sales"))  # another queue: no order between
    for _ in range(10):
        got = await asyncio.gather(a.claim("ca", "alice", "a", now=T0 + 1),
                                   c.claim("cc", "alice", "c", now=T0 + 1))
        assert sorted(x.value for x in got) == ["busy", "ok"]
        await a.release("ca", "alice")
        await c.release("cc", "alice")


async def test_order_across_nodes_an_older_caller_elsewhere_goes_first(
        nodes: list[QueueState]) -> None:
    a, b, c = nodes
    await _up(a, "a", "b", "c")
    await b.agent_seen("alice", "b", away=False, ttl_s=TTL, now=T0)
    await c.join(_caller("old", "c", T0))
    await a.join(_caller("new", "a", T0 + 5))
    await a.join(_caller("newer", "a", T0 + 6))
    assert await a.claim("new", "alice", "a", now=T0 + 6) is Claim.AHEAD
    # the same node's own order is its engine's: "new" does not hold "newer" back
    assert await c.claim("old", "alice", "c", now=T0 + 6) is Claim.OK
    await c.release("old", "alice")  # she let it ring out: "old" had its chance with her
    assert await a.claim("newer", "alice", "a", now=T0 + 7) is Claim.OK


async def test_losing_a_node(nodes: list[QueueState]) -> None:
    a, b, c = nodes
    await _up(a, "a", "b", "c")
    await b.agent_seen("alice", "b", away=False, ttl_s=TTL, now=T0)
    await c.agent_seen("bob", "c", away=False, ttl_s=TTL, now=T0)
    await a.join(_caller("a1", "a", T0))
    await a.join(_caller("a2", "a", T0 + 1))
    await b.join(_caller("b1", "b", T0 + 2))
    await c.join(_caller("c1", "c", T0 + 3))
    assert await a.claim("a1", "alice", "a", now=T0 + 3) is Claim.OK
    assert await a.claim("a2", "bob", "a", now=T0 + 3) is Claim.OK
    assert await a.answer("a2", "bob", "a", now=T0 + 4)
    # node a is killed (stops beating); b and c go on
    await _up(b, "b", "c", now=T0 + 8)
    await b.agent_seen("alice", "b", away=False, ttl_s=TTL, now=T0 + 8)
    await c.agent_seen("bob", "c", away=False, ttl_s=TTL, now=T0 + 8)
    later = T0 + 12
    assert [x.call_id for x in await b.callers("support", now=later)] == ["b1", "c1"]
    assert await b.position("c1", now=later) == 2
    assert await c.sweep(now=later) == ["a1"]  # a2 was answered: no longer waiting
    assert await b.sweep(now=later) == []
    states = {x.name: x.status for x in await b.agents(now=later)}
    assert states == {"alice": SharedStatus.AVAILABLE, "bob": SharedStatus.AVAILABLE}
    # an agent whose node died goes offline with it
    await _up(b, "b", now=T0 + 16)
    await b.agent_seen("alice", "b", away=False, ttl_s=TTL, now=T0 + 16)
    await c.agent_seen("bob", "c", away=False, ttl_s=TTL, now=T0 + 16)  # c itself is gone
    assert {x.name: x.status for x in await b.agents(now=T0 + 19)} == {
        "alice": SharedStatus.AVAILABLE, "bob": SharedStatus.OFFLINE}
    await b.node_gone("b")  # drained: its callers are gone at once
    assert await c.callers("support", now=T0 + 19) == []


async def test_a_beat_sees_many_agents_at_once_and_positions_of_its_callers(
        nodes: list[QueueState]) -> None:
    a, b, _ = nodes
    await _up(a, "a", "b")
    await b.agents_seen({"alice": False, "bob": True}, "b", ttl_s=TTL, now=T0)
    await b.agents_seen({}, "b", ttl_s=TTL, now=T0)  # nobody online: nothing to say
    assert {x.name: (x.status, x.node) for x in await a.agents(now=T0 + 1)} == {
        "alice": (SharedStatus.AVAILABLE, "b"), "bob": (SharedStatus.AWAY, "b")}
    await b.join(_caller("b1", "b", T0 + 1))
    await a.join(_caller("a1", "a", T0 + 2))
    await a.join(_caller("a2", "a", T0 + 3, queue="sales"))
    assert await a.positions(["a1", "a2", "gone"], now=T0 + 4) == {"a1": 2, "a2": 1}
    assert await a.positions([], now=T0 + 4) == {}
    assert await a.sweep(now=T0 + 4) == []  # every node alive: nothing to look at
