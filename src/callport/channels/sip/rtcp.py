"""Sans-IO RTCP (RFC 3550 §6): SR/RR/SDES/BYE builders, a compound parser, receive stats.

Builders take everything as arguments (NTP and RTP timestamps, counts), so the bytes are
exact and testable. ``parse_compound(data)`` returns typed events and never raises: a bad
packet becomes one ``RtcpError`` and parsing stops. ``ReceptionStats`` keeps the receive
side of one source (RFC 3550 A.1 sequence/loss, A.8 jitter) and makes its report block.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

SR, RR, SDES, BYE = 200, 201, 202, 203
NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900-01-01 to 1970-01-01
MAX_DROPOUT = 3000
MAX_MISORDER = 100
SEQ_MOD = 1 << 16

_BLOCK = struct.Struct("!IB3sIIII")


def ntp_timestamp(unix_seconds: float) -> int:
    """64-bit NTP timestamp (32.32 fixed point since 1900) for a Unix time."""
    seconds = int(unix_seconds)
    fraction = int((unix_seconds - seconds) * (1 << 32)) & 0xFFFFFFFF
    return ((seconds + NTP_EPOCH_OFFSET) & 0xFFFFFFFF) << 32 | fraction


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportBlock:
    ssrc: int
    fraction_lost: int  # 0..255, lost/expected since the last report, times 256
    cumulative_lost: int  # signed 24-bit
    highest_seq: int  # extended highest sequence number received
    jitter: int  # in RTP timestamp units
    lsr: int = 0  # middle 32 bits of the last SR's NTP timestamp
    dlsr: int = 0  # delay since that SR, 1/65536 s

    def __bytes__(self) -> bytes:
        lost = max(-(1 << 23), min((1 << 23) - 1, self.cumulative_lost)) & 0xFFFFFF
        return _BLOCK.pack(self.ssrc, self.fraction_lost & 0xFF, lost.to_bytes(3, "big"),
                           self.highest_seq & 0xFFFFFFFF, self.jitter & 0xFFFFFFFF,
                           self.lsr & 0xFFFFFFFF, self.dlsr & 0xFFFFFFFF)


def _header(count: int, ptype: int, body: bytes) -> bytes:
    assert len(body) % 4 == 0
    return struct.pack("!BBH", 0x80 | count, ptype, len(body) // 4) + body  # words - 1


def build_sr(*, ssrc: int, ntp: int, rtp_timestamp: int, packets: int, octets: int,
             reports: Sequence[ReportBlock] = ()) -> bytes:
    body = struct.pack("!IQIII", ssrc, ntp, rtp_timestamp & 0xFFFFFFFF,
                       packets & 0xFFFFFFFF, octets & 0xFFFFFFFF)
    return _header(len(reports), SR, body + b"".join(bytes(r) for r in reports[:31]))


def build_rr(*, ssrc: int, reports: Sequence[ReportBlock] = ()) -> bytes:
    body = struct.pack("!I", ssrc) + b"".join(bytes(r) for r in reports[:31])
    return _header(len(reports[:31]), RR, body)


def build_sdes(*, ssrc: int, cname: str) -> bytes:
    text = cname.encode()[:255]
    chunk = struct.pack("!IBB", ssrc, 1, len(text)) + text + b"\x00"  # CNAME, then END
    chunk += b"\x00" * (-len(chunk) % 4)
    return _header(1, SDES, chunk)


def build_bye(*, ssrc: int) -> bytes:
    return _header(1, BYE, struct.pack("!I", ssrc))


@dataclass(frozen=True, slots=True)
class SenderReport:
    ssrc: int
    ntp: int
    rtp_timestamp: int
    packets: int
    octets: int
    reports: tuple[ReportBlock, ...]


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    ssrc: int
    reports: tuple[ReportBlock, ...]


@dataclass(frozen=True, slots=True)
class Goodbye:
    ssrcs: tuple[int, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class RtcpError:
    reason: str


RtcpEvent = SenderReport | ReceiverReport | Goodbye | RtcpError


def _blocks(data: bytes, count: int) -> tuple[ReportBlock, ...] | None:
    if len(data) < count * _BLOCK.size:
        return None
    out = []
    for i in range(count):
        ssrc, frac, lost, high, jitter, lsr, dlsr = _BLOCK.unpack_from(data, i * _BLOCK.size)
        cumulative = int.from_bytes(lost, "big")
        if cumulative & 0x800000:
            cumulative -= 1 << 24
        out.append(ReportBlock(ssrc=ssrc, fraction_lost=frac, cumulative_lost=cumulative,
                               highest_seq=high, jitter=jitter, lsr=lsr, dlsr=dlsr))
    return tuple(out)


def _one(ptype: int, count: int, body: bytes) -> RtcpEvent | None:
    if ptype == SR:
        if len(body) < 24:
            return RtcpError("short SR")
        ssrc, ntp, rtp_ts, packets, octets = struct.unpack_from("!IQIII", body)
        blocks = _blocks(body[24:], count)
        if blocks is None:
            return RtcpError("SR report blocks truncated")
        return SenderReport(ssrc, ntp, rtp_ts, packets, octets, blocks)
    if ptype == RR:
        if len(body) < 4:
            return RtcpError("short RR")
        blocks = _blocks(body[4:], count)
        if blocks is None:
            return RtcpError("RR report blocks truncated")
        return ReceiverReport(struct.unpack_from("!I", body)[0], blocks)
    if ptype == BYE:
        if len(body) < 4 * count:
            return RtcpError("BYE sources truncated")
        ssrcs = struct.unpack_from(f"!{count}I", body)
        rest = body[4 * count:]
        reason = rest[1:1 + rest[0]].decode("utf-8", "replace") if rest else ""
        return Goodbye(tuple(ssrcs), reason)
    return None  # SDES, APP, feedback: nothing we act on


def parse_compound(data: bytes) -> list[RtcpEvent]:
    """Every SR/RR/BYE in a compound RTCP packet, in order; garbage ends in ``RtcpError``."""
    out: list[RtcpEvent] = []
    offset = 0
    if len(data) < 4:
        return [RtcpError("too short")]
    while offset < len(data):
        if len(data) - offset < 4:
            return [*out, RtcpError("trailing bytes")]
        first, ptype, words = struct.unpack_from("!BBH", data, offset)
        if first >> 6 != 2:
            return [*out, RtcpError("bad version")]
        end = offset + 4 * (words + 1)
        if end > len(data):
            return [*out, RtcpError("length past end of packet")]
        body = data[offset + 4:end]
        if first & 0x20 and body:  # padding: the last octet counts the padding octets
            pad = body[-1]
            if pad == 0 or pad > len(body):
                return [*out, RtcpError("bad padding")]
            body = body[:-pad]
        event = _one(ptype, first & 0x1F, body)
        if event is not None:
            out.append(event)
            if isinstance(event, RtcpError):
                return out
        offset = end
    return out


class ReceptionStats:
    """Receive statistics of one RTP source (RFC 3550 A.1, A.3, A.8)."""

    def __init__(self, *, clock_rate: int = 8000) -> None:
        self.clock_rate = clock_rate
        self.ssrc: int | None = None
        self.received = 0
        self.jitter = 0.0
        self._base_seq = 0
        self._max_seq = 0
        self._cycles = 0
        self._bad_seq: int | None = None
        self._transit: int | None = None
        self._expected_prior = 0
        self._received_prior = 0
        self._last_sr: int = 0  # middle 32 bits of the peer's last SR NTP timestamp
        self._last_sr_at: float | None = None

    def _reset(self, ssrc: int, seq: int) -> None:
        self.ssrc = ssrc
        self._base_seq = self._max_seq = seq
        self._cycles = 0
        self._bad_seq = None
        self.received = 0
        self._expected_prior = self._received_prior = 0
        self._transit = None
        self.jitter = 0.0

    def update(self, data: bytes, arrival: float) -> None:
        """An RTP packet arrived at ``arrival`` seconds (any monotonic clock)."""
        if len(data) < 12 or data[0] >> 6 != 2:
            return
        seq, rtp_ts, ssrc = struct.unpack_from("!HII", data, 2)
        if ssrc != self.ssrc:
            self._reset(ssrc, seq)
        else:
            delta = (seq - self._max_seq) % SEQ_MOD
            if delta < MAX_DROPOUT:
                if seq < self._max_seq:
                    self._cycles += SEQ_MOD
                self._max_seq = seq
            elif delta <= SEQ_MOD - MAX_MISORDER:  # a big jump: resync on the second one
                if self._bad_seq is not None and seq == self._bad_seq:
                    self._reset(ssrc, seq)
                else:
                    self._bad_seq = (seq + 1) % SEQ_MOD
                    return
            # else: a duplicate or a late packet, counted as received
        self.received += 1
        transit = int(arrival * self.clock_rate) - rtp_ts
        if self._transit is not None:
            d = abs(transit - self._transit)
            self.jitter += (d - self.jitter) / 16
        self._transit = transit

    @property
    def extended_max(self) -> int:
        return self._cycles + self._max_seq

    @property
    def expected(self) -> int:
        return self.extended_max - self._base_seq + 1 if self.ssrc is not None else 0

    def on_sender_report(self, ntp: int, now: float) -> None:
        self._last_sr = (ntp >> 16) & 0xFFFFFFFF
        self._last_sr_at = now

    def report(self, now: float) -> ReportBlock | None:
        """The report block for an SR/RR sent at ``now``; resets the interval counters."""
        if self.ssrc is None:
            return None
        expected = self.expected
        interval_expected = expected - self._expected_prior
        interval_received = self.received - self._received_prior
        self._expected_prior, self._received_prior = expected, self.received
        interval_lost = interval_expected - interval_received
        fraction = 0
        if interval_expected > 0 and interval_lost > 0:
            fraction = min(255, (interval_lost << 8) // interval_expected)
        dlsr = 0
        if self._last_sr_at is not None:
            dlsr = int((now - self._last_sr_at) * 65536)
        return ReportBlock(ssrc=self.ssrc, fraction_lost=fraction,
                           cumulative_lost=expected - self.received,
                           highest_seq=self.extended_max, jitter=int(self.jitter),
                           lsr=self._last_sr, dlsr=max(0, dlsr))


def jitter_seconds(block: ReportBlock, clock_rate: int = 8000) -> float:
    """A report block's interarrival jitter (RTP timestamp units) in seconds."""
    return block.jitter / clock_rate


def round_trip(block: ReportBlock, arrival_ntp: int) -> float | None:
    """RFC 3550 §6.4.1 round-trip time A - LSR - DLSR, in seconds, for a report block that
    arrived at NTP time ``arrival_ntp``; None when it echoes no SR of ours (LSR 0) or the
    result is negative (clocks or a bogus block)."""
    if block.lsr == 0:
        return None
    arrival = (arrival_ntp >> 16) & 0xFFFFFFFF
    rtt = (arrival - block.lsr - block.dlsr) & 0xFFFFFFFF
    if rtt >= 0x80000000:
        return None
    return rtt / 65536
