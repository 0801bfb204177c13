"""RTP packets (RFC 3550 §5.1) and a sans-IO audio stream: latching, reorder, loss fill.

``RtpReceiver.feed(data, addr)`` returns what arrived in order: ``AudioPayload`` (codec
bytes, with silence inserted for lost packets so media time stays true), ``DtmfPacket``
(RFC 4733 payloads for ``dtmf4733``) and nothing for duplicates, late packets, comfort
noise or unknown payload types. Symmetric RTP (RFC 4961): ``remote`` latches onto the
address packets really come from. ``RtpSender`` stamps outgoing payloads.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass

_HEADER = struct.Struct("!BBHII")
MAX_REORDER = 3  # packets held waiting for a gap to fill before declaring loss
MAX_FILL_SAMPLES = 8000  # never invent more than 1 s of silence for one gap


class RtpError(ValueError):
    """Not an RTP packet we accept (the peer sent garbage): drop it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RtpPacket:
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes
    marker: bool = False
    csrc: tuple[int, ...] = ()

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        if len(data) < 12:
            raise RtpError("short RTP packet")
        b0, b1, seq, ts, ssrc = _HEADER.unpack_from(data)
        if b0 >> 6 != 2:
            raise RtpError("not RTP version 2")
        cc = b0 & 0x0F
        offset = 12 + 4 * cc
        if len(data) < offset:
            raise RtpError("truncated CSRC list")
        csrc = struct.unpack_from(f"!{cc}I", data, 12) if cc else ()
        if b0 & 0x10:
            if len(data) < offset + 4:
                raise RtpError("truncated extension")
            ext_words = struct.unpack_from("!H", data, offset + 2)[0]
            offset += 4 + 4 * ext_words
        end = len(data)
        if b0 & 0x20:
            if end <= offset:
                raise RtpError("bad padding")
            pad = data[-1]
            if pad == 0 or end - pad < offset:
                raise RtpError("bad padding")
            end -= pad
        if end < offset:
            raise RtpError("truncated packet")
        return cls(payload_type=b1 & 0x7F, sequence=seq, timestamp=ts, ssrc=ssrc,
                   payload=bytes(data[offset:end]), marker=bool(b1 & 0x80), csrc=tuple(csrc))

    def __bytes__(self) -> bytes:
        b0 = 0x80 | len(self.csrc)
        b1 = (0x80 if self.marker else 0) | (self.payload_type & 0x7F)
        head = _HEADER.pack(b0, b1, self.sequence & 0xFFFF, self.timestamp & 0xFFFFFFFF,
                            self.ssrc)
        csrc = struct.pack(f"!{len(self.csrc)}I", *self.csrc) if self.csrc else b""
        return head + csrc + self.payload


def is_rtcp(data: bytes) -> bool:
    """RFC 5761 §4: RTCP packet types 192-223 sit where RTP has marker+PT."""
    return len(data) >= 2 and 192 <= data[1] <= 223


@dataclass(frozen=True, slots=True)
class AudioPayload:
    payload: bytes
    timestamp: int
    lost_before: int = 0  # samples of silence inserted just before this payload


@dataclass(frozen=True, slots=True)
class DtmfPacket:
    payload: bytes
    timestamp: int


def seq_newer(a: int, b: int) -> bool:
    """a is after b in 16-bit serial arithmetic."""
    return a != b and ((a - b) & 0xFFFF) < 0x8000


class RtpReceiver:
    """Receive side of one audio stream (one remote SSRC at a time)."""

    def __init__(self, *, audio_pt: int, dtmf_pt: int | None, samples_per_packet: int = 160,
                 latch: bool = True) -> None:
        self.audio_pt = audio_pt
        self.dtmf_pt = dtmf_pt
        self.latch = latch
        self.remote: tuple[str, int] | None = None
        self.ssrc: int | None = None
        self._expected: int | None = None
        self._held: dict[int, RtpPacket] = {}
        self._recent: deque[int] = deque(maxlen=64)  # sequence numbers delivered lately
        self._last_ts: int | None = None
        self._last_len = samples_per_packet
        self.received = 0
        self.lost = 0
        self.duplicates = 0
        self.late = 0
        self.ignored = 0

    def set_payload_types(self, *, audio_pt: int, dtmf_pt: int | None) -> None:
        self.audio_pt = audio_pt
        self.dtmf_pt = dtmf_pt

    def feed(self, data: bytes, addr: tuple[str, int]) -> list[AudioPayload | DtmfPacket]:
        if len(data) >= 12 and data[0] == 0x80 and not self._held:
            # The common packet first: plain header (v2, no padding, extension or CSRC),
            # the audio payload type, the stream we follow, the very packet expected next.
            _, b1, seq, ts, ssrc = _HEADER.unpack_from(data)
            if (b1 & 0x7F) == self.audio_pt and ssrc == self.ssrc and seq == self._expected:
                self.received += 1
                if self.latch:
                    self.remote = addr
                self._expected = (seq + 1) & 0xFFFF
                self._recent.append(seq)
                return [self._audio(data[12:], ts)]
        try:
            pkt = RtpPacket.parse(data)
        except RtpError:
            self.ignored += 1
            return []
        if pkt.payload_type not in (self.audio_pt, self.dtmf_pt):
            self.ignored += 1  # comfort noise (13), unknown PTs: RFC 3550 says ignore
            return []
        if self.latch:
            self.remote = addr
        if pkt.ssrc != self.ssrc:
            # New source (first packet, or the far end restarted): resynchronise.
            self.ssrc = pkt.ssrc
            self._expected = pkt.sequence
            self._held.clear()
            self._recent.clear()
            self._last_ts = None
        assert self._expected is not None
        if pkt.sequence != self._expected and not seq_newer(pkt.sequence, self._expected):
            if pkt.sequence in self._recent:
                self.duplicates += 1
            else:
                self.late += 1
            return []
        if pkt.sequence in self._held:
            self.duplicates += 1
            return []
        self.received += 1
        self._held[pkt.sequence] = pkt
        out: list[AudioPayload | DtmfPacket] = []
        while True:
            nxt = self._held.pop(self._expected, None)
            if nxt is not None:
                out.append(self._deliver(nxt, lost=False))
                self._expected = (self._expected + 1) & 0xFFFF
                continue
            if len(self._held) > MAX_REORDER:
                self.lost += 1
                self._expected = (self._expected + 1) & 0xFFFF
                continue
            break
        return out

    def _deliver(self, pkt: RtpPacket, *, lost: bool) -> AudioPayload | DtmfPacket:
        self._recent.append(pkt.sequence)
        if pkt.payload_type == self.dtmf_pt:
            return DtmfPacket(pkt.payload, pkt.timestamp)
        return self._audio(pkt.payload, pkt.timestamp)

    def _audio(self, payload: bytes, timestamp: int) -> AudioPayload:
        gap = 0
        if self._last_ts is not None:
            delta = (timestamp - self._last_ts) & 0xFFFFFFFF
            gap = delta - self._last_len
            if gap < 0 or gap > MAX_FILL_SAMPLES:
                gap = 0
        self._last_ts = timestamp
        self._last_len = len(payload) or self._last_len
        return AudioPayload(payload, timestamp, gap)


class RtpSender:
    """Stamps payloads: sequence +1 per packet, timestamp +samples, marker after a pause."""

    def __init__(self, *, ssrc: int, payload_type: int, sequence: int, timestamp: int) -> None:
        self.ssrc = ssrc
        self.payload_type = payload_type
        self.sequence = sequence & 0xFFFF
        self.timestamp = timestamp & 0xFFFFFFFF
        self._talkspurt = True
        self.packets = 0
        self.octets = 0

    def audio(self, payload: bytes) -> bytes:
        b1 = (0x80 if self._talkspurt else 0) | (self.payload_type & 0x7F)
        head = _HEADER.pack(0x80, b1, self.sequence, self.timestamp, self.ssrc)
        self._talkspurt = False
        self._advance(len(payload))
        return head + payload

    def pause(self, samples: int) -> None:
        """Time passed without sending (hold, silence): keep the clock, mark the next spurt."""
        self.timestamp = (self.timestamp + samples) & 0xFFFFFFFF
        self._talkspurt = True

    def event(self, payload: bytes, *, payload_type: int, timestamp: int, marker: bool) -> bytes:
        pkt = RtpPacket(payload_type=payload_type, sequence=self.sequence, timestamp=timestamp,
                        ssrc=self.ssrc, payload=payload, marker=marker)
        self.sequence = (self.sequence + 1) & 0xFFFF
        self.packets += 1
        self.octets += len(payload)
        return bytes(pkt)

    def _advance(self, samples: int) -> None:
        self.sequence = (self.sequence + 1) & 0xFFFF
        self.timestamp = (self.timestamp + samples) & 0xFFFFFFFF
        self.packets += 1
        self.octets += samples
