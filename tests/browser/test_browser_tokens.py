from __future__ import annotations

import pytest

from callport.channels.browser.tokens import (
    CallToken,
    SpentNonces,
    TokenError,
    TokenSigner,
    origin_allowed,
)

ORIGIN = "http://127.0.0.1:8080"


def signer(secret: str = "s3cret", ttl: float = 60) -> TokenSigner:
    return TokenSigner.from_setting(secret=secret, ttl_s=ttl)


def test_token_round_trip_returns_nonce() -> None:
    s = signer()
    token = s.issue(origin=ORIGIN, session="sess1", user="alice", now=1000.0, nonce="abc")
    assert s.verify(token, origin=ORIGIN, now=1059.0) == CallToken(
        nonce="abc", expires=1060, session="sess1", user="alice")


def test_token_expires() -> None:
    s = signer(ttl=60)
    token = s.issue(origin=ORIGIN, session="sess1", user="alice", now=1000.0)
    with pytest.raises(TokenError, match="expired"):
        s.verify(token, origin=ORIGIN, now=1060.0)


def test_token_bound_to_origin() -> None:
    s = signer()
    token = s.issue(origin=ORIGIN, session="sess1", user="alice", now=0.0)
    with pytest.raises(TokenError, match="origin"):
        s.verify(token, origin="http://evil.example", now=1.0)


def test_token_from_other_secret_rejected() -> None:
    token = signer("one").issue(origin=ORIGIN, session="sess1", user="alice", now=0.0)
    with pytest.raises(TokenError, match="signature"):
        signer("two").verify(token, origin=ORIGIN, now=1.0)


def test_random_secret_when_empty() -> None:
    a, b = signer(""), signer("")
    assert a.secret != b.secret and len(a.secret) == 32
    token = a.issue(origin=ORIGIN, session="sess1", user="alice", now=0.0)
    with pytest.raises(TokenError):
        b.verify(token, origin=ORIGIN, now=1.0)


@pytest.mark.parametrize("garbage", ["", "x", "a.b.c", "!!!.###", "a" * 2000, "e30.e30"])
def test_garbage_tokens_raise_token_error(garbage: str) -> None:
    with pytest.raises(TokenError):
        signer().verify(garbage, origin=ORIGIN, now=0.0)


def test_tampered_payload_rejected() -> None:
    s = signer()
    token = s.issue(origin=ORIGIN, session="sess1", user="alice", now=0.0)
    body, sig = token.split(".")
    forged = s.issue(origin=ORIGIN, session="sess1", user="alice", now=10_000.0).split(".")[0]
    with pytest.raises(TokenError, match="signature"):
        s.verify(f"{forged}.{sig}", origin=ORIGIN, now=1.0)
    assert body != forged


def test_origin_same_host_only_by_default() -> None:
    assert origin_allowed("http://127.0.0.1:8080", host="127.0.0.1:8080", secure=False, allowed=())
    assert not origin_allowed("https://127.0.0.1:8080", host="127.0.0.1:8080", secure=False,
                              allowed=())
    assert not origin_allowed("http://evil.example", host="127.0.0.1:8080", secure=False,
                              allowed=())
    assert not origin_allowed(None, host="127.0.0.1:8080", secure=False, allowed=())
    assert not origin_allowed("null", host="127.0.0.1:8080", secure=False, allowed=())


def test_origin_allow_list() -> None:
    allowed = ("https://app.example.com",)
    assert origin_allowed("https://app.example.com/", host="x", secure=True, allowed=allowed)
    assert not origin_allowed("https://other.example.com", host="x", secure=True, allowed=allowed)
    assert origin_allowed("https://any.example", host="x", secure=True, allowed=("*",))


def test_session_and_user_are_signed_into_the_token() -> None:
    s = signer()
    token = s.issue(origin=ORIGIN, session="sessA", user="alice", now=0.0)
    body, sig = token.split(".")
    import base64

    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    forged = raw.replace("sessA", "sessB").encode()
    forged_body = base64.urlsafe_b64encode(forged).rstrip(b"=").decode()
    with pytest.raises(TokenError, match="signature"):
        s.verify(f"{forged_body}.{sig}", origin=ORIGIN, now=1.0)
    with pytest.raises(ValueError):
        s.issue(origin=ORIGIN, session="a|b", user="alice", now=0.0)


def test_spent_nonces_refuse_replays_and_stay_bounded() -> None:
    s = signer(ttl=60)
    spent = SpentNonces(max_size=3)
    first = s.verify(s.issue(origin=ORIGIN, session="s", user="u", now=0.0), origin=ORIGIN,
                     now=1.0)
    spent.spend(first, now=1.0)
    with pytest.raises(TokenError, match="already used"):
        spent.spend(first, now=2.0)
    for i in range(2):
        spent.spend(CallToken(nonce=f"n{i}", expires=60, session="s", user="u"), now=2.0)
    with pytest.raises(TokenError, match="too many"):  # full of live nonces: refuse, never forget
        spent.spend(CallToken(nonce="n9", expires=120, session="s", user="u"), now=3.0)
    spent.spend(CallToken(nonce="n9", expires=120, session="s", user="u"), now=60.0)
    assert len(spent) == 1  # the expired ones were dropped
