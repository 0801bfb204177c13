"""Attended transfer from a phone, sans-IO: Replaces in a Refer-To (RFC 3891 §6.1, RFC 5589
§7), matched to our dialogs, and the user agent's answer to such a REFER, fed with bytes."""

from __future__ import annotations

import pytest
from sip_fixtures import invite, request

from callport.channels.sip.events import (
    AttendedTransferRequested,
    CallConfirmed,
    IncomingCall,
    SipEvent,
    TransferRequested,
    Transmit,
)
from callport.channels.sip.message import SipRequest, SipResponse, parse_message
from callport.channels.sip.replaces import (
    DialogIds,
    Replaces,
    ReplacesError,
    match_dialog,
    parse_replaces,
    refer_replaces,
)
from callport.channels.sip.useragent import UaConfig, UserAgent

PEER = ("10.0.0.9", 5062)


def test_parse_replaces() -> None:
    assert parse_replaces("abc@10.0.0.9;to-tag=t1;from-tag=f1") == Replaces(
        call_id="abc@10.0.0.9", to_tag="t1", from_tag="f1")
    assert parse_replaces(" x ; from-tag=f ;to-tag=t; early-only").early_only is True
    for bad in ("abc;to-tag=t", "abc;from-tag=f", ";to-tag=t;from-tag=f", "abc;to-tag=;from-tag=f"):
        with pytest.raises(ReplacesError) as info:
            parse_replaces(bad)
        assert info.value.status == 400


def test_refer_to_carries_replaces_escaped() -> None:
    refer_to = ("<sip:bob@10.0.0.9?Replaces=d2%4010.0.0.9%3Bto-tag%3Dcp2%3Bfrom-tag%3Dph2"
                "&Require=replaces>")
    assert refer_replaces(refer_to) == Replaces(call_id="d2@10.0.0.9", to_tag="cp2",
                                                from_tag="ph2")
    assert refer_replaces("<sip:carol@10.0.0.7>") is None  # a blind transfer
    assert refer_replaces("not a uri") is None
    with pytest.raises(ReplacesError):
        refer_replaces("<sip:bob@h?Replaces=d2%3Bto-tag%3Dx>")  # no from-tag: names nothing


def test_match_dialog_by_call_id_and_tags() -> None:
    dialogs = [DialogIds(key="k1", call_id="d1", local_tag="cp1", remote_tag="ph1",
                         confirmed=True),
               DialogIds(key="k2", call_id="d2", local_tag="cp2", remote_tag="ph2",
                         confirmed=True),
               DialogIds(key="k3", call_id="d3", local_tag="cp3", remote_tag="ph3",
                         confirmed=False)]
    assert match_dialog(Replaces(call_id="d2", to_tag="cp2", from_tag="ph2"), dialogs) == "k2"
    # a phone that swapped the tags still names the same dialog
    assert match_dialog(Replaces(call_id="d2", to_tag="ph2", from_tag="cp2"), dialogs) == "k2"
    assert match_dialog(Replaces(call_id="d2", to_tag="cp2", from_tag="zz"), dialogs) is None
    assert match_dialog(Replaces(call_id="d9", to_tag="cp2", from_tag="ph2"), dialogs) is None
    # an early dialog only with early-only (RFC 3891 §3)
    assert match_dialog(Replaces(call_id="d3", to_tag="cp3", from_tag="ph3"), dialogs) is None
    assert match_dialog(Replaces(call_id="d3", to_tag="cp3", from_tag="ph3", early_only=True),
                        dialogs) == "k3"


# ---- the user agent ------------------------------------------------------------------------


def sent(events: list[SipEvent]) -> list[SipRequest | SipResponse]:
    return [parse_message(e.data) for e in events if isinstance(e, Transmit)]


def answered(agent: UserAgent, call_id: str, branch: str, peer: tuple[str, int] = PEER,
             ) -> tuple[str, str]:
    events = agent.receive(invite(call_id=call_id, branch=branch), peer, 0.0)
    [incoming] = [e for e in events if isinstance(e, IncomingCall)]
    [ok] = sent(agent.answer(incoming.key, media_host="127.0.0.1", media_port=20000, now=0.1))
    assert isinstance(ok, SipResponse) and ok.status == 200
    ack = request("ACK", branch=f"{branch}-ack", to_tag=ok.to_tag, cseq=1, call_id=call_id)
    assert isinstance(agent.receive(ack, peer, 0.2)[0], CallConfirmed)
    return incoming.key, ok.to_tag


def phone_with_two_calls() -> tuple[UserAgent, tuple[str, str], tuple[str, str]]:
    agent = UserAgent(config=UaConfig(host="127.0.0.1", port=5060, allow_from=("10.0.0.0/8",)))
    return agent, answered(agent, "d1@10.0.0.9", "z9hG4bK-1"), answered(agent, "d2@10.0.0.9",
                                                                          "z9hG4bK-2")


def attended_refer(tag: str, replaces: str) -> bytes:
    return request("REFER", branch="z9hG4bK-r", to_tag=tag, cseq=2, call_id="d1@10.0.0.9",
                   extra=f"Refer-To: <sip:bob@127.0.0.1?Replaces={replaces}>\r\n")


def test_a_refer_replacing_our_other_dialog_is_an_attended_transfer() -> None:
    agent, (k1, tag1), (k2, tag2) = phone_with_two_calls()
    # the phone's From tag is from1 in both (sip_fixtures); ours are tag1, tag2
    events = agent.receive(attended_refer(tag1, f"d2%4010.0.0.9%3Bto-tag%3D{tag2}"
                                                "%3Bfrom-tag%3Dfrom1"), PEER, 1.0)
    msgs = sent(events)
    assert isinstance(msgs[0], SipResponse) and msgs[0].status == 202
    assert isinstance(msgs[1], SipRequest) and msgs[1].method == "NOTIFY"
    assert AttendedTransferRequested(k1, k2) in events
    assert not any(isinstance(e, TransferRequested) for e in events)  # nothing is dialled
    [final] = sent(agent.notify_refer(k1, 200, "OK", 2.0))
    assert isinstance(final, SipRequest) and final.body.startswith(b"SIP/2.0 200")


def test_a_refer_replacing_no_dialog_of_ours_gets_481() -> None:
    agent, (_k1, tag1), _ = phone_with_two_calls()
    events = agent.receive(attended_refer(tag1, "d9%4010.0.0.9%3Bto-tag%3Dx%3Bfrom-tag%3Dy"),
                           PEER, 1.0)
    [resp] = sent(events)
    assert isinstance(resp, SipResponse) and resp.status == 481
    assert not any(isinstance(e, AttendedTransferRequested) for e in events)


def test_a_replaces_without_tags_gets_400() -> None:
    agent, (_k1, tag1), _ = phone_with_two_calls()
    [resp] = sent(agent.receive(attended_refer(tag1, "d2%4010.0.0.9"), PEER, 1.0))
    assert isinstance(resp, SipResponse) and resp.status == 400


def test_a_refer_replacing_another_peers_dialog_is_declined() -> None:
    """A dialog with someone else cannot be taken over by naming it (RFC 3891 §3 security)."""
    agent = UserAgent(config=UaConfig(host="127.0.0.1", port=5060, allow_from=("10.0.0.0/8",)))
    _k1, tag1 = answered(agent, "d1@10.0.0.9", "z9hG4bK-1")
    _, tag2 = answered(agent, "d2@10.0.0.9", "z9hG4bK-2", peer=("10.0.0.44", 5062))
    events = agent.receive(attended_refer(tag1, f"d2%4010.0.0.9%3Bto-tag%3D{tag2}"
                                                "%3Bfrom-tag%3Dfrom1"), PEER, 1.0)
    [resp] = sent(events)
    assert isinstance(resp, SipResponse) and resp.status == 603
    assert not any(isinstance(e, AttendedTransferRequested) for e in events)
