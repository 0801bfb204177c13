"""The assembled ASGI app: health, metrics, the task API and every channel's routes."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from callport.config import load_settings
from callport.server.app import create_app
from callport.server.runtime import build_runtime


def test_app_serves_health_metrics_api_and_channels(tmp_path: Path) -> None:
    settings = load_settings(None, env={"CALLPORT_DB": str(tmp_path / "t.db")})
    runtime = build_runtime(settings)
    with TestClient(create_app(runtime)) as client:
        health = client.get("/healthz").json()
        assert health["status"] == "ok"
        assert set(health["channels"]) == {"twilio", "telnyx", "browser"}  # SIP: --sip-port
        metrics = client.get("/metrics")
        assert metrics.status_code == 200 and "callport_active_calls 0" in metrics.text
        created = client.post("/api/tasks/", json={"title": "buy milk"})
        assert created.status_code in (200, 201), created.text
        listed = client.get("/api/tasks/").json()
        tasks = listed if isinstance(listed, list) else listed["tasks"]
        assert [t["title"] for t in tasks] == ["buy milk"]
        assert client.post("/api/tasks/", content=b"{not json").status_code == 400
        page = client.get("/")
        assert page.status_code == 200 and "<html" in page.text.lower()
        # an unsigned Twilio webhook is refused and starts nothing
        assert client.post("/twilio/voice", data={"CallSid": "CA1"}).status_code == 403
        assert runtime.active == {}


def test_sip_channel_listens_when_enabled(tmp_path: Path) -> None:
    env = {"CALLPORT_DB": str(tmp_path / "t.db"), "CALLPORT_SIP_ENABLED": "true",
           "CALLPORT_SIP_PORT": "0"}
    runtime = build_runtime(load_settings(None, env=env))
    with TestClient(create_app(runtime)) as client:
        assert "sip" in client.get("/healthz").json()["channels"]
