"""RFC 3263 §4.3 target failover in the sans-IO user agent (simulated time): an INVITE or a
REGISTER that times out or is answered 503 moves to the next target, in the order given."""

from __future__ import annotations

from sip_fixtures import SDP_OFFER

from callport.channels.sip.events import (
    CallAnswered,
    CallEnded,
    RegistrationChanged,
    SipEvent,
    TargetFailed,
    Transmit,
)
from callport.channels.sip.message import SipRequest, SipResponse, parse_message
from callport.channels.sip.useragent import UaConfig, UserAgent

A, B, C = ("192.0.2.1", 5060), ("192.0.2.2", 5070), ("192.0.2.3", 5080)


def ua(timeout: float = 2.0) -> UserAgent:
    return UserAgent(config=UaConfig(host="127.0.0.1", port=5060, target_timeout=timeout))


def requests_to(events: list[SipEvent]) -> list[tuple[str, tuple[str, int], SipRequest]]:
    out = []
    for e in events:
        if isinstance(e, Transmit):
            msg = parse_message(e.data)
            if isinstance(msg, SipRequest):
                out.append((msg.method, e.addr, msg))
    return out


def reply(req: SipRequest, status: int, body: bytes = b"") -> bytes:
    headers = [(k, v) for k, v in req.headers if k in ("Via", "From", "Call-ID", "CSeq")]
    headers.append(("To", (req.get("To") or "") + ";tag=far"))
    headers.append(("Contact", "<sip:uas@192.0.2.2:5070>"))
    if body:
        headers.append(("Content-Type", "application/sdp"))
    return bytes(SipResponse(status=status, reason="X", headers=tuple(headers), body=body))


def run_until(agent: UserAgent, limit: float) -> list[SipEvent]:
    out: list[SipEvent] = []
    while (deadline := agent.get_timer()) is not None and deadline <= limit:
        out += agent.handle_timer(deadline)
    return out


def test_invite_timeout_moves_to_next_target_and_503_to_the_one_after() -> None:
    agent = ua(timeout=2.0)
    key, events = agent.invite("sip:+15550001@trunk.example", media_host="127.0.0.1",
                               media_port=20000, now=0.0, peer=A, fallbacks=(B, C))
    [(method, addr, first)] = requests_to(events)
    assert (method, addr) == ("INVITE", A)
    # Nothing from A: Timer A retransmits to A, then Timer B (2 s) gives up on it.
    events = run_until(agent, 2.0)
    sent = requests_to(events)
    assert [a for m, a, _ in sent if m == "INVITE"] == [A, A, B]  # at 0.5, 1.5; 2.0
    assert TargetFailed(key, A, 408, B) in events
    second = sent[-1][2]
    assert second.call_id == first.call_id and second.from_tag == first.from_tag
    assert second.top_via.branch != first.top_via.branch
    assert second.cseq[0] == first.cseq[0] + 1
    # B is overloaded: 503 is ACKed (same transaction) and C gets a fresh INVITE.
    events = agent.receive(reply(second, 503), B, 2.2)
    sent = requests_to(events)
    assert [(m, a) for m, a, _ in sent] == [("ACK", B), ("INVITE", C)]
    assert TargetFailed(key, B, 503, C) in events
    third = sent[-1][2]
    events = agent.receive(reply(third, 200, SDP_OFFER.encode()), C, 2.3)
    assert any(isinstance(e, CallAnswered) and e.key == key for e in events)
    assert [(m, a) for m, a, _ in requests_to(events)] == [("ACK", ("192.0.2.2", 5070))]


def test_all_targets_failing_ends_the_call_with_the_last_status() -> None:
    agent = ua(timeout=1.0)
    key, events = agent.invite("sip:bob@trunk.example", media_host="127.0.0.1",
                               media_port=2, now=0.0, peer=A, fallbacks=(B,))
    events = run_until(agent, 1.0)
    [(_, addr, second)] = [s for s in requests_to(events) if s[1] == B]
    assert addr == B and not any(isinstance(e, CallEnded) for e in events)
    events = agent.receive(reply(second, 503), B, 1.5)
    assert CallEnded(key, "failed", 503, "X") in events  # "X": the reason phrase
    assert agent.active_calls() == 0

    key2, _ = agent.invite("sip:bob@trunk.example", media_host="127.0.0.1",
                           media_port=2, now=10.0, peer=A, fallbacks=(B,))
    events = run_until(agent, 100.0)
    assert [e for e in events if isinstance(e, TargetFailed)] == [TargetFailed(key2, A, 408, B)]
    assert [e for e in events if isinstance(e, CallEnded)] == [CallEnded(key2, "timeout", 408)]


def test_other_failures_do_not_fail_over() -> None:
    agent = ua()
    key, events = agent.invite("sip:bob@trunk.example", media_host="127.0.0.1",
                               media_port=2, now=0.0, peer=A, fallbacks=(B,))
    [(_, _, inv)] = requests_to(events)
    events = agent.receive(reply(inv, 486), A, 0.1)
    assert CallEnded(key, "failed", 486, "X") in events
    assert not any(isinstance(e, TargetFailed) for e in events)
    assert [m for m, _, _ in requests_to(events)] == ["ACK"]


def test_provisional_response_means_the_target_is_alive() -> None:
    agent = ua(timeout=1.0)
    key, events = agent.invite("sip:bob@trunk.example", media_host="127.0.0.1",
                               media_port=2, now=0.0, peer=A, fallbacks=(B,))
    [(_, _, inv)] = requests_to(events)
    agent.receive(reply(inv, 180), A, 0.2)
    assert run_until(agent, 30.0) == []  # ringing: Timer B is off, nothing to fail over
    assert key in agent.dialogs


def test_register_fails_over_then_backs_off_and_restarts_from_the_best() -> None:
    agent = ua(timeout=1.0)
    events = agent.register("sip:bot@trunk.example", registrar=A, now=0.0, fallbacks=(B,))
    assert [a for _, a, _ in requests_to(events)] == [A]
    events = run_until(agent, 1.0)
    assert TargetFailed("reg:sip:bot@trunk.example", A, 408, B) in events
    [(_, _, second)] = [s for s in requests_to(events) if s[1] == B]
    events = agent.receive(reply(second, 503), B, 1.2)
    [changed] = [e for e in events if isinstance(e, RegistrationChanged)]
    assert (changed.state, changed.status) == ("failed", 503)
    reg, addr = agent.registrations["sip:bot@trunk.example"]
    assert addr == A and reg.next_at is not None
    events = run_until(agent, reg.next_at)
    assert [a for m, a, _ in requests_to(events) if m == "REGISTER"] == [A]
    [(_, _, third)] = requests_to(events)
    ok = reply(third, 200).replace(b"Contact: <sip:uas@192.0.2.2:5070>",
                                   b"Expires: 300")
    [done] = agent.receive(ok, A, 40.0)
    assert isinstance(done, RegistrationChanged) and done.state == "registered"
