"""A caller waiting on node A is answered by an agent whose device is on node B: two queue
services sharing one real Redis (``RedisQueueState``), node B's relay door served over HTTP on
loopback (``server.queue_relay``), the audio crossing nodes through the authenticated relay
WebSocket, checked both ways by correlation. Plus the doors: an unsigned or wrongly signed
relay request is refused, and the caller keeps waiting."""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import uvicorn
from backend_servers import redis as redis_server
from starlette.applications import Starlette

sys.path.insert(0, str(Path(__file__).parents[1] / "queues"))
sys.path.insert(0, str(Path(__file__).parents[1] / "call"))

from queue_support import RATE, chirp, corr, make_call, queue, until

from callport.call.queueing import AgentAnswered
from callport.cli_queues import status_text
from callport.config_queues import QueuesSettings
from callport.queues.cluster import ClusterReach, QueueCluster, cluster_status
from callport.queues.model import status_json
from callport.queues.reach import FakeReach
from callport.queues.relay import RING_PATH, Link, sign
from callport.queues.service import QueueService
from callport.queues.shared import SharedStatus
from callport.queues.shared_redis import RedisQueueState
from callport.server.queue_relay import relay_routes
from callport.store.live_redis import connect

SECRET = "a node secret shared by the deployment"
_n = itertools.count()


@dataclass
class Node:
    name: str
    service: QueueService
    cluster: QueueCluster
    devices: FakeReach | None
    beat: asyncio.Task[None]


@dataclass
class Pair:
    a: Node
    b: Node
    url_b: str
    answered: list[tuple[str, str, str, float]]


async def _node(name: str, prefix: str, *, url: str, devices: FakeReach | None,
                secret: str, answered: list[tuple[str, str, str, float]]) -> Node:
    settings = QueuesSettings(named=(queue(ring_timeout_s=8.0),))

    async def members() -> list[tuple[str, tuple[str, ...]]]:  # one user store for both
        return [("alice", ("support",))]

    async def on_answered(call_id: str, q: str, agent: str, wait_s: float) -> None:
        answered.append((call_id, q, agent, wait_s))  # what the call record on A is told

    service = QueueService(settings=settings, reach=devices, agents=members,
                           on_answered=on_answered)
    cluster = QueueCluster(state=RedisQueueState(connect(redis_server()), prefix=prefix),
                           node=name, url=url, secret=secret, settings=settings,
                           beat_s=0.2, ttl_s=2.0)
    service.cluster = cluster
    service.reach = ClusterReach(cluster=cluster, local=devices)
    await service.refresh_agents()
    return Node(name, service, cluster, devices,
                asyncio.get_running_loop().create_task(cluster.run(service)))


@pytest.fixture
async def pair(request: pytest.FixtureRequest) -> AsyncIterator[Pair]:
    secret_a = getattr(request, "param", SECRET)  # what node A signs with
    prefix = f"tn{next(_n)}:"
    answered: list[tuple[str, str, str, float]] = []
    devices = FakeReach()
    devices.agent("alice")  # her page is open on node B
    holder: dict[str, QueueService] = {}
    app = Starlette(routes=relay_routes(secret=SECRET, reach=lambda: holder["b"].reach))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                           lifespan="off"))
    serving = asyncio.create_task(server.serve())
    await until(lambda: server.started)
    url_b = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    b = await _node("node-b", prefix, url=url_b, devices=devices, secret=SECRET,
                    answered=answered)
    holder["b"] = b.service
    a = await _node("node-a", prefix, url="http://127.0.0.1:9", devices=None, secret=secret_a,
                    answered=answered)
    await until(lambda: a.cluster.available("alice"))  # A sees her through the shared state
    yield Pair(a, b, url_b, answered)
    for node in (a, b):
        node.beat.cancel()
        await asyncio.gather(node.beat, return_exceptions=True)
        await node.service.close()
    server.should_exit = True
    await serving


async def test_a_caller_on_node_a_is_answered_by_an_agent_on_node_b(pair: Pair) -> None:
    a, b = pair.a, pair.b
    assert b.devices is not None
    call, leg = make_call("x1", caller="+15550142")
    waiting = asyncio.create_task(a.service.enqueue(call, "support"))
    person, agent_leg, offer = await asyncio.wait_for(b.devices.answered.get(), 15)
    assert (person.name, offer.call_id, offer.queue, offer.caller.caller) == (
        "alice", "x1", "support", "+15550142")
    await until(lambda: "x1" in a.service._connected, 10)
    seen = {x.name: x for x in await a.cluster.state.agents(now=time.time())}
    assert (seen["alice"].status, seen["alice"].call_id, seen["alice"].by,
            seen["alice"].node) == (SharedStatus.BUSY, "x1", "node-a", "node-b")
    assert await a.cluster.state.callers("support", now=time.time()) == []
    await asyncio.sleep(0.5)  # the hold music has handed over to the bridge
    # the caller (node A) speaks: alice (node B) hears it
    before = len(agent_leg.sent)
    voice = chirp(1.0, 400, 3000)
    await leg.speak(voice, RATE)
    await until(lambda: len(agent_leg.sent) - before >= 45, 10)
    assert corr(voice, np.concatenate(agent_leg.sent[before:])) > 0.9
    # alice speaks: the caller hears her
    before = len(leg.sent)
    reply = chirp(1.0, 3000, 300)
    await agent_leg.speak(reply, RATE)
    await until(lambda: len(leg.sent) - before >= 45, 10)
    assert corr(reply, np.concatenate(leg.sent[before:])) > 0.9
    # the record on A says who answered; the caller hangs up, alice's side ends on B
    assert [(c, q, who) for c, q, who, _ in pair.answered] == [("x1", "support", "alice")]
    leg.caller_hangup()
    outcome = await asyncio.wait_for(waiting, 10)
    assert isinstance(outcome, AgentAnswered) and outcome.agent == "alice"
    await until(lambda: agent_leg.hung_up_reason is not None, 10)

    async def free() -> bool:
        got = {x.name: x.status for x in await b.cluster.state.agents(now=time.time())}
        return got["alice"] is SharedStatus.AVAILABLE

    async with asyncio.timeout(10):
        while not await free():
            await asyncio.sleep(0.05)
    await call.session.close()


@pytest.mark.parametrize("pair", ["not the deployment's secret"], indirect=True)
async def test_a_node_with_the_wrong_secret_is_refused_and_the_caller_keeps_waiting(
        pair: Pair) -> None:
    a, b = pair.a, pair.b
    assert b.devices is not None
    reach = a.service.reach
    assert isinstance(reach, ClusterReach)
    tries: list[str] = []
    opener = reach._open

    async def counting(url: str, headers: dict[str, str]) -> Link:
        tries.append(url)
        return await opener(url, headers)

    reach._open = counting
    call, leg = make_call("x2")
    waiting = asyncio.create_task(a.service.enqueue(call, "support"))
    await until(lambda: len(tries) >= 1, 10)
    await asyncio.sleep(0.3)
    assert b.devices.agent("alice").offers == []  # never rung on B
    assert not waiting.done()  # still in line
    [support] = await cluster_status(a.service)  # queues status on A, across the nodes
    assert [(w.call_id, w.node, w.position) for w in support.waiting] == [("x2", "node-a", 1)]
    [alice] = support.agents
    assert (alice.name, alice.state, alice.online, alice.node) == (
        "alice", "available", True, "node-b")
    assert status_json((support,))["queues"][0]["agents"][0]["node"] == "node-b"
    text = status_text(status_json((support,)))  # callport queues status
    assert "waiting (node node-a)" in text and "agent alice        available, 0 calls, " \
        "node node-b" in text
    seen = {x.name: x.status for x in await b.cluster.state.agents(now=time.time())}
    assert seen["alice"] is SharedStatus.AVAILABLE  # the claim was released
    leg.caller_hangup()
    await asyncio.wait_for(waiting, 10)
    await call.session.close()


async def test_the_relay_door_refuses_unsigned_replayed_and_stale_requests(pair: Pair) -> None:
    from websockets.asyncio.client import connect as ws_connect
    from websockets.exceptions import InvalidStatus

    url = "ws" + pair.url_b[4:] + RING_PATH
    with pytest.raises(InvalidStatus) as refused:
        await ws_connect(url, proxy=None)
    assert refused.value.response.status_code == 403
    headers = sign(SECRET, path=RING_PATH, node="node-a", now=time.time())
    ws = await ws_connect(url, additional_headers=headers, proxy=None)  # a signed one is let in
    await ws.close()
    with pytest.raises(InvalidStatus):  # the same nonce again: a replay
        await ws_connect(url, additional_headers=headers, proxy=None)
    stale = sign(SECRET, path=RING_PATH, node="node-a", now=time.time() - 120)
    with pytest.raises(InvalidStatus):
        await ws_connect(url, additional_headers=stale, proxy=None)
    forged = {**sign(SECRET, path=RING_PATH, node="node-a", now=time.time()),
              "X-Callport-Node": "node-x"}  # the signature covers the node's name
    with pytest.raises(InvalidStatus):
        await ws_connect(url, additional_headers=forged, proxy=None)


def test_the_door_is_shut_on_a_node_without_a_secret() -> None:
    from starlette.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

    app = Starlette(routes=relay_routes(secret="", reach=lambda: None))
    signed = sign(SECRET, path=RING_PATH, node="node-a", now=time.time())
    with TestClient(app) as client, pytest.raises(WebSocketDisconnect) as shut, \
            client.websocket_connect(RING_PATH, headers=signed):
        pass
    assert shut.value.code == 1008  # refused before it was accepted (HTTP 403 on the wire)
