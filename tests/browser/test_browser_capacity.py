"""Admission by capacity on the browser channel: past ``server.max_conversations`` the page's
call token is refused with 503 (the page shows "All lines are busy"), and a call socket or
WebRTC offer that races it is refused too (1013 / 503); nothing runs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from callport.channels.browser import create
from callport.channels.browser.echo import EchoRuntime
from callport.channels.browser.session import SESSION_COOKIE
from callport.config import Settings
from callport.server.admission import Admission, Load, Verdict

ORIGIN = {"origin": "http://testserver"}
CALL_JS = Path(__file__).resolve().parents[2] / "src" / "callport" / "web" / "call.js"


class FullEcho(EchoRuntime):
    """The echo runtime with a real Admission of one conversation and ``full`` talking."""

    full = False
    admission = Admission(max_conversations=1, backlog_age_s=0.0)

    def refusal(self) -> Verdict | None:
        verdict = self.admission.decide(Load(active=int(self.full)), now=0.0)
        return None if verdict.admit else verdict


def test_new_browser_calls_past_capacity_are_refused_busy() -> None:
    runtime = FullEcho(settings=Settings())
    client = TestClient(Starlette(routes=list(create(runtime).routes())))
    client.cookies.set(SESSION_COOKIE, asyncio.run(runtime.sign_in("alice")))
    reply = client.post("/browser/token", headers=ORIGIN)
    assert reply.status_code == 200
    token = str(reply.json()["token"])
    runtime.full = True
    busy = client.post("/browser/token", headers=ORIGIN)
    assert busy.status_code == 503 and busy.json() == {"error": "busy"}
    assert int(busy.headers["retry-after"]) > 0
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect(
            f"/browser/ws?token={token}", headers=ORIGIN):
        pass
    assert refused.value.code == 1013
    assert len(runtime.calls) == 0


def test_the_page_shows_the_busy_message_on_503_and_1013() -> None:
    js = CALL_JS.read_text(encoding="utf-8")
    assert "res.status === 503) throw new CallError('busy', BUSY_MESSAGE)" in js
    assert "e.code === 1013) { reject(new CallError('busy', BUSY_MESSAGE))" in js
    assert "All lines are busy" in js
