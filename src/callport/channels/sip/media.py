"""One call's audio stream as a pure object: RTP packets <-> 20 ms PCM16 frames and digits.

``MediaStream.feed(datagram, addr)`` gives ``AudioIn`` (8 kHz, 20 ms frames, media time from
sample counts, lost packets filled with silence) and ``Dtmf`` events; ``encode(pcm)`` gives
the RTP datagrams for outgoing audio at the negotiated codec and ptime; ``dtmf(digit)`` the
RFC 4733 packets. Hold is a plan whose direction forbids sending.
"""

from __future__ import annotations

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


class MediaStream:
    def __init__(self, *, plan: MediaPlan, latch: bool = True) -> None:
        self.plan = plan
        self.receiver = RtpReceiver(audio_pt=plan.payload_type, dtmf_pt=plan.dtmf_payload_type,
                                    latch=latch)
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
        """Where to send: the latched source (symmetric RTP) or the SDP address."""
        return self.receiver.remote or (self.plan.remote_host, self.plan.remote_port)

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
        if is_rtcp(data):
            return []
        out: list[LegEvent] = []
        for item in self.receiver.feed(data, addr):
            if isinstance(item, AudioPayload):
                pcm = self._decode(item.payload)
                if item.lost_before:
                    pcm = np.concatenate([np.zeros(item.lost_before, np.int16), pcm])
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
