"""BrowserLeg: the Leg both browser transports (WebSocket, WebRTC) hand to the Runtime.

The leg itself is transport-neutral. Audio goes out through an ``AudioOut`` (PCM16 binary
frames on a WebSocket, or an aiortc track), control and notes go out as JSON text through
``send_text`` (the WebSocket itself, or the WebRTC ``control`` data channel). Events come
in through an ``EventInbox`` that the transport driver fills.

Marks follow the inbox's ``MarkBook``: the leg places each under a token (``m1``, ...) that the
transport puts on the wire; the transport reports ``inbox.mark_played(token)`` when the page (or
the WebRTC track) got that far and ``inbox.clear_marks()`` when the page dropped its audio.
Hold is local: a ``hold`` control message tells the page, and caller audio stops reaching the
session (a local mute) until ``resume``; the session's audio source decides what plays.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from callport.call.controls import Accepted, Capability, ControlResult, Refusal, Refused
from callport.call.events import PCM16, HoldChanged, LegEvent
from callport.call.inbox import EventInbox
from callport.call.notes import (
    AgentState,
    AgentText,
    CallerPartial,
    CallerSpeaking,
    CallerTranscript,
    CallFailed,
    ReplyHeard,
    SessionNote,
    TurnLatency,
)
from callport.channels.browser.protocol import (
    FRAME_MS,
    SAMPLE_RATE,
    bye_message,
    error_message,
    heard_message,
    hold_message,
    latency_message,
    partial_message,
    speaking_message,
    state_message,
    transcript_message,
)

log = logging.getLogger(__name__)


class AudioOut(Protocol):
    """Where a browser leg's outgoing audio goes."""

    async def send(self, pcm: PCM16) -> None: ...

    def mark(self, name: str) -> None:
        """Place mark token ``name`` after the audio sent so far; the transport reports it
        played with ``EventInbox.mark_played``."""
        ...

    def clear(self) -> tuple[str, ...]:
        """Drop audio not yet played; returns the mark tokens known now never to play (a
        transport whose far end confirms the clear later answers the rest then)."""
        ...


def note_message(note: SessionNote) -> str | None:
    """The JSON control message for a session note (None for notes the page doesn't show)."""
    match note:
        case CallerTranscript(text=text):
            return transcript_message(role="caller", text=text)
        case AgentText(text=text, reply=reply):
            return transcript_message(role="agent", text=text, reply=reply)
        case CallerPartial(text=text):
            return partial_message(text=text)
        case CallerSpeaking(speaking=speaking):
            return speaking_message(speaking=speaking)
        case ReplyHeard(reply=reply, text=text, interrupted=interrupted):
            return heard_message(reply=reply, text=text, interrupted=interrupted)
        case CallFailed(message=message):
            return error_message(message=message, kind="call")
        case AgentState(state=state):
            return state_message(state=state)
        case TurnLatency(ms=ms):
            return latency_message(ms=ms)
        case _:
            return None


class BrowserLeg:
    """A web page on the line. Hold (local), but no transfer or outgoing DTMF: the page has
    no phone network. Digits from the page's keypad come in as ``Dtmf`` events (the driver's
    inbox)."""

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
        self._held = False

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
        return frozenset({Capability.HOLD})

    @property
    def held(self) -> bool:
        return self._held

    async def recv(self) -> LegEvent:
        return await self._inbox.get()

    async def send_audio(self, pcm: PCM16) -> None:
        if not self._inbox.closed:
            await self._audio.send(pcm)

    async def mark(self, name: str) -> None:
        token = self._inbox.mark(name)
        if token is not None:
            self._audio.mark(token)

    async def clear(self) -> None:
        if self._inbox.closed:
            return
        # The marks the transport knows are dropped now (WebRTC: its own buffer); the page's
        # player answers the rest when it confirms the clear (WebSocket: ``ClearDone``).
        self._inbox.drop_marks(self._audio.clear())

    async def hangup(self, reason: str = "normal") -> None:
        if self._hung_up:
            return
        self._hung_up = True
        if not self._inbox.closed:
            self._send_text(bye_message(reason=reason))
        self._audio.clear()
        self._inbox.close(reason)  # pending marks are answered unplayed first
        await self._close()

    async def transfer(self, target: str) -> ControlResult:
        return Refused(Capability.TRANSFER, Refusal.UNSUPPORTED,
                       "a browser call has no phone network to transfer to")

    async def send_dtmf(self, digits: str) -> ControlResult:
        return Refused(Capability.SEND_DTMF, Refusal.UNSUPPORTED, "a browser call has no DTMF")

    async def hold(self) -> ControlResult:
        return self._set_held(True)

    async def resume(self) -> ControlResult:
        return self._set_held(False)

    def _set_held(self, held: bool) -> ControlResult:
        if self._inbox.closed:
            return Refused(Capability.HOLD, Refusal.ENDED, "the call has ended")
        if self._held != held:
            self._held = held
            self._inbox.muted = held  # local mute: the page's audio stops at the inbox
            self._send_text(hold_message(held=held))
            self._inbox.put(HoldChanged(held))
        return Accepted()

    def notify(self, note: SessionNote) -> None:
        if self._inbox.closed:
            return
        message = note_message(note)
        if message is not None:
            self._send_text(message)
