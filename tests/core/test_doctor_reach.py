"""``callport doctor``'s reachability lines: every address class a provider cannot reach from
the internet is named (loopback, private, link-local, carrier-grade NAT, documentation), a
host that does not resolve is said, a public one passes; the resolver is a stand-in here (the
tests stay on loopback), and the whole doctor runs on literal addresses and ``.invalid``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from callport.config import load_settings
from callport.doctor import run_doctor
from callport.doctor_reach import classify, reach, reach_checks


@pytest.mark.parametrize(("address", "why"), [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("10.1.2.3", "private"),
    ("172.20.0.5", "private"), ("192.168.1.10", "private"), ("fd00::5", "private"),
    ("169.254.10.1", "link-local"), ("fe80::1%eth0", "link-local"),
    ("100.64.3.4", "shared (carrier-grade NAT)"), ("0.0.0.0", "unspecified"),
    ("203.0.113.7", "private"), ("224.0.0.1", "not a public address"),
    ("34.201.10.1", ""), ("2606:4700::1111", ""), ("voice.example.com", "not an IP address"),
])  # fmt: skip
def test_classify(address: str, why: str) -> None:
    assert classify(address) == why


def resolver(table: dict[str, Sequence[str]]):  # type: ignore[no-untyped-def]
    def resolve(host: str) -> Sequence[str]:
        if host not in table:
            raise OSError("Name or service not known")
        return table[host]

    return resolve


DNS = resolver({"voice.example.com": ["34.201.10.1"], "lan.example.com": ["192.168.1.10"],
                "split.example.com": ["10.0.0.8", "34.201.10.2"], "empty.example.com": []})


def test_reach_names_what_is_wrong_and_what_to_do() -> None:
    ok = reach("x", "voice.example.com", "Twilio", DNS)
    assert ok == ("x", True, "voice.example.com is 34.201.10.1 (public)")
    _, good, detail = reach("x", "lan.example.com", "Twilio", DNS)
    assert not good and "192.168.1.10 (private): Twilio cannot reach it" in detail
    assert "tunnel" in detail and "reverse proxy" in detail
    assert reach("x", "split.example.com", "Twilio", DNS)[1]  # one public address will do
    _, good, detail = reach("x", "gone.example.com", "Telnyx", DNS)
    assert not good and "gone.example.com does not resolve" in detail
    assert not reach("x", "empty.example.com", "Telnyx", DNS)[1]
    _, good, detail = reach("x", "127.0.0.1", "Twilio", DNS)  # literal: no lookup
    assert not good and "127.0.0.1 (loopback)" in detail


def settings(**env: str):  # type: ignore[no-untyped-def]
    return load_settings(None, env={"CALLPORT_DB": ":memory:", **env})


def test_reach_checks_cover_each_configured_provider_and_the_sip_address() -> None:
    assert reach_checks(settings(), DNS) == []  # nothing handed to a provider
    [twilio] = reach_checks(settings(
        CALLPORT_TWILIO_PUBLIC_BASE_URL="https://lan.example.com/cp"), DNS)
    assert twilio[0] == "twilio public URL reachable" and not twilio[1]
    [telnyx] = reach_checks(settings(
        CALLPORT_TELNYX_PUBLIC_BASE_URL="https://voice.example.com"), DNS)
    assert telnyx[1]
    sip = {"CALLPORT_SIP_ENABLED": "true", "CALLPORT_SIP_TRUNK_ADDRESS": "sip.carrier.example"}
    [own] = reach_checks(settings(**sip, CALLPORT_SIP_HOST="10.0.0.5"), DNS)
    assert not own[1] and "set sip.public_host" in own[2] and "10.0.0.5 (private)" in own[2]
    [wild] = reach_checks(settings(**sip, CALLPORT_SIP_HOST="0.0.0.0"), DNS)
    assert not wild[1] and "CALLPORT_SIP_PUBLIC_HOST" in wild[2]
    [good] = reach_checks(settings(**sip, CALLPORT_SIP_PUBLIC_HOST="voice.example.com"), DNS)
    assert good[1]


def test_doctor_prints_the_reachability_lines(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    env = {"CALLPORT_DB": str(tmp_path / "d.db"), "CALLPORT_PORT": "0",
           "CALLPORT_TWILIO_PUBLIC_BASE_URL": "https://127.0.0.1:8443",
           "CALLPORT_TELNYX_PUBLIC_BASE_URL": "https://voice.no-such-name.invalid"}
    assert run_doctor(load_settings(None, env=env)) == 1
    out = capsys.readouterr().out
    twilio = next(line for line in out.splitlines() if "twilio public URL reachable" in line)
    assert twilio.startswith("FAIL") and "127.0.0.1 (loopback): Twilio cannot reach" in twilio
    telnyx = next(line for line in out.splitlines() if "telnyx public URL reachable" in line)
    assert telnyx.startswith("FAIL") and "does not resolve" in telnyx
    assert not (tmp_path / "d.db").exists()  # doctor changes nothing
