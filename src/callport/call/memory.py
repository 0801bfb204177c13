"""MemoryLeg: a call leg driven by arrays or WAV files, part of the product.

``callport talk`` and the tests use it to run the very same CallSession a phone or browser
call runs. ``codec="ulaw"`` pushes audio through 8 kHz G.711 mu-law both ways like a PSTN
call. With ``realtime=False`` (the default) caller audio is delivered as fast as the session
takes it and agent audio is accepted at once (``lead_ms`` is infinite); turn-taking still
runs in media time, so endpointing behaves exactly as on a live call.
"""

from __future__ import annotations

import asyncio
import math
from typing import Literal

import numpy as np

from callport.audio.frame import Reframer, frame_samples
from callport.audio.g711 import ulaw_decode, ulaw_encode
from callport.audio.resample import resample
from callport.call.controls import Accepted, Capability, ControlResult, Refusal, Refused
from callport.call.events import PCM16, AudioIn, Dtmf, HoldChanged, LegEvent, TransferStarted
from callport.call.inbox import EventInbox

Codec = Literal["pcm", "ulaw"]


class MemoryLeg:
    """A leg whose caller is the program holding it."""

    def __init__(
        self,
        *,
        call_id: str,
        sample_rate: int = 16000,
        frame_ms: int = 20,
        codec: Codec = "pcm",
        realtime: bool = False,
    ) -> None:
        if codec == "ulaw" and sample_rate != 8000:
            raise ValueError("the ulaw codec runs at 8000 Hz")
        self._call_id = call_id
        self._rate = sample_rate
        self._frame_ms = frame_ms
        self._frame = frame_samples(sample_rate, frame_ms)
        self._codec = codec
        self._realtime = realtime
        self._inbox = EventInbox()
        self._held = False
        self._media_time = 0.0
        self.sent: list[PCM16] = []
        self.sent_at_media: list[float] = []  # caller media time when each agent frame was sent
        self.marks: list[str] = []
        self.cleared = 0
        self.hung_up_reason: str | None = None
        self.transfers: list[str] = []
        self.digits_sent: list[str] = []

    # ---- Leg protocol ----------------------------------------------------------------

    @property
    def call_id(self) -> str:
        return self._call_id

    @property
    def sample_rate(self) -> int:
        return self._rate

    @property
    def frame_ms(self) -> int:
        return self._frame_ms

    @property
    def lead_ms(self) -> float:
        return 0.0 if self._realtime else math.inf

    @property
    def capabilities(self) -> frozenset[Capability]:
        return frozenset({Capability.TRANSFER, Capability.SEND_DTMF, Capability.HOLD})

    @property
    def held(self) -> bool:
        return self._held

    async def recv(self) -> LegEvent:
        return await self._inbox.get()

    async def send_audio(self, pcm: PCM16) -> None:
        if self._codec == "ulaw":
            pcm = ulaw_decode(ulaw_encode(pcm))
        self.sent.append(pcm)
        self.sent_at_media.append(self._media_time)

    async def mark(self, name: str) -> None:
        # No remote buffer: everything sent before the mark has been "played" already.
        self.marks.append(name)
        token = self._inbox.mark(name)
        if token is not None:
            self._inbox.mark_played(token)

    async def clear(self) -> None:
        self.cleared += 1
        self._inbox.clear_marks()

    async def hangup(self, reason: str = "normal") -> None:
        if self.hung_up_reason is None:
            self.hung_up_reason = reason
        self._end(reason)

    def _end(self, reason: str) -> None:
        self._inbox.close(reason)  # pending marks are answered unplayed first

    async def transfer(self, target: str) -> ControlResult:
        if not target.startswith(("tel:", "sip:")):
            return Refused(Capability.TRANSFER, Refusal.BAD_TARGET,
                           f"transfer target must be tel: or sip:, got {target!r}")
        if self._inbox.closed:
            return Refused(Capability.TRANSFER, Refusal.ENDED, "the call has ended")
        self.transfers.append(target)
        self._inbox.put(TransferStarted(target))
        await self.hangup("transferred")
        return Accepted()

    async def send_dtmf(self, digits: str) -> ControlResult:
        if self._inbox.closed:
            return Refused(Capability.SEND_DTMF, Refusal.ENDED, "the call has ended")
        self.digits_sent.append(digits)
        return Accepted()

    async def hold(self) -> ControlResult:
        return self._set_held(True)

    async def resume(self) -> ControlResult:
        return self._set_held(False)

    def _set_held(self, held: bool) -> ControlResult:
        if self._inbox.closed:
            return Refused(Capability.HOLD, Refusal.ENDED, "the call has ended")
        if self._held != held:
            self._held = held
            self._inbox.muted = held  # on hold the caller's audio does not reach the session
            self._inbox.put(HoldChanged(held))
        return Accepted()

    # ---- the caller's side -----------------------------------------------------------

    async def speak(self, pcm: PCM16, sample_rate: int, *, trailing_silence_s: float = 0.0) -> None:
        """Send caller audio (any rate), then optional silence, as 20 ms frames."""
        if sample_rate != self._rate:
            pcm = resample(pcm, sample_rate, self._rate)
        silence = np.zeros(int(trailing_silence_s * self._rate), dtype=np.int16)
        framer = Reframer(frame_samples=self._frame)
        frames = framer.push(np.concatenate([pcm, silence]))
        tail = framer.flush(pad=True)
        if tail is not None:
            frames.append(tail)
        for frame in frames:
            await self._deliver(frame)

    async def silence(self, seconds: float) -> None:
        await self.speak(np.zeros(0, dtype=np.int16), self._rate, trailing_silence_s=seconds)

    async def _deliver(self, frame: PCM16) -> None:
        if self._inbox.closed:
            return
        if self._codec == "ulaw":
            frame = ulaw_decode(ulaw_encode(frame))
        self._media_time += self._frame_ms / 1000.0
        self._inbox.put(AudioIn(frame, at=self._media_time))
        if self._realtime:
            await asyncio.sleep(self._frame_ms / 1000.0)
        else:
            await asyncio.sleep(0)

    @property
    def pending_events(self) -> int:
        """Events delivered to the session and not yet taken by it."""
        return self._inbox.pending

    def press(self, digit: str) -> None:
        self._inbox.put(Dtmf(digit, at=self._media_time))

    def caller_hangup(self) -> None:
        self._end("caller")

    @property
    def ended(self) -> bool:
        """True once the call is over, whichever side ended it."""
        return self._inbox.closed

    def output(self) -> PCM16:
        """Everything the agent sent, concatenated."""
        if not self.sent:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(self.sent)
