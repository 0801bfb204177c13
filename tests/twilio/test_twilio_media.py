"""TwilioMediaCore (sans-IO) and MediaStreamLeg mark/clear/stop rules, byte level."""

from __future__ import annotations

import base64
import json

import numpy as np

from callport.audio.g711 import ulaw_encode
from callport.call.events import AudioIn, Dtmf, HungUp, Marked, TransferStarted
from callport.channels.media_leg import MediaStreamLeg
from callport.channels.provider import (
    MULAW_8K,
    DtmfIn,
    MarkIn,
    MediaIn,
    StreamConnected,
    StreamStart,
    StreamStop,
    StreamViolation,
    ViolationKind,
)
from callport.channels.twilio.media import TwilioMediaCore

START = {
    "event": "start", "sequenceNumber": "1", "streamSid": "MZ1",
    "start": {"accountSid": "AC1", "streamSid": "MZ1", "callSid": "CA1", "tracks": ["inbound"],
              "customParameters": {"token": "t"},
              "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}},
}


def media(seq: int, payload: bytes, chunk: int = 1, ts: int = 0) -> str:
    return json.dumps({"event": "media", "sequenceNumber": str(seq), "streamSid": "MZ1",
                       "media": {"track": "inbound", "chunk": str(chunk), "timestamp": str(ts),
                                 "payload": base64.b64encode(payload).decode()}})


def started() -> TwilioMediaCore:
    core = TwilioMediaCore()
    assert core.receive_text('{"event":"connected","protocol":"Call","version":"1.0.0"}') == [
        StreamConnected()
    ]
    (event,) = core.receive_text(json.dumps(START))
    assert event == StreamStart(stream_id="MZ1", provider_call_id="CA1",
                                custom_parameters={"token": "t"}, inbound=MULAW_8K,
                                outbound=MULAW_8K)
    return core


def test_inbound_events() -> None:
    core = started()
    payload = bytes(range(160))
    (m,) = core.receive_text(media(2, payload, chunk=1, ts=0))
    assert isinstance(m, MediaIn) and m.payload == payload and (m.chunk, m.timestamp_ms) == (1, 0)
    assert core.receive_text(
        '{"event":"dtmf","sequenceNumber":"3","streamSid":"MZ1",'
        '"dtmf":{"track":"inbound_track","digit":"#"}}'
    ) == [DtmfIn(digit="#")]
    assert core.receive_text(
        '{"event":"mark","sequenceNumber":"4","streamSid":"MZ1","mark":{"name":"m1"}}'
    ) == [MarkIn(name="m1")]
    assert core.receive_text(
        '{"event":"stop","sequenceNumber":"5","streamSid":"MZ1",'
        '"stop":{"accountSid":"AC1","callSid":"CA1"}}'
    ) == [StreamStop()]


def test_sequence_gap_is_reported_but_media_still_delivered() -> None:
    core = started()
    gap, m = core.receive_text(media(5, b"\xff" * 160))
    assert isinstance(gap, StreamViolation) and gap.kind is ViolationKind.OUT_OF_ORDER
    assert not gap.fatal and isinstance(m, MediaIn)


def test_garbage_becomes_violations_never_exceptions() -> None:
    core = TwilioMediaCore()
    assert core.receive_text(media(1, b"x"))[0] == StreamViolation(
        kind=ViolationKind.OUT_OF_ORDER, detail="media before start"
    )
    kinds = [
        core.receive_text(t)[0]
        for t in ("{", "[]", '{"event": 3}', '{"event": "hello"}', "x" * 70000)
    ]
    assert [v.kind for v in kinds if isinstance(v, StreamViolation)] == [
        ViolationKind.MALFORMED, ViolationKind.MALFORMED, ViolationKind.MALFORMED,
        ViolationKind.UNKNOWN, ViolationKind.MALFORMED,
    ]
    (binary,) = core.receive_bytes(b"\x00")
    assert isinstance(binary, StreamViolation) and binary.kind is ViolationKind.BINARY
    (bad_start,) = core.receive_text('{"event":"start","start":{}}')
    assert isinstance(bad_start, StreamViolation) and bad_start.fatal
    alaw = json.loads(json.dumps(START))
    alaw["start"]["mediaFormat"]["encoding"] = "audio/x-alaw"
    bad_fmt = core.receive_text(json.dumps(alaw))[-1]
    assert isinstance(bad_fmt, StreamViolation) and bad_fmt.fatal and core.started is None


def test_outbound_frames_are_exact() -> None:
    core = started()
    assert json.loads(core.media(b"\x01\x02")) == {
        "event": "media", "streamSid": "MZ1", "media": {"payload": "AQI="},
    }
    assert json.loads(core.mark("m7")) == {"event": "mark", "streamSid": "MZ1",
                                           "mark": {"name": "m7"}}
    assert json.loads(core.clear()) == {"event": "clear", "streamSid": "MZ1"}


class Wire:
    def __init__(self) -> None:
        self.sent: list[dict[str, object]] = []
        self.closed: list[int] = []

    async def send(self, text: str) -> None:
        self.sent.append(json.loads(text))

    async def close(self, code: int) -> None:
        self.closed.append(code)


class Control:
    sends_dtmf = False

    def __init__(self) -> None:
        self.log: list[str] = []

    async def hangup(self, sid: str) -> None:
        self.log.append(f"hangup {sid}")

    async def transfer(self, sid: str, target: str) -> None:
        self.log.append(f"transfer {sid} {target}")


def make_leg(control: Control | None = None) -> tuple[MediaStreamLeg, TwilioMediaCore, Wire]:
    core = started()
    wire = Wire()
    assert core.started is not None
    leg = MediaStreamLeg(call_id="c1", start=core.started, core=core, send_text=wire.send,
                         close_socket=wire.close, control=control)  # type: ignore[arg-type]
    return leg, core, wire


async def test_leg_decodes_audio_with_media_time_and_fills_gaps() -> None:
    leg, core, _ = make_leg()
    tone = (3000 * np.sin(np.arange(160) / 3)).astype(np.int16)
    for event in core.receive_text(media(2, ulaw_encode(tone), 1, 0)):
        leg.feed(event)
    for event in core.receive_text(media(3, ulaw_encode(tone), 2, 100)):  # 80 ms lost
        leg.feed(event)
    first, fill, second = (await leg.recv(), await leg.recv(), await leg.recv())
    assert isinstance(first, AudioIn) and first.at == 0.02 and first.pcm.size == 160
    assert isinstance(fill, AudioIn) and fill.pcm.size == 640 and not fill.pcm.any()
    assert isinstance(second, AudioIn) and second.at == 0.12
    assert (leg.sample_rate, leg.frame_ms, leg.lead_ms) == (8000, 20, 80.0)


async def test_marks_after_clear_are_unplayed_and_stop_is_not_a_hangup() -> None:
    control = Control()
    leg, _, wire = make_leg(control)
    await leg.send_audio(np.zeros(160, dtype=np.int16))
    await leg.mark("a")
    await leg.send_audio(np.zeros(160, dtype=np.int16))
    await leg.mark("b")
    wire_names = [m["mark"]["name"] for m in wire.sent if m["event"] == "mark"]  # type: ignore[index]
    leg.feed(MarkIn(name=wire_names[0]))  # "a" played
    await leg.clear()
    assert wire.sent[-1] == {"event": "clear", "streamSid": "MZ1"}
    leg.feed(MarkIn(name=wire_names[1]))  # Twilio echoes "b" right after the clear
    await leg.mark("c")  # placed after the clear: played normally
    leg.feed(MarkIn(name="m3"))
    await leg.mark("d")  # still pending when the stream stops
    await leg.transfer("tel:+15550001234")
    leg.feed(DtmfIn(digit="5"))
    leg.feed(StreamStop())
    got = [await leg.recv() for _ in range(7)]
    assert got == [
        Marked("a", played=True), Marked("b", played=False), Marked("c", played=True),
        TransferStarted("tel:+15550001234"), Dtmf("5", at=0.0), Marked("d", played=False),
        HungUp("transferred"),
    ]
    await leg.hangup()  # after a handoff: no REST hang-up, the call lives on
    assert control.log == ["transfer CA1 tel:+15550001234"]
    assert await leg.recv() == HungUp("transferred")


async def test_hangup_is_idempotent_and_closes_the_socket() -> None:
    control = Control()
    leg, _, wire = make_leg(control)
    await leg.hangup("agent")
    await leg.hangup("agent")
    assert control.log == ["hangup CA1"] and wire.closed == [1000]
    assert await leg.recv() == HungUp("agent")
    await leg.send_audio(np.zeros(160, dtype=np.int16))  # after the end: dropped
    assert [m["event"] for m in wire.sent] == []
