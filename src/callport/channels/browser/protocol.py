"""Browser control protocol: a sans-IO core for one page's connection.

The page and the server exchange two kinds of messages over one WebSocket (or, for WebRTC,
the text half over an ``RTCDataChannel`` named ``control``):

* binary: PCM16 little-endian mono at 16 kHz, normally 20 ms (640 bytes) per message;
* text: one JSON object per message with a ``type`` field.

Page -> server (``type``): ``start`` (must come first: ``{"type": "start", "sample_rate":
16000, "gated": true}``), ``interrupt`` (the page's VAD heard the caller over the agent and
flushed its playback), ``vad`` (``{"speaking": bool}``: the page stops sending audio while
its VAD hears nobody), ``played`` (``{"name": ...}``: playback reached a mark; a late one,
for a mark a clear or interrupt already dropped, is ignored), ``cleared`` (``{"id": n}``: the
page's player has carried out the server's ``clear`` ``n``; every ``played`` it sent before
this came first, so a mark still pending from that clear was dropped), ``ping`` (``{"id": n}``),
``dtmf`` (``{"digit": "5"}``: the page's keypad; one of ``0-9*#A-D``),
``hangup``.

Server -> page: ``ready``, ``transcript`` (``role`` caller/agent; an agent line carries
``reply``, a serial shared by every line of one reply), ``speaking`` (``{"speaking": bool}``:
the server's VAD hears the caller, the page's "listening…" caption), ``partial``
(``{"text"}``: a provisional transcript of the caller's turn so far, from the speculative STT
pass at the caller's first pause; the final ``transcript`` replaces it), ``heard``
(``{"reply", "text", "interrupted"}``: what the caller heard of an interrupted reply, from the
played marks), ``state``, ``latency``, ``mark`` (``{"name"}``: the leg's unique mark token,
echoed back in ``played``), ``clear`` (``{"id": n}``: drop the audio not yet played and
answer ``cleared``; the marks pending at the clear stay pending until then, or for at most
``CLEAR_ACK_S``, so a mark the page played just before the clear reached it counts as heard),
``hold`` (``{"held": bool}``: the caller is on hold; the
server ignores the page's audio until ``held`` is false), ``pong``, ``error``, ``bye``;
binary frames are agent audio.

While the page is gated (not sending), the core keeps the caller's media clock running by
producing silent frames from ``handle_timer(now)``, so server-side turn detection (the
source of truth for end of turn) still sees the silence after speech.

No asyncio, sockets or clocks here: ``now`` is an argument, timers are deadlines.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from callport import safejson
from callport.call.events import PCM16
from callport.channels.browser.messages import FRAME_MS as FRAME_MS
from callport.channels.browser.messages import SAMPLE_RATE as SAMPLE_RATE
from callport.channels.browser.messages import Role as Role
from callport.channels.browser.messages import _dump
from callport.channels.browser.messages import bye_message as bye_message
from callport.channels.browser.messages import encode_pcm as encode_pcm
from callport.channels.browser.messages import error_message as error_message
from callport.channels.browser.messages import heard_message as heard_message
from callport.channels.browser.messages import hold_message as hold_message
from callport.channels.browser.messages import latency_message as latency_message
from callport.channels.browser.messages import partial_message as partial_message
from callport.channels.browser.messages import ready_message as ready_message
from callport.channels.browser.messages import speaking_message as speaking_message
from callport.channels.browser.messages import state_message as state_message
from callport.channels.browser.messages import transcript_message as transcript_message

FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000
MAX_BINARY_BYTES = 16_000  # 0.5 s of audio in one message is already generous
MAX_TEXT_CHARS = 4_096
# How far media time may lag wall time before silence is filled in for a gated page. The
# server's end of turn (and so every reply) waits for the fill: 100 ms held browser replies
# back by ~100 ms (bench_ear); 60 ms fills three frames a wake-up.
FILL_SLACK_S = 0.06
CLEAR_ACK_S = 1.0  # a page that does not answer 'cleared' (an old page) has its marks dropped

# WebSocket close codes (RFC 6455 section 7.4.1 and the private 4000-4999 range).
CLOSE_NORMAL = 1000
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009


class ProtocolMisuse(RuntimeError):
    """The server-side code used the core out of order (our bug, not the peer's)."""


# ---------------------------------------------------------------- events (page -> server)


@dataclass(frozen=True, slots=True)
class BrowserEvent:
    """Base of what the core reports."""


@dataclass(frozen=True, slots=True)
class Started(BrowserEvent):
    gated: bool
    client: str


@dataclass(frozen=True, slots=True, eq=False)
class CallerAudio(BrowserEvent):
    """Caller audio at 16 kHz; ``at`` is media seconds at the end of the chunk."""

    pcm: PCM16
    at: float
    filled: bool = False  # True for silence the core made up while the page was gated


@dataclass(frozen=True, slots=True)
class Interrupted(BrowserEvent):
    """The page flushed its playback (local barge-in); ``dropped`` marks will never play."""

    dropped: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ClearDone(BrowserEvent):
    """A server ``clear`` is settled: the page confirmed it (``acked``) or ``CLEAR_ACK_S``
    passed; ``dropped`` are its marks that never played (the rest came as ``MarkPlayed``)."""

    dropped: tuple[str, ...]
    acked: bool = True


@dataclass(frozen=True, slots=True)
class SpeakingChanged(BrowserEvent):
    speaking: bool


@dataclass(frozen=True, slots=True)
class MarkPlayed(BrowserEvent):
    name: str


@dataclass(frozen=True, slots=True)
class PingReceived(BrowserEvent):
    id: int
    reply: str  # the pong to send back


@dataclass(frozen=True, slots=True)
class HangupRequested(BrowserEvent):
    pass


@dataclass(frozen=True, slots=True)
class DigitPressed(BrowserEvent):
    """The page's keypad: one DTMF digit (``0-9*#A-D``)."""

    digit: str


DTMF_DIGITS = frozenset("0123456789*#ABCD")


@dataclass(frozen=True, slots=True)
class ProtocolError(BrowserEvent):
    """The page sent something we cannot use. ``fatal`` errors end the connection."""

    reason: str
    close_code: int
    fatal: bool


# ---------------------------------------------------------------- messages (server -> page)
# in callport.channels.browser.messages; re-exported here, their old home.

# ---------------------------------------------------------------- the core


class BrowserProtocol:
    """One page connection's state: handshake, media clock, gating and marks."""

    def __init__(self, *, require_start: bool = True) -> None:
        self._state: Literal["new", "active", "closed"] = "new" if require_start else "active"
        self._gated = False
        self._speaking = True
        self._samples = 0  # caller samples received or filled
        self._t0: float | None = None  # wall time when media started
        self._pending_marks: list[str] = []
        # Marks dropped by a clear or interrupt: the page may still report one 'played'
        # (it played it before the clear reached it); such a late echo is ignored quietly.
        self._cleared: deque[str] = deque(maxlen=256)
        self._carry = b""  # odd trailing byte of a binary message
        # Server clears the page has not confirmed yet: id -> (marks pending at the clear,
        # deadline). Their marks stay pending, so a 'played' sent before the clear reached
        # the page still counts; 'cleared' (or the deadline) drops the rest.
        self._clearing: dict[int, tuple[tuple[str, ...], float]] = {}
        self._clear_serial = 0

    # -- state

    @property
    def active(self) -> bool:
        return self._state == "active"

    @property
    def media_time(self) -> float:
        return self._samples / SAMPLE_RATE

    @property
    def pending_marks(self) -> tuple[str, ...]:
        return tuple(self._pending_marks)

    # -- input

    def receive_text(self, text: str, now: float) -> list[BrowserEvent]:
        if self._state == "closed":
            return []
        if len(text) > MAX_TEXT_CHARS:
            return [self._fail("control message too long", CLOSE_TOO_BIG)]
        try:
            msg = safejson.loads(text)
        except ValueError:
            return [ProtocolError("control message is not JSON", CLOSE_UNSUPPORTED_DATA, False)]
        if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
            return [ProtocolError("control message needs a string 'type'",
                                  CLOSE_UNSUPPORTED_DATA, False)]
        kind: str = msg["type"]
        if self._state == "new":
            if kind != "start":
                return [self._fail(f"expected 'start' first, got {kind!r}", CLOSE_PROTOCOL_ERROR)]
            return self._start(msg, now)
        match kind:
            case "start":
                return [ProtocolError("duplicate 'start'", CLOSE_PROTOCOL_ERROR, False)]
            case "interrupt":
                dropped = tuple(self._pending_marks)
                self._pending_marks.clear()
                self._cleared.extend(dropped)
                return [Interrupted(dropped)]
            case "vad":
                speaking = msg.get("speaking")
                if not isinstance(speaking, bool):
                    return [ProtocolError("'vad' needs a boolean 'speaking'",
                                          CLOSE_UNSUPPORTED_DATA, False)]
                if speaking == self._speaking:
                    return []
                self._speaking = speaking
                if not speaking:
                    self._sync_clock(now)
                return [SpeakingChanged(speaking)]
            case "played":
                name = msg.get("name")
                if isinstance(name, str) and name in self._cleared:
                    return []  # a late echo of a mark already answered unplayed by a clear
                if not isinstance(name, str) or name not in self._pending_marks:
                    return [ProtocolError(f"'played' for unknown mark {name!r}",
                                          CLOSE_UNSUPPORTED_DATA, False)]
                # Playback is in order: every mark before this one has been played too.
                idx = self._pending_marks.index(name)
                done = self._pending_marks[: idx + 1]
                del self._pending_marks[: idx + 1]
                return [MarkPlayed(n) for n in done]
            case "cleared":
                clear_id = msg.get("id")
                if not isinstance(clear_id, int) or isinstance(clear_id, bool):
                    return [ProtocolError("'cleared' needs an integer 'id'",
                                          CLOSE_UNSUPPORTED_DATA, False)]
                if clear_id not in self._clearing:
                    return []  # already settled by its deadline, or unknown: nothing to drop
                return [self._settle(clear_id, acked=True)]
            case "ping":
                ping_id = msg.get("id")
                if not isinstance(ping_id, int) or isinstance(ping_id, bool):
                    return [ProtocolError("'ping' needs an integer 'id'",
                                          CLOSE_UNSUPPORTED_DATA, False)]
                return [PingReceived(ping_id, _dump({"type": "pong", "id": ping_id}))]
            case "hangup":
                self._state = "closed"
                return [HangupRequested()]
            case "dtmf":
                digit = msg.get("digit")
                if not isinstance(digit, str) or digit.upper() not in DTMF_DIGITS:
                    return [ProtocolError("'dtmf' needs a 'digit' of 0-9, *, # or A-D",
                                          CLOSE_UNSUPPORTED_DATA, False)]
                return [DigitPressed(digit.upper())]
            case _:
                return [ProtocolError(f"unknown control message {kind!r}",
                                      CLOSE_UNSUPPORTED_DATA, False)]

    def receive_bytes(self, data: bytes, now: float) -> list[BrowserEvent]:
        if self._state == "closed":
            return []
        if self._state == "new":
            return [self._fail("audio before 'start'", CLOSE_PROTOCOL_ERROR)]
        if len(data) > MAX_BINARY_BYTES:
            return [self._fail(f"audio message of {len(data)} bytes is too big", CLOSE_TOO_BIG)]
        data = self._carry + data
        usable = len(data) - len(data) % 2
        self._carry = data[usable:]
        if usable == 0:
            return []
        if self._t0 is None:
            self._t0 = now
        pcm = np.frombuffer(data[:usable], dtype="<i2").astype(np.int16)
        self._samples += len(pcm)
        return [CallerAudio(pcm, self.media_time)]

    # -- timers (silence fill while gated)

    def get_timer(self) -> float | None:
        clears = [deadline for _, deadline in self._clearing.values()]
        fill = self._fill_deadline()
        deadlines = clears + ([fill] if fill is not None else [])
        return min(deadlines) if deadlines else None

    def _fill_deadline(self) -> float | None:
        if self._state != "active" or not self._gated or self._speaking or self._t0 is None:
            return None
        return self._t0 + self.media_time + FILL_SLACK_S

    def handle_timer(self, now: float) -> list[BrowserEvent]:
        out: list[BrowserEvent] = [self._settle(clear_id, acked=False)
                                   for clear_id, (_, deadline) in list(self._clearing.items())
                                   if deadline <= now]
        return out + self._fill(now)

    def _fill(self, now: float) -> list[BrowserEvent]:
        deadline = self._fill_deadline()
        if deadline is None or now < deadline or self._t0 is None:
            return []
        lag = (now - self._t0) - self.media_time
        frames = math.floor(lag * 1000 / FRAME_MS)
        out: list[BrowserEvent] = []
        for _ in range(max(0, frames)):
            self._samples += FRAME_SAMPLES
            out.append(CallerAudio(np.zeros(FRAME_SAMPLES, np.int16), self.media_time, True))
        return out

    # -- output

    def mark(self, name: str) -> str:
        self._require_active()
        self._pending_marks.append(name)
        return _dump({"type": "mark", "name": name})

    def clear(self, now: float) -> str:
        """The clear message for the page. Its pending marks stay pending until the page
        answers ``cleared`` (or ``CLEAR_ACK_S`` passes): then ``ClearDone`` says which of them
        never played."""
        self._require_active()
        self._clear_serial += 1
        self._clearing[self._clear_serial] = (tuple(self._pending_marks), now + CLEAR_ACK_S)
        return _dump({"type": "clear", "id": self._clear_serial})

    def _settle(self, clear_id: int, *, acked: bool) -> ClearDone:
        marks, _ = self._clearing.pop(clear_id)
        dropped = tuple(m for m in marks if m in self._pending_marks)
        self._pending_marks = [m for m in self._pending_marks if m not in dropped]
        self._cleared.extend(dropped)
        return ClearDone(dropped, acked)

    def close(self) -> tuple[str, ...]:
        """The connection is gone; returns marks that never played."""
        self._state = "closed"
        dropped = tuple(self._pending_marks)
        self._pending_marks.clear()
        self._clearing.clear()
        return dropped

    # -- internals

    def _start(self, msg: dict[str, Any], now: float) -> list[BrowserEvent]:
        rate = msg.get("sample_rate", SAMPLE_RATE)
        if rate != SAMPLE_RATE:
            return [self._fail(f"sample_rate must be {SAMPLE_RATE}, got {rate!r}",
                               CLOSE_PROTOCOL_ERROR)]
        gated = msg.get("gated", False)
        client = msg.get("client", "")
        if not isinstance(gated, bool) or not isinstance(client, str):
            return [self._fail("'start' has a bad 'gated' or 'client'", CLOSE_PROTOCOL_ERROR)]
        self._state = "active"
        self._gated = gated
        self._speaking = not gated  # a gated page starts silent until its VAD hears speech
        self._t0 = now
        return [Started(gated=gated, client=client[:200])]

    def _sync_clock(self, now: float) -> None:
        """The page's VAD closed its gate: silence is filled from now on. Media that ran ahead
        of wall time (the pre-roll burst sent when the gate opened: ~300 ms of audio that was
        captured before) moves the clock's origin, so that the fill starts ``FILL_SLACK_S``
        after the last frame rather than once wall time has caught up with it (which held
        the server's end-of-turn silence, and every reply, back by the pre-roll)."""
        self._t0 = now - self.media_time if self._t0 is None else min(self._t0,
                                                                      now - self.media_time)

    def _fail(self, reason: str, code: int) -> ProtocolError:
        self._state = "closed"
        return ProtocolError(reason, code, True)

    def _require_active(self) -> None:
        if self._state != "active":
            raise ProtocolMisuse(f"connection is {self._state}, not active")
