"""One call's audio stream as a pure object: RTP packets <-> 20 ms PCM16 frames and digits.

``MediaStream.feed(datagram, addr)`` gives ``AudioIn`` (8 kHz, 20 ms frames, media time from
sample counts, lost packets filled with silence) and ``Dtmf`` events; ``encode(pcm)`` gives
the RTP datagrams for outgoing audio at the negotiated codec and ptime; ``dtmf(digit)`` the
RFC 4733 packets. Hold is a plan whose direction forbids sending.

What is accepted (``sip.rtp_latch``): with ``latch="sdp"`` only packets from the address and
port the SDP names, or from the host we signal with (``peer_host``: a phone behind NAT names
a private address and sends from its public one; the first such source latches); with
``latch="first"`` (NAT) the first packet's source is latched and only that one is accepted
until a re-INVITE moves the media (an SDP naming a host name, not an address, is latched the
same way). With ``source_host`` (a call from a peer that is neither trusted nor
authenticated) only packets from that IP are accepted, the first one latches, and RTP is sent
(``may_send``) only to that host: to the SDP's address when it names the source's own host,
else only once the source's first packet latched. Whatever an SDP names, callport does not
stream RTP to a third host on an unauthenticated request. Other sources and datagrams over
``MAX_RTP_BYTES`` are dropped and counted in ``dropped`` (reason -> count): a stranger cannot
inject audio into a call, and one packet cannot turn into megabytes of frames.
"""

from __future__ import annotations

import ipaddress
import secrets

import numpy as np

from callport.audio.frame import Reframer
from callport.audio.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from callport.call.events import PCM16, AudioIn, Dtmf, LegEvent
from callport.channels.sip.dtmf4733 import DtmfDecoder, encode_event
from callport.channels.sip.rtp import AudioPayload, RtpReceiver, RtpSender, is_rtcp
from callport.channels.sip.sdp import MediaPlan

RATE = 8000
FRAME = 160  # 20 ms at 8 kHz
MAX_RTP_BYTES = 1500  # one Ethernet MTU: 120 ms of G.711 and headers; larger is not ours
LATCH_MODES = ("sdp", "first")


class MediaStream:
    def __init__(self, *, plan: MediaPlan, latch: str = "sdp",
                 source_host: str | None = None, peer_host: str | None = None) -> None:
        if latch not in LATCH_MODES:
            raise ValueError(f"latch must be one of {LATCH_MODES}, got {latch!r}")
        self.plan = plan
        self.latch = latch
        self.source_host = source_host
        self.peer_host = peer_host
        self.receiver = RtpReceiver(audio_pt=plan.payload_type, dtmf_pt=plan.dtmf_payload_type,
                                    latch=False)
        self.dropped: dict[str, int] = {"source": 0, "size": 0, "queue": 0}
        self.dropped_total = 0  # the sum of ``dropped`` (read per packet by the leg)
        self.sender = RtpSender(ssrc=secrets.randbits(32), payload_type=plan.payload_type,
                                sequence=secrets.randbits(16), timestamp=secrets.randbits(32))
        self._dtmf = DtmfDecoder()
        self._in = Reframer(frame_samples=FRAME)
        self._out = Reframer(frame_samples=plan.ptime * RATE // 1000)
        self.samples_in = 0
        self.frames_in = 0
        self.digits: list[str] = []

    @property
    def remote(self) -> tuple[str, int]:
        """Where to send: the latched source (``first``, symmetric RTP) or the SDP address."""
        return self.receiver.remote or (self.plan.remote_host, self.plan.remote_port)

    @property
    def may_send(self) -> bool:
        """For an unadmitted peer (``source_host``): only to its own host, i.e. once its first
        packet latched, or when its SDP names that host anyway; never to a third host."""
        return (self.source_host is None or self.receiver.remote is not None
                or self.plan.remote_host == self.source_host)

    def admits(self, addr: tuple[str, int]) -> bool:
        """May RTP from ``addr`` be played into the call? (latches, but for ``sdp`` mode)"""
        if self.source_host is not None and addr[0] != self.source_host:
            return False
        if self.latch == "sdp" and self.source_host is None \
                and _is_address(self.plan.remote_host):
            if addr == (self.plan.remote_host, self.plan.remote_port):
                return True
            if addr[0] != self.peer_host:
                return False  # neither the SDP's address nor the signalling peer's host
            if self.receiver.remote is None:
                self.receiver.remote = addr  # symmetric RTP from the peer itself (NAT)
            return addr == self.receiver.remote
        if self.receiver.remote is None:
            self.receiver.remote = addr  # symmetric RTP (RFC 4961): answer where it came from
        return addr == self.receiver.remote

    def admits_rtcp(self, addr: tuple[str, int]) -> bool:
        """RTCP only from the host our media comes from (the port is the peer's choice)."""
        return addr[0] == (self.source_host or self.remote[0])

    def total_dropped(self) -> int:
        return self.dropped_total

    def drop(self, reason: str) -> None:
        """Count one datagram (or frame) dropped for ``reason``."""
        self.dropped[reason] += 1
        self.dropped_total += 1

    def update(self, plan: MediaPlan) -> None:
        """Re-INVITE: new direction, codec or address (a new address unlatches)."""
        moved = (plan.remote_host, plan.remote_port) != (self.plan.remote_host,
                                                          self.plan.remote_port)
        self.plan = plan
        self.receiver.set_payload_types(audio_pt=plan.payload_type,
                                        dtmf_pt=plan.dtmf_payload_type)
        self.sender.payload_type = plan.payload_type
        if moved:
            self.receiver.remote = None
        if self._out.frame_samples != plan.ptime * RATE // 1000:
            self._out = Reframer(frame_samples=plan.ptime * RATE // 1000)

    def feed(self, data: bytes, addr: tuple[str, int]) -> list[LegEvent]:
        if len(data) > MAX_RTP_BYTES:
            self.drop("size")
            return []
        if is_rtcp(data):
            return []
        if not self.admits(addr):
            self.drop("source")
            return []
        out: list[LegEvent] = []
        for item in self.receiver.feed(data, addr):
            if isinstance(item, AudioPayload):
                pcm = self._decode(item.payload)
                if item.lost_before:
                    pcm = np.concatenate([np.zeros(item.lost_before, np.int16), pcm])
                elif len(pcm) == FRAME and not self._in.pending_samples:
                    self.samples_in += FRAME  # one whole 20 ms packet: no reframing
                    self.frames_in += 1
                    out.append(AudioIn(pcm, self.samples_in / RATE))
                    continue
                for frame in self._in.push(pcm):
                    self.samples_in += frame.size
                    self.frames_in += 1
                    out.append(AudioIn(frame, self.samples_in / RATE))
            else:
                event = self._dtmf.feed(item.payload, item.timestamp)
                if event is not None:
                    self.digits.append(event.digit)
                    out.append(Dtmf(event.digit, self.samples_in / RATE))
        return out

    def _decode(self, payload: bytes) -> PCM16:
        return ulaw_decode(payload) if self.plan.codec == "PCMU" else alaw_decode(payload)

    def encode(self, pcm: PCM16) -> list[bytes]:
        if not self.plan.can_send:
            frames = self._out.push(pcm)
            for frame in frames:
                self.sender.pause(frame.size)
            return []
        enc = ulaw_encode if self.plan.codec == "PCMU" else alaw_encode
        if len(pcm) == self._out.frame_samples and not self._out.pending_samples:
            return [self.sender.audio(enc(pcm))]  # one whole packet: no reframing
        return [self.sender.audio(enc(frame)) for frame in self._out.push(pcm)]

    def dtmf(self, digit: str, *, duration_ms: int = 100) -> list[bytes]:
        """RFC 4733 packets for one digit (one timestamp); the caller paces them 20 ms apart."""
        pt = self.plan.dtmf_payload_type
        if pt is None:
            return []
        start = self.sender.timestamp
        payloads = encode_event(digit, duration_ms=duration_ms)
        packets = [self.sender.event(p, payload_type=pt, timestamp=start, marker=i == 0)
                   for i, p in enumerate(payloads)]
        self.sender.pause(max(FRAME, duration_ms * RATE // 1000))
        return packets


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
