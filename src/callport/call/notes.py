"""Session notes: what a CallSession tells a leg that can show it (the browser page).

Legs that implement ``notify`` (see ``NotifiableLeg``) receive these; phone legs ignore them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class SessionNote:
    """Base of the notes."""


@dataclass(frozen=True, slots=True)
class CallerTranscript(SessionNote):
    text: str


@dataclass(frozen=True, slots=True)
class AgentText(SessionNote):
    text: str
    reply: int = 0  # the session's reply serial: every line of one reply shares it


@dataclass(frozen=True, slots=True)
class CallerSpeaking(SessionNote):
    """The session's VAD heard the caller start (True) or finish (False) a turn."""

    speaking: bool


@dataclass(frozen=True, slots=True)
class CallerPartial(SessionNote):
    """A provisional transcript of the caller's turn so far (the speculative STT pass)."""

    text: str


@dataclass(frozen=True, slots=True)
class ReplyHeard(SessionNote):
    """What the caller heard of reply ``reply`` (from the played marks) when it was cut off."""

    reply: int
    text: str
    interrupted: bool


@dataclass(frozen=True, slots=True)
class CallFailed(SessionNote):
    """The agent or flow failed mid-call (what the page may show; no internals)."""

    message: str


AgentStateName = Literal["listening", "thinking", "speaking"]


@dataclass(frozen=True, slots=True)
class AgentState(SessionNote):
    state: AgentStateName


@dataclass(frozen=True, slots=True)
class TurnLatency(SessionNote):
    """End of caller speech to first reply audio sent, in milliseconds."""

    ms: float


@runtime_checkable
class NotifiableLeg(Protocol):
    def notify(self, note: SessionNote) -> None: ...
