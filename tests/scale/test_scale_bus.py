"""The bus across nodes on a real Redis: envelopes validated (a bad message is dropped and
counted, never a crash), one EventHub contract for MemoryHub and RedisHub, a call on node A in
node B's console stream, and console commands for A's call sent from B carried out on A
(404 for a call no node runs, 409 for a lost or unreachable owner)."""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from backend_servers import redis as redis_server

sys.path.insert(0, str(Path(__file__).parents[1] / "call"))

from call_fakes import EchoTextAgent, EnergyVad, ScriptedSTT, ToneTTS

from callport.bus.envelopes import BadMessage, Command, EventMessage, Reply, decode, encode
from callport.bus.redis_bus import RedisBus
from callport.call.memory import MemoryLeg
from callport.config import ServerSettings, Settings
from callport.server.app import create_app
from callport.server.bus_wiring import wire_redis
from callport.server.events import (
    CallEnded,
    CallStarted,
    EventHub,
    LiveEvent,
    MemoryHub,
    StateChanged,
    TurnHeard,
    TurnSaid,
    TurnTimed,
    event_json,
)
from callport.server.events_redis import RedisHub, decode_event
from callport.server.runtime import Runtime
from callport.store.calls import MemoryCallStore
from callport.store.live_redis import connect
from callport.store.memory_users import MemoryTokenStore, MemoryUserStore
from callport.store.tasks import MemoryTaskLists
from callport.types import CallInfo, User

_n = itertools.count()
OWNER = User(name="owner")


# -- envelopes (sans-IO) -------------------------------------------------------------------


def test_envelopes_round_trip() -> None:
    for message in (
        EventMessage(node="a", event={"type": "CallEnded", "call_id": "c1"}),
        Command(id="0123456789abcdef", node="a", call_id="c1", action="transfer",
                args={"target": "tel:+15550001"}),
        Reply(id="0123456789abcdef", node="b", ok=False, status=409, error="no",
              data={"node": "b"}),
    ):
        assert decode(encode(message)) == message


@pytest.mark.parametrize("raw", [
    "", "nope", "[]", '{"kind": "event"}', '{"kind": "event", "node": "a", "event": 1}',
    '{"kind": "event", "node": "a b", "event": {"call_id": "c"}}',
    '{"kind": "command", "node": "a", "id": "0123456789", "call_id": "c", "action": "rm"}',
    '{"kind": "command", "node": "a", "id": "short", "call_id": "c", "action": "hangup"}',
    '{"kind": "command", "node": "a", "id": "0123456789", "call_id": "", "action": "hangup"}',
    '{"kind": "command", "node": "a", "id": "0123456789", "call_id": "c", "action": "hangup",'
    ' "args": {"x": 1}}',
    '{"kind": "reply", "node": "a", "id": "0123456789", "ok": "yes"}',
    '{"kind": "reply", "node": "a", "id": "0123456789", "ok": true, "status": 99}',
    '{"kind": "other", "node": "a"}', "[" * 100, '{"kind": "event", "x": "' + "a" * 70000 + '"}',
])
def test_bad_envelopes_are_refused(raw: str) -> None:
    with pytest.raises(BadMessage):
        decode(raw)


def test_events_decode_from_their_json_and_nothing_else() -> None:
    events: list[LiveEvent] = [
        CallStarted(call_id="c", channel="sip", caller="+1555", user="ann"),
        StateChanged(call_id="c", state="thinking"), TurnHeard(call_id="c", text="hi"),
        TurnSaid(call_id="c", text="hello"), CallEnded(call_id="c", cause="bye"),
        TurnTimed(call_id="c", index=1, endpoint_ms=1.0, stt_ms=2, agent_ms=3.5, tts_ms=4.0,
                  first_audio_ms=None)]
    for event in events:
        back = decode_event(json.loads(json.dumps(event_json(event))), node="n2")
        assert back is not None and back.node == "n2"
        assert event_json(back) == {**event_json(event), "node": "n2"}
    for bad in ({"type": "Nope", "call_id": "c"}, {"type": "CallEnded"},
                {"type": "CallEnded", "call_id": 5}, {"type": "TurnHeard", "call_id": "c"},
                {"type": "TurnHeard", "call_id": "c", "text": "x", "partial": "no"},
                {"type": "TurnTimed", "call_id": "c", "index": True, "endpoint_ms": 1,
                 "stt_ms": 1, "agent_ms": 1, "tts_ms": 1, "first_audio_ms": None},
                {"type": "TurnSaid", "call_id": "c", "text": "x" * 5000}):
        assert decode_event(bad, node="n2") is None


# -- one EventHub contract ---------------------------------------------------------------


@dataclass
class Hubs:
    publisher: EventHub
    subscriber: EventHub  # the same hub (memory), or another node's (Redis)
    node: str  # what a heard event's node is


@pytest.fixture(params=["memory", "redis"])
async def hubs(request: pytest.FixtureRequest) -> AsyncIterator[Hubs]:
    if request.param == "memory":
        hub = MemoryHub(queue_size=5)
        yield Hubs(hub, hub, "")
        return
    url, prefix = redis_server(), f"bus{next(_n)}:"
    made = []
    for name in ("a", "b"):
        bus = RedisBus(connect(url), node=name, prefix=prefix)
        hub = RedisHub(bus, node=name, queue_size=5)
        hub.start()
        await bus.start(on_event=hub.on_bus_event, on_command=_refuse)
        made.append((bus, hub))
    yield Hubs(made[0][1], made[1][1], "a")
    for bus, hub in made:
        await bus.close()
        await hub.close()
        await bus.client.aclose()


async def _refuse(command: Command) -> Reply:
    return Reply(id=command.id, node="x", ok=False, status=404, error="none here")


async def test_a_subscriber_hears_what_is_published_in_order(hubs: Hubs) -> None:
    sub = hubs.subscriber.subscribe()
    for i in range(3):
        hubs.publisher.publish(TurnHeard(call_id="c1", text=f"word {i}"))
    got = [await sub.next(timeout=5) for _ in range(3)]
    assert [getattr(e, "text", None) for e in got] == ["word 0", "word 1", "word 2"]
    assert all(e is not None and e.node == hubs.node for e in got)
    assert await sub.next(timeout=0.2) is None
    sub.close()


async def test_accept_filters_and_a_slow_subscriber_loses_the_oldest(hubs: Hubs) -> None:
    only_c2 = hubs.subscriber.subscribe(lambda e: e.call_id == "c2")
    for i in range(8):
        hubs.publisher.publish(TurnSaid(call_id="c2" if i % 2 else "c1", text=str(i)))
    hubs.publisher.publish(CallEnded(call_id="c2", cause="done"))
    await asyncio.sleep(0.5)  # across Redis: let them arrive (queue of 5)
    heard = []
    while (e := await only_c2.next(timeout=0.3)) is not None:
        heard.append(e)
    assert all(e.call_id == "c2" for e in heard) and len(heard) == 5
    assert isinstance(heard[-1], CallEnded) and only_c2.dropped == 0
    everything = hubs.subscriber.subscribe()
    for i in range(8):
        hubs.publisher.publish(TurnSaid(call_id="c3", text=str(i)))
    await asyncio.sleep(0.5)
    kept = []
    while (e := await everything.next(timeout=0.3)) is not None:
        kept.append(getattr(e, "text", ""))
    assert kept == ["3", "4", "5", "6", "7"] and everything.dropped == 3
    only_c2.close()
    everything.close()


async def test_bad_messages_on_the_bus_are_dropped_and_counted() -> None:
    url, prefix = redis_server(), f"bad{next(_n)}:"
    bus = RedisBus(connect(url), node="b", prefix=prefix)
    hub = RedisHub(bus, node="b")
    hub.start()
    await bus.start(on_event=hub.on_bus_event, on_command=_refuse)
    sub = hub.subscribe()
    raw = connect(url)
    for junk in ("", "{", '{"kind": "command"}', "[" * 50,
                 encode(EventMessage(node="a", event={"type": "Nope", "call_id": "c"}))):
        await raw.publish(bus.events_channel, junk)
        await raw.publish(bus.node_channel("b"), junk)
    await raw.publish(bus.node_channel("b"), encode(  # a reply nobody waits for
        Reply(id="0123456789abcdef", node="a", ok=True)))
    await raw.publish(bus.events_channel, encode(EventMessage(
        node="a", event=event_json(TurnSaid(call_id="c9", text="still here")))))
    event = await sub.next(timeout=5)
    assert isinstance(event, TurnSaid) and event.text == "still here" and event.node == "a"
    # 4 x 2 junk, an event on the command channel, a reply nobody waits for
    assert bus.dropped == 10 and hub.bad_events == 1
    sub.close()
    await bus.close()
    await hub.close()
    await raw.aclose()
    await bus.client.aclose()


# -- two nodes -----------------------------------------------------------------------------


@dataclass
class Node:
    runtime: Runtime
    base: str
    server: uvicorn.Server
    task: asyncio.Task[None]


def node_runtime(name: str, url: str, prefix: str) -> Runtime:
    settings = Settings(server=ServerSettings(db=":memory:", node_id=name, redis=url,
                                              node_ttl_s=3.0, max_conversations=10))
    users = MemoryUserStore()
    runtime = Runtime(settings=settings, calls=MemoryCallStore(), users=users,
                      tokens=MemoryTokenStore(users=users), tasks=MemoryTaskLists(),
                      stt=ScriptedSTT(["hello"]), tts=ToneTTS(), vad=EnergyVad(),
                      agent_factory=lambda info: EchoTextAgent())
    wire_redis(runtime, url, prefix=prefix)
    return runtime


async def serve_node(runtime: Runtime) -> Node:
    config = uvicorn.Config(create_app(runtime, channels=[]), host="127.0.0.1", port=0,
                            log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return Node(runtime, f"http://127.0.0.1:{port}", server, task)


@pytest.fixture
async def two() -> AsyncIterator[tuple[Node, Node]]:
    url, prefix = redis_server(), f"two{next(_n)}:"
    a = await serve_node(node_runtime("node-a", url, prefix))
    b = await serve_node(node_runtime("node-b", url, prefix))
    yield a, b
    for n in (a, b):
        n.server.should_exit = True
        await n.task
        if n.runtime.bus is not None:
            await n.runtime.bus.client.aclose()


async def admin_token(runtime: Runtime, name: str = "ann", roles: tuple[str, ...] = ("admin",)
                      ) -> dict[str, str]:
    await runtime.users.add(name, roles=roles)
    issued = await runtime.tokens.create(name, kind="api", now=time.time())
    return {"authorization": f"Bearer {issued.secret}"}


async def start_call(runtime: Runtime, call_id: str) -> tuple[MemoryLeg, asyncio.Task[object]]:
    leg = MemoryLeg(call_id=call_id, sample_rate=16000, codec="pcm")
    task: asyncio.Task[object] = asyncio.create_task(runtime.run_call(
        leg, CallInfo(call_id=call_id, channel="memory", caller="+15550100", user=OWNER)))
    return leg, task


async def until(what: str, check: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.02)


async def test_a_call_on_node_a_shows_in_node_bs_console_stream(two: tuple[Node, Node]) -> None:
    a, b = two
    auth = await admin_token(b.runtime)
    seen: list[dict[str, object]] = []
    async with httpx.AsyncClient(base_url=b.base, timeout=15) as http:
        async with http.stream("GET", "/api/console/events", headers=auth) as stream:
            assert stream.status_code == 200
            lines = stream.aiter_lines()
            assert (await anext(lines)).startswith("event: snapshot")
            leg, call = await start_call(a.runtime, "call-on-a")
            kind = ""
            async with asyncio.timeout(15):
                async for line in lines:
                    if line.startswith("event: "):
                        kind = line[7:]
                    elif line.startswith("data: "):
                        data = json.loads(line[6:])
                        seen.append({"kind": kind, **data})
                        if kind == "call" and data.get("type") == "CallStarted":
                            break
        started = seen[-1]
        assert started["call_id"] == "call-on-a" and started["node"] == "node-a"
        live = (await http.get("/api/console/live", headers=auth)).json()["calls"]
        assert [(c["call_id"], c["node"], c["caller"]) for c in live] == [
            ("call-on-a", "node-a", "+15550100")]
        leg.caller_hangup()
        async with asyncio.timeout(10):
            await call
        await until("the end reached node b", lambda: len(b.runtime.events.remote) == 0)  # type: ignore[attr-defined]
        assert (await http.get("/api/console/live", headers=auth)).json()["calls"] == []


async def test_commands_from_node_b_are_carried_out_on_node_a(two: tuple[Node, Node]) -> None:
    a, b = two
    auth = await admin_token(b.runtime)
    user = await admin_token(b.runtime, "bob", ("agent",))
    leg, call = await start_call(a.runtime, "c-a")
    await until("node a claims it", lambda: "c-a" in a.runtime.active)
    async with httpx.AsyncClient(base_url=b.base, timeout=15) as http:
        url = "/api/console/calls/c-a"
        assert (await http.post(f"{url}/hangup", json={})).status_code == 401
        assert (await http.post(f"{url}/hangup", json={}, headers=user)).status_code == 403
        held = await http.post(f"{url}/hold", json={}, headers=auth)
        assert held.status_code == 200, held.text
        assert held.json() == {"ok": True, "line_held": True, "node": "node-a"}
        await until("held on node a", lambda: leg.held)
        back = await http.post(f"{url}/resume", json={}, headers=auth)
        assert back.status_code == 200 and back.json()["node"] == "node-a"
        bad = await http.post(f"{url}/transfer", json={"target": "nowhere"}, headers=auth)
        assert bad.status_code == 400 and bad.json()["node"] == "node-a"
        moved = await http.post(f"{url}/transfer", json={"target": "+15550199"}, headers=auth)
        assert moved.status_code == 200 and moved.json()["target"] == "tel:+15550199"
        assert leg.transfers == ["tel:+15550199"]  # a memory leg ends once transferred
        async with asyncio.timeout(10):
            await call
        leg2, call2 = await start_call(a.runtime, "c-a2")
        await until("node a runs it", lambda: "c-a2" in a.runtime.active)
        gone = await http.post("/api/console/calls/c-a2/hangup", json={}, headers=auth)
        assert gone.status_code == 200 and gone.json() == {"ok": True, "node": "node-a"}
        async with asyncio.timeout(10):
            await call2
        assert leg2.hung_up_reason == "console"
        again = await http.post("/api/console/calls/c-a2/hangup", json={}, headers=auth)
        assert again.status_code == 404, again.text  # ended: no node owns it
        assert (await http.post("/api/console/calls/never/hangup", json={}, headers=auth)
                ).status_code == 404


async def test_a_lost_or_unreachable_owner_is_a_clear_409(two: tuple[Node, Node]) -> None:
    a, b = two
    auth = await admin_token(b.runtime)
    owners = b.runtime.call_owners
    await owners.heartbeat("ghost", ttl_s=0.2, now=time.time())  # then it stops beating
    await owners.claim("c-ghost", "ghost")
    await owners.heartbeat("mute", ttl_s=60, now=time.time())  # alive, but not on the bus
    await owners.claim("c-mute", "mute")
    await asyncio.sleep(0.3)
    async with httpx.AsyncClient(base_url=b.base, timeout=15) as http:
        lost = await http.post("/api/console/calls/c-ghost/hangup", json={}, headers=auth)
        assert lost.status_code == 409 and "ghost" in lost.json()["error"]
        assert "lost" in lost.json()["error"]
        mute = await http.post("/api/console/calls/c-mute/hangup", json={}, headers=auth)
        assert mute.status_code == 409 and "not on the bus" in mute.json()["error"]
    await owners.release("c-mute", "mute")
    await owners.leave("mute")
    assert a.runtime.bus is not None and a.runtime.bus.dropped == 0
    async with httpx.AsyncClient(base_url=a.base, timeout=15) as http:
        text = (await http.get("/metrics", headers=await admin_token(a.runtime))).text
    assert "callport_bus_dropped_total 0" in text and "callport_bus_unsent_total 0" in text
    assert 'callport_node_info{node="node-a"} 1' in text


class _DeadBus:
    """A bus whose Redis connection is gone: every request fails."""

    async def request(self, node: str, call_id: str, action: str,
                      args: dict[str, str] | None = None) -> Reply:
        raise ConnectionError("Redis went away")


async def test_a_bus_that_fails_is_a_503_and_bad_actions_404() -> None:
    from callport.server.commands import route
    from callport.store.live import MemoryCallOwners

    runtime = node_runtime("node-c", redis_server(), f"dead{next(_n)}:")
    runtime.call_owners = MemoryCallOwners()
    await runtime.call_owners.heartbeat("node-d", ttl_s=60, now=time.time())
    await runtime.call_owners.claim("c-d", "node-d")
    runtime.bus = _DeadBus()  # type: ignore[assignment]
    status, body = await route(runtime, "c-d", "hangup", {})
    assert status == 503 and body["node"] == "node-d"
    assert (await route(runtime, "c-d", "explode", {}))[0] == 404
    await runtime.call_owners.release("c-d", "node-d")
