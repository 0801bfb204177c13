"""The Telnyx media core: snake_case frames in, shared MediaEvents out, frames back out."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from callport.audio.g711 import ulaw_encode
from callport.channels.media_leg import decode, encode
from callport.channels.provider import (
    DtmfIn,
    MarkIn,
    MediaCore,
    MediaIn,
    StreamConnected,
    StreamStart,
    StreamStop,
    StreamViolation,
    ViolationKind,
)
from callport.channels.telnyx.media import (
    L16_16K,
    PCMU_8K,
    TelnyxMediaCore,
    encode_client_state,
)


def start_frame(encoding: str = "PCMU", rate: int = 8000, state: str = "call-1") -> str:
    return json.dumps({
        "event": "start",
        "sequence_number": "1",
        "stream_id": "32DE0DEA-53CB-4B21-89A4-9E1819C043BC",
        "start": {
            "user_id": "u1",
            "call_control_id": "v3:abc",
            "client_state": encode_client_state(state),
            "from": "+15550001111",
            "to": "+15550002222",
            "custom_parameters": {"tenant": "demo"},
            "media_format": {"encoding": encoding, "sample_rate": rate, "channels": 1},
        },
    })


def media_frame(
    chunk: int, payload: bytes, *, seq: int | None = None, track: str = "inbound"
) -> str:
    return json.dumps({
        "event": "media",
        "sequence_number": str(seq if seq is not None else chunk + 1),
        "stream_id": "32DE0DEA",
        "media": {
            "track": track,
            "chunk": str(chunk),
            "timestamp": str(chunk * 20),
            "payload": base64.b64encode(payload).decode(),
        },
    })


def started(encoding: str = "PCMU", rate: int = 8000, window: int = 5) -> TelnyxMediaCore:
    core = TelnyxMediaCore(reorder_window=window)
    assert core.receive_text(json.dumps({"event": "connected", "version": "1.0.0"})) == [
        StreamConnected(auth_token="")
    ]
    (ev,) = core.receive_text(start_frame(encoding, rate))
    assert isinstance(ev, StreamStart)
    return core


def test_is_a_media_core() -> None:
    core: MediaCore = TelnyxMediaCore()
    assert core.started is None


def test_connected_reports_the_stream_auth_token() -> None:
    core = TelnyxMediaCore()
    msg = {"event": "connected", "version": "1.0.0", "x-telnyx-streaming-auth-token": "tok-1"}
    assert core.receive_text(json.dumps(msg)) == [StreamConnected(auth_token="tok-1")]


def test_start_pcmu_reports_call_and_format() -> None:
    core = TelnyxMediaCore()
    (ev,) = core.receive_text(start_frame())
    assert isinstance(ev, StreamStart)
    assert ev.provider_call_id == "v3:abc"
    assert ev.stream_id.startswith("32DE0DEA")
    assert ev.caller == "+15550001111" and ev.callee == "+15550002222"
    assert ev.custom_parameters == {"tenant": "demo", "client_state": "call-1"}
    assert ev.inbound == ev.outbound == PCMU_8K
    assert core.started == ev


def test_start_l16_is_16k_big_endian() -> None:
    (ev,) = TelnyxMediaCore().receive_text(start_frame("L16", 16000))
    assert isinstance(ev, StreamStart)
    assert ev.inbound == L16_16K
    assert ev.inbound.big_endian and ev.inbound.sample_rate == 16000
    assert ev.inbound.frame_bytes == 640


@pytest.mark.parametrize(("encoding", "rate"), [("OPUS", 48000), ("L16", 8000), ("PCMU", "x")])
def test_unsupported_format_is_fatal(encoding: str, rate: object) -> None:
    (ev,) = TelnyxMediaCore().receive_text(start_frame(encoding, rate))  # type: ignore[arg-type]
    assert isinstance(ev, StreamViolation) and ev.fatal


def test_pcmu_media_in_order() -> None:
    core = started()
    pcm = (np.sin(np.arange(160) / 5) * 8000).astype(np.int16)
    payload = ulaw_encode(pcm)
    events = core.receive_text(media_frame(1, payload))
    assert events == [MediaIn(payload=payload)] or (
        len(events) == 1 and isinstance(events[0], MediaIn) and events[0].payload == payload
    )
    decoded = decode(PCMU_8K, events[0].payload)  # type: ignore[union-attr]
    assert np.max(np.abs(decoded.astype(int) - pcm)) < 300


def test_l16_media_big_endian_round_trip() -> None:
    core = started("L16", 16000)
    pcm = np.arange(-320, 320, dtype=np.int16) * 37
    wire = pcm.astype(">i2").tobytes()
    assert wire[:2] == int(pcm[0]).to_bytes(2, "big", signed=True)
    (ev,) = core.receive_text(media_frame(1, wire))
    assert isinstance(ev, MediaIn)
    np.testing.assert_array_equal(decode(L16_16K, ev.payload), pcm)
    assert encode(L16_16K, pcm) == wire
    out = json.loads(core.media(encode(L16_16K, pcm)))
    assert out == {"event": "media", "media": {"payload": base64.b64encode(wire).decode()}}


def payloads(events: list[object]) -> list[bytes]:
    return [e.payload for e in events if isinstance(e, MediaIn)]


def test_out_of_order_frames_are_reordered_by_chunk() -> None:
    core = started()
    frames = {i: bytes([i]) * 160 for i in range(1, 7)}
    got: list[bytes] = []
    for i in (2, 1, 4, 3, 6, 5):
        got += payloads(core.receive_text(media_frame(i, frames[i])))
    assert got == [frames[i] for i in range(1, 7)]
    assert core.late_frames == 0 and core.concealed_frames == 0


def test_missing_frame_is_concealed_with_silence_after_the_window() -> None:
    core = started(window=3)
    got: list[bytes] = []
    for i in (1, 3, 4, 5):
        got += payloads(core.receive_text(media_frame(i, bytes([i]) * 160)))
    assert got == [bytes([1]) * 160]  # 2 is missing, 3..5 are held
    got += payloads(core.receive_text(media_frame(6, bytes([6]) * 160)))
    assert got == [bytes([1]) * 160, b"\xff" * 160] + [bytes([i]) * 160 for i in (3, 4, 5, 6)]
    assert core.concealed_frames == 1
    # frame 2 finally arrives: too late, dropped, counted
    assert payloads(core.receive_text(media_frame(2, bytes([2]) * 160))) == []
    assert core.late_frames == 1


def test_duplicate_frame_is_dropped() -> None:
    core = started()
    assert len(payloads(core.receive_text(media_frame(1, b"\x01" * 160)))) == 1
    assert payloads(core.receive_text(media_frame(1, b"\x01" * 160))) == []
    assert core.late_frames == 1


def test_stop_drains_held_frames_then_stops() -> None:
    core = started()
    for i in (1, 3):
        core.receive_text(media_frame(i, bytes([i]) * 160))
    events = core.receive_text(json.dumps({"event": "stop", "sequence_number": "9"}))
    assert payloads(events) == [b"\xff" * 160, bytes([3]) * 160]
    assert isinstance(events[-1], StreamStop)
    assert core.receive_text(media_frame(4, b"\x04" * 160)) == []


def test_outbound_track_frames_are_ignored() -> None:
    core = started()
    assert core.receive_text(media_frame(1, b"\x00" * 160, track="outbound")) == []


def test_dtmf_and_mark_echo() -> None:
    core = started()
    dtmf = {"event": "dtmf", "sequence_number": "5", "stream_id": "s", "dtmf": {"digit": "7"}}
    assert core.receive_text(json.dumps(dtmf)) == [DtmfIn(digit="7")]
    mark = {"event": "mark", "sequence_number": "6", "stream_id": "s", "mark": {"name": "m1"}}
    assert core.receive_text(json.dumps(mark)) == [MarkIn(name="m1")]


def test_outbound_mark_and_clear_frames() -> None:
    core = started()
    assert json.loads(core.mark("m3")) == {"event": "mark", "mark": {"name": "m3"}}
    assert json.loads(core.clear()) == {"event": "clear"}


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("not json", ViolationKind.MALFORMED),
        ("[1, 2]", ViolationKind.MALFORMED),
        ('{"event": "bogus"}', ViolationKind.UNKNOWN),
        ('{"event": "media", "media": {"chunk": "1", "payload": "@@@"}}', ViolationKind.MALFORMED),
        ('{"event": "media", "media": {"payload": "AAAA"}}', ViolationKind.MALFORMED),
        ('{"event": "dtmf", "dtmf": {"digit": "x"}}', ViolationKind.MALFORMED),
        ('{"event": "mark", "mark": {}}', ViolationKind.MALFORMED),
        ('{"event": "error", "payload": {"code": 100003, "title": "bad"}}', ViolationKind.UNKNOWN),
    ],
)
def test_garbage_becomes_violations_never_exceptions(text: str, kind: ViolationKind) -> None:
    core = started()
    (ev,) = core.receive_text(text)
    assert isinstance(ev, StreamViolation) and ev.kind == kind and not ev.fatal


def test_media_before_start_and_binary_frames() -> None:
    core = TelnyxMediaCore()
    (ev,) = core.receive_text(media_frame(1, b"\x00" * 160))
    assert isinstance(ev, StreamViolation) and ev.kind == ViolationKind.OUT_OF_ORDER
    (ev,) = core.receive_bytes(b"\x00\x01")
    assert isinstance(ev, StreamViolation) and ev.kind == ViolationKind.BINARY
