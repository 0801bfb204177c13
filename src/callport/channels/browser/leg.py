"""BrowserLeg: the Leg both browser transports (WebSocket, WebRTC) hand to the Runtime.

The leg itself is transport-neutral. Audio goes out through an ``AudioOut`` (PCM16 binary
frames on a WebSocket, or an aiortc track), control and notes go out as JSON text through
``send_text`` (the WebSocket itself, or the WebRTC ``control`` data channel). Events come
in through an ``EventInbox`` that the transport driver fills.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from callport.call.controls import Capability, ControlResult, Refusal, Refused
from callport.call.events import PCM16, LegEvent, Marked
from callport.call.inbox import EventInbox
from callport.call.notes import AgentState, AgentText, CallerTranscript, SessionNote, TurnLatency
from callport.channels.browser.protocol import (
    FRAME_MS,
    SAMPLE_RATE,
    bye_message,
    latency_message,
    state_message,
    transcript_message,
)

log = logging.getLogger(__name__)


class AudioOut(Protocol):
    """Where a browser leg's outgoing audio goes."""

    async def send(self, pcm: PCM16) -> None: ...

    def mark(self, name: str) -> None:
        """Place a mark after the audio sent so far; it comes back through the inbox."""
        ...

    def clear(self) -> tuple[str, ...]:
        """Drop audio not yet played; returns the marks that will never be played."""
        ...


def note_message(note: SessionNote) -> str | None:
    """The JSON control message for a session note (None for notes the page doesn't show)."""
    match note:
        case CallerTranscript(text=text):
            return transcript_message(role="caller", text=text)
        case AgentText(text=text):
            return transcript_message(role="agent", text=text)
        case AgentState(state=state):
            return state_message(state=state)
        case TurnLatency(ms=ms):
            return latency_message(ms=ms)
        case _:
            return None


class BrowserLeg:
    """A web page on the line. No transfer, hold or DTMF: the page has no phone network."""

    def __init__(
        self,
        *,
        call_id: str,
        inbox: EventInbox,
        audio_out: AudioOut,
        send_text: Callable[[str], None],
        close: Callable[[], Awaitable[None]],
        lead_ms: float,
    ) -> None:
        self._call_id = call_id
        self._inbox = inbox
        self._audio = audio_out
        self._send_text = send_text
        self._close = close
        self._lead_ms = lead_ms
        self._hung_up = False

    @property
    def call_id(self) -> str:
        return self._call_id

    @property
    def sample_rate(self) -> int:
        return SAMPLE_RATE

    @property
    def frame_ms(self) -> int:
        return FRAME_MS

    @property
    def lead_ms(self) -> float:
        return self._lead_ms

    @property
    def capabilities(self) -> frozenset[Capability]:
        return frozenset()

    async def recv(self) -> LegEvent:
        return await self._inbox.get()

    async def send_audio(self, pcm: PCM16) -> None:
        if not self._inbox.closed:
            await self._audio.send(pcm)

    async def mark(self, name: str) -> None:
        if self._inbox.closed:
            self._inbox.put(Marked(name, played=False))
            return
        self._audio.mark(name)

    async def clear(self) -> None:
        if self._inbox.closed:
            return
        for name in self._audio.clear():
            self._inbox.put(Marked(name, played=False))

    async def hangup(self, reason: str = "normal") -> None:
        if self._hung_up:
            return
        self._hung_up = True
        if not self._inbox.closed:
            self._send_text(bye_message(reason=reason))
        for name in self._audio.clear():
            self._inbox.put(Marked(name, played=False))
        self._inbox.close(reason)
        await self._close()

    async def transfer(self, target: str) -> ControlResult:
        return Refused(Capability.TRANSFER, Refusal.UNSUPPORTED,
                       "a browser call has no phone network to transfer to")

    async def send_dtmf(self, digits: str) -> ControlResult:
        return Refused(Capability.SEND_DTMF, Refusal.UNSUPPORTED, "a browser call has no DTMF")

    def notify(self, note: SessionNote) -> None:
        if self._inbox.closed:
            return
        message = note_message(note)
        if message is not None:
            self._send_text(message)
