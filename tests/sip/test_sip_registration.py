"""REGISTER client state in simulated time: refresh, 423, back-off."""

from __future__ import annotations

from callport.channels.sip.message import SipResponse
from callport.channels.sip.registration import Registration


def reply(status: int, *headers: tuple[str, str]) -> SipResponse:
    return SipResponse(status=status, reason="X", headers=headers)


def test_refresh_at_half_of_granted_expiry() -> None:
    reg = Registration(aor="sip:bot@pbx", registrar="sip:pbx", contact="<sip:bot@1.2.3.4:5060>",
                       credentials=None, expires=600)
    req = reg.request("SIP/2.0/UDP 1.2.3.4;branch=z9hG4bK1")
    assert req.get("Expires") == "600" and req.cseq == (1, "REGISTER")
    granted = reply(200, ("Contact", "<sip:other@x>;expires=9"),
                    ("Contact", "<sip:bot@1.2.3.4:5060>;expires=120"))
    assert reg.on_response(granted, 10.0) is False
    assert (reg.state, reg.granted, reg.next_at) == ("registered", 120, 70.0)


def test_423_raises_expiry_and_failures_back_off() -> None:
    reg = Registration(aor="sip:bot@pbx", registrar="sip:pbx", contact="<sip:bot@h>",
                       credentials=("u", "p"), expires=60)
    reg.request("v")
    assert reg.on_response(reply(423, ("Min-Expires", "3600")), 0.0) is True
    assert reg.request("v").get("Expires") == "3600"
    challenge = reply(401, ("WWW-Authenticate", 'Digest realm="r", nonce="n"'))
    assert reg.on_response(challenge, 0.0) is True
    assert (reg.request("v").get("Authorization") or "").startswith("Digest ")
    assert reg.on_response(reply(403), 1.0) is False
    assert (reg.state, reg.next_at) == ("failed", 31.0)
    reg.request("v")
    reg.on_response(reply(503), 40.0)
    assert reg.next_at == 100.0  # back-off doubled
