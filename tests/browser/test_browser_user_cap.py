"""Per-user cap on concurrent browser calls (issue 20, ``browser.max_calls_per_user``): a
signed-in user already holding that many calls gets WebSocket 1013 and WebRTC offer 503
(``Retry-After``) before any media; another user is not affected; an ended call frees its
place. There is no "unlimited" (0 is refused)."""

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
from callport.config import BrowserSettings, ConfigError, Settings, load_settings
from callport.metrics import Metrics

ORIGIN = {"origin": "http://testserver"}


def signed_in(runtime: EchoRuntime, app: Starlette, name: str) -> TestClient:
    client = TestClient(app)
    client.cookies.set(SESSION_COOKIE, asyncio.run(runtime.sign_in(name)))
    return client


def call_token(client: TestClient) -> str:
    reply = client.post("/browser/token", headers=ORIGIN)
    assert reply.status_code == 200
    return str(reply.json()["token"])


class MeteredEcho(EchoRuntime):
    """The echo runtime with the app's metrics (``Runtime.metrics``)."""

    def __init__(self, *, settings: Settings) -> None:
        super().__init__(settings=settings)
        self.metrics = Metrics()


def test_a_user_at_the_cap_is_refused_and_others_are_not() -> None:
    runtime = MeteredEcho(settings=Settings(browser=BrowserSettings(max_calls_per_user=1)))
    app = Starlette(routes=list(create(runtime).routes()))
    alice, bob = signed_in(runtime, app, "alice"), signed_in(runtime, app, "bob")
    with alice.websocket_connect(f"/browser/ws?token={call_token(alice)}", headers=ORIGIN):
        with pytest.raises(WebSocketDisconnect) as refused, alice.websocket_connect(
                f"/browser/ws?token={call_token(alice)}", headers=ORIGIN):
            pass
        assert refused.value.code == 1013
        offer = alice.post("/browser/offer", headers=ORIGIN,
                           json={"type": "offer", "sdp": "v=0\r\n", "token": call_token(alice)})
        assert offer.status_code == 503 and offer.headers["retry-after"] == "5"
        assert offer.json() == {"error": "too many calls for this user"}
        with bob.websocket_connect(f"/browser/ws?token={call_token(bob)}", headers=ORIGIN):
            pass  # bob has a place of his own
    assert runtime.metrics.browser_user_capped.value == 2  # the socket and the offer
    assert "callport_browser_user_capped_total 2" in runtime.metrics.render()
    # alice's call ended: she may call again
    with alice.websocket_connect(f"/browser/ws?token={call_token(alice)}", headers=ORIGIN):
        pass


def test_the_setting_defaults_to_3_and_refuses_0(tmp_path: Path) -> None:
    assert BrowserSettings().max_calls_per_user == 3
    path = tmp_path / "c.toml"
    path.write_text("[browser]\nmax_calls_per_user = 0\n")
    with pytest.raises(ConfigError, match=r"browser\.max_calls_per_user=0: out of range"):
        load_settings(path, env={})
