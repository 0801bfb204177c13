"""A provider-neutral Leg over a media-stream WebSocket.

``MediaStreamLeg`` turns a ``MediaCore``'s events into ``LegEvent``s and the session's audio,
marks and clears into outbound frames. The asyncio driver that feeds it from one socket
(Twilio, Telnyx and any provider with a ``MediaCore`` share it) is ``media_stream``.

Rules it implements (see ``callport.call.leg``):

- audio is decoded from the stream's inbound codec to PCM16 at its rate; media time ``at``
  comes from sample counts, and gaps in the provider's timestamps are filled with silence;
- marks follow ``callport.call.marks.MarkBook``: each goes out under a unique wire name; ``clear``
  answers every pending mark ``played=False`` at once (the provider's later echoes of them are
  ignored), as are marks still pending when the stream ends;
- ``hold`` is callport-side (the providers' streams have no hold): caller audio stops reaching
  the session (media time still advances) and ``HoldChanged`` tells it; the session's audio
  source decides what the caller hears;
- ``transfer`` asks the carrier first; only when it accepts does ``TransferStarted`` follow, so a
  refused transfer leaves the call with the agent (the caller hears the apology);
- ``lead_ms`` is 80: the session runs at most 80 ms ahead, so the provider's buffer holds
  under 100 ms and ``clear`` stops the agent quickly;
- the provider's ``stop`` ends the leg (``HungUp("stream-stopped")``) but is not a hang-up:
  after ``transfer`` the call lives on and ``hangup`` then sends nothing to the provider.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable

import numpy as np

from callport.audio.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from callport.audio.tones import dtmf_sequence
from callport.call.controls import Accepted, Capability, ControlResult, Refusal, Refused
from callport.call.events import (
    PCM16,
    AudioIn,
    Dtmf,
    HoldChanged,
    HungUp,
    LegEvent,
    TransferStarted,
)
from callport.call.inbox import EventInbox
from callport.channels.provider import (
    CallControl,
    DtmfIn,
    MarkIn,
    MediaCore,
    MediaEvent,
    MediaIn,
    ProviderError,
    StreamConnected,
    StreamStart,
    StreamStop,
    StreamViolation,
    WireFormat,
    split_target,
)

log = logging.getLogger(__name__)

DEFAULT_LEAD_MS = 80.0
MAX_GAP_FILL_S = 2.0  # a longer hole in provider timestamps is not filled (clock reset?)

SendText = Callable[[str], Awaitable[None]]
CloseSocket = Callable[[int], Awaitable[None]]


def decode(fmt: WireFormat, payload: bytes) -> PCM16:
    match fmt.codec:
        case "PCMU":
            return ulaw_decode(payload)
        case "PCMA":
            return alaw_decode(payload)
        case "L16":
            usable = len(payload) & ~1
            dtype = ">i2" if fmt.big_endian else "<i2"
            return np.frombuffer(payload[:usable], dtype=dtype).astype(np.int16)


def encode(fmt: WireFormat, pcm: PCM16) -> bytes:
    match fmt.codec:
        case "PCMU":
            return ulaw_encode(pcm)
        case "PCMA":
            return alaw_encode(pcm)
        case "L16":
            return pcm.astype(">i2" if fmt.big_endian else "<i2", copy=False).tobytes()


class MediaStreamLeg:
    """One provider media stream as a ``Leg``. The driver calls ``feed`` and ``close``."""

    def __init__(
        self,
        *,
        call_id: str,
        start: StreamStart,
        core: MediaCore,
        send_text: SendText,
        close_socket: CloseSocket,
        control: CallControl | None = None,
        lead_ms: float = DEFAULT_LEAD_MS,
        on_transfer: Callable[[str | None], None] | None = None,
    ) -> None:
        if start.outbound.sample_rate != start.inbound.sample_rate:
            raise ValueError("MediaStreamLeg needs the same sample rate in and out")
        self._call_id = call_id
        self._start = start
        self._core = core
        self._send_text = send_text
        self._close_socket = close_socket
        self._control = control
        self._lead_ms = lead_ms
        self._on_transfer = on_transfer
        self._inbox = EventInbox()
        self._rate = start.inbound.sample_rate
        self._samples_in = 0
        self._held = False
        self._handoff: str | None = None
        self._ended = False
        self.frames_out = 0

    # ----------------------------------------------------------------- Leg protocol

    @property
    def call_id(self) -> str:
        return self._call_id

    @property
    def provider_call_id(self) -> str:
        return self._start.provider_call_id

    @property
    def sample_rate(self) -> int:
        return self._rate

    @property
    def frame_ms(self) -> int:
        return self._start.inbound.frame_ms

    @property
    def lead_ms(self) -> float:
        return self._lead_ms

    @property
    def capabilities(self) -> frozenset[Capability]:
        if self._control is None:
            return frozenset({Capability.SEND_DTMF, Capability.HOLD})
        return frozenset({Capability.SEND_DTMF, Capability.HOLD, Capability.TRANSFER})

    @property
    def held(self) -> bool:
        return self._held

    @property
    def ended(self) -> bool:
        return self._ended

    @property
    def handed_off_to(self) -> str | None:
        return self._handoff

    async def recv(self) -> LegEvent:
        return await self._inbox.get()

    async def send_audio(self, pcm: PCM16) -> None:
        if self._ended or pcm.size == 0:
            return
        self.frames_out += 1
        await self._send(self._core.media(encode(self._start.outbound, pcm)))

    async def mark(self, name: str) -> None:
        wire = self._inbox.mark(name)
        if wire is not None:
            await self._send(self._core.mark(wire))

    async def clear(self) -> None:
        if self._ended:
            return
        self._inbox.clear_marks()
        await self._send(self._core.clear())

    async def hangup(self, reason: str = "normal") -> None:
        if self._ended:
            return
        if self._control is not None and self._handoff is None:
            try:
                await self._control.hangup(self.provider_call_id)
            except ProviderError as exc:
                log.warning("call %s: provider hang-up failed: %s", self._call_id, exc)
        self._finish(reason)
        await self._close(1000)

    async def transfer(self, target: str) -> ControlResult:
        if self._control is None:
            return Refused(Capability.TRANSFER, Refusal.UNSUPPORTED,
                           "this media stream has no call control (no credentials)")
        try:
            split_target(target)
        except ValueError as exc:
            return Refused(Capability.TRANSFER, Refusal.BAD_TARGET, str(exc))
        if self._ended:
            return Refused(Capability.TRANSFER, Refusal.ENDED, "the call has ended")
        if self._handoff is not None:
            return Refused(Capability.TRANSFER, Refusal.FAILED,
                           f"a transfer to {self._handoff} is under way")
        # Pending while the carrier answers: a ``stop`` arriving meanwhile ends us "transferred",
        # and the channel learns the target first (Twilio may fetch the action URL that dials
        # it before the REST update returns). ``on_transfer(None)`` takes it back on a refusal.
        self._handoff = target
        if self._on_transfer is not None:
            self._on_transfer(target)
        try:
            await self._control.transfer(self.provider_call_id, target)
        except ProviderError as exc:
            self._handoff = None
            if self._on_transfer is not None:
                self._on_transfer(None)
            return Refused(Capability.TRANSFER, Refusal.FAILED, str(exc), code=exc.status)
        self._inbox.put(TransferStarted(target))
        return Accepted()

    async def send_dtmf(self, digits: str) -> ControlResult:
        if self._ended:
            return Refused(Capability.SEND_DTMF, Refusal.ENDED, "the call has ended")
        if self._control is not None and self._control.sends_dtmf:
            try:
                await self._control.send_dtmf(self.provider_call_id, digits)
            except ProviderError as exc:
                return Refused(Capability.SEND_DTMF, Refusal.FAILED, str(exc))
            return Accepted()
        await self.send_audio(dtmf_sequence(digits, sample_rate=self._rate))  # in-band
        return Accepted()

    async def hold(self) -> ControlResult:
        return self._set_held(True)

    async def resume(self) -> ControlResult:
        return self._set_held(False)

    def _set_held(self, held: bool) -> ControlResult:
        if self._ended:
            return Refused(Capability.HOLD, Refusal.ENDED, "the call has ended")
        if self._held != held:
            self._held = held
            self._inbox.muted = held  # media time still advances; the audio stops at the inbox
            self._inbox.put(HoldChanged(held))
        return Accepted()

    # ----------------------------------------------------------------- driver side

    def feed(self, event: MediaEvent) -> None:
        """Apply one core event (after ``StreamStart``)."""
        if self._ended:
            return
        match event:
            case MediaIn(payload=payload, timestamp_ms=ts):
                pcm = decode(self._start.inbound, payload)
                if ts is not None:
                    self._fill_gap(ts)
                self._samples_in += pcm.size
                self._inbox.put(AudioIn(pcm, self._samples_in / self._rate))
            case DtmfIn(digit=digit):
                self._inbox.put(Dtmf(digit, at=self._samples_in / self._rate))
            case MarkIn(name=wire):
                if not self._inbox.mark_played(wire):  # cleared, or not ours
                    log.debug("call %s: echo of a mark not pending %r", self._call_id, wire)
            case StreamStop():
                self._finish("transferred" if self._handoff else "stream-stopped")
            case StreamStart() | StreamConnected() | StreamViolation():
                pass

    def close(self, reason: str = "disconnected") -> None:
        """The socket is gone (no ``stop`` seen)."""
        self._finish("transferred" if self._handoff else reason)

    def _fill_gap(self, timestamp_ms: int) -> None:
        have_ms = self._samples_in * 1000 / self._rate
        gap_ms = timestamp_ms - have_ms
        if 2 * self.frame_ms <= gap_ms <= MAX_GAP_FILL_S * 1000:
            missing = int(gap_ms * self._rate / 1000)
            self._samples_in += missing
            self._inbox.put(
                AudioIn(np.zeros(missing, dtype=np.int16), self._samples_in / self._rate)
            )

    def _finish(self, reason: str) -> None:
        if self._ended:
            return
        self._ended = True
        self._inbox.put(HungUp(reason))  # pending marks are answered unplayed first

    async def _send(self, text: str) -> None:
        try:
            await self._send_text(text)
        except Exception as exc:  # the socket went away under us: the call is over
            log.debug("call %s: send failed: %r", self._call_id, exc)
            self._finish("disconnected")

    async def _close(self, code: int) -> None:
        with contextlib.suppress(Exception):
            await self._close_socket(code)


# --------------------------------------------------------------------------- driver
