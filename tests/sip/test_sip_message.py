"""Parser/serializer: byte fixtures, compact forms, folding, errors, and a fuzz property."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sip_fixtures import invite

from callport.channels.sip.message import (
    NameAddr,
    SipParseError,
    SipRequest,
    SipResponse,
    SipUri,
    Via,
    make_response,
    parse_message,
)
from callport.channels.sip.useragent import UaConfig, UserAgent


def test_parse_invite_fields() -> None:
    msg = parse_message(invite())
    assert isinstance(msg, SipRequest)
    assert msg.method == "INVITE"
    assert msg.cseq == (1, "INVITE")
    assert msg.from_tag == "from1"
    assert msg.to_tag == ""
    assert msg.top_via.branch == "z9hG4bK-1"
    assert msg.body.startswith(b"v=0")
    assert msg.get_all("record-route") == ["<sip:proxy.example;lr>"]


def test_round_trip_is_byte_exact() -> None:
    data = invite()
    assert bytes(parse_message(data)) == data


def test_compact_headers_and_folding() -> None:
    data = (b"OPTIONS sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h:5060;branch=z9hG4bKx\r\n"
            b"f: <sip:x@y>;tag=1\r\nt: <sip:a@b>\r\ni: abc\r\nCSeq: 2\r\n OPTIONS\r\n"
            b"Via: SIP/2.0/TCP other;branch=z9hG4bKy, SIP/2.0/UDP third\r\nl: 0\r\n\r\n")
    msg = parse_message(data)
    assert msg.call_id == "abc"
    assert msg.cseq == (2, "OPTIONS")
    assert [Via.parse(v).host for v in msg.get_all("Via")] == ["h", "other", "third"]


def test_content_length_truncates_and_rejects() -> None:
    data = invite()
    assert parse_message(data + b"garbage").body == parse_message(data).body
    with pytest.raises(SipParseError):
        parse_message(data[:-5])


@pytest.mark.parametrize("bad", [
    b"", b"\r\n\r\n", b"INVITE\r\n\r\n", b"HELLO WORLD\r\n\r\n",
    b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\n",
    b"SIP/2.0 99 X\r\n\r\n",
    b"INVITE sip:a@b SIP/2.0\r\nVia: bogus\r\nFrom: <sip:a@b>\r\nTo: <sip:a@b>\r\n"
    b"Call-ID: x\r\nCSeq: 1 INVITE\r\n\r\n",
    b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>\r\n"
    b"To: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 BYE\r\n\r\n",
])
def test_malformed_raise(bad: bytes) -> None:
    with pytest.raises(SipParseError):
        parse_message(bad)


def test_uri_and_name_addr() -> None:
    uri = SipUri.parse("sip:alice:pw@[::1]:5070;transport=tcp?subject=x")
    assert (uri.user, uri.password, uri.host, uri.port) == ("alice", "pw", "::1", 5070)
    assert uri.params == {"transport": "tcp"}
    assert str(uri) == "sip:alice:pw@[::1]:5070;transport=tcp?subject=x"
    assert SipUri.parse("tel:+15551234;phone-context=x").user == "+15551234"
    addr = NameAddr.parse('"Bob, Jr" <sip:bob@h>;tag=9')
    assert (addr.display, addr.uri, addr.tag) == ("Bob, Jr", "sip:bob@h", "9")
    assert NameAddr.parse("sip:bob@h;tag=3").tag == "3"


def test_response_copies_dialog_headers() -> None:
    req = parse_message(invite())
    assert isinstance(req, SipRequest)
    resp = make_response(req, 200, to_tag="abc")
    parsed = parse_message(bytes(resp))
    assert isinstance(parsed, SipResponse)
    assert parsed.to_tag == "abc"
    assert parsed.get("Record-Route") == "<sip:proxy.example;lr>"
    assert parsed.cseq == (1, "INVITE")


_FUZZ_UA = UserAgent(config=UaConfig(host="127.0.0.1", port=5060))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_fuzz_random_bytes_never_crash(data: bytes) -> None:
    _FUZZ_UA.receive(data, ("10.0.0.9", 5062), 0.0)
    with contextlib.suppress(SipParseError):
        parse_message(data)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_fuzz_mutated_invite_never_crashes_ua(data: st.DataObject) -> None:
    base = bytearray(invite(branch="z9hG4bK-fuzz", call_id="fuzz"))
    for _ in range(data.draw(st.integers(1, 6))):
        pos = data.draw(st.integers(0, len(base) - 1))
        op = data.draw(st.sampled_from(["flip", "cut", "dup", "junk"]))
        if op == "flip":
            base[pos] = data.draw(st.integers(0, 255))
        elif op == "cut":
            del base[pos:pos + data.draw(st.integers(1, 40))]
        elif op == "dup":
            base[pos:pos] = base[pos:pos + 20]
        else:
            base[pos:pos] = data.draw(st.sampled_from(
                [b"\r\n", b":", b";", b"<", b">", b",", b"\x00", b"\xff", b" ", b"\r\n\r\n"]))
        if not base:
            break
    ua = UserAgent(config=UaConfig(host="127.0.0.1", port=5060))
    events = ua.receive(bytes(base), ("10.0.0.9", 5062), 0.0)
    for ev in events:
        assert ev is not None
    # Whatever it answered, nothing may be left half-open beyond one pending call.
    assert ua.active_calls() <= 1
