"""The assembled ASGI app: health, metrics, the task API and every channel's routes."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from starlette.testclient import TestClient

from callport.config import load_settings
from callport.server.app import create_app
from callport.server.runtime import build_runtime


def test_app_serves_health_metrics_api_and_channels(tmp_path: Path) -> None:
    settings = load_settings(None, env={"CALLPORT_DB": str(tmp_path / "t.db")})
    runtime = build_runtime(settings)
    asyncio.run(runtime.users.add("root", roles=("admin",)))
    token = asyncio.run(runtime.tokens.create("root", kind="api", now=time.time())).secret
    auth = {"authorization": f"Bearer {token}"}
    with TestClient(create_app(runtime), base_url="http://127.0.0.1:8080") as client:
        assert set(client.get("/healthz").json()) == {"status", "version"}  # anonymous
        health = client.get("/healthz", headers=auth).json()
        assert health["status"] == "ok"
        assert set(health["channels"]) == {"twilio", "telnyx", "browser",  # SIP: --sip-port
                                           "agent-desk"}  # the /agent page
        assert client.get("/metrics").status_code == 401
        metrics = client.get("/metrics", headers=auth)
        assert metrics.status_code == 200 and "callport_active_calls 0" in metrics.text
        assert client.post("/api/tasks/", json={"title": "buy milk"}).status_code == 401
        created = client.post("/api/tasks/", json={"title": "buy milk"}, headers=auth)
        assert created.status_code in (200, 201), created.text
        listed = client.get("/api/tasks/", headers=auth).json()
        tasks = listed if isinstance(listed, list) else listed["tasks"]
        assert [t["title"] for t in tasks] == ["buy milk"]
        assert client.post("/api/tasks/", content=b"{not json", headers={
            **auth, "content-type": "application/json"}).status_code == 400
        assert client.get("/", follow_redirects=False).status_code == 303  # to /login
        session = asyncio.run(runtime.tokens.create("root", kind="session", ttl_s=60,
                                                    now=time.time())).secret
        client.cookies.set("callport_session", session)
        page = client.get("/")
        assert page.status_code == 200 and "<html" in page.text.lower()
        # an unsigned Twilio webhook is refused and starts nothing
        assert client.post("/twilio/voice", data={"CallSid": "CA1"}).status_code == 403
        assert runtime.active == {}


def test_sip_channel_listens_when_enabled(tmp_path: Path) -> None:
    env = {"CALLPORT_DB": str(tmp_path / "t.db"), "CALLPORT_SIP_ENABLED": "true",
           "CALLPORT_SIP_PORT": "0"}
    runtime = build_runtime(load_settings(None, env=env))
    asyncio.run(runtime.users.add("root", roles=("admin",)))
    token = asyncio.run(runtime.tokens.create("root", kind="api", now=time.time())).secret
    with TestClient(create_app(runtime), base_url="http://localhost") as client:
        health = client.get("/healthz", headers={"authorization": f"Bearer {token}"}).json()
        assert "sip" in health["channels"]
