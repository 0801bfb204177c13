"""TwilioMediaCore's per-frame field checks (one C base64 call, the counter parser): strict
base64 only, and counters that are short ASCII digit strings or plain ints, nothing else."""

from __future__ import annotations

import json

import pytest
from test_twilio_media import START

from callport.channels.provider import MediaIn, StreamViolation, ViolationKind
from callport.channels.twilio.media import TwilioMediaCore


def _core() -> TwilioMediaCore:
    core = TwilioMediaCore()
    core.receive_text(json.dumps(START))
    return core


def _frame(payload: str, *, timestamp: object = "20", chunk: object = "2") -> str:
    return json.dumps({"event": "media", "streamSid": "MZ1", "media": {
        "track": "inbound", "chunk": chunk, "timestamp": timestamp, "payload": payload}})


@pytest.mark.parametrize("payload", ["AA=A", "AAA", "AAAA\n", "AA AA", "é", "====", "A*=="])
def test_a_payload_that_is_not_strict_base64_is_malformed(payload: str) -> None:
    (event,) = _core().receive_text(_frame(payload))
    assert isinstance(event, StreamViolation) and event.kind is ViolationKind.MALFORMED


def test_strict_base64_decodes() -> None:
    (event,) = _core().receive_text(_frame("/38A"))
    assert isinstance(event, MediaIn) and event.payload == b"\xff\x7f\x00"
    assert (event.timestamp_ms, event.chunk) == (20, 2)


@pytest.mark.parametrize("counter", ["²", "1" * 19, "-5", " 5", "5.0", "", True, None, 1.5,
                                     "٣"])
def test_a_counter_that_is_not_a_short_digit_string_or_int_is_ignored(counter: object) -> None:
    (event,) = _core().receive_text(_frame("AAAA", timestamp=counter, chunk=counter))
    assert isinstance(event, MediaIn) and (event.timestamp_ms, event.chunk) == (None, None)


def test_int_counters_are_taken_as_they_are() -> None:
    (event,) = _core().receive_text(_frame("AAAA", timestamp=40, chunk="1" * 18))
    assert isinstance(event, MediaIn) and (event.timestamp_ms, event.chunk) == (40, 10**18 // 9)
