"""Without ``[routing]`` a failed outbound call leaves a record too (issue 14 item 6).

``callport call sip:...`` (the CLI as a subprocess) and ``POST /api/calls`` (an admin's API
token, the SIP channel running) to a sipp UAS that answers 486 or 404, and to a closed port
(nothing listening): each leaves exactly one closed record with the carrier, the attempt and
its cause (``callport calls list --json``). An answered call still has exactly one record.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sip_support import SIPP, free_udp_port, needs_sipp, rtp_range

from callport.call.call import Call

pytestmark = [pytest.mark.slow, pytest.mark.interop, needs_sipp]
SCENARIOS = Path(__file__).parent / "scenarios"
CALLPORT = str(Path(sys.executable).with_name("callport"))

# (sipp answer, disposition, status, the attempt's cause starts with)
FAILURES = {
    "486": ("486 Busy Here", "busy", "busy", "sip 486"),
    "404": ("404 Not Found", "invalid-number", "failed", "sip 404"),
    "closed": ("", "failed", "failed", "sip 408"),
}


async def hang_up(call: Call) -> None:
    """The answered call's flow: end it at once (the test is about records, not speech)."""
    await call.hangup("done")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A SIP-only configuration (no trunk, no routing) on loopback, its own database."""
    low, high = rtp_range()
    out = {k: v for k, v in os.environ.items() if not k.startswith("CALLPORT_")}
    out.update({
        "CALLPORT_DB": str(tmp_path / "cp.db"), "CALLPORT_SIP_HOST": "127.0.0.1",
        "CALLPORT_SIP_RTP_PORT_MIN": str(low), "CALLPORT_SIP_RTP_PORT_MAX": str(high),
        "CALLPORT_SIP_TARGET_TIMEOUT_S": "2", "CALLPORT_FLOW": f"{__name__}:hang_up",
        "CALLPORT_IDENTITY_UNKNOWN": "guest",
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])})
    return out


@pytest.fixture
def uas(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[int]:
    """A one-call sipp UAS answering ``request.param`` ("" for a closed port); its port."""
    answer: str = request.param
    port = free_udp_port()
    if not answer:
        yield port  # nothing listens there
        return
    assert SIPP is not None
    if answer == "answer":
        scenario = ["-sn", "uas"]
    else:
        path = tmp_path / "final.xml"
        path.write_text((SCENARIOS / "uas_final.xml").read_text().replace("STATUS REASON",
                                                                           answer))
        scenario = ["-sf", str(path)]
    proc = subprocess.Popen(
        [SIPP, *scenario, "-i", "127.0.0.1", "-p", str(port), "-mp",
         str(free_udp_port() & ~1), "-m", "1", "-nostdin", "-timeout", "20s"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield port
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def listed(env: dict[str, str]) -> list[dict[str, Any]]:
    done = subprocess.run([CALLPORT, "calls", "list", "--json"], env=env, capture_output=True,
                          text=True, timeout=60, check=True)
    calls: list[dict[str, Any]] = json.loads(done.stdout)
    return calls


def assert_failed_record(calls: list[dict[str, Any]], target: str, case: str, *,
                         caller: str = "") -> None:
    _answer, disposition, status, cause = FAILURES[case]
    assert len(calls) == 1, calls
    [r] = calls
    assert r["direction"] == "outbound" and r["callee"] == target and r["caller"] == caller
    assert r["channel"] == "sip" and r["carrier"] == "sip"
    assert r["status"] == status and r["disposition"] == disposition
    assert r["ended_at"] is not None and r["started_at"] <= r["ended_at"]
    assert r["answered_at"] is None
    assert r["hangup_cause"].startswith("sip: ")
    [attempt] = r["attempts"]
    assert attempt["carrier"] == "sip" and attempt["outcome"] == "failed"
    assert attempt["cause"].startswith(cause), attempt


CASES = [pytest.param(FAILURES[c][0], c, id=c) for c in FAILURES]


@pytest.mark.parametrize(("uas", "case"), CASES, indirect=["uas"])
def test_cli_failed_call_leaves_one_closed_record(env: dict[str, str], uas: int,
                                                  case: str) -> None:
    target = f"sip:bob@127.0.0.1:{uas}"
    done = subprocess.run([CALLPORT, "call", target, "--from", "+15550003333"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert "call failed" in done.stderr
    assert_failed_record(listed(env), target, case, caller="+15550003333")


@pytest.mark.parametrize("uas", ["answer"], indirect=True)
def test_cli_answered_call_keeps_one_record(env: dict[str, str], uas: int) -> None:
    target = f"sip:bob@127.0.0.1:{uas}"
    done = subprocess.run([CALLPORT, "call", target], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    [r] = listed(env)
    assert r["call_id"] == done.stdout.strip()
    assert r["disposition"] == "answered" and r["ended_at"] is not None
    assert r["direction"] == "outbound" and r["attempts"] == []


def _api(env: dict[str, str], tmp_path: Path, target: str) -> tuple[int, dict[str, Any]]:
    from server_support import BASE, add_user, api_token
    from starlette.testclient import TestClient

    from callport.config import load_settings
    from callport.server.app import create_app
    from callport.server.runtime import build_runtime

    cp = {k: v for k, v in env.items() if k.startswith("CALLPORT_")}
    settings = load_settings(None, env={**cp, "CALLPORT_SIP_ENABLED": "true",
                                        "CALLPORT_SIP_PORT": "0"})
    runtime = build_runtime(settings)
    add_user(runtime, "ada", roles=("admin",))
    admin = api_token(runtime, "ada")
    with TestClient(create_app(runtime), base_url=BASE) as client:
        anonymous = client.post("/api/calls", json={"to": target})
        assert anonymous.status_code == 401  # the door is locked: no call, no record
        reply = client.post("/api/calls", json={"to": target, "from": "+15550004444"},
                            headers={"Authorization": f"Bearer {admin}"})
    body: dict[str, Any] = reply.json()
    return reply.status_code, body


@pytest.mark.parametrize(("uas", "case"), CASES, indirect=["uas"])
def test_api_failed_call_leaves_one_closed_record(env: dict[str, str], tmp_path: Path,
                                                  uas: int, case: str) -> None:
    target = f"sip:bob@127.0.0.1:{uas}"
    status, body = _api(env, tmp_path, target)
    assert status == (400 if case == "404" else 502), body  # 404: a bad target
    assert body["error"].startswith("sip: ")
    assert_failed_record(listed(env), target, case, caller="+15550004444")


@pytest.mark.parametrize("uas", ["answer"], indirect=True)
def test_api_answered_call_keeps_one_record(env: dict[str, str], tmp_path: Path,
                                            uas: int) -> None:
    target = f"sip:bob@127.0.0.1:{uas}"
    status, body = _api(env, tmp_path, target)
    assert status == 201, body
    [r] = listed(env)
    assert r["call_id"] == body["call_id"] and r["disposition"] == "answered"
    assert r["attempts"] == []
