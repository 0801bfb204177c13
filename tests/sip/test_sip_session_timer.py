"""RFC 4028 session timers, sans-IO: negotiation, 422, refreshes both ways, BYE on expiry.

Issue 20: an INVITE that never sends media (``a=inactive``) and never hangs up held a call
slot forever; with session timers a peer that stops refreshing is hung up."""

from __future__ import annotations

import random

from sip_fixtures import invite, request

from callport.channels.sip.events import CallEnded, IncomingCall, SipEvent, Transmit
from callport.channels.sip.message import SipRequest, SipResponse, make_response, parse_message
from callport.channels.sip.session_timer import (
    REFRESH_RETRIES,
    Expired,
    Negotiated,
    RefreshDue,
    SessionTimer,
    TimerPolicy,
    TooSmall,
    negotiate_uas,
)
from callport.channels.sip.ua_refresh import SessionRefresh
from callport.channels.sip.useragent import UaConfig, UserAgent

PEER = ("10.0.0.9", 5062)
POLICY = TimerPolicy(session_expires=1800, min_se=90)


def sent(events: list[SipEvent]) -> list[SipRequest | SipResponse]:
    return [parse_message(e.data) for e in events if isinstance(e, Transmit)]


def ua(**kw: object) -> UserAgent:
    return UserAgent(config=UaConfig(host="127.0.0.1", port=5060, **kw))  # type: ignore[arg-type]


def answered(agent: UserAgent, extra: str = "") -> tuple[str, SipResponse]:
    events = agent.receive(invite(extra=extra), PEER, 0.0)
    [incoming] = [e for e in events if isinstance(e, IncomingCall)]
    [ok] = sent(agent.answer(incoming.key, media_host="127.0.0.1", media_port=20000, now=0.0))
    assert isinstance(ok, SipResponse) and ok.status == 200
    agent.receive(request("ACK", branch="z9hG4bK-ack", to_tag=ok.to_tag, cseq=1), PEER, 0.1)
    return incoming.key, ok


def run_until(agent: UserAgent, until: float) -> list[SipEvent]:
    """Fire the UA's timers in simulated time up to ``until``."""
    out: list[SipEvent] = []
    for _ in range(1000):
        deadline = agent.get_timer()
        if deadline is None or deadline > until:
            return out
        out += agent.handle_timer(deadline)
    raise AssertionError("timer loop did not settle")


def test_negotiation_picks_interval_and_refresher() -> None:
    assert negotiate_uas(session_expires="60", min_se=None, supported=["timer"],
                         policy=POLICY) == TooSmall(90)
    got = negotiate_uas(session_expires="3600", min_se="120", supported=["timer"], policy=POLICY)
    assert got == Negotiated(interval=1800, refresher="uac", peer_supports=True)
    got = negotiate_uas(session_expires="600;refresher=uas", min_se=None, supported=["timer"],
                        policy=POLICY)
    assert got == Negotiated(interval=600, refresher="uas", peer_supports=True)
    # A UAC that does not know the extension: we run the timer and refresh ourselves (§9).
    got = negotiate_uas(session_expires=None, min_se=None, supported=[], policy=POLICY)
    assert got == Negotiated(interval=1800, refresher="uas", peer_supports=False)
    assert negotiate_uas(session_expires="60", min_se=None, supported=[],
                         policy=TimerPolicy(session_expires=0)) is None


def test_timer_refreshes_at_half_and_expires_before_the_end() -> None:
    t = SessionTimer(interval=90, we_refresh=True, now=0.0)
    assert t.deadline() == 45.0 and t.due(44.0) is None
    assert t.due(45.0) == RefreshDue() and t.deadline() == 90 - 30  # waiting: expiry next
    t.refreshed(50.0)
    assert t.deadline() == 95.0
    watcher = SessionTimer(interval=1800, we_refresh=False, now=0.0)
    assert watcher.deadline() == 1800 - 32 and watcher.due(1768.0) == Expired()


def test_interval_below_min_se_gets_422_and_no_dialog() -> None:
    agent = ua()
    events = agent.receive(invite(extra="Session-Expires: 30\r\nSupported: timer\r\n"), PEER, 0.0)
    [resp] = sent(events)
    assert isinstance(resp, SipResponse) and resp.status == 422
    assert resp.get("Min-SE") == "90"
    assert agent.dialogs == {} and not any(isinstance(e, IncomingCall) for e in events)


def test_peer_refresher_that_stops_refreshing_gets_bye() -> None:
    agent = ua()
    key, ok = answered(agent, "Session-Expires: 120;refresher=uac\r\nSupported: timer\r\n")
    assert ok.get("Session-Expires") == "120;refresher=uac"
    assert ok.get("Require") == "timer"
    # The peer refreshes once with UPDATE at 60 s: the timer restarts.
    update = request("UPDATE", branch="z9hG4bK-up", to_tag=ok.to_tag, cseq=2)
    [up_ok] = sent(agent.receive(update, PEER, 60.0))
    assert isinstance(up_ok, SipResponse) and up_ok.status == 200
    assert up_ok.get("Session-Expires") == "120;refresher=uac"
    assert run_until(agent, 60.0 + 79.0) == []  # 120 - min(32, 40) = 88 s after the refresh
    out = run_until(agent, 60.0 + 89.0)
    out = out[: next(i for i, e in enumerate(out) if isinstance(e, CallEnded)) + 1]
    [bye] = [m for m in sent(out) if isinstance(m, SipRequest)]  # (then its retransmissions)
    assert bye.method == "BYE"
    ended = [e for e in out if isinstance(e, CallEnded)]
    assert ended == [CallEnded(key, "session-expired", 0, "")]
    assert agent.dialogs == {}


def test_we_refresh_with_update_when_the_peer_allows_it() -> None:
    agent = ua()
    _key, ok = answered(agent, "Allow: INVITE, ACK, BYE, UPDATE\r\n")
    assert ok.get("Session-Expires") == "1800;refresher=uas" and ok.get("Require") is None
    out = run_until(agent, 900.0)
    [refresh] = sent(out)
    assert isinstance(refresh, SipRequest) and refresh.method == "UPDATE"
    assert refresh.get("Session-Expires") == "1800;refresher=uas"
    reply = make_response(refresh, 200, extra=(("Session-Expires", "1800;refresher=uas"),))
    assert agent.receive(bytes(reply), PEER, 901.0) == []
    assert agent.refresh.deadline() == 901.0 + 900  # refreshed: next one at half again
    assert len(agent.dialogs) == 1


def test_we_refresh_with_reinvite_otherwise_and_ack_its_2xx() -> None:
    agent = ua()
    answered(agent)
    [refresh] = sent(run_until(agent, 900.0))
    assert isinstance(refresh, SipRequest) and refresh.method == "INVITE"
    assert refresh.body.startswith(b"v=0")  # our SDP again, unchanged
    reply = make_response(refresh, 200, to_tag=PEER_TAG, extra=(("Contact", "<sip:a@10.0.0.9>"),))
    [ack] = sent(agent.receive(bytes(reply), PEER, 900.5))
    assert isinstance(ack, SipRequest) and ack.method == "ACK" and ack.cseq[0] == refresh.cseq[0]
    assert len(agent.dialogs) == 1


PEER_TAG = "from1"


def test_refresh_answered_481_ends_the_call() -> None:
    agent = ua()
    key, _ok = answered(agent, "Allow: UPDATE\r\n")
    [refresh] = sent(run_until(agent, 900.0))
    assert isinstance(refresh, SipRequest)
    out = agent.receive(bytes(make_response(refresh, 481)), PEER, 900.2)
    assert [m.method for m in sent(out) if isinstance(m, SipRequest)] == ["BYE"]
    assert CallEnded(key, "refresh-failed", 0, "") in out


def test_inactive_invite_without_refreshes_ends_within_the_interval() -> None:
    """The issue's case: a=inactive, no media, no BYE, no refresh: gone by the expiry."""
    agent = ua(session_expires=90)
    sdp = invite().split(b"\r\n\r\n", 1)[1].replace(b"a=sendrecv", b"a=inactive")
    events = agent.receive(invite(sdp=sdp.decode(), extra="Supported: timer\r\n"), PEER, 0.0)
    [incoming] = [e for e in events if isinstance(e, IncomingCall)]
    [ok] = sent(agent.answer(incoming.key, media_host="127.0.0.1", media_port=20000, now=0.0))
    assert isinstance(ok, SipResponse)
    agent.receive(request("ACK", branch="z9hG4bK-ack", to_tag=ok.to_tag, cseq=1), PEER, 0.1)
    out = run_until(agent, 90.0)
    assert any(isinstance(e, CallEnded) and e.reason == "session-expired" for e in out)
    assert agent.dialogs == {}


def _dial(agent: UserAgent, session_expires: str, allow: str = "") -> tuple[str, SipRequest]:
    key, events = agent.invite("sip:bob@10.0.0.9:5062", media_host="127.0.0.1",
                               media_port=20000, now=0.0)
    [inv] = sent(events)
    assert isinstance(inv, SipRequest)
    answer = invite().split(b"\r\n\r\n", 1)[1]
    extra: tuple[tuple[str, str], ...] = (("Session-Expires", session_expires),
                                          ("Contact", "<sip:bob@10.0.0.9:5062>"),
                                          ("Content-Type", "application/sdp"))
    if allow:
        extra += (("Allow", allow),)
    ok = make_response(inv, 200, to_tag="bob1", extra=extra, body=answer)
    out = agent.receive(bytes(ok), PEER, 0.5)
    assert [m.method for m in sent(out) if isinstance(m, SipRequest)] == ["ACK"]
    return key, inv


def test_outbound_invite_offers_timers_and_refreshes_as_the_uac() -> None:
    agent = ua()
    _key, inv = _dial(agent, "120;refresher=uac", allow="INVITE, ACK, BYE, UPDATE")
    assert inv.get("Session-Expires") == "1800" and "timer" in (inv.get("Supported") or "")
    [refresh] = sent(run_until(agent, 60.5))
    assert isinstance(refresh, SipRequest) and refresh.method == "UPDATE"
    assert refresh.get("Session-Expires") == "120;refresher=uac"


def test_outbound_call_whose_uas_stops_refreshing_gets_bye() -> None:
    agent = ua()
    key, _inv = _dial(agent, "120;refresher=uas")
    assert run_until(agent, 80.0) == []
    out = run_until(agent, 90.0)
    assert CallEnded(key, "session-expired", 0, "") in out


# -- 491 Request Pending to our refresh (RFC 3261 §14.1) ------------------------------------


def _retried_at(agent: UserAgent, after: float) -> tuple[float, SipRequest]:
    """The next refresh our UA sends after ``after`` (simulated time) and when."""
    deadline = agent.get_timer()
    assert deadline is not None
    at = deadline
    requests = [m for m in sent(agent.handle_timer(at)) if isinstance(m, SipRequest)]
    while not any(r.method in ("UPDATE", "INVITE") for r in requests):
        at = agent.get_timer() or 0.0
        requests = [m for m in sent(agent.handle_timer(at)) if isinstance(m, SipRequest)]
    [refresh] = [r for r in requests if r.method in ("UPDATE", "INVITE")]
    assert at > after
    return at, refresh


def test_refresh_answered_491_is_sent_again_after_0_to_2_s_when_the_peer_placed_the_call(
) -> None:
    agent = ua()
    key, _ok = answered(agent, "Allow: INVITE, ACK, BYE, UPDATE\r\n")
    agent.refresh = SessionRefresh(core=agent.core, rng=random.Random(3))
    [first] = sent(run_until(agent, 900.0))
    assert isinstance(first, SipRequest) and first.method == "UPDATE"
    assert agent.receive(bytes(make_response(first, 491)), PEER, 900.2) == []
    assert agent.dialogs[key].session_timer is not None
    at, again = _retried_at(agent, 900.2)
    expected = 900.2 + random.Random(3).randint(0, 200) / 100  # the UAS waits 0-2 s
    assert abs(at - expected) < 1e-9 and at <= 902.2
    assert again.method == "UPDATE" and again.cseq[0] == first.cseq[0] + 1
    assert again.top_via.branch != first.top_via.branch  # a new transaction
    assert agent.receive(bytes(make_response(again, 200)), PEER, at + 0.1) == []
    assert agent.refresh.deadline() == at + 0.1 + 900  # refreshed: the next one at half
    assert list(agent.dialogs) == [key]


def test_reinvite_refresh_answered_491_by_the_uas_we_called_waits_2_1_to_4_s() -> None:
    agent = ua()
    key, _inv = _dial(agent, "120;refresher=uac")  # we placed the call: we own the Call-ID
    [first] = sent(run_until(agent, 60.5))
    assert isinstance(first, SipRequest) and first.method == "INVITE"
    out = agent.receive(bytes(make_response(first, 491, to_tag="bob1")), PEER, 60.6)
    assert [m.method for m in sent(out) if isinstance(m, SipRequest)] == ["ACK"]  # §17.1.1.3
    at, again = _retried_at(agent, 60.6)
    assert 60.6 + 2.1 <= at <= 60.6 + 4.0
    assert again.method == "INVITE" and again.cseq[0] > first.cseq[0]
    reply = make_response(again, 200, to_tag="bob1", extra=(("Contact", "<sip:bob@10.0.0.9>"),))
    [ack] = sent(agent.receive(bytes(reply), PEER, at + 0.2))
    assert isinstance(ack, SipRequest) and ack.method == "ACK"
    assert list(agent.dialogs) == [key]


def test_a_peer_that_always_answers_491_gets_a_bounded_number_of_retries_then_bye() -> None:
    agent = ua(session_expires=90)
    key, _ok = answered(agent, "Allow: INVITE, ACK, BYE, UPDATE\r\n")
    refreshes: list[SipRequest] = []
    now = 0.0
    ended: list[CallEnded] = []
    while not ended:
        deadline = agent.get_timer()
        assert deadline is not None and deadline < 200
        now = deadline
        out = agent.handle_timer(now)
        ended = [e for e in out if isinstance(e, CallEnded)]
        for msg in sent(out):
            if isinstance(msg, SipRequest) and msg.method == "UPDATE":
                refreshes.append(msg)
                agent.receive(bytes(make_response(msg, 491)), PEER, now + 0.05)
    assert len(refreshes) == 1 + REFRESH_RETRIES
    assert ended == [CallEnded(key, "session-expired", 0, "")]
    assert now == 90 - 30  # the expiry of the unrefreshed session
    assert agent.dialogs == {}


def test_a_peer_reinvite_during_the_491_wait_refreshes_the_session_and_cancels_the_retry(
) -> None:
    agent = ua()
    key, ok = answered(agent, "Allow: INVITE, ACK, BYE, UPDATE\r\n")
    [first] = sent(run_until(agent, 900.0))
    assert isinstance(first, SipRequest)
    agent.receive(bytes(make_response(first, 491)), PEER, 900.1)
    update = request("UPDATE", branch="z9hG4bK-peer-up", to_tag=ok.to_tag, cseq=3)
    [up_ok] = sent(agent.receive(update, PEER, 900.3))
    assert isinstance(up_ok, SipResponse) and up_ok.status == 200
    timer = agent.dialogs[key].session_timer
    assert timer is not None and timer.retry_at is None
    assert agent.refresh.deadline() == 900.3 + 900  # no retry: the peer's UPDATE refreshed
