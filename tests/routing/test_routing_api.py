"""The server's routing API: GET /api/calls (admin sees all, others their own, nobody
without a session or token), GET /api/routes (admin, live health), carrier health in
/metrics, and POST /api/calls through the router's rules."""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "server"))

from server_support import BASE, add_user, api_token, runtime_at
from starlette.testclient import TestClient

from callport.server.app import create_app
from callport.store.calls import CallRecord


def routed_runtime(tmp_path: Path) -> object:
    (tmp_path / "r.csv").write_text("prefix,rate\n1,0.01\n")
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"""
[sip.trunks.cheap]
address = "127.0.0.1:9"
options_ping_s = 0
[routing]
dnc = ["+13125550199"]
[routing.carriers.cheap]
rates = "{tmp_path / 'r.csv'}"
""")
    return runtime_at(tmp_path, {"CALLPORT_CONFIG": str(cfg)})


def test_calls_api_scopes_records_by_user(tmp_path: Path) -> None:
    runtime = runtime_at(tmp_path)
    add_user(runtime, "boss", roles=("admin",))
    add_user(runtime, "alice")
    for call_id, user in (("c1", "alice"), ("c2", "bob"), ("c3", "")):
        asyncio.run(runtime.calls.create(CallRecord(call_id=call_id, channel="sip", user=user,
                                                    status="completed",
                                                    started_at=datetime.now().astimezone())))
    client = TestClient(create_app(runtime, channels=[]), base_url=BASE)
    assert client.get("/api/calls").status_code == 401
    admin = {"authorization": f"Bearer {api_token(runtime, 'boss')}"}
    mine = {"authorization": f"Bearer {api_token(runtime, 'alice')}"}
    got = client.get("/api/calls", headers=admin)
    assert got.status_code == 200
    assert sorted(c["call_id"] for c in got.json()["calls"]) == ["c1", "c2", "c3"]
    assert [c["call_id"] for c in client.get("/api/calls", headers=mine).json()["calls"]] \
        == ["c1"]
    assert client.get("/api/calls?since=soon", headers=admin).status_code == 400
    assert client.get("/api/routes?to=+13125550100", headers=admin).status_code == 404


def test_routes_metrics_and_refusals(tmp_path: Path) -> None:
    runtime = routed_runtime(tmp_path)
    add_user(runtime, "boss", roles=("admin",))
    add_user(runtime, "alice")
    client = TestClient(create_app(runtime, channels=[]), base_url=BASE)
    admin = {"authorization": f"Bearer {api_token(runtime, 'boss')}"}
    user = {"authorization": f"Bearer {api_token(runtime, 'alice')}"}
    doc = client.get("/api/routes?to=+13125550100", headers=admin).json()
    assert doc["choices"][0]["carrier"] == "cheap" and doc["choices"][0]["cost"] == "0.02"
    assert "not configured or not running here" in doc["choices"][0]["skip"]  # no SIP channel
    assert doc["health"] == ["cheap [sip]: closed, not running here"]
    assert client.get("/api/routes?to=+13125550100", headers=user).status_code == 403
    metrics = client.get("/metrics", headers=admin).text
    assert 'callport_carrier_up{carrier="cheap"} 1' in metrics
    refused = client.post("/api/calls", json={"to": "+13125550199"}, headers=admin)
    assert refused.status_code == 502 and "do-not-call" in refused.json()["error"]
    nothing = client.post("/api/calls", json={"to": "+13125550100"}, headers=admin)
    assert nothing.status_code == 502 and "no usable carrier" in nothing.json()["error"]
    # the refused and unroutable calls are on the record, with their disposition
    calls = client.get("/api/calls", headers=admin).json()["calls"]
    assert sorted(c["disposition"] for c in calls) == ["refused", "refused"]
    assert all(c["status"] == "failed" and c["ended_at"] for c in calls)
    assert client.post("/api/calls", json={"to": "+13125550100"}, headers=user).status_code \
        == 403
