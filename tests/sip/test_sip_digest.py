"""The digest server (RFC 7616 over SIP): qop=auth required, nonce counts against replay,
expiring nonces, bounded nonce memory. Headers in, ``now`` in: no clock, no sockets."""

from __future__ import annotations

import pytest
from sip_fixtures import invite

from callport.channels.sip.auth import (
    DigestServer,
    authorization,
    digest_response,
    parse_digest,
)
from callport.channels.sip.events import IncomingCall, SipEvent, Transmit
from callport.channels.sip.message import SipRequest, SipResponse, parse_message
from callport.channels.sip.useragent import UaConfig, UserAgent

URI = "sip:bot@127.0.0.1:5060"
PEER = ("10.0.0.9", 5062)


def sent(events: list[SipEvent]) -> list[SipRequest | SipResponse]:
    return [parse_message(e.data) for e in events if isinstance(e, Transmit)]


def statuses(events: list[SipEvent]) -> list[int]:
    return [m.status for m in sent(events) if isinstance(m, SipResponse)]


def ua(**kw: object) -> UserAgent:
    return UserAgent(config=UaConfig(host="127.0.0.1", port=5060, **kw))  # type: ignore[arg-type]


def server(**kw: object) -> DigestServer:
    return DigestServer(realm="cp", users={"alice": "secret"}, **kw)  # type: ignore[arg-type]


def answer(challenge: str, *, nc: int = 1, cnonce: str = "c0ffee", password: str = "secret",
           method: str = "INVITE") -> str:
    header = authorization(challenge, username="alice", password=password, method=method,
                           uri=URI, cnonce=cnonce, nc=nc)
    assert header is not None
    return header


def test_challenge_offers_qop_auth_and_a_right_answer_passes() -> None:
    digest = server()
    challenge = digest.challenge(10.0)
    assert parse_digest(challenge)["qop"] == "auth"
    result = digest.verify(answer(challenge), method="INVITE", now=11.0)
    assert result.ok and result.username == "alice"


def test_the_same_answer_twice_is_a_replay_and_refused() -> None:
    digest = server()
    challenge = digest.challenge(10.0)
    header = answer(challenge)
    assert digest.verify(header, method="INVITE", now=11.0).ok
    again = digest.verify(header, method="INVITE", now=11.5)
    assert not again.ok and not again.stale
    assert "replayed" in again.reason


def test_nonce_count_must_grow() -> None:
    digest = server()
    challenge = digest.challenge(10.0)
    assert digest.verify(answer(challenge, nc=1), method="INVITE", now=11.0).ok
    assert digest.verify(answer(challenge, nc=3, cnonce="c2"), method="INVITE", now=12.0).ok
    lower = digest.verify(answer(challenge, nc=2, cnonce="c3"), method="INVITE", now=13.0)
    assert not lower.ok and "replayed" in lower.reason
    assert digest.verify(answer(challenge, nc=4, cnonce="c4"), method="INVITE", now=14.0).ok


def test_an_answer_without_qop_is_refused() -> None:
    digest = server()
    nonce = parse_digest(digest.challenge(10.0))["nonce"]
    # RFC 2069 style: right password, no qop/nc/cnonce (nothing to count, so replayable).
    response = digest_response(alg="MD5", username="alice", realm="cp", password="secret",
                               method="INVITE", uri=URI, nonce=nonce, qop=None, nc="",
                               cnonce="")
    header = (f'Digest username="alice", realm="cp", nonce="{nonce}", uri="{URI}", '
              f'response="{response}", algorithm=MD5')
    result = digest.verify(header, method="INVITE", now=11.0)
    assert not result.ok and "qop" in result.reason


@pytest.mark.parametrize("drop", ["nc", "cnonce"])
def test_qop_without_nc_or_cnonce_is_refused(drop: str) -> None:
    digest = server()
    header = answer(digest.challenge(10.0))
    params = [p for p in header[len("Digest "):].split(", ") if not p.startswith(drop + "=")]
    assert not digest.verify("Digest " + ", ".join(params), method="INVITE", now=11.0).ok


def test_wrong_password_and_forged_nonce_are_refused_not_stale() -> None:
    digest = server()
    challenge = digest.challenge(10.0)
    wrong = digest.verify(answer(challenge, password="guess"), method="INVITE", now=11.0)
    assert not wrong.ok and not wrong.stale
    forged = challenge.replace(parse_digest(challenge)["nonce"], "1.2.3")
    assert not digest.verify(answer(forged), method="INVITE", now=11.0).ok
    other = server().challenge(10.0)  # signed by another server's secret
    assert not digest.verify(answer(other), method="INVITE", now=11.0).ok
    # The refused tries did not use up the nonce: the right answer still passes once.
    assert digest.verify(answer(challenge), method="INVITE", now=12.0).ok


def test_expired_nonce_is_stale_and_forgotten() -> None:
    digest = server(lifetime=30.0)
    challenge = digest.challenge(10.0)
    result = digest.verify(answer(challenge), method="INVITE", now=41.0)
    assert not result.ok and result.stale
    assert digest.nonces() == 0
    assert 'stale=true' in digest.challenge(41.0, stale=True)


def test_nonce_memory_is_bounded_and_the_oldest_goes_first() -> None:
    digest = server(max_nonces=8)
    first = digest.challenge(1.0)
    latest = [digest.challenge(1.0 + i / 100) for i in range(20)]
    assert digest.nonces() == 8
    forgotten = digest.verify(answer(first), method="INVITE", now=2.0)
    assert not forgotten.ok and forgotten.stale  # asked again, never accepted unseen
    assert digest.verify(answer(latest[-1]), method="INVITE", now=2.0).ok


def test_expired_nonces_are_dropped_when_new_ones_are_issued() -> None:
    digest = server(lifetime=5.0)
    for i in range(50):
        digest.challenge(float(i))
    assert digest.nonces() <= 6


def test_user_agent_answers_a_replayed_invite_with_a_fresh_challenge() -> None:
    agent = ua(auth_users=(("alice", "secret"),), auth_realm="cp")
    [challenge] = sent(agent.receive(invite(), PEER, 100.0))
    assert isinstance(challenge, SipResponse)
    creds = answer(challenge.get("WWW-Authenticate") or "")
    good = invite(branch="z9hG4bK-2", cseq=2, extra=f"Authorization: {creds}\r\n")
    assert any(isinstance(e, IncomingCall) for e in agent.receive(good, PEER, 101.0))
    # An eavesdropper replays the header on a new call of its own.
    replay = invite(branch="z9hG4bK-evil", call_id="evil@10.6.6.6", cseq=1,
                    extra=f"Authorization: {creds}\r\n")
    events = agent.receive(replay, ("10.6.6.6", 5060), 102.0)
    assert not any(isinstance(e, IncomingCall) for e in events)
    assert statuses(events) == [401]
    [fresh] = sent(events)
    assert isinstance(fresh, SipResponse)
    header = fresh.get("WWW-Authenticate") or ""
    assert "stale=true" not in header
    assert parse_digest(header)["nonce"] != parse_digest(creds)["nonce"]
    assert agent.active_calls() == 1 and agent.stats["auth_refused"] == 1
