"""The sans-IO user agent fed with bytes in simulated time: what it sends, what it reports."""

from __future__ import annotations

from sip_fixtures import SDP_OFFER, invite, request

from callport.channels.sip.auth import authorization
from callport.channels.sip.events import (
    CallAnswered,
    CallConfirmed,
    CallEnded,
    IncomingCall,
    MediaUpdated,
    SipEvent,
    TransferRequested,
    TransferResult,
    Transmit,
)
from callport.channels.sip.message import SipRequest, SipResponse, parse_message
from callport.channels.sip.sdp import parse_sdp
from callport.channels.sip.useragent import UaConfig, UserAgent

PEER = ("10.0.0.9", 5062)


def sent(events: list[SipEvent]) -> list[SipRequest | SipResponse]:
    return [parse_message(e.data) for e in events if isinstance(e, Transmit)]


def statuses(events: list[SipEvent]) -> list[int]:
    return [m.status for m in sent(events) if isinstance(m, SipResponse)]


def answered_call(ua: UserAgent) -> tuple[str, str]:
    events = ua.receive(invite(), PEER, 0.0)
    [incoming] = [e for e in events if isinstance(e, IncomingCall)]
    assert statuses(events) == [100]
    assert incoming.plan is not None and incoming.plan.codec == "PCMU"
    assert incoming.plan.dtmf_payload_type == 101
    out = ua.answer(incoming.key, media_host="127.0.0.1", media_port=20000, now=0.1)
    [ok] = sent(out)
    assert isinstance(ok, SipResponse) and ok.status == 200
    assert ok.get("Record-Route") == "<sip:proxy.example;lr>"
    answer = parse_sdp(ok.body).audio()
    assert answer is not None and answer.port == 20000 and answer.formats == ("0", "101")
    ack = request("ACK", branch="z9hG4bK-ack", to_tag=ok.to_tag, cseq=1)
    assert isinstance(ua.receive(ack, PEER, 0.2)[0], CallConfirmed)
    return incoming.key, ok.to_tag


def ua(**kw: object) -> UserAgent:
    return UserAgent(config=UaConfig(host="127.0.0.1", port=5060, **kw))  # type: ignore[arg-type]


def test_invite_answer_ack_bye() -> None:
    agent = ua()
    key, tag = answered_call(agent)
    # The 2xx retransmission stopped by the ACK: only the RFC 4028 session timer is left.
    assert agent.get_timer() == agent.refresh.deadline() == 900.1
    events = agent.receive(request("BYE", branch="z9hG4bK-bye", to_tag=tag, cseq=2), PEER, 1.0)
    assert statuses(events) == [200]
    assert CallEnded(key, "remote-bye") in events
    assert agent.active_calls() == 0


def test_retransmitted_invite_gets_last_response_again() -> None:
    agent = ua()
    first = agent.receive(invite(), PEER, 0.0)
    again = agent.receive(invite(), PEER, 0.3)
    assert statuses(first) == [100] and statuses(again) == [100]
    assert agent.active_calls() == 1


def test_2xx_retransmitted_until_ack_then_bye_on_timer_l() -> None:
    agent = ua()
    [incoming] = [e for e in agent.receive(invite(), PEER, 0.0) if isinstance(e, IncomingCall)]
    agent.answer(incoming.key, media_host="127.0.0.1", media_port=20000, now=0.0)
    times = []
    now = 0.0
    while (deadline := agent.get_timer()) is not None and deadline < 40:
        now = deadline
        events = agent.handle_timer(now)
        if 200 in statuses(events):
            times.append(now)
        if any(isinstance(e, CallEnded) for e in events):
            bye = [m for m in sent(events) if isinstance(m, SipRequest)]
            assert bye[0].method == "BYE"
            break
    assert times[:4] == [0.5, 1.5, 3.5, 7.5]  # T1 doubling, capped at T2=4 s
    assert now == 32.0  # Timer L = 64*T1
    assert agent.active_calls() == 0


def test_cancel_before_answer_487() -> None:
    agent = ua()
    [incoming] = [e for e in agent.receive(invite(), PEER, 0.0) if isinstance(e, IncomingCall)]
    cancel = invite(method="CANCEL", sdp="")
    events = agent.receive(cancel, PEER, 0.5)
    assert statuses(events) == [200, 487]
    assert CallEnded(incoming.key, "cancelled", 487) in events
    # The 487 is retransmitted (Timer G) until the ACK with the INVITE's branch arrives.
    resend = agent.handle_timer(1.0)
    assert statuses(resend) == [487]
    ack = invite(method="ACK", sdp="", to_tag=sent(events)[1].to_tag)
    assert agent.receive(ack, PEER, 1.1) == []
    assert agent.answer(incoming.key, media_host="127.0.0.1", media_port=1, now=2) == []


def test_options_and_unknown_method() -> None:
    agent = ua()
    out = agent.receive(request("OPTIONS", branch="z9hG4bK-o", to_tag="", cseq=1), PEER, 0)
    [resp] = sent(out)
    assert isinstance(resp, SipResponse) and resp.status == 200 and "INVITE" in (
        resp.get("Allow") or "")
    out = agent.receive(request("FOO", branch="z9hG4bK-f", to_tag="", cseq=1), PEER, 0)
    assert statuses(out) == [405]
    out = agent.receive(request("BYE", branch="z9hG4bK-b", to_tag="nope", cseq=1), PEER, 0)
    assert statuses(out) == [481]


def test_malformed_request_gets_400_and_garbage_is_dropped() -> None:
    agent = ua()
    bad = invite().replace(b"Content-Length: ", b"Content-Length: 9")
    assert statuses(agent.receive(bad, PEER, 0)) == [400]
    assert agent.receive(b"\x16\x03\x01garbage", PEER, 0) == []
    bad_sdp = invite(sdp="v=0\r\nm=audio x RTP/AVP 0\r\n")
    assert 488 in statuses(agent.receive(bad_sdp, PEER, 0))
    no_codec = invite(branch="z9hG4bK-2", call_id="c2",
                      sdp=SDP_OFFER.replace("RTP/AVP 0 8 101", "RTP/AVP 18"))
    assert 488 in statuses(agent.receive(no_codec, PEER, 0))
    assert agent.active_calls() == 0


def test_hold_reinvite_answers_recvonly_then_resume() -> None:
    agent = ua()
    key, tag = answered_call(agent)
    hold = request("INVITE", branch="z9hG4bK-h", to_tag=tag, cseq=2,
                   body=SDP_OFFER.replace("sendrecv", "sendonly").encode(),
                   extra="Content-Type: application/sdp\r\nContact: <sip:alice@10.0.0.9:5062>\r\n")
    events = agent.receive(hold, PEER, 1.0)
    [ok] = sent(events)
    assert isinstance(ok, SipResponse) and ok.status == 200
    audio = parse_sdp(ok.body).audio()
    assert audio is not None and audio.direction == "recvonly"
    [update] = [e for e in events if isinstance(e, MediaUpdated)]
    assert update.key == key and not update.plan.can_send
    inactive = request("INVITE", branch="z9hG4bK-i", to_tag=tag, cseq=3,
                       body=SDP_OFFER.replace("a=sendrecv", "a=inactive").encode(),
                       extra="Content-Type: application/sdp\r\n")
    [ok2] = sent(agent.receive(inactive, PEER, 2.0))
    audio2 = parse_sdp(ok2.body).audio()
    assert audio2 is not None and audio2.direction == "inactive"
    legacy = request("INVITE", branch="z9hG4bK-l", to_tag=tag, cseq=4,
                     body=SDP_OFFER.replace("c=IN IP4 10.0.0.9", "c=IN IP4 0.0.0.0").encode(),
                     extra="Content-Type: application/sdp\r\n")
    [ok3] = sent(agent.receive(legacy, PEER, 3.0))
    assert b"a=recvonly" in ok3.body


def test_refer_received_202_and_notify() -> None:
    agent = ua(allow_from=("10.0.0.0/8",), refer_allow=("sip:carol@10.0.0.*",))
    key, tag = answered_call(agent)
    refer = request("REFER", branch="z9hG4bK-r", to_tag=tag, cseq=2,
                    extra="Refer-To: <sip:carol@10.0.0.7>\r\n")
    events = agent.receive(refer, PEER, 1.0)
    msgs = sent(events)
    assert isinstance(msgs[0], SipResponse) and msgs[0].status == 202
    assert isinstance(msgs[1], SipRequest) and msgs[1].method == "NOTIFY"
    assert msgs[1].body.startswith(b"SIP/2.0 100")
    assert TransferRequested(key, "sip:carol@10.0.0.7") in events
    [final] = sent(agent.notify_refer(key, 200, "OK", 2.0))
    assert isinstance(final, SipRequest)
    assert (final.get("Subscription-State") or "").startswith("terminated")


def test_our_refer_then_bye_after_notify_200() -> None:
    agent = ua()
    key, _tag = answered_call(agent)
    [refer] = sent(agent.refer(key, "sip:carol@10.0.0.7", 1.0))
    assert isinstance(refer, SipRequest) and refer.method == "REFER"
    assert refer.uri == "sip:alice@10.0.0.9:5062"
    assert refer.get("Route") == "<sip:proxy.example;lr>"
    assert refer.get("Refer-To") == "<sip:carol@10.0.0.7>"
    accepted = bytes(SipResponse(status=202, reason="Accepted", headers=refer.headers))
    assert agent.receive(accepted, PEER, 1.1) == []
    notify = request("NOTIFY", branch="z9hG4bK-n", to_tag=refer.from_tag, cseq=2,
                     body=b"SIP/2.0 200 OK\r\n",
                     extra="Event: refer\r\nSubscription-State: terminated\r\n"
                           "Content-Type: message/sipfrag\r\n")
    events = agent.receive(notify, PEER, 2.0)
    msgs = sent(events)
    assert isinstance(msgs[0], SipResponse) and msgs[0].status == 200
    assert isinstance(msgs[1], SipRequest) and msgs[1].method == "BYE"
    assert TransferResult(key, 200) in events
    assert CallEnded(key, "transferred") in events


def test_digest_challenge_as_server() -> None:
    agent = ua(auth_users=(("alice", "secret"),), auth_realm="cp")
    events = agent.receive(invite(), PEER, 100.0)
    [challenge] = sent(events)
    assert isinstance(challenge, SipResponse) and challenge.status == 401
    header = challenge.get("WWW-Authenticate") or ""
    creds = authorization(header, username="alice", password="secret", method="INVITE",
                          uri="sip:bot@127.0.0.1:5060")
    wrong = authorization(header, username="alice", password="nope", method="INVITE",
                          uri="sip:bot@127.0.0.1:5060")
    bad = invite(branch="z9hG4bK-3", cseq=2, extra=f"Authorization: {wrong}\r\n")
    assert statuses(agent.receive(bad, PEER, 101.0)) == [401]
    good = invite(branch="z9hG4bK-4", cseq=3, extra=f"Authorization: {creds}\r\n")
    events = agent.receive(good, PEER, 102.0)
    assert any(isinstance(e, IncomingCall) for e in events)
    stale = invite(branch="z9hG4bK-5", call_id="other", cseq=4,
                   extra=f"Authorization: {creds}\r\n")
    [resp] = sent(agent.receive(stale, PEER, 200.0))
    assert isinstance(resp, SipResponse) and "stale=true" in (resp.get("WWW-Authenticate") or "")


def test_allowlist_rejects_other_sources() -> None:
    agent = ua(allow_from=("192.168.0.0/16",))
    assert statuses(agent.receive(invite(), PEER, 0)) == [403]
    other = invite(branch="z9hG4bK-x", call_id="c9")
    assert any(isinstance(e, IncomingCall)
               for e in agent.receive(other, ("192.168.1.5", 5060), 0))


def _uac_response(req: SipRequest, status: int, *, to_tag: str = "uas1", body: bytes = b"",
                  extra: tuple[tuple[str, str], ...] = ()) -> bytes:
    headers = [(k, v) for k, v in req.headers if k in ("Via", "From", "Call-ID", "CSeq")]
    to = req.get("To") or ""
    headers.append(("To", to + (f";tag={to_tag}" if status > 100 else "")))
    headers += [("Contact", "<sip:uas@10.0.0.9:5062>"), *extra]
    if body:
        headers.append(("Content-Type", "application/sdp"))
    return bytes(SipResponse(status=status, reason="X", headers=tuple(headers), body=body))


def test_outbound_invite_with_digest_and_ack() -> None:
    agent = ua()
    key, events = agent.invite("sip:bob@10.0.0.9:5062", media_host="127.0.0.1",
                               media_port=20002, now=0.0, credentials=("u", "p"))
    [inv] = sent(events)
    assert isinstance(inv, SipRequest) and inv.method == "INVITE" and inv.body
    # Timer A: retransmit at 0.5 s while no response.
    assert [m.method for m in sent(agent.handle_timer(0.5)) if isinstance(m, SipRequest)] == [
        "INVITE"]
    challenge = _uac_response(inv, 407, extra=(
        ("Proxy-Authenticate", 'Digest realm="r", nonce="n1", qop="auth"'),))
    out = sent(agent.receive(challenge, PEER, 0.6))
    assert [m.method for m in out if isinstance(m, SipRequest)] == ["ACK", "INVITE"]
    inv2 = out[1]
    assert isinstance(inv2, SipRequest) and inv2.cseq == (2, "INVITE")
    assert (inv2.get("Proxy-Authorization") or "").startswith("Digest username=\"u\"")
    ok = _uac_response(inv2, 200, body=SDP_OFFER.replace("0 8 101", "8 101").encode())
    events = agent.receive(ok, PEER, 0.7)
    [answered] = [e for e in events if isinstance(e, CallAnswered)]
    assert answered.key == key and answered.plan.codec == "PCMA"
    [ack] = [m for m in sent(events) if isinstance(m, SipRequest)]
    assert ack.method == "ACK" and ack.uri == "sip:uas@10.0.0.9:5062" and ack.cseq[0] == 2
    # A retransmitted 200 is ACKed again.
    assert [m.method for m in sent(agent.receive(ok, PEER, 1.0))  # type: ignore[union-attr]
            ] == ["ACK"]
    [bye] = sent(agent.hangup(key, 2.0))
    assert isinstance(bye, SipRequest) and bye.method == "BYE" and bye.cseq == (3, "BYE")


def test_outbound_invite_timeout_408() -> None:
    agent = ua()
    key, _ = agent.invite("sip:bob@10.0.0.9", media_host="127.0.0.1", media_port=2,
                          now=0.0)
    ended: list[SipEvent] = []
    while (deadline := agent.get_timer()) is not None:
        ended += [e for e in agent.handle_timer(deadline) if isinstance(e, CallEnded)]
    assert ended == [CallEnded(key, "timeout", 408)]
    assert agent.active_calls() == 0 and agent.pending_transactions() == 0
