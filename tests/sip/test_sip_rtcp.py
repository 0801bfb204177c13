"""RTCP (RFC 3550 §6): SR/RR/SDES/BYE byte-exact, compound parsing, receive statistics."""

from __future__ import annotations

import struct
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from callport.channels.sip.rtcp import (
    Goodbye,
    ReceiverReport,
    ReceptionStats,
    ReportBlock,
    RtcpError,
    SenderReport,
    build_bye,
    build_rr,
    build_sdes,
    build_sr,
    jitter_seconds,
    ntp_timestamp,
    parse_compound,
    round_trip,
)

BLOCK = ReportBlock(ssrc=0x01020304, fraction_lost=64, cumulative_lost=5,
                    highest_seq=0x00010005, jitter=12, lsr=0x7E818000, dlsr=0x00010000)
BLOCK_BYTES = bytes.fromhex("01020304 40 000005 00010005 0000000c 7e818000 00010000")


def test_ntp_timestamp() -> None:
    assert ntp_timestamp(1.5) == 0x83AA7E81_80000000  # 2208988801 s since 1900, half a second


def test_sender_report_bytes() -> None:
    data = build_sr(ssrc=0x01020304, ntp=ntp_timestamp(1.5), rtp_timestamp=160, packets=2,
                    octets=320)
    assert data == bytes.fromhex(
        "80c80006 01020304 83aa7e81 80000000 000000a0 00000002 00000140")


def test_sender_report_with_a_block() -> None:
    data = build_sr(ssrc=1, ntp=0, rtp_timestamp=0, packets=0, octets=0, reports=[BLOCK])
    assert data[:4] == bytes.fromhex("81c8000c") and data[28:] == BLOCK_BYTES


def test_receiver_report_bytes() -> None:
    assert build_rr(ssrc=0x0A0B0C0D, reports=[BLOCK]) == bytes.fromhex(
        "81c90007 0a0b0c0d") + BLOCK_BYTES
    assert build_rr(ssrc=0x0A0B0C0D) == bytes.fromhex("80c90001 0a0b0c0d")


def test_negative_cumulative_loss_is_24_bit_twos_complement() -> None:
    block = ReportBlock(ssrc=1, fraction_lost=0, cumulative_lost=-1, highest_seq=0, jitter=0)
    assert bytes(block)[4:8] == bytes.fromhex("00ffffff")
    [rr] = parse_compound(build_rr(ssrc=2, reports=[block]))
    assert isinstance(rr, ReceiverReport) and rr.reports[0].cumulative_lost == -1


def test_sdes_and_bye_bytes() -> None:
    assert build_sdes(ssrc=0x01020304, cname="ab") == bytes.fromhex(
        "81ca0003 01020304 01026162 00000000")
    assert build_bye(ssrc=0x01020304) == bytes.fromhex("81cb0001 01020304")


def test_parse_compound_sr_sdes_and_bye() -> None:
    sr = build_sr(ssrc=7, ntp=ntp_timestamp(2.0), rtp_timestamp=800, packets=5, octets=800,
                  reports=[BLOCK])
    bye = struct.pack("!BBHI", 0x81, 203, 2, 7) + b"\x03bye"
    events = parse_compound(sr + build_sdes(ssrc=7, cname="peer@host") + bye)
    assert events == [
        SenderReport(7, ntp_timestamp(2.0), 800, 5, 800, (BLOCK,)),
        Goodbye((7,), "bye"),
    ]


def test_parse_garbage_gives_an_error_event() -> None:
    assert parse_compound(b"") == [RtcpError("too short")]
    assert parse_compound(b"\x00\xc8\x00\x01\x00\x00\x00\x00") == [RtcpError("bad version")]
    assert parse_compound(bytes.fromhex("80c80006 01020304")) == [
        RtcpError("length past end of packet")]
    assert parse_compound(bytes.fromhex("81c90001 0a0b0c0d")) == [
        RtcpError("RR report blocks truncated")]
    rr = build_rr(ssrc=3)
    assert parse_compound(rr + b"\x80") == [ReceiverReport(3, ()), RtcpError("trailing bytes")]


@given(st.binary(max_size=200))
def test_parse_never_raises(data: bytes) -> None:
    for event in parse_compound(data):
        assert isinstance(event, SenderReport | ReceiverReport | Goodbye | RtcpError)


def _rtp(seq: int, ts: int, ssrc: int = 0x11111111) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq, ts, ssrc) + b"\xff" * 160


def test_reception_stats_loss_and_highest_seq() -> None:
    stats = ReceptionStats()
    for seq in range(10):
        if seq not in (3, 4):
            stats.update(_rtp(seq, seq * 160), arrival=seq * 0.02)
    block = stats.report(now=1.0)
    assert block == ReportBlock(ssrc=0x11111111, fraction_lost=51, cumulative_lost=2,
                                highest_seq=9, jitter=0)
    for seq in range(10, 20):
        stats.update(_rtp(seq, seq * 160), arrival=seq * 0.02)
    block = stats.report(now=2.0)
    assert block is not None and (block.fraction_lost, block.cumulative_lost) == (0, 2)


def test_reception_stats_jitter_and_wrap() -> None:
    stats = ReceptionStats()
    stats.update(_rtp(65534, 0), arrival=0.0)
    stats.update(_rtp(65535, 160), arrival=0.03)  # 10 ms late: transit +80 -> jitter 80/16
    stats.update(_rtp(0, 320), arrival=0.04)
    stats.update(_rtp(1, 480), arrival=0.06)
    stats.on_sender_report(ntp_timestamp(1.5), now=0.5)
    block = stats.report(now=1.0)
    assert block is not None
    assert block.highest_seq == 65537 and block.cumulative_lost == 0
    # transits 0, 80, 0, 0 -> J = 5, then 5 + (80-5)/16 = 9.6875, then 9.08
    assert block.jitter == 9
    assert block.lsr == 0x7E818000 and block.dlsr == 32768


def test_reception_stats_ignore_garbage_and_nothing_to_report() -> None:
    stats = ReceptionStats()
    stats.update(b"\x00" * 4, arrival=0.0)
    assert stats.report(now=0.0) is None


def test_round_trip_from_lsr_and_dlsr() -> None:
    # RFC 3550 §6.4.1's example: A = 0xb710:8000 (46864.5 s), LSR = 0xb705:2000 (46853.125),
    # DLSR = 0x0005:4000 (5.25 s): RTT = 6.125 s.
    block = ReportBlock(ssrc=1, fraction_lost=0, cumulative_lost=0, highest_seq=0, jitter=160,
                        lsr=0xB7052000, dlsr=0x00054000)
    assert round_trip(block, 0xB7108000 << 16) == 6.125
    assert jitter_seconds(block) == 0.02
    assert round_trip(replace(block, lsr=0), 0xB7108000 << 16) is None  # no SR echoed
    assert round_trip(replace(block, dlsr=0x00200000), 0xB7108000 << 16) is None  # negative
