"""RTP packet core, reorder/loss handling, RFC 4733, SDP negotiation, MediaStream."""

from __future__ import annotations

import numpy as np
import pytest
from sip_fixtures import SDP_OFFER

from callport.call.events import AudioIn, Dtmf
from callport.channels.sip.dtmf4733 import DtmfDecoder, encode_event
from callport.channels.sip.media import MediaStream
from callport.channels.sip.rtp import AudioPayload, RtpPacket, RtpReceiver, RtpSender
from callport.channels.sip.sdp import SdpError, build_offer, negotiate, parse_sdp

A = ("10.0.0.9", 40000)


def pkt(seq: int, ts: int, payload: bytes = b"\xff" * 160, pt: int = 0, ssrc: int = 7) -> bytes:
    return bytes(RtpPacket(payload_type=pt, sequence=seq, timestamp=ts, ssrc=ssrc,
                           payload=payload))


def test_rtp_round_trip_and_extensions() -> None:
    p = RtpPacket(payload_type=8, sequence=65535, timestamp=2**32 - 1, ssrc=1, payload=b"ab",
                  marker=True, csrc=(5, 6))
    assert RtpPacket.parse(bytes(p)) == p
    # header extension + padding are skipped
    raw = bytes([0xB0, 8, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0xBE, 0xDE, 0, 1, 1, 2, 3, 4,
                 ord("x"), 0, 0, 3])
    assert RtpPacket.parse(raw).payload == b"x"
    for bad in (b"", b"\x80" * 5, bytes([0x40]) + b"\x00" * 15, bytes([0x8F]) + b"\x00" * 11):
        with pytest.raises(ValueError):
            RtpPacket.parse(bad)


def test_receiver_reorders_dedupes_and_fills_loss() -> None:
    rx = RtpReceiver(audio_pt=0, dtmf_pt=101)
    out = rx.feed(pkt(10, 1600), A)
    out += rx.feed(pkt(12, 1920), A)  # 11 late
    out += rx.feed(pkt(11, 1760), A)
    out += rx.feed(pkt(11, 1760), A)  # duplicate
    assert [p.timestamp for p in out if isinstance(p, AudioPayload)] == [1600, 1760, 1920]
    assert rx.duplicates == 1
    # 13 is lost: after the reorder window fills it is skipped and its time filled.
    out = []
    for seq in range(14, 19):
        out += rx.feed(pkt(seq, 1600 + (seq - 10) * 160), A)
    audio = [p for p in out if isinstance(p, AudioPayload)]
    assert audio[0].lost_before == 160 and rx.lost == 1
    assert rx.feed(pkt(3, 0), A) == [] and rx.late == 1
    assert rx.feed(pkt(19, 0, pt=13), A) == []  # comfort noise ignored
    assert rx.remote == A


def test_receiver_latches_and_resyncs_on_new_ssrc() -> None:
    rx = RtpReceiver(audio_pt=0, dtmf_pt=None)
    rx.feed(pkt(100, 0), A)
    out = rx.feed(pkt(5, 0, ssrc=9), ("10.0.0.10", 5000))
    assert len(out) == 1 and rx.remote == ("10.0.0.10", 5000)


def test_sender_sequence_timestamp_marker() -> None:
    tx = RtpSender(ssrc=1, payload_type=0, sequence=65535, timestamp=100)
    a = RtpPacket.parse(tx.audio(b"\x00" * 160))
    b = RtpPacket.parse(tx.audio(b"\x00" * 160))
    assert (a.sequence, b.sequence, b.timestamp - a.timestamp) == (65535, 0, 160)
    assert a.marker and not b.marker
    tx.pause(320)
    c = RtpPacket.parse(tx.audio(b"\x00" * 160))
    assert c.marker and c.timestamp - b.timestamp == 480


def test_dtmf_encode_decode_dedupes_end_packets() -> None:
    payloads = encode_event("5", duration_ms=100)
    assert len(payloads) == 4 + 3
    dec = DtmfDecoder()
    got = [dec.feed(p, 8000) for p in payloads]
    digits = [g.digit for g in got if g is not None]
    assert digits == ["5"]
    assert next(g for g in got if g is not None).duration == 800
    assert dec.feed(encode_event("#")[-1], 9000) is not None  # next event: new timestamp
    with pytest.raises(ValueError):
        encode_event("x")


def test_sdp_negotiation_prefers_offer_order_and_directions() -> None:
    plan = negotiate(parse_sdp(SDP_OFFER.encode()))
    assert (plan.codec, plan.payload_type, plan.dtmf_payload_type) == ("PCMU", 0, 101)
    assert (plan.remote_host, plan.remote_port, plan.ptime, plan.direction) == (
        "10.0.0.9", 40000, 20, "sendrecv")
    alaw = SDP_OFFER.replace("0 8 101", "8 0 96").replace("101 telephone", "96 telephone")
    alaw = alaw.replace("a=ptime:20", "a=ptime:30")
    plan = negotiate(parse_sdp(alaw.encode()))
    assert (plan.codec, plan.dtmf_payload_type, plan.ptime) == ("PCMA", 96, 30)
    assert negotiate(parse_sdp(SDP_OFFER.replace("sendrecv", "sendonly").encode())
                     ).direction == "recvonly"
    with pytest.raises(SdpError):
        negotiate(parse_sdp(SDP_OFFER.replace("m=audio 40000", "m=audio 0").encode()))
    with pytest.raises(SdpError):
        parse_sdp(b"garbage")
    offer = parse_sdp(build_offer(host="127.0.0.1", port=20000, session_id=1, version=1))
    audio = offer.audio()
    assert audio is not None and audio.formats == ("0", "8", "101")


def test_media_stream_frames_and_digits() -> None:
    plan = negotiate(parse_sdp(SDP_OFFER.replace("a=ptime:20", "a=ptime:30").encode()))
    stream = MediaStream(plan=plan)
    events = []
    for i in range(4):  # 4 x 30 ms = 120 ms = 6 frames of 20 ms
        events += stream.feed(pkt(i, i * 240, b"\xff" * 240), A)
    frames = [e for e in events if isinstance(e, AudioIn)]
    assert len(frames) == 6 and frames[-1].at == pytest.approx(0.12)
    for i, p in enumerate(encode_event("9")):
        events += stream.feed(pkt(4 + i, 960, p, pt=101), A)
    assert [e.digit for e in events if isinstance(e, Dtmf)] == ["9"]
    out = stream.encode(np.zeros(480, np.int16))  # sent in ptime (30 ms) packets
    assert [len(RtpPacket.parse(p).payload) for p in out] == [240, 240]
    hold = negotiate(parse_sdp(SDP_OFFER.replace("sendrecv", "sendonly").encode()))
    stream.update(hold)
    assert stream.encode(np.zeros(160, np.int16)) == []
