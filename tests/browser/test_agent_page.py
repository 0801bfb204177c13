"""The /agent page's doors (no browser needed): sign-in redirect, agents only, the control
WebSocket and the audio token need the agent's own session and the page's origin; the desk's
ring outcomes over a fake page."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient, WebSocketDenialResponse
from starlette.websockets import WebSocketDisconnect

from callport.call.dial import DialCause
from callport.channels.browser import agent_protocol as proto
from callport.channels.browser import create
from callport.channels.browser.agent_desk import AgentDesk
from callport.channels.browser.agent_routes import AgentDeskChannel
from callport.config import ServerSettings, Settings
from callport.queues.reach import OFFLINE, NotReached, Offer
from callport.server.app import create_app
from callport.server.runtime import build_runtime
from callport.types import CallInfo

ORIGIN = "http://127.0.0.1"
WS = "ws://127.0.0.1"


async def make_app(tmp_path: Path) -> tuple[object, dict[str, str]]:
    runtime = build_runtime(Settings(server=ServerSettings(db=str(tmp_path / "t.db"))))
    await runtime.users.add("alice", display_name="Alice", password="alice-pass-1",
                            roles=["agent"])
    await runtime.users.add("bob", display_name="Bob", password="bob-pass-22")
    sessions = {}
    for name in ("alice", "bob"):
        issued = await runtime.tokens.create(name, kind="session", ttl_s=3600, now=time.time())
        sessions[name] = issued.secret
    desk = AgentDeskChannel(runtime=runtime)
    app = create_app(runtime, channels=[desk, create(runtime)])
    return app, sessions


def refused(c: TestClient, path: str, origin: str) -> bool:
    """The handshake was turned down before accept (HTTP 403 / close 1008)."""
    try:
        with c.websocket_connect(WS + path, headers={"origin": origin}):
            return False
    except WebSocketDenialResponse as denial:
        return denial.status_code == 403
    except WebSocketDisconnect as closed:
        return closed.code == 1008


def client(app: object, session: str | None = None) -> TestClient:
    c = TestClient(app, base_url=ORIGIN)  # type: ignore[arg-type]
    if session:
        c.cookies.set("callport_session", session)
    return c


async def test_page_needs_sign_in_and_the_agent_role(tmp_path: Path) -> None:
    app, sessions = await make_app(tmp_path)
    with client(app) as anon:
        r = anon.get("/agent", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login?next=/agent"
    with client(app, sessions["bob"]) as bob:
        r = bob.get("/agent")
        assert r.status_code == 403 and "agent" in r.text
    with client(app, sessions["alice"]) as alice:
        r = alice.get("/agent")
        assert r.status_code == 200
        assert '<label class="opt switch" for="available">' in r.text
        config = json.loads(r.text.split('type="application/json">', 1)[1].split("</script>")[0])
        assert config["agent"]["name"] == "alice" and config["events"] == "/agent/ws"
        assert alice.get(config["static"] + "/agent.js").status_code == 200
        assert alice.get(config["static"] + "/agent.css").status_code == 200


async def test_control_websocket_needs_an_agent_session_and_origin(tmp_path: Path) -> None:
    app, sessions = await make_app(tmp_path)
    for session, origin in ((None, ORIGIN), (sessions["bob"], ORIGIN),
                            (sessions["alice"], "http://evil.example")):
        with client(app, session) as c:
            assert refused(c, "/agent/ws", origin)
    with (client(app, sessions["alice"]) as c,
          c.websocket_connect(WS + "/agent/ws", headers={"origin": ORIGIN}) as ws):
            hello = json.loads(ws.receive_text())
            assert hello["type"] == "hello" and hello["agent"]["name"] == "alice"
            assert json.loads(ws.receive_text()) == {"type": "state", "state": "available"}
            ws.send_text(json.dumps({"type": "away", "away": True}))
            assert json.loads(ws.receive_text())["state"] == "away"
            ws.send_text("not json")
            assert json.loads(ws.receive_text())["type"] == "error"
            ws.send_text(json.dumps({"type": "hold", "held": True}))
            assert json.loads(ws.receive_text()) == {"type": "result", "action": "hold",
                                                     "ok": False, "detail": "no call"}


async def test_audio_token_and_media_need_an_answered_offer(tmp_path: Path) -> None:
    app, sessions = await make_app(tmp_path)
    headers = {"origin": ORIGIN, "content-type": "application/json"}
    with client(app) as anon:
        assert anon.post("/agent/token", headers=headers, content="{}").status_code == 401
    with client(app, sessions["bob"]) as bob:
        assert bob.post("/agent/token", headers=headers, content="{}").status_code == 403
    with client(app, sessions["alice"]) as alice:
        assert alice.post("/agent/token", headers=headers, content="{}").status_code == 409
        assert refused(alice, "/agent/media?token=forged", ORIGIN)


# ---- the desk over a fake page -----------------------------------------------------------

OFFER = Offer(call_id="c-7", queue="support",
              caller=CallInfo(call_id="c-7", channel="sip", caller="+15551234567"),
              summary="asks about an invoice", transcript=(("caller", "my invoice"),))


class FakePage:
    def __init__(self) -> None:
        self.sent: list[dict[str, object]] = []
        self.got = asyncio.Event()

    def send(self, text: str) -> None:
        self.sent.append(json.loads(text))
        self.got.set()

    def of(self, kind: str) -> list[dict[str, object]]:
        return [m for m in self.sent if m["type"] == kind]


async def test_desk_ring_outcomes() -> None:
    desk = AgentDesk(clock=time.monotonic)
    assert not desk.online("alice")
    offline = await desk.ring("alice", OFFER, timeout_s=1.0)
    assert isinstance(offline, NotReached) and offline.cause is OFFLINE
    fake = FakePage()
    page = desk.open_page("alice", fake.send)
    assert desk.online("alice")

    timed_out = await desk.ring("alice", OFFER, timeout_s=0.05)
    assert isinstance(timed_out, NotReached) and timed_out.cause is DialCause.NO_ANSWER
    [offer] = fake.of("offer")
    assert offer["caller"] == {"number": "+15551234567", "channel": "sip", "name": "",
                               "user": ""}
    assert offer["summary"] == "asks about an invoice"
    assert offer["transcript"] == [["caller", "my invoice"]]
    assert fake.of("offer-gone")[-1]["reason"] == "no-answer"

    ring = asyncio.create_task(desk.ring("alice", OFFER, timeout_s=5.0))
    while len(fake.of("offer")) < 2:
        await asyncio.sleep(0.01)
    assert desk.state("alice")[0] == "ringing"
    busy = await desk.ring("alice", OFFER, timeout_s=1.0)  # one offer at a time
    assert isinstance(busy, NotReached) and busy.cause is DialCause.BUSY
    await desk.on_event(page, proto.DeclineOffer(str(fake.of("offer")[-1]["id"])))
    declined = await ring
    assert isinstance(declined, NotReached) and declined.cause is DialCause.REJECTED

    ring = asyncio.create_task(desk.ring("alice", OFFER, timeout_s=5.0))
    while len(fake.of("offer")) < 3:
        await asyncio.sleep(0.01)
    ring.cancel()
    with pytest.raises(asyncio.CancelledError):
        await ring
    assert fake.of("offer-gone")[-1]["reason"] == "canceled"

    ring = asyncio.create_task(desk.ring("alice", OFFER, timeout_s=5.0))
    while len(fake.of("offer")) < 4:
        await asyncio.sleep(0.01)
    desk.close_page(page)  # the page closed while it rang
    closed = await ring
    assert isinstance(closed, NotReached) and closed.cause is OFFLINE

    page = desk.open_page("alice", fake.send)
    await desk.on_event(page, proto.SetAway(True))
    assert not desk.online("alice") and desk.state("alice")[0] == "away"
    away = await desk.ring("alice", OFFER, timeout_s=1.0)
    assert isinstance(away, NotReached) and away.cause is OFFLINE


def test_page_messages_parse() -> None:
    assert proto.parse('{"type": "answer", "id": "ab12"}') == proto.AnswerOffer("ab12")
    assert proto.parse('{"type": "transfer", "target": " queue:billing "}') == \
        proto.TransferCaller("queue:billing")
    assert isinstance(proto.parse('{"type": "answer", "id": "../x"}'), proto.PageMistake)
    assert isinstance(proto.parse('{"type": "away"}'), proto.PageMistake)
    assert isinstance(proto.parse("[1]"), proto.PageMistake)
    assert isinstance(proto.parse("x" * 5000), proto.PageMistake)
