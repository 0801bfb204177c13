"""SIGTERM draining on the browser channel: a signed-in page's new call is refused (WebSocket
1013 "try again later", WebRTC offer 503) and nothing runs; calls were admitted before."""

from __future__ import annotations

import asyncio

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from callport.channels.browser import create
from callport.channels.browser.echo import EchoRuntime
from callport.channels.browser.session import SESSION_COOKIE
from callport.config import Settings

ORIGIN = {"origin": "http://testserver"}


class DrainingEcho(EchoRuntime):
    """The echo runtime with the admission flag ``Runtime`` has (``runtime.draining``)."""

    draining = False


def test_new_browser_calls_are_refused_while_draining() -> None:
    runtime = DrainingEcho(settings=Settings())
    client = TestClient(Starlette(routes=list(create(runtime).routes())))
    client.cookies.set(SESSION_COOKIE, asyncio.run(runtime.sign_in("alice")))

    def call_token() -> str:
        reply = client.post("/browser/token", headers=ORIGIN)
        assert reply.status_code == 200
        return str(reply.json()["token"])

    with client.websocket_connect(f"/browser/ws?token={call_token()}", headers=ORIGIN):
        pass  # admitted while not draining
    runtime.draining = True
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect(
            f"/browser/ws?token={call_token()}", headers=ORIGIN):
        pass
    assert refused.value.code == 1013
    offer = client.post("/browser/offer", headers=ORIGIN,
                        json={"type": "offer", "sdp": "v=0\r\n", "token": call_token()})
    assert offer.status_code == 503
    assert len(runtime.calls) <= 1  # only the call from before the drain
