"""Sockets are not held for free, anonymous floods are limited, and call records are not left
open: the media admission deadline, uvicorn's header deadline, the per-address rate limiter,
the stale-record sweep and the process gauges at ``/metrics``.

Before: a ``/twilio/media`` socket that never sent ``start`` stayed open for ever (100 idle
sockets); 300 connections sending headers slowly stayed open for 60 s; a provider row whose
status callback never came stayed ``in-progress`` for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import uvicorn
import websockets
from server_support import add_user, api_token, client_of, runtime_at
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from callport.channels.media_stream import run_media_stream
from callport.channels.twilio.media import TwilioMediaCore
from callport.server.httpguard import guarded_protocol
from callport.server.lifecycle import close_stale_calls
from callport.store.calls import CallRecord, MemoryCallStore
from callport.store.live import MemoryRateLimiter
from callport.store.sqlite_calls import SqliteCallStore
from callport.store.tasks import local_now

# ---- the media admission deadline -------------------------------------------------------------


async def test_a_media_socket_without_start_is_closed_at_the_admission_deadline() -> None:
    closed: list[int] = []
    never: asyncio.Event = asyncio.Event()

    async def receive() -> str | None:
        await never.wait()  # a peer that connects and says nothing
        return None

    async def close_socket(code: int) -> None:
        closed.append(code)

    async def send_text(text: str) -> None:
        pass

    leg = await asyncio.wait_for(run_media_stream(
        receive=receive, send_text=send_text, close_socket=close_socket,
        core=TwilioMediaCore(), admit=lambda start, connected: None,
        run_call=lambda leg, info: asyncio.sleep(0), admission_s=0.3), 10)
    assert leg is None and closed == [1008]


async def test_chatter_without_a_start_does_not_extend_the_deadline() -> None:
    closed: list[int] = []

    async def receive() -> str | None:
        await asyncio.sleep(0.05)
        return '{"event": "connected"}'  # forever "connected", never "start"

    async def close_socket(code: int) -> None:
        closed.append(code)

    async def send_text(text: str) -> None:
        pass

    await asyncio.wait_for(run_media_stream(
        receive=receive, send_text=send_text, close_socket=close_socket,
        core=TwilioMediaCore(), admit=lambda start, connected: None,
        run_call=lambda leg, info: asyncio.sleep(0), admission_s=0.4), 10)
    assert closed == [1008]


# ---- uvicorn's header deadline ----------------------------------------------------------------


async def _hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


async def _echo(websocket: WebSocket) -> None:
    await websocket.accept()
    with contextlib.suppress(Exception):
        while True:
            await websocket.send_text(await websocket.receive_text())


@pytest.fixture
async def guarded() -> AsyncIterator[int]:
    app = Starlette(routes=[Route("/", _hello), WebSocketRoute("/ws", _echo)])
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                            lifespan="off", ws="websockets", timeout_keep_alive=30,
                            http=guarded_protocol(0.4))
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    yield int(server.servers[0].sockets[0].getsockname()[1])
    server.should_exit = True
    await task


async def _closed_within(port: int, first: bytes, *, timeout: float = 5.0) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        if first:
            writer.write(first)
            await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout)  # b"" once the server closes
    finally:
        writer.close()


async def test_a_connection_that_sends_nothing_is_closed(guarded: int) -> None:
    assert await _closed_within(guarded, b"") == b""


async def test_a_slow_header_connection_is_closed(guarded: int) -> None:
    assert await _closed_within(guarded, b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: 1") == b""


async def test_an_idle_keep_alive_connection_is_closed_after_its_response(guarded: int) -> None:
    got = await _closed_within(guarded, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 200") and got.endswith(b"hello")  # served, then closed


async def test_a_websocket_outlives_the_header_deadline(guarded: int) -> None:
    async with websockets.connect(f"ws://127.0.0.1:{guarded}/ws") as ws:
        await asyncio.sleep(0.8)  # twice the header deadline
        await ws.send("still here")
        assert await asyncio.wait_for(ws.recv(), 5) == "still here"


# ---- the rate limiter ---------------------------------------------------------------------------


async def test_the_rate_limiter_refills_and_stays_bounded() -> None:
    limiter = MemoryRateLimiter(rate_per_s=2.0, burst=3, max_keys=100)
    assert [await limiter.allow("a", now=0.0) for _ in range(4)] == [True, True, True, False]
    assert await limiter.allow("a", now=0.5) and not await limiter.allow("a", now=0.5)
    for i in range(10_000):  # a flood of addresses
        await limiter.allow(f"10.0.{i // 256}.{i % 256}", now=1.0)
    assert len(limiter) == 100
    assert await MemoryRateLimiter(rate_per_s=0, burst=1).allow("x", now=0.0)  # 0: off


def test_anonymous_requests_over_the_burst_get_429_signed_in_ones_do_not(tmp_path: Path) -> None:
    runtime = runtime_at(tmp_path, env={"CALLPORT_LIMITS_RATE_PER_S": "0.01",
                                        "CALLPORT_LIMITS_RATE_BURST": "5"})
    add_user(runtime, "alice")
    token = api_token(runtime, "alice")
    with client_of(runtime) as client:
        codes = [client.get("/healthz").status_code for _ in range(8)]
        assert codes == [200] * 5 + [429] * 3
        refused = client.get("/healthz")
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        authed = [client.get("/api/tasks/", headers={"Authorization": f"Bearer {token}"})
                  for _ in range(10)]
        assert {r.status_code for r in authed} == {200}


# ---- process gauges ---------------------------------------------------------------------------


def test_metrics_show_memory_descriptors_tasks_and_edge_refusals(tmp_path: Path) -> None:
    runtime = runtime_at(tmp_path)
    add_user(runtime, "root", roles=("admin",))
    token = api_token(runtime, "root")
    with client_of(runtime) as client:
        client.post("/api/tasks/", content=b"[" * 100, headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json",
            "Content-Length": str(10**8)})
        text = client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).text
    values = {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
              if line and not line.startswith("#")}
    assert values["callport_process_resident_bytes"] > 10 * 2**20
    assert values["callport_process_open_fds"] >= values["callport_process_sockets"] >= 0
    assert values["callport_asyncio_tasks"] >= 1
    assert values["callport_live_calls"] == 0
    assert values['callport_edge_events_total{channel="http",kind="body-too-large"}'] >= 1


# ---- stale call records ----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_stale_records_are_closed_live_and_recent_ones_are_not(tmp_path: Path,
                                                                      kind: str) -> None:
    store = MemoryCallStore() if kind == "memory" else SqliteCallStore(tmp_path / "c.db")
    now = local_now()
    for call_id, age_h, status in (("lost-callback", 5, "in-progress"), ("ringing", 6, "ringing"),
                                   ("live-long", 5, "in-progress"), ("recent", 1, "in-progress"),
                                   ("done", 9, "completed")):
        await store.create(CallRecord(call_id=call_id, channel="twilio", direction="inbound",
                                      caller="+1", callee="+2", status=status,
                                      started_at=now - timedelta(hours=age_h)))
    closed = await close_stale_calls(store, live={"live-long"}, older_than_s=4 * 3600, now=now)
    assert closed == 2
    statuses = {c: (await store.get(c)).status for c in  # type: ignore[union-attr]
                ("lost-callback", "ringing", "live-long", "recent", "done")}
    assert statuses == {"lost-callback": "ended", "ringing": "ended", "live-long": "in-progress",
                        "recent": "in-progress", "done": "completed"}
    lost = await store.get("lost-callback")
    assert lost is not None and lost.hangup_cause == "stale"
    assert [e.detail for e in await store.events("lost-callback") if e.kind == "ended"] == [
        "stale"]



# ---- a WebRTC offer that never connects ---------------------------------------------------------

OFFER_SDP = ("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
             "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendrecv\r\n"
             "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
             "a=fingerprint:sha-256 " + ":".join(["AB"] * 32) + "\r\na=setup:actpass\r\n"
             "a=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n")


async def test_an_answered_offer_no_peer_connects_ends_at_the_connect_deadline() -> None:
    from callport.call.events import HungUp
    from callport.channels.browser.rtc import RtcCalls
    from callport.config import BrowserSettings

    ended: list[str] = []
    async def run_call(leg: object, info: object) -> None:
        while True:
            event = await leg.recv()  # type: ignore[attr-defined]
            if isinstance(event, HungUp):
                ended.append(event.reason)
                return

    async def track(call: object) -> None:
        await call  # type: ignore[misc]

    calls = RtcCalls(settings=BrowserSettings(), run_call=run_call, track=track, connect_s=0.5)
    answer = await calls.answer(OFFER_SDP, caller="127.0.0.1")
    assert answer["type"] == "answer"
    try:
        async with asyncio.timeout(10):  # before: the call ran for ever, its ports held
            while not ended:
                await asyncio.sleep(0.05)
    finally:
        await calls.close_all()
    assert ended == ["connection lost"]
