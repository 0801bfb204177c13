"""Content-Length framing of SIP on a stream (RFC 3261 §18.3): split, merged, garbage."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from callport.channels.sip.framing import FrameError, StreamFramer

BODY = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"
INVITE = (b"INVITE sip:bot@127.0.0.1 SIP/2.0\r\n"
          b"Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK1\r\n"
          b"Content-Type: application/sdp\r\n"
          b"Content-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)
OPTIONS = (b"OPTIONS sip:bot@127.0.0.1 SIP/2.0\r\n"
           b"Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK2\r\n"
           b"l: 0\r\n\r\n")


def test_whole_message_is_one_frame() -> None:
    framer = StreamFramer()
    assert framer.feed(INVITE) == [INVITE]
    assert framer.pending == 0
    assert INVITE.endswith(b"\r\n\r\n" + BODY)


def test_merged_messages_and_keepalives_split_apart() -> None:
    framer = StreamFramer()
    assert framer.feed(b"\r\n\r\n" + INVITE + b"\r\n" + OPTIONS + INVITE[:10]) == [
        INVITE, OPTIONS]
    assert framer.pending == 10
    assert framer.feed(INVITE[10:]) == [INVITE]


@given(st.lists(st.integers(min_value=0, max_value=len(INVITE) * 2 + len(OPTIONS)),
                max_size=12))
def test_any_split_gives_the_same_frames(cuts: list[int]) -> None:
    stream = INVITE + OPTIONS + INVITE
    framer = StreamFramer()
    frames: list[bytes | FrameError] = []
    last = 0
    for cut in [*sorted(set(cuts)), len(stream)]:
        frames += framer.feed(stream[last:cut])
        last = cut
    assert frames == [INVITE, OPTIONS, INVITE]


def test_missing_content_length_is_an_error_and_the_framer_stops() -> None:
    framer = StreamFramer()
    bad = b"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK3\r\n\r\n"
    assert framer.feed(OPTIONS + bad + OPTIONS) == [
        OPTIONS, FrameError("missing or invalid Content-Length")]
    assert framer.feed(OPTIONS) == []
    assert framer.failed is not None


def test_garbage_without_a_head_end_fails_once_over_the_limit() -> None:
    framer = StreamFramer(max_head=64)
    assert framer.feed(b"\x00\xff" * 20) == []
    assert framer.feed(b"\x00\xff" * 20) == [FrameError("head too long")]
    assert framer.pending == 0


def test_bad_lengths_fail() -> None:
    for value in (b"-1", b"abc", b""):
        framer = StreamFramer()
        out = framer.feed(b"BYE sip:x SIP/2.0\r\nContent-Length: " + value + b"\r\n\r\n")
        assert out == [FrameError("missing or invalid Content-Length")], value
    framer = StreamFramer(max_body=10)
    assert framer.feed(b"BYE sip:x SIP/2.0\r\nContent-Length: 11\r\n\r\n") == [
        FrameError("body too long")]
