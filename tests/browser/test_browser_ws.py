"""The WebSocket transport end to end inside one process (Starlette TestClient, echo runtime)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import numpy as np
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from callport.agents.base import CallInfo
from callport.call.controls import Capability, Refusal, Refused
from callport.call.events import AudioIn, HungUp, Marked
from callport.call.notes import AgentState, AgentText, CallerTranscript, TurnLatency
from callport.channels.browser import create
from callport.channels.browser.echo import EchoRuntime
from callport.channels.browser.leg import BrowserLeg
from callport.channels.browser.session import SESSION_COOKIE
from callport.config import Settings

ORIGIN = {"origin": "http://testserver"}


def make(runtime: Any | None = None, *, signed_in: str | None = "caller"
         ) -> tuple[TestClient, EchoRuntime]:
    """A client of the channel's routes, signed in as ``signed_in`` (a session cookie)."""
    rt = runtime or EchoRuntime(settings=Settings())
    channel = create(rt)
    client = TestClient(Starlette(routes=list(channel.routes())))
    if signed_in is not None:
        client.cookies.set(SESSION_COOKIE, asyncio.run(rt.sign_in(signed_in)))
    return client, rt


def token(client: TestClient) -> str:
    r = client.post("/browser/token", headers=ORIGIN)
    assert r.status_code == 200
    body = r.json()
    assert body["expires_in"] == 60 and body["ice_servers"] == []
    return str(body["token"])


def frame(seed: int) -> bytes:
    return np.random.default_rng(seed).integers(-8000, 8000, 320).astype("<i2").tobytes()


def test_token_needs_same_origin() -> None:
    client, _ = make()
    assert client.post("/browser/token").status_code == 403
    assert client.post("/browser/token", headers={"origin": "http://evil.example"}).status_code \
        == 403


def test_token_needs_a_live_session() -> None:
    client, rt = make(signed_in=None)
    assert client.post("/browser/token", headers=ORIGIN).status_code == 401
    client.cookies.set(SESSION_COOKIE, "cp_forged_secret")
    assert client.post("/browser/token", headers=ORIGIN).status_code == 401
    page = client.get("/", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login"
    client.cookies.set(SESSION_COOKIE, asyncio.run(rt.sign_in("alice")))
    assert client.post("/browser/token", headers=ORIGIN).status_code == 200
    assert client.get("/").status_code == 200


def refused(client: TestClient, url: str, headers: dict[str, str] = ORIGIN) -> int:
    with pytest.raises(WebSocketDisconnect) as exc, client.websocket_connect(url, headers=headers):
        pass
    return exc.value.code


def one_call(client: TestClient, url: str) -> None:
    with client.websocket_connect(url, headers=ORIGIN) as ws:
        ws.send_text(json.dumps({"type": "start", "sample_rate": 16000, "gated": False}))
        assert ws.receive_json()["type"] == "ready"
        ws.send_text(json.dumps({"type": "hangup"}))
        with pytest.raises(WebSocketDisconnect):
            ws.receive_json()


def test_call_runs_as_the_signed_in_user_and_a_token_is_single_use() -> None:
    client, rt = make(signed_in="alice")
    url = f"/browser/ws?token={token(client)}"
    one_call(client, url)
    [call] = rt.calls
    assert call.info.user is not None and call.info.user.name == "alice"
    assert refused(client, url) == 1008  # replayed: refused, no second call
    assert len(rt.calls) == 1


def test_token_of_one_session_does_not_work_for_another() -> None:
    alice, rt = make(signed_in="alice")
    stolen = token(alice)
    other = TestClient(alice.app)
    other.cookies.set(SESSION_COOKIE, asyncio.run(rt.sign_in("bob")))
    assert refused(other, f"/browser/ws?token={stolen}") == 1008
    second = TestClient(alice.app)  # the same user, another session: still refused
    second.cookies.set(SESSION_COOKIE, asyncio.run(rt.sign_in("alice")))
    assert refused(second, f"/browser/ws?token={stolen}") == 1008
    nobody = TestClient(alice.app)
    assert refused(nobody, f"/browser/ws?token={stolen}") == 1008
    assert rt.calls == []
    one_call(alice, f"/browser/ws?token={stolen}")  # its own session: fine (and unspent)
    assert len(rt.calls) == 1


def test_signed_out_session_cannot_use_a_token_it_already_holds() -> None:
    client, rt = make(signed_in="alice")
    held = token(client)
    secret = client.cookies[SESSION_COOKIE]
    assert asyncio.run(rt.tokens.revoke(secret.split("_")[1]))
    assert refused(client, f"/browser/ws?token={held}") == 1008
    assert client.post("/browser/offer", json={"type": "offer", "sdp": "v=0", "token": held},
                       headers=ORIGIN).status_code == 403
    assert rt.calls == []


def test_websocket_refuses_bad_token_and_foreign_origin() -> None:
    client, _ = make()
    good = token(client)
    for url, headers in [("/browser/ws?token=forged.token", ORIGIN),
                         ("/browser/ws", ORIGIN),
                         (f"/browser/ws?token={good}", {"origin": "http://evil.example"}),
                         (f"/browser/ws?token={good}", {})]:
        with pytest.raises(WebSocketDisconnect) as exc, \
                client.websocket_connect(url, headers=headers):
            pass
        assert exc.value.code == 1008


def test_echo_call_audio_marks_and_hangup() -> None:
    client, rt = make()
    with client.websocket_connect(f"/browser/ws?token={token(client)}", headers=ORIGIN) as ws:
        ws.send_text(json.dumps({"type": "start", "sample_rate": 16000, "gated": False}))
        ready = ws.receive_json()
        assert ready["type"] == "ready" and ready["sample_rate"] == 16000
        sent = [frame(i) for i in range(50)]
        received: list[bytes] = []
        for data in sent:
            ws.send_bytes(data)
            received.append(ws.receive_bytes())
        assert received == sent  # byte-exact echo through core, leg and runtime
        # On the wire a mark is the leg's unique token (MarkBook), not the session's name.
        assert ws.receive_json() == {"type": "mark", "name": "m1"}
        ws.send_text(json.dumps({"type": "ping", "id": 7}))
        assert ws.receive_json() == {"type": "pong", "id": 7}
        ws.send_text(json.dumps({"type": "played", "name": "m1"}))
        ws.send_text(json.dumps({"type": "hangup"}))
        with pytest.raises(WebSocketDisconnect) as exc:
            ws.receive_json()
        assert exc.value.code == 1000
    [call] = rt.calls
    assert call.info.channel == "browser" and call.info.call_id.startswith("br-")
    assert b"".join(c.astype("<i2").tobytes() for c in call.chunks) == b"".join(sent)
    assert call.marks == [Marked("echo50", played=True)]
    assert call.hangup == "caller hung up"


def test_garbage_is_reported_not_fatal_and_audio_before_start_is_fatal() -> None:
    client, rt = make()
    with client.websocket_connect(f"/browser/ws?token={token(client)}", headers=ORIGIN) as ws:
        ws.send_text('{"type":"start"}')
        assert ws.receive_json()["type"] == "ready"
        ws.send_text("{not json")
        assert ws.receive_json()["type"] == "error"
        ws.send_text('{"type":"played","name":"nope"}')
        assert ws.receive_json()["type"] == "error"
        ws.send_bytes(frame(1))
        assert ws.receive_bytes() == frame(1)  # still serving
        ws.close()
    with client.websocket_connect(f"/browser/ws?token={token(client)}", headers=ORIGIN) as ws:
        ws.send_bytes(frame(2))
        assert ws.receive_json()["type"] == "error"
        with pytest.raises(WebSocketDisconnect) as exc:
            ws.receive_json()
        assert exc.value.code == 1002
    assert len(rt.calls) == 1  # the second never started a call


class NotingRuntime:
    """Publishes session notes, clears, and checks the leg's refusals."""

    def __init__(self) -> None:
        self.settings = Settings()
        self.events: list[object] = []
        echo = EchoRuntime(settings=self.settings)
        self.users, self.tokens = echo.users, echo.tokens

    sign_in = EchoRuntime.sign_in

    async def run_call(self, leg: BrowserLeg, info: CallInfo) -> None:
        leg.notify(CallerTranscript("add a task"))
        leg.notify(AgentState("thinking"))
        leg.notify(AgentText("Added."))
        leg.notify(TurnLatency(412.345))
        await leg.send_audio(np.zeros(320, np.int16))
        await leg.mark("m1")
        await leg.clear()
        refused = await leg.transfer("tel:+15550100")
        assert isinstance(refused, Refused) and refused.refusal is Refusal.UNSUPPORTED
        assert refused.control is Capability.TRANSFER
        assert leg.capabilities == frozenset({Capability.HOLD})
        while True:
            event = await leg.recv()
            self.events.append(event)
            if isinstance(event, HungUp):
                return


def test_notes_become_control_messages_and_clear_drops_marks() -> None:
    rt = NotingRuntime()
    client, _ = make(rt)
    with client.websocket_connect(f"/browser/ws?token={token(client)}", headers=ORIGIN) as ws:
        ws.send_text('{"type":"start"}')
        assert ws.receive_json()["type"] == "ready"
        assert ws.receive_json() == {"type": "transcript", "role": "caller", "text": "add a task"}
        assert ws.receive_json() == {"type": "state", "state": "thinking"}
        assert ws.receive_json() == {"type": "transcript", "role": "agent", "text": "Added.",
                                     "reply": 0}
        assert ws.receive_json() == {"type": "latency", "ms": 412.3}
        assert ws.receive_bytes() == bytes(640)
        assert ws.receive_json() == {"type": "mark", "name": "m1"}
        assert ws.receive_json() == {"type": "clear", "id": 1}
        ws.send_text('{"type":"cleared","id":1}')  # the page's player dropped its audio
        deadline = time.monotonic() + 5
        while not rt.events and time.monotonic() < deadline:
            time.sleep(0.01)
        assert rt.events[:1] == [Marked("m1", played=False)]  # answered before the hang-up
    deadline = time.monotonic() + 5
    while not any(isinstance(e, HungUp) for e in rt.events) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert rt.events[0] == Marked("m1", played=False)
    assert isinstance(rt.events[-1], HungUp)


class ClearingRuntime:
    """Three marked frames, then a barge-in's clear; records how the marks were answered."""

    def __init__(self) -> None:
        self.settings = Settings()
        self.events: list[object] = []
        echo = EchoRuntime(settings=self.settings)
        self.users, self.tokens = echo.users, echo.tokens

    sign_in = EchoRuntime.sign_in

    async def run_call(self, leg: BrowserLeg, info: CallInfo) -> None:
        for name in ("a", "b", "c"):
            await leg.send_audio(np.zeros(320, np.int16))
            await leg.mark(name)
        await leg.clear()
        while True:
            event = await leg.recv()
            self.events.append(event)
            if isinstance(event, HungUp):
                return


def test_a_mark_the_page_played_before_the_clear_reached_it_counts_as_heard() -> None:
    """The race after a barge-in: the page had played up to mark 'b' and said so while the
    server's clear was on its way. That 'played' arrives after the clear went out; it still
    counts, and the page's 'cleared' answers only 'c' unplayed."""
    rt = ClearingRuntime()
    client, _ = make(rt)
    with client.websocket_connect(f"/browser/ws?token={token(client)}", headers=ORIGIN) as ws:
        ws.send_text('{"type":"start"}')
        assert ws.receive_json()["type"] == "ready"
        sent = []
        while len(sent) < 7:
            try:
                sent.append(ws.receive_json())
            except KeyError:  # a binary frame
                sent.append("audio")
        assert sent[-1] == {"type": "clear", "id": 1}
        ws.send_text('{"type":"played","name":"m2"}')  # sent by the page before the clear
        ws.send_text('{"type":"cleared","id":1}')
        deadline = time.monotonic() + 5
        while len(rt.events) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert rt.events[:3] == [Marked("a", True), Marked("b", True), Marked("c", False)]


def test_gated_page_still_feeds_silence() -> None:
    client, rt = make(EchoRuntime(settings=Settings(), echo=False))
    with client.websocket_connect(f"/browser/ws?token={token(client)}", headers=ORIGIN) as ws:
        ws.send_text('{"type":"start","gated":true}')
        assert ws.receive_json()["type"] == "ready"
        time.sleep(0.5)
        ws.send_text('{"type":"hangup"}')
        with pytest.raises(WebSocketDisconnect):
            ws.receive_json()
    [call] = rt.calls
    audio = call.audio()
    assert len(audio) >= 16000 * 0.3 and not audio.any()
    assert all(isinstance(c, np.ndarray) for c in call.chunks)
    assert isinstance(AudioIn(audio, 0.0).pcm, np.ndarray)
