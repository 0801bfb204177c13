"""The provider-neutral call book: stream admission (once), ended calls, prune, and status
from both providers' callbacks (parsed by their real webhook parsers), in simulated time."""

from __future__ import annotations

import json

import pytest

from callport.channels.callbook import CallBook, ProviderCall, StreamGrant
from callport.channels.provider import CallEvent
from callport.channels.telnyx import tokens as telnyx_tokens
from callport.channels.telnyx.media import encode_client_state
from callport.channels.telnyx.webhook import parse_event
from callport.channels.twilio import tokens as twilio_tokens
from callport.channels.twilio.webhooks import parse_fields

NOW = 1_760_000_000.0
CA = "CA" + "a" * 32
CCID = "v3:call-1"
TWILIO_KEY = twilio_tokens.derive_key("f" * 32)
TELNYX_SECRET = b"s" * 32


def twilio(status: str, **extra: str) -> list[CallEvent]:
    return parse_fields({"CallSid": CA, "CallStatus": status, "From": "+1555", "To": "+1666",
                         **extra})


def telnyx(event_type: str, *, client_state: str = "", **payload: str) -> CallEvent:
    body = {"call_control_id": CCID, **payload}
    if client_state:
        body["client_state"] = encode_client_state(client_state)
    doc = {"data": {"event_type": event_type, "payload": body}}
    return parse_event(json.dumps(doc).encode())


def twilio_grant(call_id: str, *, sid: str = CA, expires_at: float = NOW + 60) -> StreamGrant:
    params = twilio_tokens.mint(TWILIO_KEY, call_id=call_id, direction="inbound",
                                caller="+1555", callee="+1666", provider_call_id=sid,
                                expires_at=expires_at)
    grant = twilio_tokens.check(TWILIO_KEY, params, provider_call_id=sid, now=NOW)
    assert grant is not None
    return grant


def telnyx_grant(call_id: str, *, ccid: str = CCID) -> StreamGrant:
    token = telnyx_tokens.mint(TELNYX_SECRET, call_id, provider_call_id=ccid,
                               expires_at=NOW + 60)
    grant = telnyx_tokens.check(TELNYX_SECRET, call_id=call_id, token=token,
                                provider_call_id=ccid, now=NOW)
    assert grant is not None
    return grant


def entered(book: CallBook, call_id: str, provider_call_id: str) -> ProviderCall:
    return book.enter(book.new_call(call_id=call_id, provider_call_id=provider_call_id,
                                    caller="+1555", callee="+1666"), now=NOW)


# --------------------------------------------------------------------------- records


def test_enter_keeps_a_known_call_and_indexes_both_ids() -> None:
    book = CallBook(provider="twilio")
    call = entered(book, "c1", CA)
    again = book.enter(book.new_call(call_id="c1", provider_call_id="other"), now=NOW + 1)
    assert again is call and len(book) == 1 and call.provider == "twilio"
    assert book.get("c1") is call and book.by_provider_id(CA) is call
    assert book.find(call_id="c1") is call and book.find(provider_call_id=CA) is call
    assert book.find(call_id="nope", provider_call_id="nope") is None
    assert call.log == [(NOW, "inbound +1555 -> +1666")]


def test_bind_learns_the_provider_id_of_a_placed_call() -> None:
    book = CallBook(provider="telnyx")
    call = entered(book, "c1", "")
    assert book.by_provider_id(CCID) is None
    assert book.bind("c1", CCID) is call and book.by_provider_id(CCID) is call
    assert book.bind("unknown", CCID) is None


# --------------------------------------------------------------------------- status


def test_twilio_callbacks_move_status_and_end_the_call() -> None:
    book = CallBook(provider="twilio")
    call = entered(book, "c1", CA)
    for event in twilio("ringing"):
        assert book.apply(event, now=NOW + 1) is call
    assert call.status == "ringing"
    for event in twilio("in-progress", AnsweredBy="human"):
        book.apply(event, now=NOW + 2)
    assert (call.status, call.answered_by, call.ended) == ("in-progress", "human", False)
    for event in twilio("busy", CallDuration="12"):
        book.apply(event, now=NOW + 14)
    assert (call.status, call.ended_at) == ("busy", NOW + 14)
    assert call.log[-1] == (NOW + 14, "ended: busy after 12 s")
    for event in twilio("in-progress"):  # a late, out-of-order callback
        book.apply(event, now=NOW + 15)
    assert (call.status, call.ended_at) == ("busy", NOW + 14)


def test_telnyx_callbacks_find_the_call_by_our_id_or_theirs() -> None:
    book = CallBook(provider="telnyx")
    call = entered(book, "tx-1", "")  # placed, Telnyx's id not bound yet
    assert book.apply(telnyx("call.answered", client_state="tx-1"), now=NOW + 1) is call
    assert call.status == "in-progress"
    assert book.apply(telnyx("call.machine.detection.ended", client_state="tx-1",
                             result="machine"), now=NOW + 2) is call
    assert call.answered_by == "machine"
    book.bind("tx-1", CCID)
    assert book.apply(telnyx("call.hangup", hangup_cause="user_busy"), now=NOW + 3) is call
    assert (call.status, call.ended_at) == ("busy", NOW + 3)
    assert [line for _, line in call.log][-3:] == [
        "CallAnswered", "answered by machine", "ended: busy"]


def test_callbacks_for_unknown_calls_are_ignored() -> None:
    book = CallBook(provider="telnyx")
    assert book.apply(telnyx("call.hangup", client_state="tx-x"), now=NOW) is None
    assert len(book) == 0


def test_ended_by_us_is_recorded_once() -> None:
    book = CallBook(provider="telnyx")
    call = entered(book, "tx-1", CCID)
    book.ended(call, reason="stream-stopped", now=NOW + 5)
    book.ended(call, reason="answer-failed", now=NOW + 6)
    assert (call.status, call.ended_at) == ("stream-stopped", NOW + 5)
    assert call.log[-1] == (NOW + 5, "ended: stream-stopped")


# --------------------------------------------------------------------------- streams


@pytest.mark.parametrize("style", ["twilio", "telnyx"])
def test_a_grant_admits_one_stream_only(style: str) -> None:
    book = CallBook(provider=style)
    pid = CA if style == "twilio" else CCID
    call = entered(book, "c1", pid)
    assert call.status == "ringing"
    grant = twilio_grant("c1") if style == "twilio" else telnyx_grant("c1")
    assert book.admit(grant, provider_call_id=pid, now=NOW + 1) is call
    assert call.streamed and call.log[-1] == (NOW + 1, "stream admitted")
    assert call.status == "in-progress"  # media flows: answered (Twilio sends no callback)
    assert book.admit(grant, provider_call_id=pid, now=NOW + 2) is None  # replayed
    fresh = StreamGrant(call_id="c1", token_id="another-token", expires_at=NOW + 60)
    assert book.admit(fresh, provider_call_id=pid, now=NOW + 2) is None  # already streamed


def test_streams_for_ended_calls_are_refused() -> None:
    book = CallBook(provider="twilio")
    call = entered(book, "c1", CA)
    for event in twilio("completed"):
        book.apply(event, now=NOW + 1)
    assert book.admit(twilio_grant("c1"), provider_call_id=CA, now=NOW + 2) is None
    assert not call.streamed


def test_a_stream_for_another_provider_call_is_refused() -> None:
    book = CallBook(provider="telnyx")
    entered(book, "tx-1", CCID)
    stolen = telnyx_grant("tx-1", ccid="v3:other")
    assert book.admit(stolen, provider_call_id="v3:other", now=NOW) is None
    assert book.admit(telnyx_grant("tx-1"), provider_call_id=CCID, now=NOW) is not None


def test_a_call_placed_elsewhere_is_entered_from_its_grant() -> None:
    book = CallBook(provider="twilio")
    grant = twilio_grant("placed-by-cli", sid="")
    call = book.admit(grant, provider_call_id=CA, now=NOW)
    assert call is not None and book.by_provider_id(CA) is call
    assert (call.direction, call.caller, call.callee, call.status) == (
        "inbound", "+1555", "+1666", "in-progress")
    empty = StreamGrant(call_id="x", token_id="", expires_at=NOW + 60)
    assert book.admit(empty, provider_call_id="CA2", now=NOW) is None


# --------------------------------------------------------------------------- prune


def test_prune_forgets_ended_calls_after_keep_ended_s() -> None:
    book = CallBook(provider="telnyx", keep_ended_s=600)
    call = entered(book, "tx-1", CCID)
    live = entered(book, "tx-2", "v3:call-2")
    book.ended(call, reason="completed", now=NOW + 10)
    book.prune(NOW + 610)
    assert book.get("tx-1") is call
    book.prune(NOW + 611)
    assert book.get("tx-1") is None and book.by_provider_id(CCID) is None
    assert book.get("tx-2") is live  # live calls stay, however old


def test_a_spent_token_is_remembered_until_it_expires() -> None:
    book = CallBook(provider="twilio", keep_ended_s=10)
    grant = twilio_grant("c1", expires_at=NOW + 1000)
    call = book.admit(grant, provider_call_id=CA, now=NOW)
    assert call is not None
    book.ended(call, reason="completed", now=NOW + 1)
    book.prune(NOW + 100)  # the call is forgotten, the token has not expired: still spent
    assert book.get("c1") is None
    assert book.admit(grant, provider_call_id=CA, now=NOW + 100) is None  # not re-created
    assert book.get("c1") is None
    book.prune(NOW + 1001)  # forgotten once expired: the book refuses it by its expiry
    assert book.admit(grant, provider_call_id=CA, now=NOW + 1001) is None
    assert book.get("c1") is None and len(book) == 0


@pytest.mark.parametrize("style", ["twilio", "telnyx"])
def test_a_token_replayed_after_its_call_was_pruned_does_not_recreate_it(style: str) -> None:
    book = CallBook(provider=style, keep_ended_s=10)
    pid = CA if style == "twilio" else CCID
    grant = twilio_grant("c1") if style == "twilio" else telnyx_grant("c1")
    call = book.admit(grant, provider_call_id=pid, now=NOW)
    assert call is not None
    book.ended(call, reason="completed", now=NOW + 1)
    for later in (NOW + 20, NOW + 61):  # pruned, token live; then token expired too
        book.prune(later)
        assert book.admit(grant, provider_call_id=pid, now=later) is None
        assert book.get("c1") is None and book.by_provider_id(pid) is None


def test_an_expired_grant_is_refused_by_the_book() -> None:
    book = CallBook(provider="telnyx")
    entered(book, "tx-1", CCID)
    late = StreamGrant(call_id="tx-1", token_id="t", expires_at=NOW - 1)
    assert book.admit(late, provider_call_id=CCID, now=NOW) is None
