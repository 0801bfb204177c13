"""Typed events a Leg yields to its CallSession.

Every channel (browser, Twilio, Telnyx, SIP, in-memory) turns what its peer sends into
these few events; the call core never sees channel-specific messages.
"""

from __future__ import annotations

from dataclasses import dataclass

from callport.types import PCM16 as PCM16  # lives on the ground floor; re-exported here


@dataclass(frozen=True, slots=True)
class LegEvent:
    """Base of everything a leg reports. Do not subclass outside this module."""


@dataclass(frozen=True, slots=True, eq=False)
class AudioIn(LegEvent):
    """Caller audio: mono PCM16 at the leg's ``sample_rate``.

    ``at`` is media time in seconds since the leg started (end of this chunk), derived from
    sample counts, so turn-taking runs in media time and tests need no wall clock.
    """

    pcm: PCM16
    at: float


@dataclass(frozen=True, slots=True)
class Dtmf(LegEvent):
    """One DTMF digit (0-9, *, #, A-D) detected or signalled by the channel."""

    digit: str
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class Marked(LegEvent):
    """A mark placed with ``Leg.mark`` came back.

    ``played`` is True when all audio sent before the mark was played to the caller, False when
    it was dropped by ``clear()`` (barge-in) or the call ended first.
    """

    name: str
    played: bool


@dataclass(frozen=True, slots=True)
class HungUp(LegEvent):
    """The leg is gone (peer hung up, transport closed, or we hung up). Always the last event."""

    reason: str = "normal"


@dataclass(frozen=True, slots=True)
class TransferStarted(LegEvent):
    """The channel began handing the call to ``target`` (the session stops its agent)."""

    target: str


@dataclass(frozen=True, slots=True)
class HoldChanged(LegEvent):
    """``Leg.hold()`` / ``Leg.resume()`` took effect: while ``held``, no caller audio arrives
    (the session's audio source decides what the caller hears)."""

    held: bool


@dataclass(frozen=True, slots=True)
class HeldByPeer(LegEvent):
    """The far end put us on hold (a SIP re-INVITE ``a=sendonly`` / ``a=inactive``), or took
    us off it (``held=False``). While held, its audio (its own music) does not arrive and ours
    is not heard; the session records it (``CallSession.peer_held``) for the flow."""

    held: bool
