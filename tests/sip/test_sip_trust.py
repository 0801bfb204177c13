"""Who a SIP peer is and what it may ask: REFER policy, caller identity, the bind guard.

Sans-IO: the user agent fed with bytes; the pure helpers of ``trust``; the channel and the
``serve`` command refusing a public bind with nothing guarding it."""

from __future__ import annotations

import pytest
from sip_fixtures import invite, request

from callport.channels.sip.auth import authorization
from callport.channels.sip.channel import SipChannel
from callport.channels.sip.events import (
    CallConfirmed,
    IncomingCall,
    SipEvent,
    TransferRequested,
    Transmit,
)
from callport.channels.sip.message import SipRequest, SipResponse, parse_message
from callport.channels.sip.trust import (
    Networks,
    caller_identity,
    exposure_problem,
    normalise_number,
    refer_allowed,
    refer_target,
)
from callport.channels.sip.useragent import UaConfig, UserAgent
from callport.config import ConfigError, SipSettings

PEER = ("10.0.0.9", 5062)
TRUNK = ("192.0.2.10", 5060)


def sent(events: list[SipEvent]) -> list[SipRequest | SipResponse]:
    return [parse_message(e.data) for e in events if isinstance(e, Transmit)]


def ua(**kw: object) -> UserAgent:
    return UserAgent(config=UaConfig(host="127.0.0.1", port=5060, **kw))  # type: ignore[arg-type]


def call_from(agent: UserAgent, addr: tuple[str, int],
              extra: str = "") -> tuple[str, str, IncomingCall]:
    events = agent.receive(invite(extra=extra), addr, 0.0)
    [incoming] = [e for e in events if isinstance(e, IncomingCall)]
    [ok] = sent(agent.answer(incoming.key, media_host="127.0.0.1", media_port=20000, now=0.1))
    assert isinstance(ok, SipResponse)
    ack = request("ACK", branch="z9hG4bK-ack", to_tag=ok.to_tag, cseq=1)
    assert isinstance(agent.receive(ack, addr, 0.2)[0], CallConfirmed)
    return incoming.key, ok.to_tag, incoming


def refer(agent: UserAgent, tag: str, target: str, addr: tuple[str, int]) -> list[SipEvent]:
    msg = request("REFER", branch="z9hG4bK-r", to_tag=tag, cseq=2,
                  extra=f"Refer-To: <{target}>\r\n")
    return agent.receive(msg, addr, 1.0)


# ---- REFER -------------------------------------------------------------------------------


def test_refer_from_an_untrusted_peer_is_declined_even_to_an_allowed_target() -> None:
    agent = ua(refer_allow=("tel:+1*",))  # no allow_from: anyone may call, nobody is trusted
    _, tag, _ = call_from(agent, PEER)
    events = refer(agent, tag, "tel:+19005550100", PEER)
    [resp] = sent(events)  # the 603 and nothing else: no NOTIFY
    assert isinstance(resp, SipResponse) and resp.status == 603
    assert not any(isinstance(e, TransferRequested) for e in events)
    assert agent.stats["refer_refused"] == 1


def test_refer_to_a_target_outside_the_allowlist_is_declined() -> None:
    agent = ua(allow_from=("192.0.2.0/24",), refer_allow=("sip:*@pbx.example.com",))
    _, tag, _ = call_from(agent, TRUNK)
    for target in ("tel:+19005550100", "sip:x@evil.example.com",
                   "sip:x@evil.example.com;a=@pbx.example.com",  # the user part hides '@'
                   "sip:x@pbx.example.com?Replaces=abc"):
        events = refer(agent, tag, target, TRUNK)
        assert [m.status for m in sent(events) if isinstance(m, SipResponse)] == [603], target
        assert not any(isinstance(e, TransferRequested) for e in events)


def test_empty_refer_allow_refuses_every_refer() -> None:
    agent = ua(allow_from=("192.0.2.0/24",))
    _, tag, _ = call_from(agent, TRUNK)
    [resp] = sent(refer(agent, tag, "sip:carol@pbx.example.com", TRUNK))
    assert isinstance(resp, SipResponse) and resp.status == 603


def test_trusted_refer_to_an_allowed_target_is_followed_as_matched() -> None:
    agent = ua(allow_from=("192.0.2.0/24",), refer_allow=("sip:*@pbx.example.com",))
    key, tag, _ = call_from(agent, TRUNK)
    events = refer(agent, tag, "sip:carol@PBX.example.com;maddr=evil.example.com", TRUNK)
    msgs = sent(events)
    assert isinstance(msgs[0], SipResponse) and msgs[0].status == 202
    assert isinstance(msgs[1], SipRequest) and msgs[1].method == "NOTIFY"
    # What is dialled is what matched: maddr (or anything else) cannot steer it elsewhere.
    assert TransferRequested(key, "sip:carol@pbx.example.com") in events


def test_refer_in_a_digest_authenticated_dialog_is_trusted() -> None:
    agent = ua(auth_users=(("alice", "secret"),), auth_realm="cp", refer_allow=("tel:+44*",))
    [challenge] = sent(agent.receive(invite(), PEER, 0.0))
    assert isinstance(challenge, SipResponse)
    creds = authorization(challenge.get("WWW-Authenticate") or "", username="alice",
                          password="secret", method="INVITE", uri="sip:bot@127.0.0.1:5060")
    events = agent.receive(invite(branch="z9hG4bK-2", cseq=2,
                                  extra=f"Authorization: {creds}\r\n"), PEER, 0.5)
    [incoming] = [e for e in events if isinstance(e, IncomingCall)]
    assert incoming.authenticated == "alice" and not incoming.trusted
    [ok] = sent(agent.answer(incoming.key, media_host="127.0.0.1", media_port=20000, now=0.6))
    assert isinstance(ok, SipResponse)
    agent.receive(request("ACK", branch="z9hG4bK-ack", to_tag=ok.to_tag, cseq=2), PEER, 0.7)
    msg = request("REFER", branch="z9hG4bK-r", to_tag=ok.to_tag, cseq=3,
                  extra="Refer-To: <tel:+44-20-7946-0000>\r\n")
    events = agent.receive(msg, PEER, 1.0)
    assert TransferRequested(incoming.key, "tel:+442079460000") in events


def test_refer_target_reduces_to_what_is_dialled() -> None:
    assert refer_target("<sip:Carol@PBX.Example.com:5070;transport=TCP;lr>") == (
        "sip:Carol@pbx.example.com:5070;transport=tcp")
    assert refer_target("<tel:+1-555-010-0000;phone-context=x>") == "tel:+15550100000"
    assert refer_target("sip:pbx.example.com") is None  # no user
    assert refer_target("<sip:a:pw@pbx.example.com>") is None
    assert refer_target("<sip:a@pbx.example.com?Replaces=x%40y>") is None
    assert refer_target("<http://example.com>") is None
    assert refer_allowed("tel:+442079460000", ("sip:*", "tel:+44*"))
    assert not refer_allowed("tel:+19005550100", ("tel:+44*",))
    assert not refer_allowed("sip:x@pbx.example.com.evil.net", ("sip:*@pbx.example.com",))


# ---- caller identity ---------------------------------------------------------------------

PAI = "P-Asserted-Identity: <sip:+15550002222@trunk.example>\r\n"


def test_pai_is_the_caller_when_the_peer_is_trusted() -> None:
    agent = ua(allow_from=("192.0.2.0/24",))
    _, _, incoming = call_from(agent, TRUNK, extra=PAI)
    assert incoming.caller == "+15550002222" and incoming.trusted


def test_pai_from_an_untrusted_peer_is_ignored_for_the_from_user() -> None:
    agent = ua()  # anyone may call; nobody may assert an identity
    _, _, incoming = call_from(agent, PEER, extra=PAI)
    assert incoming.caller == "+15550001" and not incoming.trusted  # From: <sip:+15550001@...>


def test_caller_identity_rules() -> None:
    frm = '"Alice" <sip:%2B1-555-000-1111@x.example;user=phone>;tag=1'
    assert caller_identity(from_header=frm, asserted=[], trusted=True) == "+15550001111"
    both = '"Bob" <sip:bob@x.example>, <tel:+15550003333>'
    assert caller_identity(from_header=frm, asserted=[both], trusted=True) == "bob"
    assert caller_identity(from_header=frm, asserted=["<tel:+44 20 7946 0000>"],
                           trusted=True) == "+442079460000"
    assert caller_identity(from_header=frm, asserted=["garbage"], trusted=True) == "+15550001111"
    assert caller_identity(from_header=None, asserted=[], trusted=False) == ""
    assert normalise_number("15550001111") == "15550001111"  # no country code is guessed
    assert normalise_number("alice") == "alice"
    assert normalise_number("+1 (555) 000-1111") == "+15550001111"


def test_networks_trust_only_configured_sources() -> None:
    anyone = Networks(())
    assert anyone.admits(PEER) and not anyone.contains(PEER)
    trunk = Networks(("192.0.2.0/24", "2001:db8::/32"))
    assert trunk.contains(TRUNK) and trunk.contains(("2001:db8::5", 5060))
    assert trunk.contains(("::ffff:192.0.2.10", 5060))  # dual-stack socket, IPv4 peer
    assert not trunk.admits(PEER) and not trunk.contains(("not-an-ip", 1))


# ---- the bind guard ----------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.53"])
def test_loopback_bind_needs_no_guard(host: str) -> None:
    assert exposure_problem(SipSettings(enabled=True, host=host)) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "sip.example.com"])
def test_public_bind_without_guard_is_refused(host: str) -> None:
    problem = exposure_problem(SipSettings(enabled=True, host=host))
    assert problem is not None
    assert "sip.allow_from" in problem and "sip.auth_users" in problem
    assert exposure_problem(SipSettings(host=host, allow_from=("192.0.2.0/24",))) is None
    assert exposure_problem(SipSettings(host=host, auth_users=("alice:secret",))) is None


def test_channel_refuses_to_start_on_a_public_bind_without_guard() -> None:
    with pytest.raises(ConfigError, match=r"sip\.allow_from"):
        SipChannel(object(), settings=SipSettings(  # type: ignore[arg-type]
            enabled=True, host="0.0.0.0"))


def test_serve_prints_what_to_set_and_exits_2(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from callport.cli import main

    monkeypatch.setenv("CALLPORT_SIP_HOST", "0.0.0.0")
    for name in ("CALLPORT_SIP_ALLOW_FROM", "CALLPORT_SIP_AUTH_USERS"):
        monkeypatch.delenv(name, raising=False)
    assert main(["serve", "--sip-port", "5999", "--no-warmup"]) == 2
    err = capsys.readouterr().err
    assert "sip.allow_from" in err and "sip.auth_users" in err and "0.0.0.0" in err
