"""callport doctor: embedded defaults are ready; a half-configured provider is reported."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from callport.config import Settings, load_settings
from callport.doctor import run_doctor
from callport.doctor_doors import OpenDoor, open_doors
from callport.store.sqlite_users import SqliteUserStore
from callport.types import User


def test_embedded_defaults_are_ready(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = {"CALLPORT_DB": str(tmp_path / "d.db"), "CALLPORT_PORT": "0"}
    code = run_doctor(load_settings(None, env=env))
    out = capsys.readouterr().out
    assert "twilio (optional)" in out and "telnyx (optional)" in out
    assert "VAD: Silero ONNX model" in out and "task database" in out
    # `make test` installs the speech stack and the test tools, so nothing is left to fix
    assert code == 0 and "FAIL" not in out, out


def test_half_configured_twilio_says_what_to_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"CALLPORT_DB": str(tmp_path / "d.db"), "CALLPORT_TWILIO_ACCOUNT_SID": "AC123"}
    assert run_doctor(load_settings(None, env=env)) == 1
    out = capsys.readouterr().out
    assert "FAIL  twilio account SID" in out and "CALLPORT_TWILIO_AUTH_TOKEN" in out


# -- open doors ------------------------------------------------------------------------------

def settings_of(**env: str) -> Settings:
    return load_settings(None, env=env)


def doors_of(users: tuple[User, ...] = (), **env: str) -> dict[str, OpenDoor]:
    found = open_doors(settings_of(**env), users=users)
    by_setting = {d.setting: d for d in found}
    assert len(by_setting) == len(found), found  # one warning per setting in these cases
    return by_setting


ADMIN_WITH_PASSWORD = User(name="owner", roles=frozenset({"admin"}), has_password=True)
PUBLIC = {"CALLPORT_HOST": "0.0.0.0", "CALLPORT_ALLOWED_HOSTS": "voice.example.com"}


def test_defaults_open_no_door() -> None:
    assert open_doors(settings_of()) == []
    # a public bind done right: allowed hosts, an admin password, reject unknown callers
    assert open_doors(settings_of(**PUBLIC), users=(ADMIN_WITH_PASSWORD,)) == []


def test_owner_mode_on_a_public_bind() -> None:
    assert "identity.unknown" not in doors_of(CALLPORT_IDENTITY_UNKNOWN="owner")  # loopback
    door = doors_of((ADMIN_WITH_PASSWORD,), CALLPORT_IDENTITY_UNKNOWN="owner",
                    **PUBLIC)["identity.unknown"]
    assert "acts as the owner" in door.problem and 'identity.unknown = "reject"' in door.fix
    sip = doors_of(CALLPORT_IDENTITY_UNKNOWN="owner", CALLPORT_SIP_ENABLED="true",
                   CALLPORT_SIP_HOST="0.0.0.0", CALLPORT_SIP_ALLOW_FROM="198.51.100.0/24")
    assert "sip.host=0.0.0.0" in sip["identity.unknown"].problem


def test_public_metrics() -> None:
    door = doors_of(CALLPORT_METRICS_PUBLIC="true")["server.metrics_public"]
    assert "metrics_public = false" in door.fix and "callport tokens create" in door.fix


def test_public_bind_without_allowed_hosts_and_a_wildcard() -> None:
    door = doors_of((ADMIN_WITH_PASSWORD,), CALLPORT_HOST="0.0.0.0")["server.allowed_hosts"]
    assert "server.allowed_hosts" in door.fix and "proxy" in door.fix
    wild = doors_of(CALLPORT_ALLOWED_HOSTS="*")["server.allowed_hosts"]
    assert "rebinding" in wild.problem


def test_any_origin_for_the_browser() -> None:
    door = doors_of(CALLPORT_BROWSER_ALLOWED_ORIGINS="https://a.example,*")[
        "browser.allowed_origins"]
    assert "any site" in door.problem and "embed the widget" in door.problem
    assert "browser.allowed_origins" not in doors_of(
        CALLPORT_BROWSER_ALLOWED_ORIGINS="https://a.example")


def test_providers_without_signing_credentials() -> None:
    twilio = doors_of(CALLPORT_TWILIO_ACCOUNT_SID="AC123")["twilio.auth_token"]
    assert "CALLPORT_TWILIO_AUTH_TOKEN" in twilio.fix
    assert "twilio.auth_token" not in doors_of(CALLPORT_TWILIO_ACCOUNT_SID="AC123",
                                               CALLPORT_TWILIO_AUTH_TOKEN="secret")
    telnyx = doors_of(CALLPORT_TELNYX_API_KEY="KEY123")["telnyx.public_key"]
    assert "CALLPORT_TELNYX_PUBLIC_KEY" in telnyx.fix


def test_trusting_forwarded_headers() -> None:
    door = doors_of(CALLPORT_TWILIO_TRUST_FORWARDED="true", CALLPORT_TWILIO_AUTH_TOKEN="x")[
        "twilio.trust_forwarded"]
    assert "proxy" in door.fix and "public_base_url" in door.fix
    assert "twilio.trust_forwarded" not in doors_of(  # the public URL wins over the headers
        CALLPORT_TWILIO_TRUST_FORWARDED="true", CALLPORT_TWILIO_AUTH_TOKEN="x",
        CALLPORT_TWILIO_PUBLIC_BASE_URL="https://voice.example.com")


def test_static_calls_api_token() -> None:
    door = doors_of(CALLPORT_TWILIO_CALLS_API_TOKEN="s3cret", CALLPORT_TWILIO_AUTH_TOKEN="x")[
        "twilio.calls_api_token"]
    assert "shared secret" in door.problem and "callport tokens create" in door.fix


def test_public_sip_without_a_guard() -> None:
    env = {"CALLPORT_SIP_ENABLED": "true", "CALLPORT_SIP_HOST": "0.0.0.0"}
    door = doors_of(**env)["sip.allow_from"]
    assert "sip.allow_from" in door.fix and "sip.auth_users" in door.fix
    assert "sip.allow_from" not in doors_of(**env, CALLPORT_SIP_AUTH_USERS="pbx:pw")
    assert "sip.allow_from" not in doors_of(CALLPORT_SIP_ENABLED="true")  # loopback


def test_refer_allow_patterns_matching_everything() -> None:
    for pattern in ("*", "sip:*", "tel:*", "tel:+*", "sip*"):
        door = doors_of(CALLPORT_SIP_REFER_ALLOW=pattern)["sip.refer_allow"]
        assert repr(pattern) in door.problem and "toll fraud" in door.problem
    for narrow in ("sip:*@pbx.example.com", "tel:+4420*", "sip:sales@pbx.example.com:5060"):
        assert "sip.refer_allow" not in doors_of(CALLPORT_SIP_REFER_ALLOW=narrow), narrow


def test_no_admin_password_on_a_public_web() -> None:
    env = {"CALLPORT_HOST": "0.0.0.0", "CALLPORT_ALLOWED_HOSTS": "voice.example.com"}
    no_users = doors_of(**env)["users"]
    assert "no users yet" in no_users.problem
    assert "callport users set owner --password-stdin" in no_users.fix
    admin = User(name="boss", roles=frozenset({"admin"}))
    door = doors_of((admin, User(name="u", has_password=True)), **env)["users"]
    assert "(boss)" in door.problem and "users set boss" in door.fix
    assert "users" not in doors_of((admin,))  # loopback only: the link stays on this machine


def test_doctor_prints_warnings_from_the_user_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "d.db"

    async def add_owner() -> None:
        store = SqliteUserStore(db)
        await store.add("owner", roles=("admin",))
        store.close()

    asyncio.run(add_owner())
    env = {"CALLPORT_DB": str(db), "CALLPORT_PORT": "0", "CALLPORT_HOST": "0.0.0.0",
           "CALLPORT_METRICS_PUBLIC": "true"}
    code = run_doctor(load_settings(None, env=env))
    out = capsys.readouterr().out
    assert code == 0, out  # warnings alone do not fail
    warned = [line for line in out.splitlines() if line.startswith("WARN")]
    assert len(warned) == 3, out  # metrics, allowed hosts, no admin password
    assert any("server.metrics_public" in w for w in warned)
    assert any("no admin has a password (owner)" in w for w in warned)
    assert "3 open door(s) to consider" in out


# -- a running callport, test-only tools, nothing created ------------------------------------

def _serve_on_thread(body: bytes) -> tuple[int, object]:
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1], server


@pytest.mark.parametrize(("body", "ok", "says"), [
    (b'{"status": "ok", "version": "9.9"}', True, "in use by callport 9.9 (running)"),
    (b"<html>someone else</html>", False, "in use by another program: pass --port"),
])
def test_a_busy_port_is_fine_when_callport_holds_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: bytes, ok: bool, says: str
) -> None:
    port, server = _serve_on_thread(body)
    try:
        env = {"CALLPORT_DB": str(tmp_path / "d.db"), "CALLPORT_PORT": str(port)}
        code = run_doctor(load_settings(None, env=env))
    finally:
        server.shutdown()  # type: ignore[attr-defined]
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if f"HTTP port 127.0.0.1:{port}" in x)
    assert line.startswith("ok" if ok else "FAIL") and says in line
    assert (code == 0) is ok
    assert not (tmp_path / "d.db").exists()  # doctor changes nothing


def test_test_tools_are_listed_apart_with_their_debian_packages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda t: None if t in ("sipp", "baresip") else real(t))
    code = run_doctor(load_settings(None, env={"CALLPORT_DB": str(tmp_path / "d.db"),
                                               "CALLPORT_PORT": "0"}))
    out = capsys.readouterr().out
    tests = out.split("for the test suite only")[1]
    assert "miss  sipp" in tests and "apt-get install sip-tester" in tests
    assert code == 0 and "FAIL" not in out  # the gateway runs without them


def test_a_broken_agent_reference_fails_the_doctor(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"CALLPORT_DB": str(tmp_path / "d.db"), "CALLPORT_PORT": "0",
           "CALLPORT_AGENT": "nope_nope_mod:make"}
    assert run_doctor(load_settings(None, env=env)) == 1
    out = capsys.readouterr().out
    assert "FAIL  agent" in out and "cannot import 'nope_nope_mod'" in out
    assert "web page" in out and "web assets" in out
