"""``callport call`` and ``POST /api/calls`` go through the neutral Dialer only, and pick a
carrier the configuration has (never Twilio by default when SIP is what is configured)."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from server_support import BASE, add_user, api_token, client_of, runtime_at
from sip_support import SIPP, free_udp_port, needs_sipp

from callport.channels.carriers import NoCarrier, choose, configured
from callport.cli import main
from callport.config import Settings, SipSettings, TelnyxSettings, TwilioSettings

ACCOUNT = "AC" + "1" * 32
CA = "CA" + "d" * 32
SCENARIOS = Path(__file__).parent / "scenarios"


@dataclass
class FakeTwilio:
    """api.twilio.com on loopback: call creates, and the status a call fetch reports."""

    status: str = "queued"
    creates: list[dict[str, list[str]]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def twilio_api() -> Iterator[FakeTwilio]:
    fake = FakeTwilio()

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, code: int, doc: object) -> None:
            body = json.dumps(doc).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = parse_qs(self.rfile.read(length).decode())
            if self.path == f"/2010-04-01/Accounts/{ACCOUNT}/Calls.json":
                fake.creates.append(form)
                self._reply(201, {"sid": CA, "status": "queued"})
            else:  # a hang-up
                self._reply(200, {"sid": CA, "status": "completed"})

        def do_GET(self) -> None:
            assert self.path == f"/2010-04-01/Accounts/{ACCOUNT}/Calls/{CA}.json"
            self._reply(200, {"sid": CA, "status": fake.status})

        def log_message(self, *_: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield fake
    server.shutdown()
    server.server_close()
    thread.join(5)


def twilio_env(api: FakeTwilio) -> dict[str, str]:
    return {"CALLPORT_TWILIO_ACCOUNT_SID": ACCOUNT, "CALLPORT_TWILIO_AUTH_TOKEN": "a" * 32,
            "CALLPORT_TWILIO_PUBLIC_BASE_URL": "https://gw.example.com",
            "CALLPORT_TWILIO_NUMBERS": "+15550002222", "CALLPORT_TWILIO_API_BASE_URL": api.url}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    import os

    for name in list(os.environ):
        if name.startswith("CALLPORT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CALLPORT_DB", str(tmp_path / "t.db"))
    return monkeypatch


# ------------------------------------------------------------------------- choosing


def test_choose_takes_the_only_configured_carrier_or_asks() -> None:
    sip_only = Settings(sip=SipSettings(trunk_address="trunk.example"))
    assert configured(sip_only) == ("sip",)
    assert choose(sip_only, "tel:+15550001") == "sip"
    with pytest.raises(NoCarrier, match=r"twilio is not configured.*configured: sip"):
        choose(sip_only, "tel:+15550001", "twilio")
    both = Settings(twilio=TwilioSettings(account_sid=ACCOUNT, auth_token="a" * 32),
                    telnyx=TelnyxSettings(api_key="K", public_key="P"))
    with pytest.raises(NoCarrier, match=r"several carriers are configured \(twilio, telnyx\)"):
        choose(both, "+15550001")
    assert choose(both, "+15550001", "telnyx") == "telnyx"
    assert choose(both, "sip:bob@example.com") == "sip"  # a SIP URI needs no trunk
    with pytest.raises(NoCarrier, match="no carrier is configured"):
        choose(Settings(), "tel:+15550001")
    with pytest.raises(ValueError, match="tel:"):
        choose(both, "not a number")


# ------------------------------------------------------------------------- the CLI


def test_cli_without_a_single_carrier_names_the_configured_ones(
    env: pytest.MonkeyPatch, twilio_api: FakeTwilio, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["call", "tel:+15550009999"]) == 2
    assert "no carrier is configured" in capsys.readouterr().err
    env.setenv("CALLPORT_SIP_TRUNK_ADDRESS", "127.0.0.1:5999")
    assert main(["call", "tel:+15550009999", "--via", "twilio"]) == 2
    assert "twilio is not configured for outbound calls (configured: sip)" in (
        capsys.readouterr().err)
    for name, value in twilio_env(twilio_api).items():
        env.setenv(name, value)
    assert main(["call", "tel:+15550009999"]) == 2
    assert "several carriers are configured (twilio, sip)" in capsys.readouterr().err
    assert twilio_api.creates == []


@pytest.mark.parametrize(("status", "rc", "says"), [
    ("in-progress", 0, "answered"), ("busy", 1, "twilio: busy"),
    ("no-answer", 1, "twilio: no-answer")])
def test_cli_twilio_outcome(env: pytest.MonkeyPatch, twilio_api: FakeTwilio,
                            capsys: pytest.CaptureFixture[str], status: str, rc: int,
                            says: str) -> None:
    for name, value in twilio_env(twilio_api).items():
        env.setenv(name, value)
    twilio_api.status = status
    assert main(["call", "tel:+15550009999", "--from", "+15550003333"]) == rc
    out = capsys.readouterr()
    assert says in out.err
    if rc == 0:
        assert out.out.strip() == CA
    (form,) = twilio_api.creates
    assert form["To"] == ["+15550009999"] and form["From"] == ["+15550003333"]


@pytest.mark.slow
@pytest.mark.interop
@needs_sipp
def test_cli_tel_goes_to_the_sip_trunk_when_only_sip_is_configured(
    env: pytest.MonkeyPatch, twilio_api: FakeTwilio, tmp_path: Path,
    capsys: pytest.CaptureFixture[str]
) -> None:
    """``callport call tel:+1...`` with a SIP trunk and no Twilio: the trunk gets the INVITE
    (sipp answers 486) and the CLI says busy with the SIP status; Twilio sees nothing."""
    scenario = tmp_path / "busy.xml"
    scenario.write_text((SCENARIOS / "uas_final.xml").read_text().replace(
        "STATUS REASON", "486 Busy Here"))
    port = free_udp_port()
    assert SIPP is not None
    sipp = subprocess.Popen(
        [SIPP, "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(port), "-m", "1",
         "-nostdin", "-timeout", "20s"], cwd=tmp_path,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        env.setenv("CALLPORT_SIP_TRUNK_ADDRESS", f"127.0.0.1:{port}")
        env.setenv("CALLPORT_SIP_HOST", "127.0.0.1")
        assert main(["call", "tel:+15550009999"]) == 1
        err = capsys.readouterr().err
        assert "via sip" in err and "sip: busy" in err and "SIP 486" in err
        assert sipp.wait(10) == 0
    finally:
        if sipp.poll() is None:
            sipp.kill()
            sipp.wait()
    assert twilio_api.creates == []


# ------------------------------------------------------------------------- POST /api/calls


def test_api_calls_needs_an_admin_token_and_places_through_the_dialer(
    tmp_path: Path, twilio_api: FakeTwilio
) -> None:
    runtime = runtime_at(tmp_path, twilio_env(twilio_api))
    add_user(runtime, "ada", roles=("admin",))
    add_user(runtime, "bob")
    admin, user = api_token(runtime, "ada"), api_token(runtime, "bob")
    with client_of(runtime) as client:
        call = {"to": "+15550009999"}
        anonymous = client.post("/api/calls", json=call)
        assert anonymous.status_code == 401, anonymous.text
        forged = client.post("/api/calls", json=call, headers={"Authorization": "Bearer x"})
        assert forged.status_code == 401
        plain = client.post("/api/calls", json=call, headers={"Authorization": f"Bearer {user}"})
        assert plain.status_code == 403, plain.text
        assert twilio_api.creates == []
        auth = {"Authorization": f"Bearer {admin}"}
        placed = client.post("/api/calls", json={**call, "from": "+15550003333"}, headers=auth)
        assert placed.status_code == 201, placed.text
        body = placed.json()
        assert body["carrier"] == "twilio" and body["provider_call_id"] == CA and body["call_id"]
        (form,) = twilio_api.creates
        assert form["To"] == ["+15550009999"] and form["From"] == ["+15550003333"]
        other = client.post("/api/calls", json={**call, "via": "telnyx"}, headers=auth)
        assert other.status_code == 400 and "configured: twilio" in other.json()["error"]
        bad = client.post("/api/calls", json={"to": 5}, headers=auth)
        assert bad.status_code == 400
    assert BASE.startswith("http://localhost")
