"""Hold and resume in the sans-IO user agent, in simulated time (RFC 3264 §8.4, RFC 3261 §14).

Our re-INVITEs (``UserAgent.reoffer``): CSeq, SDP version and direction, the ACK of the 2xx,
failures, Timer B, and glare (491 and the §14.1 retry waits) between two real user agents
wired back to back. The peer's re-INVITEs: answers narrowed to our own hold, ``PeerHold``,
491 while ours is in flight, and the ACK that stops the 2xx being re-sent.
"""

from __future__ import annotations

import random

from sip_fixtures import SDP_OFFER, request
from test_sip_useragent import PEER, answered_call, sent, statuses, ua

from callport.channels.sip.events import (
    CallAnswered,
    CallConfirmed,
    CallEnded,
    IncomingCall,
    MediaUpdated,
    PeerHold,
    ReofferDone,
    SipEvent,
    Transmit,
)
from callport.channels.sip.message import SipRequest, SipResponse, parse_message
from callport.channels.sip.sdp import parse_sdp
from callport.channels.sip.ua_hold import GLARE_RETRIES
from callport.channels.sip.useragent import UaConfig, UserAgent

CT = "Content-Type: application/sdp\r\n"


def reply(req: SipRequest, status: int, *, direction: str = "", to_tag: str = "") -> bytes:
    """The peer's response to our in-dialog ``req`` (an SDP answer when ``direction``)."""
    headers = [(k, v) for k, v in req.headers if k in ("Via", "From", "To", "Call-ID", "CSeq")]
    headers.append(("Contact", "<sip:alice@10.0.0.9:5062>"))
    body = SDP_OFFER.replace("a=sendrecv", f"a={direction}").encode() if direction else b""
    if body:
        headers.append(("Content-Type", "application/sdp"))
    return bytes(SipResponse(status=status, reason="X", headers=tuple(headers), body=body))


def reinvite(agent: UserAgent, key: str, direction: str, now: float) -> SipRequest:
    [req] = sent(agent.reoffer(key, direction, now))
    assert isinstance(req, SipRequest) and req.method == "INVITE"
    return req


def version(body: bytes) -> int:
    return int(parse_sdp(body).origin.split()[2])


def direction_of(body: bytes) -> str | None:
    audio = parse_sdp(body).audio()
    assert audio is not None
    return audio.direction


def done(events: list[SipEvent]) -> list[ReofferDone]:
    return [e for e in events if isinstance(e, ReofferDone)]


def test_hold_then_resume_reinvites_in_the_dialog() -> None:
    agent = ua()
    key, tag = answered_call(agent)
    dialog = agent.dialogs[key]
    first_version = dialog.sdp_version
    hold = reinvite(agent, key, "sendonly", 1.0)
    assert hold.call_id == "call-1@10.0.0.9" and hold.cseq == (2, "INVITE")
    assert hold.uri == "sip:alice@10.0.0.9:5062"  # the remote target, with the route set
    assert hold.get("Route") == "<sip:proxy.example;lr>"
    assert f"tag={tag}" in (hold.get("From") or "")  # our tag: we are the UAS of the dialog
    assert direction_of(hold.body) == "sendonly"
    assert version(hold.body) == first_version + 1  # RFC 3264 §8: o= version one higher
    assert parse_sdp(hold.body).audio().formats == ("0", "101")  # type: ignore[union-attr]
    events = agent.receive(reply(hold, 200, direction="recvonly"), PEER, 1.1)
    [ack] = [m for m in sent(events) if isinstance(m, SipRequest)]
    assert ack.method == "ACK" and ack.cseq == (2, "ACK")
    [result] = done(events)
    assert result.status == 200 and result.plan is not None
    assert result.plan.direction == "sendonly" and not result.plan.can_receive
    # The 2xx retransmitted: ACKed again, nothing reported twice.
    again = agent.receive(reply(hold, 200, direction="recvonly"), PEER, 1.6)
    assert [m.method for m in sent(again)] == ["ACK"] and done(again) == []  # type: ignore[union-attr]
    resume = reinvite(agent, key, "sendrecv", 2.0)
    assert resume.cseq == (3, "INVITE") and direction_of(resume.body) == "sendrecv"
    assert version(resume.body) == first_version + 2
    [back] = done(agent.receive(reply(resume, 200, direction="sendrecv"), PEER, 2.1))
    assert back.status == 200 and back.plan is not None and back.plan.direction == "sendrecv"
    assert agent.core.client == {} and agent.reoffers.deadline() is None  # nothing running


def test_a_peer_answering_sendrecv_to_our_hold_does_not_make_us_expect_its_audio() -> None:
    agent = ua()
    key, _ = answered_call(agent)
    hold = reinvite(agent, key, "sendonly", 1.0)
    [result] = done(agent.receive(reply(hold, 200, direction="sendrecv"), PEER, 1.1))
    assert result.plan is not None and result.plan.direction == "sendonly"


def test_a_refused_hold_leaves_the_media_as_it_was() -> None:
    agent = ua()
    key, _ = answered_call(agent)
    plan = agent.dialogs[key].plan
    hold = reinvite(agent, key, "sendonly", 1.0)
    events = agent.receive(reply(hold, 488), PEER, 1.1)
    assert [m.method for m in sent(events)] == ["ACK"]  # type: ignore[union-attr]  # non-2xx
    assert done(events) == [ReofferDone(key, "sendonly", 488)]
    assert agent.dialogs[key].plan == plan and agent.active_calls() == 1
    assert agent.dialogs[key].local_direction == "sendrecv"


def test_481_or_timer_b_ends_the_dialog_with_a_bye() -> None:
    agent = ua()
    key, _ = answered_call(agent)
    hold = reinvite(agent, key, "sendonly", 1.0)
    events = agent.receive(reply(hold, 481), PEER, 1.1)
    assert done(events) == [ReofferDone(key, "sendonly", 481)]
    assert "BYE" in [m.method for m in sent(events) if isinstance(m, SipRequest)]
    assert CallEnded(key, "re-invite-481") in events
    other = ua()
    key2, _ = answered_call(other)
    reinvite(other, key2, "sendonly", 1.0)
    timed: list[SipEvent] = []
    while (deadline := other.get_timer()) is not None and not done(timed):
        timed += other.handle_timer(deadline)
    assert done(timed) == [ReofferDone(key2, "sendonly", 408)]
    assert CallEnded(key2, "re-invite-timeout") in timed


def test_no_confirmed_dialog_is_reported_not_raised() -> None:
    agent = ua()
    assert agent.reoffer("nope", "sendonly", 0.0) == [ReofferDone("nope", "sendonly", 0)]


def test_the_peers_reinvite_while_ours_is_in_flight_is_491() -> None:
    agent = ua()
    key, tag = answered_call(agent)
    reinvite(agent, key, "sendonly", 1.0)
    theirs = request("INVITE", branch="z9hG4bK-g", to_tag=tag, cseq=2,
                     body=SDP_OFFER.encode(), extra=CT)
    assert statuses(agent.receive(theirs, PEER, 1.05)) == [491]
    # Ours asked again before the first answered: refused at once, nothing sent.
    assert agent.reoffer(key, "sendrecv", 1.06) == [ReofferDone(key, "sendrecv", 491)]


def test_491_is_retried_after_the_rfc_wait_and_gives_up_after_the_retries() -> None:
    agent = ua()
    key, _ = answered_call(agent)  # we are the UAS: the peer owns the Call-ID, 0-2 s
    req = reinvite(agent, key, "sendonly", 10.0)
    now = 10.0
    for attempt in range(GLARE_RETRIES):
        now += 0.05
        assert done(agent.receive(reply(req, 491), PEER, now)) == []
        wait = agent.reoffers.deadline()
        assert wait is not None and now <= wait <= now + 2.0
        retried = [m for m in sent(agent.handle_timer(wait)) if isinstance(m, SipRequest)
                   and m.method == "INVITE"]
        assert len(retried) == 1, attempt
        [req] = retried
        assert req.cseq[0] == 3 + attempt and direction_of(req.body) == "sendonly"
        now = wait
    assert done(agent.receive(reply(req, 491), PEER, now + 0.05)) == [
        ReofferDone(key, "sendonly", 491)]


def test_glare_wait_depends_on_who_owns_the_call_id() -> None:
    agent = ua()
    rng = random.Random(7)
    key, _ = answered_call(agent)
    dialog = agent.dialogs[key]
    waits_uas = [dialog.glare_wait(rng) for _ in range(200)]
    dialog.role = "uac"
    waits_uac = [dialog.glare_wait(rng) for _ in range(200)]
    assert min(waits_uas) >= 0.0 and max(waits_uas) <= 2.0
    assert min(waits_uac) >= 2.1 and max(waits_uac) <= 4.0
    assert all(abs(round(w * 100) - w * 100) < 1e-6 for w in waits_uac)  # 10 ms units


def test_our_hold_narrows_our_answer_to_the_peers_offers() -> None:
    agent = ua()
    key, tag = answered_call(agent)
    hold = reinvite(agent, key, "sendonly", 1.0)
    agent.receive(reply(hold, 200, direction="recvonly"), PEER, 1.1)
    # The peer re-offers sendrecv (a session refresh) while we hold it: we stay sendonly.
    refresh = request("INVITE", branch="z9hG4bK-r", to_tag=tag, cseq=2,
                      body=SDP_OFFER.encode(), extra=CT)
    events = agent.receive(refresh, PEER, 2.0)
    [ok] = [m for m in sent(events) if isinstance(m, SipResponse)]
    assert ok.status == 200 and direction_of(ok.body) == "sendonly"
    [update] = [e for e in events if isinstance(e, MediaUpdated)]
    assert update.plan.direction == "sendonly"
    assert not [e for e in events if isinstance(e, PeerHold)]  # the peer did not hold us


def test_the_peer_holding_us_is_reported_once_per_change() -> None:
    agent = ua()
    key, tag = answered_call(agent)
    held: list[SipEvent] = []
    for cseq, direction in enumerate(("sendonly", "inactive", "sendrecv", "sendrecv"), 2):
        offer = request("INVITE", branch=f"z9hG4bK-p{cseq}", to_tag=tag, cseq=cseq,
                        body=SDP_OFFER.replace("sendrecv", direction).encode(), extra=CT)
        held += [e for e in agent.receive(offer, PEER, float(cseq)) if isinstance(e, PeerHold)]
    assert held == [PeerHold(key, True), PeerHold(key, False)]


def test_the_ack_of_the_peers_reinvite_stops_our_2xx_retransmissions() -> None:
    agent = ua()
    _, tag = answered_call(agent)
    hold = request("INVITE", branch="z9hG4bK-h", to_tag=tag, cseq=2,
                   body=SDP_OFFER.replace("sendrecv", "sendonly").encode(), extra=CT)
    [ok] = sent(agent.receive(hold, PEER, 1.0))
    assert len(agent.core.server) == 1  # Timer G: the 2xx is re-sent until the ACK
    assert sent(agent.handle_timer(1.5)) == [ok]
    ack = request("ACK", branch="z9hG4bK-hack", to_tag=tag, cseq=2)
    assert agent.receive(ack, PEER, 1.6) == []
    assert agent.core.server == {}  # nothing more re-sent
    assert isinstance(ok, SipResponse)


# --------------------------------------------------------------------------- back to back


class Wire:
    """Two user agents on one simulated network: every Transmit is delivered to the other."""

    def __init__(self) -> None:
        self.a = UserAgent(config=UaConfig(host="127.0.0.1", port=5060, user="a"))
        self.b = UserAgent(config=UaConfig(host="127.0.0.2", port=5060, user="b"))
        self.addr = {id(self.a): ("127.0.0.1", 5060), id(self.b): ("127.0.0.2", 5060)}
        self.seen: list[tuple[str, SipEvent]] = []
        self.wire: list[tuple[str, SipRequest | SipResponse]] = []
        self.queue: list[tuple[UserAgent, bytes]] = []

    def deliver(self, source: UserAgent, events: list[SipEvent], now: float) -> None:
        """Put ``source``'s messages on the wire (in order) and deliver all that is on it."""
        self.send(source, events)
        self.flush(now)

    def send(self, source: UserAgent, events: list[SipEvent]) -> None:
        name = "a" if source is self.a else "b"
        for event in events:
            self.seen.append((name, event))
            if isinstance(event, Transmit):
                self.queue.append((source, event.data))

    def flush(self, now: float) -> None:
        while self.queue:
            source, data = self.queue.pop(0)
            target = self.b if source is self.a else self.a
            self.wire.append(("a" if source is self.a else "b", parse_message(data)))
            self.send(target, target.receive(data, self.addr[id(source)], now))

    def run_until(self, end: float, now: float) -> float:
        while True:
            deadlines = [d for d in (self.a.get_timer(), self.b.get_timer()) if d is not None]
            if not deadlines or min(deadlines) > end:
                return now
            now = min(deadlines)
            for agent in (self.a, self.b):
                deadline = agent.get_timer()
                if deadline is not None and deadline <= now:
                    self.deliver(agent, agent.handle_timer(now), now)


def test_glare_between_two_user_agents_resolves_both_holds() -> None:
    """Both sides re-INVITE at once: each answers the other 491, the callee (not the Call-ID's
    owner, shorter wait) goes first, then the caller; both holds end up answered 200."""
    wire = Wire()
    key_a, events = wire.a.invite("sip:b@127.0.0.2:5060", media_host="127.0.0.1",
                                  media_port=30000, now=0.0)
    incoming: list[IncomingCall] = []
    wire.deliver(wire.a, events, 0.0)
    incoming = [e for who, e in wire.seen if who == "b" and isinstance(e, IncomingCall)]
    [call] = incoming
    wire.deliver(wire.b, wire.b.answer(call.key, media_host="127.0.0.2", media_port=30002,
                                       now=0.1), 0.1)
    assert any(isinstance(e, CallAnswered) for _, e in wire.seen)
    assert any(isinstance(e, CallConfirmed) for _, e in wire.seen)
    # Both hold at the same instant: each INVITE crosses the other on the wire.
    wire.send(wire.a, wire.a.reoffer(key_a, "sendonly", 1.0))
    wire.send(wire.b, wire.b.reoffer(call.key, "sendonly", 1.0))
    wire.flush(1.0)
    glare = [m.status for _, m in wire.wire if isinstance(m, SipResponse)
             and m.cseq[1] == "INVITE" and m.status == 491]
    assert glare == [491, 491]
    wire.run_until(10.0, 1.0)
    results = {who: e for who, e in wire.seen if isinstance(e, ReofferDone)}
    assert set(results) == {"a", "b"}
    assert all(r.status == 200 for r in results.values()), results
    invites = [(who, m) for who, m in wire.wire
               if isinstance(m, SipRequest) and m.method == "INVITE" and m.cseq[0] > 1]
    # The retries: b (UAS, 0-2 s) before a (owner of the Call-ID, 2.1-4 s).
    retries = invites[2:]
    assert [who for who, _ in retries] == ["b", "a"]
    # Each side holds the other: both directions end up inactive on the wire's last answers.
    assert wire.a.dialogs[key_a].plan is not None
    assert wire.a.dialogs[key_a].plan.direction == "inactive"  # type: ignore[union-attr]
    assert wire.b.dialogs[call.key].plan.direction == "inactive"  # type: ignore[union-attr]
    assert wire.a.active_calls() == 1 and wire.b.active_calls() == 1
