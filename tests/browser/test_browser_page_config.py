"""``[page]`` settings, the page's configuration and HTML, the embed routes and the widget's
bearer session, and the keypad's ``dtmf`` control message (in process, no browser)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from callport.call.events import Dtmf
from callport.channels.browser import create
from callport.channels.browser.echo import EchoRuntime
from callport.channels.browser.page import bearer_of_protocols, frame_ancestors, page_config
from callport.channels.browser.protocol import (
    BrowserProtocol,
    DigitPressed,
    ProtocolError,
    error_message,
)
from callport.config import (
    BrowserSettings,
    ConfigError,
    PageSettings,
    ServerSettings,
    Settings,
    load_settings,
)

HOST = "https://shop.example"


def test_page_settings_problems_name_what_to_fix(tmp_path: Path) -> None:
    (tmp_path / "logo.png").write_bytes(b"\x89PNG")
    assert PageSettings(logo="logo.png", assets_dir=str(tmp_path), accent="#abc",
                        background="#102030", panels=("transcript", "keypad"),
                        language="pt-BR").problems() == []
    problems = PageSettings(accent="blue", background="#12345", panels=("todo",),
                            logo="logo.png", language="english!", embed_path="x").problems()
    text = "\n".join(problems)
    for needle in ("page.accent='blue'", "page.background='#12345'", "'todo' is not one of",
                   "needs page.assets_dir", "page.language='english!'", "page.embed_path"):
        assert needle in text
    assert PageSettings(logo="../etc/passwd.png", assets_dir=str(tmp_path)).problems()
    assert "no such file" in PageSettings(logo="gone.png", assets_dir=str(tmp_path)
                                          ).problems()[0]
    assert "use an image" in PageSettings(logo="notes.txt", assets_dir=str(tmp_path)
                                          ).problems()[0]
    with pytest.raises(ConfigError, match=r"page\.accent"):
        load_settings(env={"CALLPORT_PAGE_ACCENT": "red"})
    s = load_settings(env={"CALLPORT_PAGE_NAME": "Corner Shop",
                           "CALLPORT_PAGE_PANELS": "transcript,keypad"})
    assert s.page.name == "Corner Shop" and s.page.panels == ("transcript", "keypad")


def test_page_is_agent_neutral_unless_the_agent_is_the_task_manager() -> None:
    tm = page_config(Settings(), vad=False)
    assert tm["name"] == "Task Manager" and "tasks" in tm["panels"]
    other = page_config(Settings(server=ServerSettings(agent="shop.agent:factory")), vad=False)
    assert other["name"] == "Voice assistant" and "tasks" not in other["panels"]
    assert "to-do" not in json.dumps(other) and "milk" not in json.dumps(other)
    chosen = page_config(Settings(server=ServerSettings(agent="a.b:c"),
                                  page=PageSettings(panels=("transcript", "tasks"))), vad=False)
    assert chosen["panels"] == ["transcript", "tasks"]


def client_for(settings: Settings) -> tuple[TestClient, EchoRuntime]:
    rt = EchoRuntime(settings=settings)
    return TestClient(Starlette(routes=list(create(rt).routes()))), rt


def test_page_html_carries_branding_escaped(tmp_path: Path) -> None:
    (tmp_path / "logo.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    settings = Settings(page=PageSettings(
        name="<b>Shop</b>", logo="logo.svg", assets_dir=str(tmp_path), accent="#e8590c",
        background="#111111", language="de", greeting="</script><script>alert(1)</script>"))
    client, rt = client_for(settings)
    client.cookies.set("callport_session", asyncio.run(rt.sign_in("caller")))
    r = client.get("/")
    assert r.status_code == 200
    assert r.headers["content-security-policy"] == "frame-ancestors 'self'"
    html = r.text
    assert '<html lang="de">' in html
    assert "<title>&lt;b&gt;Shop&lt;/b&gt;</title>" in html
    assert ":root{--accent:#e8590c;--bg:#111111;}" in html
    assert "<script>alert(1)" not in html  # the configuration is JSON with < escaped
    found = re.search(r'id="callport-config" type="application/json">(.*?)</script>', html)
    assert found is not None
    config = json.loads(found.group(1))
    assert config["greeting"] == "</script><script>alert(1)</script>"
    assert config["logo"] == "/browser/static/brand/logo.svg"
    assert client.get("/browser/static/brand/logo.svg").status_code == 200
    assert client.get("/browser/static/widget.js").status_code == 200


def test_embed_page_only_for_allowed_hosts_with_frame_ancestors() -> None:
    client, _ = client_for(Settings())
    assert client.get("/browser/embed", params={"host": HOST}).status_code == 403  # none listed
    settings = Settings(browser=BrowserSettings(allowed_origins=(HOST,)))
    assert frame_ancestors(settings) == f"frame-ancestors 'self' {HOST}"
    client, _ = client_for(settings)
    r = client.get("/browser/embed", params={"host": HOST})
    assert r.status_code == 200 and r.headers["content-security-policy"] == \
        f"frame-ancestors 'self' {HOST}"
    assert client.get("/browser/embed", params={"host": "https://evil.example"}).status_code \
        == 403
    assert client.get("/browser/embed/connect", params={"host": "null"}).status_code == 403


def test_grant_is_a_bearer_session_for_token_and_websocket() -> None:
    settings = Settings(browser=BrowserSettings(allowed_origins=(HOST,)))
    client, rt = client_for(settings)
    own = {"origin": "http://testserver"}
    assert client.post("/browser/embed/grant", json={"host": HOST}, headers=own).status_code \
        == 401
    client.cookies.set("callport_session", asyncio.run(rt.sign_in("caller")))
    assert client.post("/browser/embed/grant", json={"host": HOST},
                       headers={"origin": HOST}).status_code == 403
    assert client.post("/browser/embed/grant", json={"host": "https://evil.example"},
                       headers=own).status_code == 403
    r = client.post("/browser/embed/grant", json={"host": HOST}, headers=own)
    assert r.status_code == 200
    grant = r.json()["session"]
    assert r.json()["user"]["name"] == "caller"
    client.cookies.clear()  # the cross-site iframe has no cookie: only the grant
    assert client.post("/browser/token", headers=own).status_code == 401
    bearer = {**own, "authorization": f"Bearer {grant}"}
    call_token = client.post("/browser/token", headers=bearer).json()["token"]
    with client.websocket_connect(f"/browser/ws?token={call_token}", headers=own,
                                  subprotocols=["callport", f"callport.bearer.{grant}"]) as ws:
        assert ws.accepted_subprotocol == "callport"
        ws.send_text(json.dumps({"type": "start", "sample_rate": 16000}))
        assert ws.receive_json()["type"] == "ready"
        ws.send_text(json.dumps({"type": "dtmf", "digit": "5"}))
        ws.send_text(json.dumps({"type": "hangup"}))
    assert rt.calls and rt.calls[0].info.user is not None
    assert rt.calls[0].info.user.name == "caller"
    # A revoked grant starts nothing, even with a fresh call token minted before.
    call_token = client.post("/browser/token", headers=bearer).json()["token"]
    asyncio.run(rt.tokens.revoke(grant.split("_")[1]))
    with pytest.raises(WebSocketDisconnect), client.websocket_connect(
            f"/browser/ws?token={call_token}", headers=own,
            subprotocols=["callport", f"callport.bearer.{grant}"]):
        pass
    assert bearer_of_protocols("callport, callport.bearer.cp_x_y") == "cp_x_y"
    assert bearer_of_protocols("callport") is None


def test_keypad_digit_is_a_dtmf_event_and_garbage_is_refused() -> None:
    core = BrowserProtocol()
    core.receive_text('{"type": "start", "sample_rate": 16000}', 0.0)
    assert core.receive_text('{"type": "dtmf", "digit": "5"}', 1.0) == [DigitPressed("5")]
    assert core.receive_text('{"type": "dtmf", "digit": "#"}', 1.0) == [DigitPressed("#")]
    for bad in ('{"type": "dtmf"}', '{"type": "dtmf", "digit": "55"}',
                '{"type": "dtmf", "digit": 5}', '{"type": "dtmf", "digit": "x"}'):
        [event] = core.receive_text(bad, 1.0)
        assert isinstance(event, ProtocolError) and not event.fatal
    assert core.active
    assert json.loads(error_message(message="x"))["kind"] == "protocol"
    assert json.loads(error_message(message="x", kind="call"))["kind"] == "call"


def test_keypad_digit_reaches_the_leg_as_dtmf() -> None:
    got: list[object] = []

    class DigitRuntime(EchoRuntime):
        async def run_call(self, leg, info):  # type: ignore[no-untyped-def]
            while True:
                event = await leg.recv()
                got.append(event)
                if not isinstance(event, Dtmf):
                    return

    rt = DigitRuntime(settings=Settings(), echo=False)
    client = TestClient(Starlette(routes=list(create(rt).routes())))
    client.cookies.set("callport_session", asyncio.run(rt.sign_in("caller", now=time.time())))
    own = {"origin": "http://testserver"}
    call_token = client.post("/browser/token", headers=own).json()["token"]
    with client.websocket_connect(f"/browser/ws?token={call_token}", headers=own) as ws:
        ws.send_text(json.dumps({"type": "start", "sample_rate": 16000}))
        assert ws.receive_json()["type"] == "ready"
        ws.send_text(json.dumps({"type": "dtmf", "digit": "7"}))
        ws.send_text(json.dumps({"type": "hangup"}))
    assert got[0] == Dtmf("7")
