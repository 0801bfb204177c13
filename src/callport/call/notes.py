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
